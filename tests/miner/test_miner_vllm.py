"""The vLLM backend on a real GPU: generation, batching, seeded sampling and verification.

Skipped, with the reason, wherever vLLM is not installed or no NVIDIA GPU is visible. The model
is the built-in SmolLM2 GGUF unless ``AITBC_TEST_VLLM_MODEL`` names another local model (a
Hugging Face directory or a .gguf file), e.g. where the installed vLLM cannot load Q4_1 GGUF.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Iterator

import pytest

from daemons.miner.inference import GenerationParams, GenerationRequest, ModelCatalogue, ModelSpec, available_backends
from daemons.miner.inference.vllm_backend import VllmBackend

FRANCE = "What is the capital of France?"


def _skip_reason() -> str | None:
    if importlib.util.find_spec("vllm") is None:
        return "vLLM is not installed"
    availability = available_backends([0])["vllm"]
    return None if availability.available else f"vLLM cannot run here: {availability.reason}"


SKIP_REASON = _skip_reason()
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.slow,
    pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or ""),
]


def _spec() -> ModelSpec:
    override = os.environ.get("AITBC_TEST_VLLM_MODEL")
    if override:
        return ModelSpec(name="vllm-test", backend="vllm", path=Path(override), max_model_len=2048)
    builtin = ModelCatalogue.builtin().resolve("smollm2")
    return builtin.model_copy(update={"backend": "vllm", "max_model_len": 2048})


@pytest.fixture(scope="module")
def vllm_backend() -> Iterator[VllmBackend]:
    backend = VllmBackend(_spec(), gpu_devices=[0], gpu_memory_utilization=0.3)
    backend.load()
    yield backend
    backend.close()


def test_generates_and_verifies_greedy(vllm_backend: VllmBackend) -> None:
    [result] = vllm_backend.generate([GenerationRequest(prompt=FRANCE, max_tokens=48)])
    assert "Paris" in result.text
    assert result.finish_reason == "stop" and result.output_token_ids[-1] in vllm_backend.eos_ids
    assert result.prompt_token_ids == vllm_backend.render(FRANCE).token_ids
    assert vllm_backend.verify_result(FRANCE, result).accepted
    tampered = vllm_backend.verify(FRANCE, result.text.replace("Paris", "Lyon"), result.params)
    assert not tampered.accepted and tampered.first_mismatch is not None


def test_batch_of_jobs_runs_together_in_order(vllm_backend: VllmBackend) -> None:
    prompts = [FRANCE, "Name a primary colour.", "Count to five."]
    results = vllm_backend.generate([GenerationRequest(prompt=p, max_tokens=32) for p in prompts])
    assert [r.prompt_text for r in results] == [vllm_backend.render(p).text for p in prompts]
    assert all(r.completion_tokens > 0 for r in results)


def test_seeded_sampling_reproducible_and_verifiable(vllm_backend: VllmBackend) -> None:
    params = GenerationParams(max_tokens=32, temperature=0.8, top_p=0.95, seed=77)
    request = GenerationRequest(prompt="Tell me a short story about a cat.", **params.model_dump())
    first, again = vllm_backend.generate([request, request])
    assert first.output_token_ids == again.output_token_ids
    assert vllm_backend.verify_result(request.prompt, first).accepted
    reversed_body = first.output_token_ids[:3] + first.output_token_ids[3:-1][::-1] + first.output_token_ids[-1:]
    assert not vllm_backend.verify(request.prompt, reversed_body, params).accepted
