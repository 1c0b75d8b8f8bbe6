"""Fleet: every rig of ``HOME/rigs.toml`` in one table, and actions on many at once.

One row per rig: reachability, miner state, models, GPUs (count, utilization, temperature,
memory), jobs running and done, earnings and when it last answered. The rows come from the app's
:class:`~aitbc_tui.sources.fleet.FleetMonitor` (each rig polled on its own thread over its SSH
master); this screen only filters, sorts and renders them. Space selects rows (none selected
means the row under the cursor); start/stop/drain/restart ask for confirmation and then run on
all chosen rigs at once (:mod:`daemons.ops.rigs_actions`, the same code as ``aitbc rig miner``);
Enter opens the rig's full console (``aitbc-tui --rig NAME``) while this one waits.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult, SuspendNotSupported
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from daemons.ops.rigs import RigError
from daemons.ops.rigs_fleet import RigRow

from aitbc_tui.format import ait
from aitbc_tui.screens.dialogs import ConfirmDialog

if TYPE_CHECKING:
    from aitbc_tui.app import AitbcApp
    from aitbc_tui.sources.fleet import FleetMonitor

COLUMNS = ("", "Rig", "State", "Miner", "Models", "GPUs", "Util", "Temp", "GPU mem", "Jobs", "Done", "Earned", "Seen")
NARROW_COLUMNS = ("", "Rig", "State", "Miner", "Util", "Temp", "Run/Done", "Earned", "Seen")
"""What an 80-column terminal shows: who, up or not, what the miner does, how hot and busy, what it
earned, when it last answered. Models, GPU count and memory are in the detail line under the
table (the highlighted rig's full row), so nothing is lost, only moved."""
WIDE_AT = 120
"""Terminal columns from which every column fits (the full table is about 116 wide)."""
SORTS: tuple[tuple[str, Callable[[RigRow], Any]], ...] = (
    ("name", lambda r: r.name),
    ("state", lambda r: (r.reachable, r.miner, r.name)),
    ("temperature", lambda r: (-(r.gpu_temp or -1.0), r.name)),
    ("jobs", lambda r: (-r.jobs_running, -r.jobs_done, r.name)),
    ("earnings", lambda r: (-(r.earnings or 0), r.name)),
)
NOT_POLLED = "not polled yet"
ACTIONS = {"start": "Start", "stop": "Stop", "drain": "Drain", "restart": "Restart"}


def ago(last_ms: int | None, now_ms: int) -> str:
    if last_ms is None:
        return "never"
    seconds = max(0, (now_ms - last_ms) // 1000)
    return f"{seconds}s ago" if seconds < 120 else f"{seconds // 60}m ago" if seconds < 7200 else f"{seconds // 3600}h ago"


def row_cells(row: RigRow, selected: bool, now_ms: int, *, wide: bool = True) -> tuple[Any, ...]:
    """The cells of ``row`` under :data:`COLUMNS` (``wide``) or :data:`NARROW_COLUMNS`."""
    state = (Text("up", style="green") if row.reachable else Text("polling", style="dim")
             if row.error == NOT_POLLED else Text("DOWN", style="bold red"))
    miner = Text(row.miner, style="green" if row.miner == "serving" else "yellow" if row.reachable else "dim")
    util = f"{row.gpu_util:.0f}%" if row.gpu_util is not None else "-"
    temp = f"{row.gpu_temp:.0f}C" if row.gpu_temp is not None else "-"
    earned = ait(row.earnings) if row.earnings is not None else "-"
    mark, seen = "*" if selected else " ", ago(row.last_seen_ms, now_ms)
    if not wide:
        return (mark, row.name, state, miner, util, temp, f"{row.jobs_running}/{row.jobs_done}", earned, seen)
    return (mark, row.name, state, miner, ",".join(row.models) or "-", str(row.gpus), util, temp, gpu_memory(row),
            str(row.jobs_running), str(row.jobs_done), earned, seen)


def gpu_memory(row: RigRow) -> str:
    if row.gpu_mem_used is None or not row.gpu_mem_total:
        return "-"
    return f"{row.gpu_mem_used // 2**30}/{row.gpu_mem_total // 2**30}G"


def row_detail(row: RigRow, now_ms: int) -> str:
    """Everything the table knows about one rig, on a line or two under it (all of it, whichever
    columns the terminal's width left in the table)."""
    if row.error == NOT_POLLED:
        return f"{row.name}: {NOT_POLLED}"
    if not row.reachable:
        return f"{row.name} {row.url} · unreachable · seen {ago(row.last_seen_ms, now_ms)}\n{row.error or ''}".strip()
    gpus = (f"{row.gpus} GPU{'s' if row.gpus != 1 else ''}"
            + (f" {row.gpu_util:.0f}%" if row.gpu_util is not None else "")
            + (f" {row.gpu_temp:.0f}C" if row.gpu_temp is not None else "")
            + (f" {gpu_memory(row)}" if gpu_memory(row) != "-" else ""))
    facts = [f"{row.name} {row.url}".strip(), f"miner {row.miner}{' (ready)' if row.ready else ''}",
             f"models {','.join(row.models) or '-'}", gpus, f"jobs {row.jobs_running} running, {row.jobs_done} done",
             f"earned {ait(row.earnings)}", f"seen {ago(row.last_seen_ms, now_ms)}"]
    return " · ".join(facts)


class FleetScreen(Screen[None]):
    """The rigs table; ``now_ms`` fixes the clock for snapshot tests."""

    DEFAULT_CSS = """
    FleetScreen #fleet-title { height: 1; background: $panel; padding: 0 1; }
    FleetScreen #fleet-filter { height: 1; border: none; padding: 0 1; }
    FleetScreen #fleet-table { height: 1fr; }
    FleetScreen #fleet-detail { height: auto; max-height: 3; padding: 0 1; }
    FleetScreen #fleet-status { height: auto; max-height: 2; padding: 0 1; color: $text-muted; }
    """
    BINDINGS: ClassVar[list[Binding]] = [  # type: ignore[assignment]
        Binding("escape", "app.pop_screen", "Back"),
        Binding("space", "toggle_select", "Select"),
        Binding("a", "select_all", "All"),
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("o", "sort", "Sort"),
        Binding("enter", "open_console", "Console", priority=True),
        Binding("s", "miner('start')", "Start"),
        Binding("x", "miner('stop')", "Stop"),
        Binding("d", "miner('drain')", "Drain"),
        Binding("r", "miner('restart')", "Restart"),
    ]

    def __init__(self, monitor: FleetMonitor, *, now_ms: Callable[[], int] | None = None) -> None:
        super().__init__()
        self.monitor = monitor
        self.selected: set[str] = set()
        self.sort_index = 0
        self.filter_text = ""
        self._now_ms = now_ms or (lambda: int(time.time() * 1000))
        self.wide: bool | None = None
        """Whether the table has every column (:data:`WIDE_AT`); None until the first paint."""

    @property
    def aitbc(self) -> AitbcApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static(id="fleet-title")
        yield Input(placeholder="filter: rig name, state, miner or model (/)", id="fleet-filter", compact=True)
        yield DataTable(id="fleet-table", cursor_type="row", zebra_stripes=True)
        yield Static(id="fleet-detail")
        yield Static(id="fleet-status")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_data({"fleet"})
        self.query_one("#fleet-table", DataTable).focus()

    def visible_rows(self) -> list[RigRow]:
        rows = [self.monitor.rows.get(name) or RigRow(name=name, url="", reachable=False, error=NOT_POLLED)
                for name in self.monitor.names] if self.monitor.names else list(self.monitor.rows.values())
        needle = self.filter_text.lower()
        if needle:
            rows = [r for r in rows if needle in " ".join([r.name, "up" if r.reachable else "unreachable", r.miner,
                                                           *r.models]).lower()]
        return sorted(rows, key=SORTS[self.sort_index][1])

    def refresh_data(self, changed: Iterable[str]) -> None:
        if "fleet" not in changed or not self.is_attached:
            return
        rows = self.visible_rows()
        table = self.query_one("#fleet-table", DataTable)
        cursor = table.cursor_row
        now = self._now_ms()
        wide = self.app.size.width >= WIDE_AT
        table.clear(columns=wide != self.wide)
        if wide != self.wide:
            self.wide = wide
            table.add_columns(*(COLUMNS if wide else NARROW_COLUMNS))
        for row in rows:
            table.add_row(*row_cells(row, row.name in self.selected, now, wide=wide), key=row.name)
        if rows:
            table.move_cursor(row=min(cursor, len(rows) - 1))
        everything = list(self.monitor.rows.values())
        up = sum(r.reachable for r in everything)
        self.query_one("#fleet-title", Static).update(
            f"Fleet  {len(self.monitor.names) or len(everything)} rigs, {up} up  ·  sort: {SORTS[self.sort_index][0]}"
            f"  ·  {len(self.selected)} selected")
        self._show_detail()

    def on_resize(self) -> None:
        if self.wide is not None and (self.app.size.width >= WIDE_AT) != self.wide:
            self.refresh_data({"fleet"})

    @on(DataTable.RowHighlighted, "#fleet-table")
    def _show_detail(self) -> None:
        name = self.current()
        row = self.monitor.rows.get(name) if name is not None else None
        text = row_detail(row, self._now_ms()) if row is not None else (f"{name}: {NOT_POLLED}" if name else "")
        self.query_one("#fleet-detail", Static).update(text)
        errors = [f"{r.name}: {r.error}" for r in self.visible_rows()
                  if r.error and r.error != NOT_POLLED and r.name != name]  # the highlighted one's is above
        status = self.query_one("#fleet-status", Static)
        status.update("\n".join(errors[:2]))
        status.display = bool(errors)

    # -- selection, filter, sort -------------------------------------------------------------------

    def current(self) -> str | None:
        table = self.query_one("#fleet-table", DataTable)
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def chosen(self) -> list[str]:
        visible = [r.name for r in self.visible_rows()]
        picked = [name for name in visible if name in self.selected]
        current = self.current()
        return picked or ([current] if current else [])

    def action_toggle_select(self) -> None:
        name = self.current()
        if name is not None:
            self.selected.symmetric_difference_update({name})
            self.refresh_data({"fleet"})

    def action_select_all(self) -> None:
        visible = {r.name for r in self.visible_rows()}
        self.selected = set() if visible <= self.selected else visible
        self.refresh_data({"fleet"})

    def action_filter(self) -> None:
        self.query_one("#fleet-filter", Input).focus()

    @on(Input.Changed, "#fleet-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        self.refresh_data({"fleet"})

    @on(Input.Submitted, "#fleet-filter")
    def _filter_done(self) -> None:
        self.query_one("#fleet-table", DataTable).focus()

    def action_sort(self) -> None:
        self.sort_index = (self.sort_index + 1) % len(SORTS)
        self.refresh_data({"fleet"})

    # -- actions -----------------------------------------------------------------------------------

    def action_miner(self, action: str) -> None:
        names = self.chosen()
        if not names:
            self.notify("no rig to act on", severity="warning")
            return
        rows: list[tuple[str, str | Text]] = [("action", f"{action} the miner"), ("rigs", ", ".join(names))]
        if action in ("stop", "drain", "restart"):
            rows.append(("note", "running jobs are finished or handed back to the coordinator"))

        def confirmed(answer: object) -> None:
            if answer is not None:
                self.run_miner_action(action, names)

        self.app.push_screen(ConfirmDialog(f"{ACTIONS[action]} {len(names)} miner(s)", rows, needs_password=False,
                                           confirm_label=ACTIONS[action]), confirmed)

    @work(thread=True, exclusive=False, group="fleet-actions")
    def run_miner_action(self, action: str, names: list[str]) -> None:
        from daemons.ops.rigs_actions import miner_action, on_rigs

        links = [self.monitor.fleet.links[name] for name in names if name in self.monitor.fleet.links]
        results = on_rigs(links, lambda link: miner_action(link, action))
        for name, result in results.items():
            if isinstance(result, RigError):
                self.app.call_from_thread(self.notify, str(result), title=f"{name}: {action} failed",
                                          severity="error", timeout=8)
            else:
                self.app.call_from_thread(self.notify, f"miner {result.get('miner', 'done')}",
                                          title=f"{name}: {action}")
        self.monitor.poll_now(names)

    def console_command(self, name: str) -> list[str]:
        return [sys.executable, "-c", "from aitbc_tui.app import main; main()", "--home",
                str(self.aitbc.settings_home.root), "--rig", name]

    def action_open_console(self) -> None:
        if self.focused is not None and self.focused.id == "fleet-filter":
            self.query_one("#fleet-table", DataTable).focus()
            return
        name = self.current()
        if name is None:
            return
        try:
            with self.app.suspend():
                subprocess.run(self.console_command(name))
        except SuspendNotSupported:
            self.notify(f"open it in a terminal: aitbc-tui --rig {name}", title=f"console of {name}")
