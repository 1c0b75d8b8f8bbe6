"""Telemetry: the real no-GPU path on this machine, per-field NVML failures, Prometheus text."""

from __future__ import annotations

import math
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from daemons.miner.telemetry import GpuProcess, GpuSample, HostSample, TelemetrySampler, TelemetrySnapshot, to_prometheus
from daemons.miner.telemetry.host import HostReader
from daemons.miner.telemetry.nvml import NvmlSession, probe_gpus


def nvml_works() -> bool:
    session = NvmlSession()
    try:
        return session.available and session.device_count() > 0
    finally:
        session.close()


HAS_GPU = nvml_works()


# ---------------------------------------------------------------------------- a tiny exposition parser
_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE = re.compile(rf"^({_NAME})(?:\{{(.*)\}})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def parse_exposition(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Parse Prometheus text format strictly enough to catch malformed output."""
    assert text.endswith("\n")
    families: dict[str, list[tuple[dict[str, str], float]]] = {}
    helped: set[str] = set()
    typed: dict[str, str] = {}
    for line in text.splitlines():
        assert line, "blank lines are not produced"
        if line.startswith("# HELP "):
            name = line.split(" ")[2]
            assert name not in helped, f"HELP repeated for {name}"
            helped.add(name)
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in {"gauge", "counter", "untyped"}
            assert name not in typed
            typed[name] = kind
            continue
        match = _SAMPLE.match(line)
        assert match, f"malformed sample line: {line!r}"
        name, label_text, value_text = match.groups()
        assert name in typed and name in helped, f"{name} sampled before its HELP/TYPE"
        labels: dict[str, str] = {}
        if label_text:
            consumed = 0
            for label in _LABEL.finditer(label_text):
                assert label.start() == consumed, f"bad labels in {line!r}"
                raw = label.group(2)
                labels[label.group(1)] = raw.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")
                consumed = label.end()
            assert consumed == len(label_text), f"bad labels in {line!r}"
        value = float(value_text.replace("+Inf", "inf").replace("-Inf", "-inf"))
        assert not math.isnan(value)
        families.setdefault(name, []).append((labels, value))
    for name in typed:
        assert name in families, f"{name} has a header but no samples"
    return families


# ---------------------------------------------------------------------------- no GPU (this machine)
@pytest.mark.skipif(HAS_GPU, reason="an NVIDIA GPU is present; the no-driver path cannot be observed here")
def test_no_gpu_snapshot_reports_host_only() -> None:
    with TelemetrySampler(gpu_devices=[0]) as sampler:
        sum(i * i for i in range(200_000))  # let some CPU time pass between the two readings
        snapshot = sampler.sample()
    assert snapshot.nvml_available is False
    assert snapshot.nvml_error and "CPU and RAM only" in snapshot.nvml_error
    assert snapshot.gpus == []
    host = snapshot.host
    assert host.ram_total_bytes and host.ram_total_bytes > 0
    assert host.ram_used_bytes is not None and 0 < host.ram_used_bytes <= host.ram_total_bytes
    assert host.ram_available_bytes is not None and host.ram_available_bytes <= host.ram_total_bytes
    assert host.cpu_count and host.cpu_count >= 1
    assert host.cpu_percent is None or 0.0 <= host.cpu_percent <= 100.0
    assert host.load_avg_1m is not None and host.load_avg_1m >= 0.0
    assert abs(snapshot.time_ms / 1000 - __import__("time").time()) < 60
    families = parse_exposition(to_prometheus(snapshot))
    assert families["aitbc_nvml_available"] == [({}, 0.0)]
    assert not [name for name in families if name.startswith("aitbc_gpu_")]
    assert families["aitbc_host_memory_total_bytes"] == [({}, float(host.ram_total_bytes))]
    assert {labels["period"] for labels, _ in families["aitbc_host_load_average"]} == {"1m", "5m", "15m"}


@pytest.mark.skipif(HAS_GPU, reason="an NVIDIA GPU is present")
def test_probe_reports_no_gpu_with_reason() -> None:
    count, reason = probe_gpus()
    assert count == 0 and reason


def test_host_reader_computes_cpu_share_from_proc(tmp_path: Path) -> None:
    (tmp_path / "stat").write_text("cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 1 2 3 4\n")
    (tmp_path / "meminfo").write_text("MemTotal:  1000 kB\nMemFree: 100 kB\nMemAvailable:  400 kB\n")
    reader = HostReader(proc=tmp_path)
    (tmp_path / "stat").write_text("cpu  150 0 110 840 0 0 0 0 0 0\n")
    sample = reader.sample()
    assert sample.cpu_percent == 60.0  # 60 busy jiffies out of 100
    assert sample.ram_total_bytes == 1_024_000 and sample.ram_used_bytes == 614_400
    unchanged = reader.sample()
    assert unchanged.cpu_percent is None  # no time passed: unknown, not 0


def test_unreadable_proc_gives_unknowns(tmp_path: Path) -> None:
    sample = HostReader(proc=tmp_path / "missing").sample()
    assert sample.cpu_percent is None and sample.ram_total_bytes is None and sample.ram_used_bytes is None


# ---------------------------------------------------------------------------- NVML field handling
class FakeNvml:
    """Stands in for pynvml: two GPUs, some fields unsupported, index 2 missing."""

    class NVMLError(Exception):
        pass

    class NVMLError_NotSupported(NVMLError):
        pass

    class NVMLError_DriverNotLoaded(NVMLError):
        pass

    NVML_TEMPERATURE_GPU = 0
    NVML_CLOCK_SM = 1
    NVML_CLOCK_MEM = 2

    def __init__(self, init_error: Exception | None = None) -> None:
        self.init_error = init_error
        self.shutdowns = 0

    def nvmlInit(self) -> None:
        if self.init_error is not None:
            raise self.init_error

    def nvmlShutdown(self) -> None:
        self.shutdowns += 1

    def nvmlSystemGetDriverVersion(self) -> bytes:
        return b"550.54"

    def nvmlDeviceGetCount(self) -> int:
        return 2

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        if index >= 2:
            raise self.NVMLError("Invalid Argument")
        return index

    def nvmlDeviceGetName(self, handle: int) -> str:
        return 'NVIDIA "Test" GPU' if handle == 0 else "NVIDIA H100"

    def nvmlDeviceGetUUID(self, handle: int) -> str:
        return f"GPU-000{handle}"

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> Any:
        return SimpleNamespace(gpu=87, memory=40)

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> Any:
        return SimpleNamespace(used=2 * 1024**3, total=80 * 1024**3, free=78 * 1024**3)

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        return 61

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        return 312_500

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: int) -> int:
        if handle == 1:
            raise self.NVMLError_NotSupported("Not Supported")
        return 700_000

    def nvmlDeviceGetClockInfo(self, handle: int, clock: int) -> int:
        return 1980 if clock == self.NVML_CLOCK_SM else 2619

    def nvmlDeviceGetFanSpeed(self, handle: int) -> int:
        raise self.NVMLError_NotSupported("Not Supported")  # data-centre cards have no fan

    def nvmlDeviceGetComputeRunningProcesses(self, handle: int) -> list[Any]:
        if handle == 1:
            raise self.NVMLError("No Permission")
        return [SimpleNamespace(pid=4242, usedGpuMemory=1024**3), SimpleNamespace(pid=7, usedGpuMemory=None)]

    def nvmlDeviceGetGraphicsRunningProcesses(self, handle: int) -> list[Any]:
        if handle == 1:
            raise self.NVMLError("No Permission")
        return [SimpleNamespace(pid=4242, usedGpuMemory=None)]


