"""``TelemetrySampler``: one call, one ``TelemetrySnapshot`` of the configured GPUs and the host.

The daemon calls ``sample()`` on its interval and fans the snapshot out to subscribers (TUI)
and to ``/metrics``; keeping sampling a plain synchronous call keeps the timing policy in the
daemon and makes the sampler trivial to test.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

from daemons.miner.telemetry.host import HostReader
from daemons.miner.telemetry.models import TelemetrySnapshot
from daemons.miner.telemetry.nvml import NvmlSession


class TelemetrySampler:
    """Samples ``gpu_devices`` (NVML indices; None = every GPU) and the host.

    NVML is initialised once, here; without a driver the sampler still works and every
    snapshot says ``nvml_available=False`` with the reason, reporting CPU/RAM only.
    """

    def __init__(
        self,
        gpu_devices: Sequence[int] | None = None,
        *,
        nvml_module: Any | None = None,
        proc: Path = Path("/proc"),
    ) -> None:
        if gpu_devices is not None and any(i < 0 for i in gpu_devices):
            raise ValueError(f"gpu_devices must be non-negative NVML indices, got {list(gpu_devices)}")
        self._devices = list(gpu_devices) if gpu_devices is not None else None
        self._nvml = NvmlSession(nvml_module)
        self._host = HostReader(proc)

    @property
    def nvml_available(self) -> bool:
        """True when NVML started and GPU fields can be read."""
        return self._nvml.available

    @property
    def nvml_error(self) -> str | None:
        """Why NVML is unavailable, or None."""
        return self._nvml.error

    def sample(self) -> TelemetrySnapshot:
        """Read every configured GPU and the host now."""
        gpus = self._nvml.read(self._devices)
        return TelemetrySnapshot(
            time_ms=int(time.time() * 1000),
            gpus=gpus,
            host=self._host.sample(),
            nvml_available=self._nvml.available,
            nvml_error=self._nvml.error,
            driver_version=self._nvml.driver_version,
        )

    def close(self) -> None:
        """Shut NVML down (idempotent)."""
        self._nvml.close()

    def __enter__(self) -> "TelemetrySampler":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
