"""What is particular to the llama.cpp backend: token streaming, the GGUF's own chat template,
refusing what it cannot run, and being the backend ``auto`` picks for a GGUF."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemons.miner.inference import GenerationRequest, InferenceBackend, InferenceError, ModelCatalogue, ModelSpec
from daemons.miner.inference.availability import available_backends, create_backend
from daemons.miner.inference.llamacpp_backend import LlamaCppBackend

pytestmark = pytest.mark.slow


def test_on_token_streams_every_generated_token_in_order(llamacpp_smollm2: InferenceBackend) -> None:
    seen: list[tuple[int, int]] = []
    requests = [GenerationRequest(prompt="Name a colour.", max_tokens=6),
                GenerationRequest(prompt="Count to three.", max_tokens=6, temperature=0.7, seed=5)]
    results = llamacpp_smollm2.generate(requests, on_token=lambda index, token: seen.append((index, token)))
    for index, result in enumerate(results):
        assert [t for i, t in seen if i == index] == result.output_token_ids
    assert [i for i, _ in seen] == sorted(i for i, _ in seen)  # request 0 finishes before request 1 starts


def test_chat_template_comes_from_the_gguf(llamacpp_smollm2: InferenceBackend) -> None:
    tokenizer = llamacpp_smollm2.tokenizer
    assert tokenizer.chat_template and "<|im_start|>" in tokenizer.chat_template
    rendered = llamacpp_smollm2.render("Hi")
    assert rendered.text.endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    assert tokenizer.decode(rendered.token_ids) == rendered.text
    assert llamacpp_smollm2.render("Hi", chat=False).text == "Hi"


def test_auto_picks_llamacpp_for_the_builtin_gguf(llamacpp_smollm2: InferenceBackend) -> None:
    spec = ModelCatalogue.builtin().resolve("smollm2", available_backends())
    assert spec.backend == "llamacpp"
    backend = create_backend(spec)
    assert isinstance(backend, LlamaCppBackend) and not backend.loaded


def test_a_hugging_face_directory_is_refused_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    (tmp_path / "model.safetensors").write_bytes(b"\0" * 64)
    backend = LlamaCppBackend(ModelSpec(name="hf", backend="llamacpp", path=tmp_path))
    with pytest.raises(InferenceError, match="GGUF files only"):
        backend.load()
    assert not backend.loaded


def test_bad_settings_are_refused(llamacpp_smollm2: InferenceBackend) -> None:
    with pytest.raises(InferenceError, match="threads"):
        LlamaCppBackend(llamacpp_smollm2.spec, threads=0)
    with pytest.raises(InferenceError, match="batch_tokens"):
        LlamaCppBackend(llamacpp_smollm2.spec, batch_tokens=0)
