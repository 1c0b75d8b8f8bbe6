"""Pilot tests of the console's actions against real daemons: a node, the wallet daemon and a
coordinator (subprocesses), with a scripted miner answering jobs with real signed proofs.

Covered: import and create wallets (the recovery phrase shown once), send with a confirmation
that shows fee and total, history, delegate stake, escrow for the coordinator, submit a job
with the model picker and watch it complete, cancel a job, open its receipt and verify it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from testkit import temp_root
from textual.pilot import Pilot
from textual.widgets import Select
from tuikit import (
    MODEL,
    UNIT,
    Daemon,
    NodeAndWallet,
    ScriptedMiner,
    account,
    coordinator_daemon,
    init_coordinator_home,
    drive,
    node_and_wallet,
    screen_text,
    signed_tx,
    wait_for,
    wait_notified,
    wait_text,
)


from aitbc_tui.app import AitbcApp
from aitbc_tui.screens import dialogs

CLIENT = account(1)
MINER = account(2)
FRIEND = account(3)
PASSWORD = "tui-test-password"
SIZE = (120, 36)


@dataclass
class Net(NodeAndWallet):
    coordinator: Daemon
    miner: ScriptedMiner
    coordinator_address: str


@pytest.fixture(scope="module")
def net() -> Iterator[Net]:
    with temp_root("at-") as root:
        home = root / "h"
        coordinator_address = init_coordinator_home(home)
        funded = {CLIENT.address: 10_000 * UNIT, MINER.address: 2_000 * UNIT, coordinator_address: 10 * UNIT}
        with node_and_wallet(home, funded, extra=("--coordinator", coordinator_address)) as chain:
            coordinator = coordinator_daemon(home).start()
            signed_tx(chain.node.socket, MINER, "miner_bond", {"amount": 1_000 * UNIT})
            miner = ScriptedMiner(coordinator.socket, MINER, "aitbc-dev").start()
            yield Net(home, chain.node, chain.wallet, coordinator, miner, coordinator_address)
            miner.stop()
            coordinator.stop()


async def click(pilot, selector: str) -> None:  # type: ignore[no-untyped-def]
    """Click once the layout settled and the button's press animation of a previous click ended
    (a Textual button ignores clicks while it shows that animation); on a loaded machine a dialog's
    buttons may be mounted a moment after the dialog itself."""

    def ready() -> bool:
        buttons = pilot.app.screen.query(selector)
        return bool(buttons) and not buttons.first().has_class("-active")

    await wait_for(pilot, ready, f"the button {selector}")
    await pilot.pause()
    await pilot.click(selector)


async def import_client(pilot, app: AitbcApp) -> None:  # type: ignore[no-untyped-def]
    """Import the funded client key through the Wallets screen (idempotent within the module)."""
    await pilot.press("4")
    await wait_for(pilot, lambda: app.current_mode == "wallets" and app.store.up("wallet"), "the wallet daemon")
    if app.store.wallet.by_address(CLIENT.address) is not None:
        return
    await pilot.press("i")
    await wait_for(pilot, lambda: isinstance(app.screen, dialogs.ImportWalletDialog), "the import dialog")
    dialog = app.screen
    dialog.query_one("#name").value = "client"
    dialog.query_one("#kind").value = "private_key"
    dialog.query_one("#secret").value = CLIENT.private_key
    dialog.query_one("#password").value = PASSWORD
    dialog.query_one("#password2").value = PASSWORD
    await click(pilot, "#ok")
    await wait_notified(pilot, "imported client")
    await wait_for(pilot, lambda: CLIENT.address in app.store.node.accounts, "the client's balance")


async def painted_dialog(pilot, app: AitbcApp, kind: type, what: str) -> str:  # type: ignore[no-untyped-def]
    """Wait until a dialog of type ``kind`` is on top and laid out (a pushed screen is painted a
    little after it becomes ``app.screen``); the screen's text then."""
    await wait_for(pilot, lambda: isinstance(app.screen, kind) and app.screen.query_one(".dialog").region.height > 0,
                   what)
    return screen_text(app)


async def confirm_with_password(pilot, app: AitbcApp) -> str:  # type: ignore[no-untyped-def]
    """Read the confirmation, type the wallet password, confirm; the summary text that was shown."""
    shown = await painted_dialog(pilot, app, dialogs.ConfirmDialog, "the confirmation")
    app.screen.query_one("#password").value = PASSWORD
    await click(pilot, "#ok")
    return shown


