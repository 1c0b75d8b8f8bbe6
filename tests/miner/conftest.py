"""Shared fixtures of the miner tests: the real SmolLM2 model, loaded once per session.

Loading de-quantises the GGUF (tens of seconds on a small CPU), so every test that needs the
model shares one ``CpuBackend``; tests must not mutate it (no ``close()``).
"""

from __future__ import annotations

import importlib.util
from typing import Iterator

import pytest
from testkit import skip_unless_ci

from daemons.miner.inference import GenerationRequest, GenerationResult, ModelCatalogue
from daemons.miner.inference.cpu import CpuBackend

FRANCE = "What is the capital of France?"


def has_cpu_stack() -> bool:
    """True when torch + transformers + gguf (the 'cpu' extra) are importable."""
    return all(importlib.util.find_spec(name) is not None for name in ("torch", "transformers", "gguf"))


@pytest.fixture(scope="session")
def smollm2() -> Iterator[CpuBackend]:
    """The built-in ``smollm2`` model on the CPU backend, loaded once."""
    if not has_cpu_stack():
        skip_unless_ci("the CPU inference stack (torch, transformers, gguf) is not installed")
    catalogue = ModelCatalogue.builtin()
    spec = catalogue.resolve("smollm2")
    backend = CpuBackend(spec)
    backend.load()
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def france(smollm2: CpuBackend) -> GenerationResult:
    """Greedy answer to the capital-of-France question (generated once)."""
    [result] = smollm2.generate([GenerationRequest(prompt=FRANCE, max_tokens=48)])
    return result
