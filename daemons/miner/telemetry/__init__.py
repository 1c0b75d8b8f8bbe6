"""Miner telemetry: NVML GPU samples, host CPU/RAM samples, Prometheus text exposition.

Usage::

    with TelemetrySampler(gpu_devices=[0]) as sampler:
        snapshot = sampler.sample()          # TelemetrySnapshot
        body = to_prometheus(snapshot)       # for /metrics

On a machine without an NVIDIA driver ``snapshot.nvml_available`` is False, ``nvml_error``
says why, ``gpus`` is empty and the host numbers are still there.
"""

from daemons.miner.telemetry.models import GpuProcess, GpuSample, HostSample, TelemetrySnapshot
from daemons.miner.telemetry.nvml import NvmlSession, probe_gpus
from daemons.miner.telemetry.prometheus import CONTENT_TYPE, to_prometheus
from daemons.miner.telemetry.sampler import TelemetrySampler

__all__ = [
    "CONTENT_TYPE",
    "GpuProcess",
    "GpuSample",
    "HostSample",
    "NvmlSession",
    "TelemetrySampler",
    "TelemetrySnapshot",
    "probe_gpus",
    "to_prometheus",
]