def test_each_nvml_field_fails_on_its_own() -> None:
    fake = FakeNvml()
    with TelemetrySampler(gpu_devices=[0, 1, 2], nvml_module=fake) as sampler:
        snapshot = sampler.sample()
    assert fake.shutdowns == 1
    assert snapshot.nvml_available and snapshot.nvml_error is None and snapshot.driver_version == "550.54"
    first, second, missing = snapshot.gpus
    assert first.utilization_percent == 87.0 and first.memory_used_bytes == 2 * 1024**3
    assert first.power_watts == 312.5 and first.power_limit_watts == 700.0
    assert first.sm_clock_mhz == 1980 and first.memory_clock_mhz == 2619 and first.temperature_celsius == 61.0
    assert first.fan_percent is None
    assert first.processes == [GpuProcess(pid=7, used_memory_bytes=None), GpuProcess(pid=4242, used_memory_bytes=1024**3)]
    assert first.memory_free_bytes == 78 * 1024**3
    assert second.power_limit_watts is None and second.processes is None and second.power_watts == 312.5
    assert missing.error and "cannot be opened" in missing.error and missing.utilization_percent is None


def test_driver_not_loaded_is_reported_clearly() -> None:
    fake = FakeNvml(init_error=FakeNvml.NVMLError_DriverNotLoaded("Driver Not Loaded"))
    sampler = TelemetrySampler(nvml_module=fake)
    snapshot = sampler.sample()
    assert not snapshot.nvml_available and snapshot.gpus == []
    assert snapshot.nvml_error == "no NVIDIA driver available (Driver Not Loaded); reporting CPU and RAM only"
    sampler.close()
    assert fake.shutdowns == 0  # never initialised, nothing to shut down


