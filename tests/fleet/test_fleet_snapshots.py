"""Snapshots of the Fleet screen at 80x24 and 160x48 on fixed rows (no rig is contacted)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from daemons.common.home import Home
from daemons.ops.rigs import Rig
from daemons.ops.rigs_fleet import RigRow

from aitbc_tui.app import AitbcApp
from aitbc_tui.config import TuiConfig
from aitbc_tui.screens.fleet import FleetScreen
from aitbc_tui.sources.fleet import FleetMonitor

SIZES = {"80x24": (80, 24), "160x48": (160, 48)}
NOW_MS = 1_790_000_000_000
GIB = 2**30


def fixed_rows() -> list[RigRow]:
    return [
        RigRow(name="gpu-01", url="ssh://miner@10.0.0.21", reachable=True, miner="serving", ready=True,
               models=["smollm2-135m"], gpus=2, gpu_util=87.5, gpu_temp=71.0, gpu_mem_used=30 * GIB,
               gpu_mem_total=48 * GIB, jobs_running=3, jobs_done=1289, earnings=41_250_000,
               last_seen_ms=NOW_MS - 2_000),
        RigRow(name="gpu-02", url="ssh://miner@10.0.0.22", reachable=True, miner="draining", models=["smollm2-135m"],
               gpus=1, gpu_util=12.0, gpu_temp=55.0, gpu_mem_used=4 * GIB, gpu_mem_total=24 * GIB, jobs_running=1,
               jobs_done=310, earnings=9_800_000, last_seen_ms=NOW_MS - 3_000),
        RigRow(name="lab-7", url="ssh://root@lab-7.example", reachable=False, miner="unknown",
               error="ssh to rig lab-7 failed: ssh: connect to host lab-7.example port 22: Connection timed out",
               last_seen_ms=NOW_MS - 540_000),
        RigRow(name="spare", url="ssh://miner@10.0.0.30", reachable=True, miner="stopped",
               last_seen_ms=NOW_MS - 1_000),
    ]


@pytest.mark.parametrize("size", list(SIZES), ids=list(SIZES))
def test_fleet_screen(snap_compare: Any, tmp_path: Path, size: str) -> None:
    home = Home(root=tmp_path / "h")
    rows = fixed_rows()
    monitor = FleetMonitor(home, [Rig(name=r.name, url=r.url) for r in rows])
    monitor.show(rows)
    app = AitbcApp(home, live=False, config=TuiConfig(), save_settings=False, fleet=monitor)

    async def run_before(pilot: Any) -> None:
        await pilot.app.push_screen(FleetScreen(monitor, now_ms=lambda: NOW_MS))
        await pilot.pause()
        await pilot.press("space")  # one selected row shows its mark
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)


def test_narrow_table_keeps_priority_columns_and_details_the_rest(tmp_path: Path) -> None:
    """At 80 columns the table keeps the columns an operator scans and the highlighted rig's
    models, GPU count and memory move to the detail line; widening the terminal brings them back."""
    from tuikit import run, screen_text
    from textual.widgets import DataTable

    from aitbc_tui.screens.fleet import COLUMNS, NARROW_COLUMNS

    home = Home(root=tmp_path / "h")
    rows = fixed_rows()
    monitor = FleetMonitor(home, [Rig(name=r.name, url=r.url) for r in rows])
    monitor.show(rows)

    async def scenario() -> None:
        app = AitbcApp(home, live=False, config=TuiConfig(), save_settings=False, fleet=monitor)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = FleetScreen(monitor, now_ms=lambda: NOW_MS)
            await app.push_screen(screen)
            await pilot.pause()
            table = screen.query_one("#fleet-table", DataTable)
            labels = lambda: tuple(str(c.label) for c in table.columns.values())  # noqa: E731
            assert labels() == NARROW_COLUMNS and not screen.wide
            text = screen_text(app)
            assert "smollm2-135m" in text and "30/48G" in text  # gpu-01's, in the detail line
            await pilot.press("down", "down")  # lab-7: its error is its detail, not repeated below
            assert screen_text(app).count("Connection timed out") == 1
            await pilot.resize_terminal(160, 48)
            await pilot.pause()
            assert labels() == COLUMNS and screen.wide and screen.current() == "lab-7"
    run(scenario())
