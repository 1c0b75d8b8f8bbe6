"""Which inference backends can run on this machine, and building one for a catalogue entry.

Answered without importing torch or vLLM (``importlib.util.find_spec`` only looks for them) and
with one short NVML probe for GPUs, so the daemon can report "what could I serve and why not"
quickly at start-up and in ``/health``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Sequence

from pydantic import BaseModel, ConfigDict

from daemons.miner.inference.base import InferenceBackend
from daemons.miner.inference.catalogue import ModelSpec, concrete_spec
from daemons.miner.inference.errors import BackendUnavailable
from daemons.miner.inference.verify import VerificationPolicy
from daemons.miner.telemetry.nvml import probe_gpus

CPU_PACKAGES = ("torch", "transformers", "gguf", "accelerate")
#: llama.cpp runs the forward pass; torch runs the project's sampler and verification rule.
LLAMACPP_PACKAGES = ("llama_cpp", "torch", "jinja2")


class BackendAvailability(BaseModel):
    """Whether one backend can run here; ``reason`` says why not."""

    model_config = ConfigDict(frozen=True)

    name: str
    available: bool
    reason: str | None = None


def _missing(packages: Sequence[str]) -> list[str]:
    return [name for name in packages if importlib.util.find_spec(name) is None]


def available_backends(gpu_devices: Sequence[int] | None = None) -> dict[str, BackendAvailability]:
    """``{"cpu": ..., "llamacpp": ..., "vllm": ...}``; vLLM also needs every index in
    ``gpu_devices`` to exist."""
    missing = _missing(CPU_PACKAGES)
    cpu = BackendAvailability(
        name="cpu",
        available=not missing,
        reason=f"missing packages: {', '.join(missing)} (install the 'cpu' extra)" if missing else None,
    )
    if importlib.util.find_spec("vllm") is None:
        vllm = BackendAvailability(name="vllm", available=False, reason="vllm is not installed (install the 'gpu' extra)")
    else:
        count, why = probe_gpus()
        wanted = list(gpu_devices) if gpu_devices is not None else [0]
        absent = [i for i in wanted if i >= count]
        if count == 0:
            vllm = BackendAvailability(name="vllm", available=False, reason=why or "no NVIDIA GPU found")
        elif absent:
            vllm = BackendAvailability(
                name="vllm", available=False, reason=f"gpu_devices {absent} do not exist (this machine has {count} GPU(s))"
            )
        else:
            vllm = BackendAvailability(name="vllm", available=True)
    missing = _missing(LLAMACPP_PACKAGES)
    llamacpp = BackendAvailability(
        name="llamacpp",
        available=not missing,
        reason=f"missing packages: {', '.join(missing)} (install the 'llamacpp' extra; bash .ci/setup builds it)" if missing else None,
    )
    return {"cpu": cpu, "llamacpp": llamacpp, "vllm": vllm}


def create_backend(
    spec: ModelSpec,
    *,
    gpu_devices: Sequence[int] = (0,),
    threads: int | None = None,
    batch_threads: int | None = None,
    policy: VerificationPolicy | None = None,
    model_id_cache: Path | None = None,
    check: bool = True,
) -> InferenceBackend:
    """An (unloaded) backend for ``spec``; refuses with the reason when it cannot run here.

    ``batch_threads`` concerns the llamacpp backend only (its batch decodes; see ``LlamaCppBackend``).

    A spec with ``backend = "auto"`` is first resolved to the backend that runs it here.
    """
    spec = concrete_spec(spec, available_backends())
    if check:
        availability = available_backends(gpu_devices if spec.backend == "vllm" else None)[spec.backend]
        if not availability.available:
            raise BackendUnavailable(f"model {spec.name!r} needs the {spec.backend} backend: {availability.reason}")
    if spec.backend == "cpu":
        from daemons.miner.inference.cpu import CpuBackend

        return CpuBackend(spec, threads=threads, policy=policy, model_id_cache=model_id_cache)
    if spec.backend == "llamacpp":
        from daemons.miner.inference.llamacpp_backend import LlamaCppBackend

        return LlamaCppBackend(spec, threads=threads, batch_threads=batch_threads, policy=policy, model_id_cache=model_id_cache)
    from daemons.miner.inference.vllm_backend import VllmBackend

    return VllmBackend(spec, gpu_devices=gpu_devices, policy=policy, model_id_cache=model_id_cache)
