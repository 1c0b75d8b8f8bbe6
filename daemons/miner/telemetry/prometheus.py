"""Prometheus text exposition (format 0.0.4) of a ``TelemetrySnapshot`` for ``/metrics``.

All metrics are gauges. Values follow Prometheus base units where the exposition convention
asks for them (bytes, watts, celsius, hertz, seconds); a value that was not measured produces
no sample line at all, because a missing series is how Prometheus expresses "unknown" (a 0
would be read as a real reading). Each metric family gets its HELP/TYPE header once, and a
family with no samples is left out entirely.
"""

from __future__ import annotations

import math
from typing import Callable, Iterable

from daemons.miner.telemetry.models import GpuSample, HostSample, TelemetrySnapshot

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Labels = dict[str, str]
Sample = tuple[Labels, float]

_GPU_METRICS: list[tuple[str, str, Callable[[GpuSample], float | int | None]]] = [
    ("aitbc_gpu_utilization_percent", "GPU core utilization over the last sample period, percent.", lambda g: g.utilization_percent),
    ("aitbc_gpu_memory_utilization_percent", "GPU memory controller utilization, percent.", lambda g: g.memory_utilization_percent),
    ("aitbc_gpu_memory_used_bytes", "GPU memory in use, bytes.", lambda g: g.memory_used_bytes),
    ("aitbc_gpu_memory_total_bytes", "GPU memory installed, bytes.", lambda g: g.memory_total_bytes),
    ("aitbc_gpu_temperature_celsius", "GPU core temperature, degrees Celsius.", lambda g: g.temperature_celsius),
    ("aitbc_gpu_power_watts", "GPU power draw, watts.", lambda g: g.power_watts),
    ("aitbc_gpu_power_limit_watts", "GPU enforced power limit, watts.", lambda g: g.power_limit_watts),
    ("aitbc_gpu_sm_clock_hertz", "GPU SM clock, hertz.", lambda g: None if g.sm_clock_mhz is None else g.sm_clock_mhz * 1_000_000),
    ("aitbc_gpu_memory_clock_hertz", "GPU memory clock, hertz.", lambda g: None if g.memory_clock_mhz is None else g.memory_clock_mhz * 1_000_000),
    ("aitbc_gpu_fan_speed_percent", "GPU fan speed, percent of maximum.", lambda g: g.fan_percent),
    ("aitbc_gpu_processes", "Processes holding memory on the GPU.", lambda g: None if g.processes is None else len(g.processes)),
]

_HOST_METRICS: list[tuple[str, str, Callable[[HostSample], float | int | None]]] = [
    ("aitbc_host_cpu_utilization_percent", "Host CPU busy share since the previous sample, percent.", lambda h: h.cpu_percent),
    ("aitbc_host_cpu_count", "Logical CPUs of the host.", lambda h: h.cpu_count),
    ("aitbc_host_memory_used_bytes", "Host RAM in use (total minus available), bytes.", lambda h: h.ram_used_bytes),
    ("aitbc_host_memory_total_bytes", "Host RAM installed, bytes.", lambda h: h.ram_total_bytes),
    ("aitbc_host_memory_available_bytes", "Host RAM available for new work, bytes.", lambda h: h.ram_available_bytes),
]


def escape_label_value(value: str) -> str:
    """Escape a label value as the exposition format requires (backslash, quote, newline)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_value(value: float) -> str:
    """A sample value in exposition syntax (integers without a decimal point)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def family(name: str, help_text: str, samples: Iterable[Sample], kind: str = "gauge") -> list[str]:
    """One metric family's exposition lines (HELP, TYPE, samples); none when it has no sample."""
    body = []
    for labels, value in samples:
        label_text = ",".join(f'{key}="{escape_label_value(val)}"' for key, val in labels.items())
        body.append(f"{name}{{{label_text}}} {format_value(value)}" if label_text else f"{name} {format_value(value)}")
    if not body:
        return []
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *body]


def _gpu_labels(gpu: GpuSample) -> Labels:
    labels = {"gpu": str(gpu.index)}
    if gpu.uuid is not None:
        labels["uuid"] = gpu.uuid
    if gpu.name is not None:
        labels["name"] = gpu.name
    return labels


def to_prometheus(snapshot: TelemetrySnapshot) -> str:
    """The snapshot as Prometheus text exposition, ending with a newline."""
    lines: list[str] = []
    lines += family(
        "aitbc_nvml_available", "1 when NVML (the NVIDIA driver) could be used, else 0.", [({}, 1.0 if snapshot.nvml_available else 0.0)]
    )
    lines += family("aitbc_telemetry_timestamp_seconds", "Time the snapshot was taken, Unix seconds.", [({}, snapshot.time_ms / 1000.0)])
    readable = [gpu for gpu in snapshot.gpus if gpu.error is None]
    lines += family(
        "aitbc_gpu_up", "1 when the GPU could be read, 0 when it could not be opened.",
        [(_gpu_labels(gpu), 0.0 if gpu.error else 1.0) for gpu in snapshot.gpus],
    )
    for name, help_text, read in _GPU_METRICS:
        samples = [(_gpu_labels(gpu), float(value)) for gpu in readable if (value := read(gpu)) is not None]
        lines += family(name, help_text, samples)
    process_samples = [
        ({**_gpu_labels(gpu), "pid": str(proc.pid)}, float(proc.used_memory_bytes))
        for gpu in readable
        for proc in gpu.processes or []
        if proc.used_memory_bytes is not None
    ]
    lines += family("aitbc_gpu_process_memory_used_bytes", "GPU memory held by one process, bytes.", process_samples)
    for name, help_text, read in _HOST_METRICS:
        value = read(snapshot.host)
        lines += family(name, help_text, [({}, float(value))] if value is not None else [])
    loads = [("1m", snapshot.host.load_avg_1m), ("5m", snapshot.host.load_avg_5m), ("15m", snapshot.host.load_avg_15m)]
    lines += family(
        "aitbc_host_load_average", "Host load average over the period.", [({"period": p}, v) for p, v in loads if v is not None]
    )
    return "\n".join(lines) + "\n"
