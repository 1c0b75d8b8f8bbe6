"""Miner / GPU: per-device telemetry with sparklines, served models, running jobs, bond and
earnings, all from the local miner daemon (telemetry pushed on its event stream).

Without an NVIDIA driver the miner says so (``gpu_reason``); the screen shows that sentence as
it is and the host's CPU and RAM, never an invented GPU.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable

from aitbc_tui.format import ait, clock, short_addr, short_hash
from aitbc_tui.models import MinerModel, Store
from aitbc_tui.screens.base import SectionScreen
from aitbc_tui.widgets.overflow import Panel
from aitbc_tui.widgets.panels import TextView, kv, notice
from aitbc_tui.widgets.table import Table
from aitbc_tui.widgets.telemetry import GpuCard, HostCard


def _uptime(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


def miner_headline(model: MinerModel) -> Text:
    ready = Text("ready", style="bold green") if model.ready else Text("not ready", style="bold red")
    text = Text(f" {model.phase} ", style="reverse")
    text.append(" ")
    text.append(ready)
    if model.reasons:
        text.append(f" ({'; '.join(model.reasons)})", style="red")
    text.append(f" · {short_addr(model.address)} · {model.free_slots}/{model.capacity} slots free", style="dim")
    text.append(f" · {ait(model.price_per_1k_tokens, suffix=False)} AIT/1k tok", style="dim")
    text.append(f" · up {_uptime(model.uptime_s)}", style="dim")
    return text


def earnings_text(model: MinerModel) -> Text:
    counters = model.counters
    bond = ait(model.bond) if model.bond is not None else "-"
    target = f" (target {ait(model.bond_target)}, {model.bond_status})" if model.bond_target is not None else ""
    registration = "registered" if model.registered else "not registered"
    if model.registration_error:
        registration += f": {model.registration_error}"
    rows = [
        ("Balance", ait(model.balance) if model.balance is not None else "-"),
        ("Bond", bond + target),
        ("Slashed", ait(model.slashed) if model.slashed is not None else "-"),
        ("Settled jobs", str(model.jobs_settled) if model.jobs_settled is not None else "-"),
        ("Runs", f"{counters.get('runs_completed', 0):,} done · {counters.get('failed', 0):,} failed · "
                 f"{counters.get('verifies_accepted', 0) + counters.get('verifies_rejected', 0):,} re-checks"),
        ("Tokens", f"{counters.get('prompt_tokens', 0):,} in · {counters.get('completion_tokens', 0):,} out"),
        ("Coordinator", registration),
    ]
    if model.earnings_error:
        rows.append(("Chain", model.earnings_error))
    if model.last_error:
        rows.append(("Last error", model.last_error))
    return kv(rows)


class MinerScreen(SectionScreen):
    SECTION = "miner"
    DEFAULT_CSS = """
    #miner-headline {
        height: auto;
        max-height: 3;
        padding: 0 1;
    }
    #miner-body {
        height: 1fr;
    }
    #devices {
        width: 1fr;
        height: 1fr;
    }
    #miner-side {
        width: 1fr;
        height: 1fr;
    }
    #served-models {
        height: 6;
    }
    #earnings {
        height: 10;
    }
    MinerScreen.-narrow #miner-body {
        layout: vertical;
    }
    MinerScreen.-narrow #devices {
        height: auto;
        max-height: 6;
    }
    MinerScreen.-narrow #served-models {
        height: 4;
    }
    MinerScreen.-narrow #miner-tasks {
        min-height: 4;
    }
    MinerScreen.-narrow #earnings {
        height: 6;
    }
    """
    TITLE_TEXT = "Miner / GPU"
    AUTO_FOCUS = "#miner-tasks"

    def __init__(self) -> None:
        super().__init__()
        self._gpu_indexes: list[int] | None = None

    def compose_body(self) -> ComposeResult:
        yield TextView(id="miner-headline")
        with Horizontal(id="miner-body"):
            with VerticalScroll(id="devices"):
                yield TextView(id="gpu-note", classes="note")
                yield HostCard()
            with Vertical(id="miner-side"):
                yield Table([("Model", "model", 12), ("Backend", "backend", 8), ("State", "state", 24)],
                            id="served-models", title="Served models", zebra_stripes=False)
                yield Table([("Job", "job", 13), ("Kind", "kind", 6), ("Model", "model", 10), ("State", "state", 8),
                             ("Received", "received", 8), ("Outcome", "outcome", 12)],
                            id="miner-tasks", title="Jobs on this miner", drop=("received", "kind"),
                            detail=self._task_detail)
                with Panel(title="Bond & earnings", id="earnings"):
                    yield TextView(id="earnings-info")

    def _task_detail(self, task_id: str) -> Text:
        """One job on this miner whole (Enter on it): the job id and outcome the table cuts."""
        task = next((t for t in self.store.miner.tasks if t.task_id == task_id), None)
        if task is None:
            return Text(task_id)
        return kv([("Job", task.job_id), ("Task", task.task_id), ("Kind", task.kind), ("Model", task.model),
                   ("State", task.state), ("Received", clock(task.received_ms)), ("Outcome", task.outcome or "-")])

    def update_body(self, changed: frozenset[str]) -> None:
        if "miner" not in changed:
            return
        store = self.store
        note = self.unavailable_text("miner", "Telemetry")
        headline = self.query_one("#miner-headline", TextView)
        seen = store.miner.telemetry_ms is not None
        body = self.query_one("#miner-body")
        body.display = seen
        if note is not None:
            headline.show(notice(" ".join(note.split("\n")) + ("; showing the last data received" if seen else "")))
        else:
            headline.show(miner_headline(store.miner))
        if not seen:
            return
        self._show_devices(store)
        self._show_tables(store)
        self.query_one("#earnings-info", TextView).show(earnings_text(store.miner))

    def _show_devices(self, store: Store) -> None:
        model = store.miner
        indexes = [g.index for g in model.gpus]
        devices = self.query_one("#devices", VerticalScroll)
        if indexes != self._gpu_indexes:
            self._gpu_indexes = indexes
            for card in list(devices.query(GpuCard)):
                card.remove()
            devices.mount_all([GpuCard(i) for i in indexes], before=self.query_one(HostCard))
        gpu_note = self.query_one("#gpu-note", TextView)
        if model.gpus:
            gpu_note.display = False
            for gpu in model.gpus:
                for card in devices.query(GpuCard):
                    if card.index == gpu.index and card.is_mounted:
                        card.show(gpu, model)
        else:
            gpu_note.display = True
            gpu_note.show(Text(f"No GPU: {model.gpu_reason or 'the miner reports no GPU'}", style="yellow"))
        self.query_one(HostCard).show(model.host, model)

    def _show_tables(self, store: Store) -> None:
        model = store.miner
        served = self.query_one("#served-models", DataTable)
        served.clear()
        for m in model.models:
            state = "serving" if m.served else "loaded" if m.loaded else (m.reason or "not loaded")
            served.add_row(m.name, m.backend or "-", Text(state, style="green" if m.served else "yellow"), key=m.name)
        if not model.models:
            served.add_row("-", "-", Text("compute disabled" if not model.compute_enabled
                                          else "no model", style="dim"))
        tasks = self.query_one("#miner-tasks", Table)
        tasks.refill([
            (t.task_id, (short_hash(t.job_id, 12), t.kind, t.model[:10], t.state, clock(t.received_ms), t.outcome or "-"))
            for t in model.tasks])
        # the table lists what this miner process handled; settled jobs (below) are the chain's count
        tasks.border_subtitle = "none since the miner started" if not model.tasks else ""
