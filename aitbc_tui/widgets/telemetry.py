"""Telemetry cards of the Miner / GPU screen: one per GPU and one for the host, each metric with
its current value and a Sparkline of the last minute."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Sparkline, Static

from aitbc_tui.format import gib
from aitbc_tui.models import GpuView, HostView, MinerModel


def _pct(value: float | None) -> str:
    return f"{value:5.1f}%" if value is not None else "    -"


class MetricRow(Horizontal):
    """``label value  ▁▂▃▅▇`` on one line."""

    DEFAULT_CSS = """
    MetricRow { height: 1; }
    MetricRow > .metric-label { width: 30; text-wrap: nowrap; text-overflow: ellipsis; }
    MetricRow > Sparkline { width: 1fr; }
    """

    def __init__(self, key: str) -> None:
        super().__init__(classes="metric")
        self.key = key

    def compose(self) -> ComposeResult:
        yield Static(classes="metric-label")
        yield Sparkline([], summary_function=max)

    def show(self, label: str, history: list[float]) -> None:
        self.query_one(".metric-label", Static).update(label)
        self.query_one(Sparkline).data = history[-60:] or [0.0]


class TelemetryCard(Vertical):
    """A titled panel of metric rows, as tall as its rows."""

    DEFAULT_CSS = """
    TelemetryCard {
        height: auto;
    }
    """

    def __init__(self, id: str) -> None:
        super().__init__(classes="panel telemetry-card", id=id)


class GpuCard(TelemetryCard):
    def __init__(self, index: int) -> None:
        super().__init__(id=f"gpu-card-{index}")
        self.index = index

    def compose(self) -> ComposeResult:
        for key in ("util", "mem", "temp", "power"):
            yield MetricRow(key)

    def on_mount(self) -> None:
        """A card mounted for a newly seen GPU fills itself from the store right away."""
        model: MinerModel = self.app.store.miner  # type: ignore[attr-defined]
        for gpu in model.gpus:
            if gpu.index == self.index:
                self.show(gpu, model)

    def show(self, gpu: GpuView, model: MinerModel) -> None:
        self.border_title = f"GPU{gpu.index} · {gpu.name or 'unknown'}"
        self.border_subtitle = gpu.error or ""
        rows = {row.key: row for row in self.query(MetricRow)}
        prefix = f"gpu{gpu.index}"
        used, total = gpu.memory_used_bytes, gpu.memory_total_bytes
        temp = f"{gpu.temperature_celsius:.0f} °C" if gpu.temperature_celsius is not None else "-"
        power = f"{gpu.power_watts:.0f} W" if gpu.power_watts is not None else "-"
        if gpu.power_limit_watts is not None and gpu.power_watts is not None:
            power += f" / {gpu.power_limit_watts:.0f} W"
        rows["util"].show(f"Utilization {_pct(gpu.utilization_percent)}", model.history.get(f"{prefix}.util", []))
        rows["mem"].show(f"Memory {gib(used)} / {gib(total)}", model.history.get(f"{prefix}.mem", []))
        rows["temp"].show(f"Temperature {temp}", model.history.get(f"{prefix}.temp", []))
        rows["power"].show(f"Power {power}", model.history.get(f"{prefix}.power", []))


class HostCard(TelemetryCard):
    def __init__(self) -> None:
        super().__init__(id="host-card")

    def compose(self) -> ComposeResult:
        yield MetricRow("cpu")
        yield MetricRow("ram")

    def show(self, host: HostView | None, model: MinerModel) -> None:
        self.border_title = "Host CPU / RAM"
        rows = {row.key: row for row in self.query(MetricRow)}
        if host is None:
            rows["cpu"].show("CPU -", [])
            rows["ram"].show("RAM -", [])
            return
        cores = f" of {host.cpu_count} cores" if host.cpu_count else ""
        rows["cpu"].show(f"CPU {_pct(host.cpu_percent)}{cores}", model.history.get("host.cpu", []))
        rows["ram"].show(f"RAM {gib(host.ram_used_bytes)} / {gib(host.ram_total_bytes)}",
                         model.history.get("host.ram", []))
