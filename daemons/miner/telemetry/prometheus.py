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


Read = Callable[[TelemetrySnapshot], Iterable[Sample]]
"""A metric family's samples in a snapshot."""


def _each_gpu(read: Callable[[GpuSample], float | int | None]) -> Read:
    """A sample per GPU that could be read and reported the value, labelled with the GPU."""
    def samples(snapshot: TelemetrySnapshot) -> list[Sample]:
        return [(_gpu_labels(gpu), float(value)) for gpu in snapshot.gpus
                if gpu.error is None and (value := read(gpu)) is not None]
    return samples


def _host(read: Callable[[HostSample], float | int | None]) -> Read:
    """The host's one sample, when it was measured."""
    def samples(snapshot: TelemetrySnapshot) -> list[Sample]:
        value = read(snapshot.host)
        return [({}, float(value))] if value is not None else []
    return samples


def _process_memory(snapshot: TelemetrySnapshot) -> list[Sample]:
    return [({**_gpu_labels(gpu), "pid": str(proc.pid)}, float(proc.used_memory_bytes))
            for gpu in snapshot.gpus if gpu.error is None
            for proc in gpu.processes or [] if proc.used_memory_bytes is not None]


def _load_averages(snapshot: TelemetrySnapshot) -> list[Sample]:
    host = snapshot.host
    loads = [("1m", host.load_avg_1m), ("5m", host.load_avg_5m), ("15m", host.load_avg_15m)]
    return [({"period": period}, value) for period, value in loads if value is not None]


_FAMILIES: list[tuple[str, str, Read]] = [
    ("aitbc_nvml_available", "1 when NVML (the NVIDIA driver) could be used, else 0.",
     lambda s: [({}, 1.0 if s.nvml_available else 0.0)]),
    ("aitbc_telemetry_timestamp_seconds", "Time the snapshot was taken, Unix seconds.", lambda s: [({}, s.time_ms / 1000.0)]),
    ("aitbc_gpu_up", "1 when the GPU could be read, 0 when it could not be opened.",
     lambda s: [(_gpu_labels(gpu), 0.0 if gpu.error else 1.0) for gpu in s.gpus]),
    ("aitbc_gpu_utilization_percent", "GPU core utilization over the last sample period, percent.", _each_gpu(lambda g: g.utilization_percent)),
    ("aitbc_gpu_memory_utilization_percent", "GPU memory controller utilization, percent.", _each_gpu(lambda g: g.memory_utilization_percent)),
    ("aitbc_gpu_memory_used_bytes", "GPU memory in use, bytes.", _each_gpu(lambda g: g.memory_used_bytes)),
    ("aitbc_gpu_memory_total_bytes", "GPU memory installed, bytes.", _each_gpu(lambda g: g.memory_total_bytes)),
    ("aitbc_gpu_temperature_celsius", "GPU core temperature, degrees Celsius.", _each_gpu(lambda g: g.temperature_celsius)),
    ("aitbc_gpu_power_watts", "GPU power draw, watts.", _each_gpu(lambda g: g.power_watts)),
    ("aitbc_gpu_power_limit_watts", "GPU enforced power limit, watts.", _each_gpu(lambda g: g.power_limit_watts)),
    ("aitbc_gpu_sm_clock_hertz", "GPU SM clock, hertz.",
     _each_gpu(lambda g: None if g.sm_clock_mhz is None else g.sm_clock_mhz * 1_000_000)),
    ("aitbc_gpu_memory_clock_hertz", "GPU memory clock, hertz.",
     _each_gpu(lambda g: None if g.memory_clock_mhz is None else g.memory_clock_mhz * 1_000_000)),
    ("aitbc_gpu_fan_speed_percent", "GPU fan speed, percent of maximum.", _each_gpu(lambda g: g.fan_percent)),
    ("aitbc_gpu_processes", "Processes holding memory on the GPU.",
     _each_gpu(lambda g: None if g.processes is None else len(g.processes))),
    ("aitbc_gpu_process_memory_used_bytes", "GPU memory held by one process, bytes.", _process_memory),
    ("aitbc_host_cpu_utilization_percent", "Host CPU busy share since the previous sample, percent.", _host(lambda h: h.cpu_percent)),
    ("aitbc_host_cpu_count", "Logical CPUs of the host.", _host(lambda h: h.cpu_count)),
    ("aitbc_host_memory_used_bytes", "Host RAM in use (total minus available), bytes.", _host(lambda h: h.ram_used_bytes)),
    ("aitbc_host_memory_total_bytes", "Host RAM installed, bytes.", _host(lambda h: h.ram_total_bytes)),
    ("aitbc_host_memory_available_bytes", "Host RAM available for new work, bytes.", _host(lambda h: h.ram_available_bytes)),
    ("aitbc_host_load_average", "Host load average over the period.", _load_averages),
]
"""Every family of the exposition, in its order: one row a metric, whatever it is read from."""


def to_prometheus(snapshot: TelemetrySnapshot) -> str:
    """The snapshot as Prometheus text exposition, ending with a newline."""
    lines = [line for name, help_text, read in _FAMILIES for line in family(name, help_text, read(snapshot))]
    return "\n".join(lines) + "\n"
