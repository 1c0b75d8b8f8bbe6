"""Pilot tests of the console's polish rules on fixed data (issue 21): one voice for amounts,
Esc out of every input, selection kept while blocks arrive, footers and headings never cut.

The app runs on ``snapshot_data.fixed_store()`` with ``live=False`` (no daemon), so each test
drives the real screens and widgets in a few seconds.
"""

from __future__ import annotations

from pathlib import Path

from snapshot_data import OPERATOR, fixed_store, h
from textual import events
from textual.widgets import Input
from tuikit import run, screen_text, wait_for

from daemons.common.home import Home

from aitbc_tui.app import AitbcApp
from aitbc_tui.config import TuiConfig
from aitbc_tui.models import BlockRow, Store
from aitbc_tui.screens.dialogs import CreateWalletDialog
from aitbc_tui.widgets.table import Table


def fixed_app(tmp_path: Path, store: Store | None = None) -> AitbcApp:
    return AitbcApp(Home(root=tmp_path / "h"), store=store or fixed_store(), live=False, config=TuiConfig(),
                    save_settings=False)


def test_same_amount_reads_the_same_on_every_screen(tmp_path: Path) -> None:
    """A small reward and an odd balance read the same digits on Dashboard, Wallets and Staking
    (a 642-unit reward once read ``0.00`` on two screens and ``0.000642`` on the third)."""
    store = fixed_store()
    account = store.node.accounts[OPERATOR]
    account.stakes[0].rewards = 642
    account.balance = 989_999_999_990
    app = fixed_app(tmp_path, store)

    async def scenario() -> None:
        async with app.run_test(size=(160, 48)) as pilot:
            for key in ("1", "4", "5"):
                await pilot.press(key)
                await pilot.pause()
                shown = screen_text(app)
                assert "0.000642" in shown, (key, shown)
                if key != "5":  # the Staking screen shows stakes, not balances
                    assert "989,999.99999" in shown and "989,999.999990" not in shown, (key, shown)
                assert "150.00" in shown, (key, shown)  # a stake never reads "150" here and "150.00" there

    run(scenario())


def test_escape_leaves_every_input_and_the_screen_keys_work_again(tmp_path: Path) -> None:
    """On Chain, ``/`` then Esc used to keep focus in the search box, so ``3`` typed "3"; now Esc
    leaves any field of any screen and the next key switches screens."""
    app = fixed_app(tmp_path)

    async def scenario() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            for screen_key, field_key, field in (("2", "slash", "#chain-search"), ("7", "slash", "#log-filter")):
                await pilot.press(screen_key)
                await pilot.pause()
                await pilot.press(field_key)
                await pilot.pause()
                box = app.screen.query_one(field, Input)
                assert app.screen.focused is box
                await pilot.press("3", "escape")
                await pilot.pause()
                assert box.value == "3" and not box.has_focus
                await pilot.press("3")
                await pilot.pause()
                assert app.current_mode == "jobs", screen_text(app)
                assert box.value == "3"  # the second "3" switched screens instead of being typed

    run(scenario())


def test_selection_stays_on_the_same_block_while_20_blocks_arrive(tmp_path: Path) -> None:
    store = fixed_store()
    app = fixed_app(tmp_path, store)

    async def scenario() -> None:
        async with app.run_test(size=(120, 36)) as pilot:
            await pilot.press("2")
            await pilot.pause()
            blocks = app.screen.query_one("#blocks", Table)
            for row in (0, 3):
                blocks.move_cursor(row=row)
                aimed = blocks.selected_key()
                top = store.node.blocks[0]
                for i in range(1, 21):
                    store.node.add_block(BlockRow(height=top.height + i, hash=h(f"new-{row}-{i}"),
                                                  time_ms=top.time_ms + i * 200, proposer=top.proposer, num_txs=0))
                    app.source_changed("node")
                    await pilot.pause(0.03)
                await pilot.pause(0.6)  # the Chain screen repaints at most twice a second
                assert blocks.get_row(store.node.blocks[0].hash)  # the new blocks are shown
                assert blocks.selected_key() == aimed, (row, screen_text(app))

    run(scenario())


def test_escape_outside_a_field_keeps_the_screen_own_meaning(tmp_path: Path) -> None:
    """With no field focused, Esc on Chain still clears the search and the detail."""
    app = fixed_app(tmp_path)

    async def scenario() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("2", "slash", "4", "2", "escape")
            await pilot.pause()
            box = app.screen.query_one("#chain-search", Input)
            assert box.value == "42" and app.screen.focused is app.screen.query_one("#blocks")
            await pilot.press("escape")
            await pilot.pause()
            assert box.value == "" and app.current_mode == "chain"

    run(scenario())


def test_fast_typing_with_tab_lands_in_the_right_fields(tmp_path: Path) -> None:
    """``c`` then ``newbie2<Tab>hunter2<Tab>hunter2`` in one burst (as a terminal delivers fast
    typing): every key lands in its field; once everything went into Name, and the ``2`` of a
    name typed before the dialog was up switched to the Chain screen."""
    app = fixed_app(tmp_path)

    async def scenario() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("4")
            await pilot.pause()
            for key in ["c", *"newbie2", "tab", *"hunter2", "tab", *"hunter2"]:
                app.post_message(events.Key(key, "\t" if key == "tab" else key))  # no wait in between
            await wait_for(pilot, lambda: isinstance(app.screen, CreateWalletDialog)
                           and app.screen.query_one("#password2", Input).value == "hunter2", "the form filled")
            values = {field.id: field.value for field in app.screen.query(Input)}
            assert values == {"name": "newbie2", "password": "hunter2", "password2": "hunter2"}, values

    run(scenario())


def test_forms_show_their_own_keys(tmp_path: Path) -> None:
    app = fixed_app(tmp_path)

    async def scenario() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("4", "c")
            await wait_for(pilot, lambda: isinstance(app.screen, CreateWalletDialog), "the dialog")
            await pilot.pause()
            footer = screen_text(app).splitlines()[-1]
            assert "⏎ Create" in footer and "esc Cancel" in footer and "tab Next field" in footer, footer
            assert "Unlock" not in footer  # not the Wallets screen's keys behind the dialog

    run(scenario())
