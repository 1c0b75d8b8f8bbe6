"""Telemetry data models: what one sample of a GPU and of the host says.

Every measured field is optional: a value NVML (or the kernel) could not provide is None, never
a guess or a zero, because operators and the coordinator's matching act on these numbers
(free GPU memory decides where a job goes). Units are in the field names.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class GpuProcess(BaseModel):
    """A process holding memory on a GPU."""

    model_config = ConfigDict(frozen=True)

    pid: int
    used_memory_bytes: int | None = Field(default=None, description="None when the driver does not report it")


class GpuSample(BaseModel):
    """One reading of one GPU; ``error`` explains a GPU that could not be read at all."""

    model_config = ConfigDict(frozen=True)

    index: int
    name: str | None = None
    uuid: str | None = None
    utilization_percent: float | None = None
    memory_utilization_percent: float | None = None
    memory_used_bytes: int | None = None
    memory_total_bytes: int | None = None
    temperature_celsius: float | None = None
    power_watts: float | None = None
    power_limit_watts: float | None = None
    sm_clock_mhz: int | None = None
    memory_clock_mhz: int | None = None
    fan_percent: float | None = None
    processes: list[GpuProcess] | None = None
    error: str | None = None

    @property
    def memory_free_bytes(self) -> int | None:
        """Free memory, when both used and total are known."""
        if self.memory_used_bytes is None or self.memory_total_bytes is None:
            return None
        return max(0, self.memory_total_bytes - self.memory_used_bytes)


class HostSample(BaseModel):
    """CPU and memory of the machine, read from /proc and ``os.getloadavg``."""

    model_config = ConfigDict(frozen=True)

    cpu_count: int | None = None
    cpu_percent: float | None = Field(default=None, description="busy share since the previous sample; None on the first")
    ram_used_bytes: int | None = None
    ram_total_bytes: int | None = None
    ram_available_bytes: int | None = None
    load_avg_1m: float | None = None
    load_avg_5m: float | None = None
    load_avg_15m: float | None = None


class TelemetrySnapshot(BaseModel):
    """Everything sampled at one instant; ``nvml_error`` says why GPU data is absent."""

    model_config = ConfigDict(frozen=True)

    time_ms: int
    gpus: list[GpuSample]
    host: HostSample
    nvml_available: bool
    nvml_error: str | None = None
    driver_version: str | None = None