def test_wallets_send_and_stake(net: Net) -> None:
    async def scenario(app: AitbcApp, pilot: Pilot[Any]) -> None:
        await import_client(pilot, app)
        await wait_text(pilot, "10,000.00")
        # create: the recovery phrase is shown once, in a modal that only a button closes
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, dialogs.CreateWalletDialog), "the create dialog")
        app.screen.query_one("#name").value = "fresh"
        app.screen.query_one("#password").value = PASSWORD
        app.screen.query_one("#password2").value = "not the same"
        await click(pilot, "#ok")
        await wait_text(pilot, "the passwords differ")
        app.screen.query_one("#password2").value = PASSWORD
        await click(pilot, "#ok")
        text = await painted_dialog(pilot, app, dialogs.MnemonicDialog, "the recovery phrase")
        assert "shown once" in text and "24." in text and "Write these words down" in text
        await pilot.press("escape")  # does not close it
        assert isinstance(app.screen, dialogs.MnemonicDialog)
        await click(pilot, "#done")
        await wait_for(pilot, lambda: app.store.wallet.by_address(CLIENT.address) is not None
                       and any(w.name == "fresh" for w in app.store.wallet.wallets), "the new wallet")
        assert all(not isinstance(s, dialogs.MnemonicDialog) for s in app.screen_stack)
        # send from the client: dialog, then a confirmation with fee, total and balance after
        table = app.screen.query_one("#wallet-table")
        table.move_cursor(row=[w.address for w in app.store.wallet.wallets].index(CLIENT.address))
        await pilot.pause()
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, dialogs.TransferDialog), "the send dialog")
        app.screen.query_one("#target").value = "0xNOTANADDRESS"
        app.screen.query_one("#amount").value = "12.5"
        await click(pilot, "#ok")
        await wait_text(pilot, "40 lower-case hex")
        app.screen.query_one("#target").value = FRIEND.address
        await click(pilot, "#ok")
        shown = await confirm_with_password(pilot, app)
        assert "12.500000 AIT" in shown and "0.000010 AIT" in shown  # amount and fee
        assert "12.500010 AIT" in shown  # total
        assert "9,987.499990 AIT" in shown  # balance after
        await wait_notified(pilot, "sent, committed in block")
        await wait_for(pilot, lambda: any(r.type == "transfer" for r in
                                          app.store.wallet.history.get(CLIENT.address, [])), "the history")
        await wait_text(pilot, "transfer")
        # the next send offers the friend among the recipients, from the wallet daemon's history
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, dialogs.TransferDialog), "the send dialog again")
        offered = [value for _, value in app.screen.query_one("#recipient", Select)._options]
        assert FRIEND.address in offered, offered
        await click(pilot, "#cancel")
        await wait_for(pilot, lambda: not isinstance(app.screen, dialogs.TransferDialog), "the send dialog closed")
        # delegate on the Staking screen
        await pilot.press("5")
        await wait_text(pilot, "validator-0")
        await pilot.press("d")
        # the form itself picks the wallet that signs (no "Which wallet signs?" dialog first)
        await wait_for(pilot, lambda: isinstance(app.screen, dialogs.TransferDialog), "the delegate dialog")
        await pilot.pause()
        if app.screen.query("#wallet"):
            app.screen.query_one("#wallet").value = CLIENT.address
            await pilot.pause()
        app.screen.query_one("#amount").value = "100"
        await click(pilot, "#ok")
        shown = await confirm_with_password(pilot, app)
        assert "100.000000 AIT" in shown and "Validator" in shown
        await wait_notified(pilot, "delegate 100.000000 AIT")
        await wait_for(pilot, lambda: app.store.node.accounts[CLIENT.address].staked == 100 * UNIT,
                       "the stake on chain")
        await wait_for(pilot, lambda: "client" in screen_text(app) and "100.00" in screen_text(app),
                       "the client's stake in the table")
        # unbond part of it: highlight the client's stake, the dialog offers the bonded amount
        stakes = app.screen.query_one("#stakes")
        stakes.focus()
        keys = [str(key.value) for key in stakes.rows]
        stakes.move_cursor(row=stakes.get_row_index(next(k for k in keys if k.startswith(CLIENT.address + "/"))))
        await pilot.pause()
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, dialogs.TransferDialog), "the unbond dialog")
        assert app.screen.query_one("#amount").value == "100.000000"
        app.screen.query_one("#amount").value = "40"
        await click(pilot, "#ok")
        shown = await confirm_with_password(pilot, app)
        assert "unbonding period" in shown
        await wait_notified(pilot, "unbond 40.000000 AIT")
        await wait_for(pilot, lambda: app.store.node.accounts[CLIENT.address].staked == 60 * UNIT
                       and app.store.node.accounts[CLIENT.address].unbonding, "the unbonding on chain")
        # claim the stake's rewards
        await wait_for(pilot, lambda: app.store.node.accounts[CLIENT.address].rewards > 0, "some rewards")
        keys = [str(key.value) for key in stakes.rows]
        stakes.move_cursor(row=stakes.get_row_index(next(
            k for k in keys if k.startswith(CLIENT.address + "/") and "/unbonding/" not in k)))
        await pilot.pause()
        await pilot.press("c")
        shown = await confirm_with_password(pilot, app)
        assert "Rewards" in shown
        await wait_notified(pilot, "rewards claimed in block")

    drive(net.home, scenario, SIZE)


