"""Snapshot tests (pytest-textual-snapshot) of every screen at 80x24 and 160x48 on fixed data.

The app runs with ``live=False`` and a store built by ``snapshot_data.fixed_store()``: the real
screens and widgets render data that never changes, so the SVGs are stable. Regenerate the
baselines after an intended change with ``pytest tests/tui --snapshot-update`` and review them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from snapshot_data import OPERATOR, SAVINGS, write_logs, fixed_store

from daemons.common.home import Home

from aitbc_tui.app import AitbcApp
from aitbc_tui.config import TuiConfig
from aitbc_tui.screens.dialogs import ConfirmDialog, TransferRequest, transfer_summary

SIZES = {"80x24": (80, 24), "160x48": (160, 48)}
SCREENS = [("dashboard", "1"), ("chain", "2"), ("jobs", "3"), ("wallets", "4"), ("staking", "5"),
           ("miner", "6"), ("logs", "7"), ("governance", "8")]


def fixed_app(tmp_path: Path) -> AitbcApp:
    home = tmp_path / "h"
    write_logs(home / "logs")
    return AitbcApp(Home(root=home), store=fixed_store(), live=False, config=TuiConfig(), save_settings=False)


async def settle(pilot: Any) -> None:
    """Let workers and the repaint after a screen switch finish."""
    for _ in range(3):
        await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


@pytest.mark.parametrize("size", list(SIZES), ids=list(SIZES))
@pytest.mark.parametrize(("mode", "key"), SCREENS, ids=[m for m, _ in SCREENS])
def test_screen(snap_compare: Any, tmp_path: Path, mode: str, key: str, size: str) -> None:
    app = fixed_app(tmp_path)

    async def run_before(pilot: Any) -> None:
        await pilot.press(key)
        await settle(pilot)
        assert app.current_mode == mode
        if mode == "logs":
            view = app.screen.query_one("#log-view")
            while not view.lines:
                await pilot.pause(0.05)
            await settle(pilot)

    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)


def test_help(snap_compare: Any, tmp_path: Path) -> None:
    app = fixed_app(tmp_path)

    async def run_before(pilot: Any) -> None:
        await pilot.press("4")
        await settle(pilot)
        await pilot.press("f1")
        await settle(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_send_confirmation(snap_compare: Any, tmp_path: Path) -> None:
    app = fixed_app(tmp_path)
    request = TransferRequest(kind="send", wallet=OPERATOR, target=SAVINGS, amount=12_500_000, fee=10)

    async def run_before(pilot: Any) -> None:
        await pilot.press("4")
        await settle(pilot)
        app.push_screen(ConfirmDialog("Confirm transfer", transfer_summary(request, "operator", 9_887_499_990),
                                      needs_password=False, confirm_label="Send"))
        await settle(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
