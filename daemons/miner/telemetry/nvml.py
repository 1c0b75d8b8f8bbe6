"""GPU readings through NVML (``pynvml`` from nvidia-ml-py), one field at a time.

NVML support varies by GPU and driver: data-centre cards report no fan, some report no power
limit, containers may hide processes. Each field is therefore read on its own and a failing
read leaves that one field None; nothing is estimated. When NVML itself cannot start (no
driver, library missing) the session records a clear message and reports no GPUs at all.

``module`` is injectable so the per-field error handling can be exercised without a GPU; in
production it is the real ``pynvml``.
"""

from __future__ import annotations

import threading
from types import ModuleType
from typing import Any, Callable, Sequence, TypeVar

from daemons.miner.telemetry.models import GpuProcess, GpuSample

T = TypeVar("T")

_NO_DRIVER_ERRORS = ("NVMLError_LibraryNotFound", "NVMLError_DriverNotLoaded")


def _load_pynvml() -> ModuleType | None:
    try:
        import pynvml
    except ImportError:
        return None
    return pynvml


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def describe_init_error(module: Any, exc: BaseException) -> str:
    """Operator-facing sentence for an NVML start-up failure."""
    kind = type(exc).__name__
    if kind in _NO_DRIVER_ERRORS:
        return f"no NVIDIA driver available ({exc}); reporting CPU and RAM only"
    if kind == "NVMLError_NoPermission":
        return f"NVML refused access ({exc}); reporting CPU and RAM only"
    return f"NVML could not start ({kind}: {exc}); reporting CPU and RAM only"


class NvmlSession:
    """One ``nvmlInit`` for the life of the object; reads GPUs on demand; ``close()`` shuts down."""

    def __init__(self, module: Any | None = None) -> None:
        self._nvml = module if module is not None else _load_pynvml()
        self._lock = threading.Lock()
        self.available = False
        self.error: str | None = None
        self.driver_version: str | None = None
        if self._nvml is None:
            self.error = "nvidia-ml-py (pynvml) is not installed; reporting CPU and RAM only"
            return
        try:
            self._nvml.nvmlInit()
        except self._nvml.NVMLError as exc:
            self.error = describe_init_error(self._nvml, exc)
            return
        self.available = True
        self.driver_version = self._field(lambda: _text(self._nvml.nvmlSystemGetDriverVersion()))

    def close(self) -> None:
        """Release NVML (safe to call twice)."""
        with self._lock:
            if self.available:
                self.available = False
                try:
                    self._nvml.nvmlShutdown()
                except self._nvml.NVMLError:
                    pass  # shutting down a dead driver changes nothing we could act on

    def device_count(self) -> int:
        """Number of GPUs NVML sees (0 when unavailable)."""
        if not self.available:
            return 0
        count = self._field(self._nvml.nvmlDeviceGetCount)
        return int(count) if count is not None else 0

    def read(self, indices: Sequence[int] | None = None) -> list[GpuSample]:
        """Samples for ``indices`` (all GPUs when None); a GPU that cannot be opened gets ``error``."""
        if not self.available:
            return []
        with self._lock:
            wanted = list(indices) if indices is not None else list(range(self.device_count()))
            return [self._read_one(index) for index in wanted]

    # ------------------------------------------------------------------ internals
    def _field(self, read: Callable[[], T]) -> T | None:
        """Run one NVML read; any NVML failure means 'unknown' for that field only."""
        try:
            return read()
        except self._nvml.NVMLError:
            return None

    def _read_one(self, index: int) -> GpuSample:
        nvml = self._nvml
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
        except nvml.NVMLError as exc:
            return GpuSample(index=index, error=f"GPU {index} cannot be opened: {exc}")
        utilization = self._field(lambda: nvml.nvmlDeviceGetUtilizationRates(handle))
        memory = self._field(lambda: nvml.nvmlDeviceGetMemoryInfo(handle))
        power_mw = self._field(lambda: nvml.nvmlDeviceGetPowerUsage(handle))
        limit_mw = self._field(lambda: nvml.nvmlDeviceGetEnforcedPowerLimit(handle))
        return GpuSample(
            index=index,
            name=self._field(lambda: _text(nvml.nvmlDeviceGetName(handle))),
            uuid=self._field(lambda: _text(nvml.nvmlDeviceGetUUID(handle))),
            utilization_percent=float(utilization.gpu) if utilization is not None else None,
            memory_utilization_percent=float(utilization.memory) if utilization is not None else None,
            memory_used_bytes=int(memory.used) if memory is not None else None,
            memory_total_bytes=int(memory.total) if memory is not None else None,
            temperature_celsius=_float(self._field(lambda: nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU))),
            power_watts=power_mw / 1000.0 if power_mw is not None else None,
            power_limit_watts=limit_mw / 1000.0 if limit_mw is not None else None,
            sm_clock_mhz=_int(self._field(lambda: nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_SM))),
            memory_clock_mhz=_int(self._field(lambda: nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_MEM))),
            fan_percent=_float(self._field(lambda: nvml.nvmlDeviceGetFanSpeed(handle))),
            processes=self._processes(handle),
        )

    def _processes(self, handle: Any) -> list[GpuProcess] | None:
        nvml = self._nvml
        compute = self._field(lambda: nvml.nvmlDeviceGetComputeRunningProcesses(handle))
        graphics = self._field(lambda: nvml.nvmlDeviceGetGraphicsRunningProcesses(handle))
        if compute is None and graphics is None:
            return None
        by_pid: dict[int, GpuProcess] = {}
        for entry in list(compute or []) + list(graphics or []):
            pid = int(entry.pid)
            used = getattr(entry, "usedGpuMemory", None)
            if pid not in by_pid or by_pid[pid].used_memory_bytes is None:
                by_pid[pid] = GpuProcess(pid=pid, used_memory_bytes=int(used) if used is not None else None)
        return [by_pid[pid] for pid in sorted(by_pid)]


def _float(value: Any) -> float | None:
    return float(value) if value is not None else None


def _int(value: Any) -> int | None:
    return int(value) if value is not None else None


def probe_gpus(module: Any | None = None) -> tuple[int, str | None]:
    """``(gpu count, reason when 0)`` for deciding whether a GPU backend can run here."""
    session = NvmlSession(module)
    try:
        if not session.available:
            return 0, session.error
        count = session.device_count()
        return count, None if count else "NVML found no NVIDIA GPU"
    finally:
        session.close()
