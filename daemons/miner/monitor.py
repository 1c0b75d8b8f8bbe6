"""The hardware as the miner reports it: telemetry samples, and what registration, heartbeats
and health say about the GPUs.

A sample every ``telemetry_interval`` is kept on the shared state (readiness needs one) and
published on the ``telemetry`` topic. Registration and heartbeats carry compact, measured-only
views of it; the GPU verdict of ``/health`` and ``/v1/status`` is :func:`gpu_state`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from daemons.miner.models import GpuState
from daemons.miner.state import MinerState
from daemons.miner.telemetry import TelemetrySampler, TelemetrySnapshot

log = logging.getLogger("aitbc.miner")
_MB = 1 << 20


class HardwareMonitor:
    """Owns the telemetry sampler (NVML and /proc), opened at start and closed at stop."""

    def __init__(self, state: MinerState) -> None:
        self._state = state
        self._sampler: TelemetrySampler | None = None

    async def open(self) -> None:
        """Start NVML and take the first sample (blocking calls, run in a thread)."""
        self._sampler = await asyncio.to_thread(TelemetrySampler, self._state.settings.gpu_devices)
        self._state.snapshot = await asyncio.to_thread(self._sampler.sample)

    async def close(self) -> None:
        if self._sampler is not None:
            await asyncio.to_thread(self._sampler.close)

    async def run(self) -> None:
        """Sample forever; a failed sample is logged and the next one tried."""
        while True:
            await asyncio.sleep(self._state.settings.telemetry_interval)
            try:
                self._state.snapshot = await asyncio.to_thread(self._opened().sample)
            except Exception:
                log.exception("telemetry sample failed")
                continue
            self._state.hub.publish("telemetry", self._state.snapshot.model_dump())

    async def telemetry(self) -> TelemetrySnapshot:
        """The latest sample (taken now if there is none yet)."""
        if self._state.snapshot is None:
            self._state.snapshot = await asyncio.to_thread(self._opened().sample)
        return self._state.snapshot

    def _opened(self) -> TelemetrySampler:
        if self._sampler is None:
            raise RuntimeError("the telemetry sampler is opened by the miner's start")
        return self._sampler

    def gpu_infos(self) -> list[dict[str, Any]]:
        """Registration's view of the GPUs: name, total and free memory in MB (measured only)."""
        infos: list[dict[str, Any]] = []
        snap = self._state.snapshot
        for gpu in snap.gpus if snap else []:
            if gpu.error is not None:
                continue
            info: dict[str, Any] = {"index": gpu.index, "name": gpu.name or ""}
            if gpu.memory_total_bytes is not None:
                info["memory_total_mb"] = gpu.memory_total_bytes // _MB
            if gpu.memory_free_bytes is not None:
                info["memory_free_mb"] = gpu.memory_free_bytes // _MB
            infos.append(info)
        return infos

    def summary(self) -> dict[str, Any]:
        """The heartbeat's telemetry: compact, and honest about what was not measured."""
        snap = self._state.snapshot
        if snap is None:
            return {}
        gpus = []
        for gpu, info in zip([g for g in snap.gpus if g.error is None], self.gpu_infos()):
            gpus.append({**info, "utilization_percent": gpu.utilization_percent,
                         "temperature_celsius": gpu.temperature_celsius, "power_watts": gpu.power_watts})
        host = snap.host
        return {"time_ms": snap.time_ms, "nvml_available": snap.nvml_available, "nvml_error": snap.nvml_error,
                "gpus": gpus, "host": {"cpu_percent": host.cpu_percent, "ram_used_bytes": host.ram_used_bytes,
                                       "ram_total_bytes": host.ram_total_bytes, "load_avg_1m": host.load_avg_1m}}


def gpu_state(devices: list[int], snap: TelemetrySnapshot | None) -> GpuState:
    """Whether the configured GPUs are usable according to ``snap``, and why not."""
    if snap is None:
        return GpuState(ok=False, reason="not sampled yet", devices=devices)
    readable = [g for g in snap.gpus if g.error is None]
    if not snap.nvml_available:
        reason: str | None = snap.nvml_error or "NVML is not available"
    elif not devices:
        reason = "no gpu_devices configured"
    elif len(readable) < len(devices):
        reason = "; ".join(g.error for g in snap.gpus if g.error) or "a configured GPU cannot be read"
    else:
        reason = None
    return GpuState(ok=reason is None, reason=reason, devices=devices, seen=len(readable),
                    driver_version=snap.driver_version)