def test_job_submit_complete_receipt_cancel(net: Net) -> None:
    async def scenario(app: AitbcApp, pilot: Pilot[Any]) -> None:
        await import_client(pilot, app)
        await pilot.press("3")
        await wait_for(pilot, lambda: app.store.up("coordinator") and app.store.coordinator.served,
                       "the coordinator with a served model")
        # escrow for the coordinator, through the wallet daemon
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, (dialogs.PickDialog, dialogs.TransferDialog)), "the escrow dialog")
        if isinstance(app.screen, dialogs.PickDialog):  # the other test may have created a second wallet
            await painted_dialog(pilot, app, dialogs.PickDialog, "the wallet choice")
            app.screen.query_one("#choice").value = CLIENT.address
            await click(pilot, "#ok")
        assert net.coordinator_address in await painted_dialog(pilot, app, dialogs.TransferDialog, "the escrow dialog")
        app.screen.query_one("#amount").value = "50"
        await click(pilot, "#ok")
        await confirm_with_password(pilot, app)
        await wait_notified(pilot, "escrowed 50.000000 AIT")
        # submit with the model picker; the job completes and shows its output
        await pilot.press("n")
        assert MODEL in await painted_dialog(pilot, app, dialogs.JobDialog, "the job dialog")
        app.screen.query_one("#client").value = CLIENT.address
        app.screen.query_one("#prompt").value = "hello brave new world"
        await click(pilot, "#ok")
        await wait_notified(pilot, "Submit: job")
        await wait_for(pilot, lambda: any(j.status == "completed" for j in app.store.coordinator.jobs),
                       "the job to complete")
        await wait_text(pilot, "world new brave hello")
        job = next(j for j in app.store.coordinator.jobs if j.status == "completed")
        # the header counts come from the coordinator alone: one job is never both running and
        # completed (it once read "1 running · 1 completed" for a single job)
        await wait_for(pilot, lambda: app.store.coordinator.job_counts.get("completed") == 1
                       and not any(app.store.coordinator.job_counts.get(s) for s in ("queued", "assigned", "running")),
                       "the counts of one completed job")
        await wait_text(pilot, "0 running · 1 completed")
        # the receipt settles on chain; open it and verify it from chain data
        await wait_for(pilot, lambda: (app.store.coordinator.job(job.job_id) or job).settled_height is not None,
                       "settlement", timeout=60)
        await pilot.press("r")
        assert "VALID — proven from chain data" in await painted_dialog(pilot, app, dialogs.InfoDialog, "the receipt")
        report = app.screen.body.plain
        for check in ("coordinator_signature", "miner_proof", "merkle_inclusion", "block_hash", "commit"):
            assert f"✓ {check}" in report
        assert "✗" not in report
        await pilot.press("escape")
        # a job the miner holds can be cancelled
        net.miner.hold.set()
        try:
            await pilot.press("n")
            await wait_for(pilot, lambda: isinstance(app.screen, dialogs.JobDialog), "the job dialog")
            app.screen.query_one("#client").value = CLIENT.address
            app.screen.query_one("#prompt").value = "never answered"
            await click(pilot, "#ok")
            await wait_for(pilot, lambda: any(j.prompt == "never answered" and j.status in ("assigned", "running")
                                              for j in app.store.coordinator.jobs), "the held job")
            held = next(j for j in app.store.coordinator.jobs if j.prompt == "never answered")
            table = app.screen.query_one("#job-table")
            # the table is refilled from the store a moment later: take the row from the table itself
            await wait_for(pilot, lambda: any(key.value == held.job_id for key in table.rows), "the held job's row")
            table.move_cursor(row=table.get_row_index(held.job_id))
            await pilot.pause()
            # the miner's output shows growing while it generates
            with net.miner.client() as miner_api:
                assert miner_api.push_output(held.job_id, {"offset": 0, "text": "still ", "tokens": 1}).accepted
                await wait_text(pilot, "still ▌")
                assert miner_api.push_output(held.job_id, {"offset": 6, "text": "thinking", "tokens": 2}).accepted
                await wait_text(pilot, "still thinking▌")
            await pilot.press("x")
            await wait_for(pilot, lambda: isinstance(app.screen, dialogs.ConfirmDialog), "the cancel confirmation")
            await click(pilot, "#ok")
            await wait_for(pilot, lambda: (app.store.coordinator.job(held.job_id) or held).status == "cancelled",
                           "the cancellation")
        finally:
            net.miner.hold.clear()
        # the dashboard shows the job queue
        await pilot.press("1")
        await wait_for(pilot, lambda: re.search(r"Cancelled\s+1\b", screen_text(app)) is not None,
                       "the cancelled job on the dashboard")
        assert not net.miner.errors, net.miner.errors

    drive(net.home, scenario, SIZE)
