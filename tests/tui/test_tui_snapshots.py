"""Snapshot tests (pytest-textual-snapshot) of every screen and dialog at 80x24, 120x36 and 160x48
on fixed data.

The app runs with ``live=False`` and a store built by ``snapshot_data.fixed_store()``: the real
screens and widgets render data that never changes, so the SVGs are stable. Regenerate the
baselines after an intended change with ``pytest tests/tui --snapshot-update`` and review them.
"""

from __future__ import annotations

from pathlib import Path
from collections.abc import Callable
from typing import Any

import pytest
from rich.text import Text
from snapshot_data import OPERATOR, SAVINGS, UNIT, VALIDATOR, fixed_store, write_logs
from textual.screen import Screen
from textual.widgets import Input

from daemons.common.home import Home

from aitbc_tui.app import AitbcApp
from aitbc_tui.config import TuiConfig
from aitbc_tui.screens.dialogs import (
    ConfirmDialog,
    CreateWalletDialog,
    ImportWalletDialog,
    InfoDialog,
    JobDialog,
    MnemonicDialog,
    PickDialog,
    TransferDialog,
    TransferRequest,
    UnlockDialog,
    WalletChoice,
    transfer_summary,
)
from aitbc_tui.screens.gov_dialogs import DepositDialog, ProposeDialog
from aitbc_tui.screens.help import HelpScreen

SIZES = {"80x24": (80, 24), "120x36": (120, 36), "160x48": (160, 48)}
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


def dialogs() -> dict[str, Callable[[AitbcApp], Screen[Any]]]:
    """Every dialog of the console on the fixed data, by name."""
    wallets = [WalletChoice(name="operator", address=OPERATOR, available=9_887_499_990),
               WalletChoice(name="savings", address=SAVINGS, available=12_500_000)]
    send = TransferRequest(kind="send", wallet=OPERATOR, target=SAVINGS, amount=12_500_000, fee=10)
    words = " ".join(["abandon"] * 23 + ["art"])
    validators = [("validator-0 · 10.00% commission", VALIDATOR)]
    return {
        "help": lambda app: HelpScreen(app.screen),
        "create-wallet": lambda app: CreateWalletDialog(),
        "import-wallet": lambda app: ImportWalletDialog(),
        "unlock": lambda app: UnlockDialog("operator", 300),
        "mnemonic": lambda app: MnemonicDialog("operator", OPERATOR, words, "write these words down"),
        "send": lambda app: TransferDialog("send", "operator", OPERATOR, 9_887_499_990, 10, wallets=wallets),
        "send-confirmation": lambda app: ConfirmDialog(
            "Confirm transfer", transfer_summary(send, "operator", 9_887_499_990, "savings"),
            needs_password=False, confirm_label="Send"),
        "delegate": lambda app: TransferDialog("delegate", "operator", OPERATOR, 9_887_499_990, 10, targets=validators,
                                               target=VALIDATOR, wallets=wallets),
        "pick": lambda app: PickDialog("Vote", "How does operator vote on #1?", [("yes", "yes"), ("no", "no")]),
        "job": lambda app: JobDialog([("client-1", "client-1")], [("smollm2 · from 0.001/1k tok", "smollm2")]),
        "info": lambda app: InfoDialog("Receipt 0e7534878", Text("Job 0e7534878 settled: 0.0042 AIT to the miner"),
                                       ok=True),
        "propose": lambda app: ProposeDialog("operator", OPERATOR, 9_887_499_990, 100 * UNIT, 10),
        "deposit": lambda app: DepositDialog("#1", "operator", 9_887_499_990, 60 * UNIT, 10),
    }


DIALOGS = list(dialogs())


@pytest.mark.parametrize("size", list(SIZES), ids=list(SIZES))
@pytest.mark.parametrize("name", DIALOGS, ids=DIALOGS)
def test_dialog(snap_compare: Any, tmp_path: Path, name: str, size: str) -> None:
    app = fixed_app(tmp_path)

    async def run_before(pilot: Any) -> None:
        await pilot.press("4")
        await settle(pilot)
        app.push_screen(dialogs()[name](app))
        await settle(pilot)
        for field in app.screen.query(Input):
            field.cursor_blink = False  # a blinking cursor would make the picture depend on timing
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)