def test_prometheus_output_parses_and_skips_unknowns() -> None:
    with TelemetrySampler(gpu_devices=[0, 1, 2], nvml_module=FakeNvml()) as sampler:
        snapshot = sampler.sample()
    families = parse_exposition(to_prometheus(snapshot))
    utilization = {labels["gpu"]: (labels, value) for labels, value in families["aitbc_gpu_utilization_percent"]}
    assert set(utilization) == {"0", "1"}  # the unreadable GPU has no readings
    labels, value = utilization["0"]
    assert value == 87.0 and labels["uuid"] == "GPU-0000" and labels["name"] == 'NVIDIA "Test" GPU'
    assert "aitbc_gpu_fan_speed_percent" not in families  # unknown everywhere: no family at all
    assert [lab["gpu"] for lab, _ in families["aitbc_gpu_power_limit_watts"]] == ["0"]
    assert families["aitbc_gpu_sm_clock_hertz"][0][1] == 1980e6
    assert {lab["gpu"]: v for lab, v in families["aitbc_gpu_up"]} == {"0": 1.0, "1": 1.0, "2": 0.0}
    process = families["aitbc_gpu_process_memory_used_bytes"]
    assert process == [({"gpu": "0", "uuid": "GPU-0000", "name": 'NVIDIA "Test" GPU', "pid": "4242"}, float(1024**3))]


def test_prometheus_escapes_label_values() -> None:
    snapshot = TelemetrySnapshot(
        time_ms=1,
        gpus=[GpuSample(index=0, name='a\\b"c\nd', uuid="GPU-x", utilization_percent=1.5)],
        host=HostSample(),
        nvml_available=True,
    )
    text = to_prometheus(snapshot)
    assert 'name="a\\\\b\\"c\\nd"' in text
    [(labels, value)] = parse_exposition(text)["aitbc_gpu_utilization_percent"]
    assert labels["name"] == 'a\\b"c\nd' and value == 1.5


# ---------------------------------------------------------------------------- real GPU
@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="no NVIDIA GPU/driver on this machine (NVML unavailable)")
def test_real_gpu_sample() -> None:
    with TelemetrySampler(gpu_devices=[0]) as sampler:
        snapshot = sampler.sample()
    assert snapshot.nvml_available
    [gpu] = snapshot.gpus
    assert gpu.error is None and gpu.name and gpu.uuid
    assert gpu.memory_total_bytes and gpu.memory_used_bytes is not None
    assert gpu.memory_used_bytes <= gpu.memory_total_bytes
    families = parse_exposition(to_prometheus(snapshot))
    assert families["aitbc_nvml_available"] == [({}, 1.0)]
    assert families["aitbc_gpu_memory_total_bytes"][0][1] == float(gpu.memory_total_bytes)
