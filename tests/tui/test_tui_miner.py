"""Pilot test of the Miner / GPU screen against a real miner daemon (telemetry only, fast
sampling) and a real node: telemetry arrives live, the GPU state is the miner's own words."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from tuikit import drive, init_miner_home, init_node, miner_daemon, node_daemon, screen_text, wait_for, wait_text

from aitbc_tui.app import AitbcApp
from aitbc_tui.widgets.telemetry import GpuCard


def test_telemetry_is_live_and_honest(root: Path) -> None:
    home = root / "h"
    init_node(home, block_time=0.5)
    address = init_miner_home(home)
    node = node_daemon(home).start()
    miner = miner_daemon(home).start()
    try:
        async def scenario(app: AitbcApp, pilot: Pilot[Any]) -> None:
            await pilot.press("6")
            await wait_for(pilot, lambda: app.store.up("miner"), "the miner")
            await wait_text(pilot, "telemetry_only")
            first = app.store.miner.telemetry_ms or 0
            await wait_for(pilot, lambda: (app.store.miner.telemetry_ms or 0) > first, "a newer sample")
            await wait_for(pilot, lambda: len(app.store.miner.history.get("host.cpu", [])) >= 3,
                           "a CPU history for the sparkline")
            text = screen_text(app)
            assert address[:8] in text
            assert "Host CPU / RAM" in text and "of " in text and "cores" in text
            if app.store.miner.gpus:  # a machine with an NVIDIA driver: one card per GPU
                assert len(app.screen.query(GpuCard)) == len(app.store.miner.gpus)
                await wait_text(pilot, "Utilization")
            else:  # the miner's own explanation, not an invented GPU
                assert app.store.miner.gpu_reason
                assert "No GPU:" in text and app.store.miner.gpu_reason.split()[0] in text
            await wait_text(pilot, "compute disabled")
            # the dashboard shows the same sample with text sparklines
            await pilot.press("1")
            await wait_text(pilot, "CPU ")
            await wait_text(pilot, "telemetry_only")
            # a stopped miner: banner; back: live again
            miner.stop()
            await wait_text(pilot, "miner down")
            miner.start()
            await wait_for(pilot, lambda: "miner down" not in screen_text(app), "the miner to be back")
            before = app.store.miner.telemetry_ms or 0
            await wait_for(pilot, lambda: (app.store.miner.telemetry_ms or 0) > before, "telemetry again")

        drive(home, scenario, (120, 36))
    finally:
        miner.stop()
        node.stop()
