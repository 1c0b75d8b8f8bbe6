"""Shared fixtures of the miner tests: the real SmolLM2 model, loaded once per session per backend.

The tests that use the real model run on both CPU backends: transformers (``cpu``, which
de-quantises the GGUF, tens of seconds to load) and llama.cpp (``llamacpp``, the GGUF run
natively). Each backend is loaded once and shared; tests must not mutate it (no ``close()``).
A backend whose packages are missing is skipped with the reason (in CI, where ``.ci/setup``
installs both, it fails instead).
"""

from __future__ import annotations

import importlib.util
from typing import Iterator

import pytest
from testkit import skip_unless_ci

from daemons.miner.inference import GenerationRequest, GenerationResult, InferenceBackend, ModelCatalogue
from daemons.miner.inference.availability import available_backends
from daemons.miner.inference.catalogue import concrete_spec

FRANCE = "Which city is the capital of France?"
BACKENDS = ("cpu", "llamacpp")


def has_cpu_stack() -> bool:
    """True when torch + transformers + gguf (the 'cpu' extra) are importable."""
    return all(importlib.util.find_spec(name) is not None for name in ("torch", "transformers", "gguf"))


def load_smollm2(backend_name: str) -> InferenceBackend:
    """The built-in ``smollm2`` on ``backend_name``, loaded (skips when that backend is missing)."""
    availability = available_backends()[backend_name]
    if not availability.available:
        skip_unless_ci(f"the {backend_name} backend is not installed: {availability.reason}")
    spec = ModelCatalogue.builtin().resolve("smollm2")
    spec = concrete_spec(spec).model_copy(update={"backend": backend_name})
    if backend_name == "cpu":
        from daemons.miner.inference.cpu import CpuBackend

        backend: InferenceBackend = CpuBackend(spec)
    else:
        from daemons.miner.inference.llamacpp_backend import LlamaCppBackend

        backend = LlamaCppBackend(spec)
    backend.load()
    return backend


@pytest.fixture(scope="session")
def cpu_smollm2() -> Iterator[InferenceBackend]:
    """``smollm2`` on the transformers CPU backend, loaded once."""
    backend = load_smollm2("cpu")
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def llamacpp_smollm2() -> Iterator[InferenceBackend]:
    """``smollm2`` on the llama.cpp backend, loaded once."""
    backend = load_smollm2("llamacpp")
    yield backend
    backend.close()


@pytest.fixture(scope="session", params=BACKENDS)
def smollm2(request: pytest.FixtureRequest) -> InferenceBackend:
    """The built-in ``smollm2`` model on each CPU backend in turn."""
    backend: InferenceBackend = request.getfixturevalue(f"{request.param}_smollm2")
    return backend


@pytest.fixture(scope="session")
def france(smollm2: InferenceBackend) -> GenerationResult:
    """Greedy answer to the capital-of-France question (generated once per backend)."""
    [result] = smollm2.generate([GenerationRequest(prompt=FRANCE, max_tokens=48)])
    return result
