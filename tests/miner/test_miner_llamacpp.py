"""What is particular to the llama.cpp backend: token streaming, the GGUF's own chat template,
refusing what it cannot run, being the backend ``auto`` picks for a GGUF, and batch threads that
follow the idle CPUs without changing a re-check's numbers."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from daemons.miner.inference import GenerationParams, GenerationRequest, InferenceBackend, InferenceError, ModelCatalogue, ModelSpec
from daemons.miner.inference.availability import available_backends, create_backend
from daemons.miner.inference.llamacpp_backend import LlamaCppBackend, idle_batch_threads

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
    with pytest.raises(InferenceError, match="batch_threads"):
        LlamaCppBackend(llamacpp_smollm2.spec, batch_threads=0)


def test_batches_take_only_the_cpus_the_load_leaves_idle() -> None:
    assert idle_batch_threads(1, cpus=2, load=0.1) == 2
    assert idle_batch_threads(1, cpus=2, load=0.6) == 1  # a core half busy is not idle
    assert idle_batch_threads(1, cpus=2, load=7.0) == 1  # an overloaded host: never below the floor
    assert idle_batch_threads(2, cpus=2, load=7.0) == 2
    assert idle_batch_threads(1, cpus=16, load=3.2) == 13
    assert idle_batch_threads(1, cpus=16, load=0.0) == 16


def test_a_recheck_scores_the_same_on_one_and_two_batch_threads(llamacpp_smollm2: InferenceBackend) -> None:
    """Each logit row is computed whole by one thread, so the thread count cannot move a verdict."""
    import llama_cpp  # installed wherever the fixture loaded

    prompt = "Name a colour."
    params = GenerationParams(max_tokens=12, temperature=0.8, top_p=0.9, seed=3)
    [result] = llamacpp_smollm2.generate([GenerationRequest(prompt=prompt, **params.model_dump())])
    runs = []
    for threads in (1, 2):
        with LlamaCppBackend(llamacpp_smollm2.spec, threads=1, batch_threads=threads) as backend:
            scores = list(backend._score_claim(list(result.prompt_token_ids), list(result.output_token_ids)))
            runs.append((torch.cat([s.logprobs for s in scores]), backend.verify_result(prompt, result)))
            assert llama_cpp.llama_n_threads_batch(backend._llm.ctx) == threads
    (one, verdict_one), (two, verdict_two) = runs
    assert torch.equal(one, two)
    assert verdict_one.accepted and verdict_one == verdict_two
