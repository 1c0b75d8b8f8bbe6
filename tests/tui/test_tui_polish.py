"""Pilot tests of the console's polish rules on fixed data (issue 21): one voice for amounts,
Esc out of every input, selection kept while blocks arrive, footers and headings never cut.

The app runs on ``snapshot_data.fixed_store()`` with ``live=False`` (no daemon), so each test
drives the real screens and widgets in a few seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from snapshot_data import OPERATOR, SAVINGS, VALIDATOR, addr, fixed_store, h, write_logs
from textual import events
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, RichLog, Select
from textual.widgets._footer import FooterKey
from tuikit import drive, screen_text, wait_for

from daemons.common.home import Home

from aitbc_tui.app import AitbcApp
from aitbc_tui.config import TuiConfig
from aitbc_tui.models import BlockRow, EventLine, HistoryRow, SourceStatus, Store
from aitbc_tui.screens.base import SectionScreen
from aitbc_tui.screens.dialogs import ConfirmDialog, CreateWalletDialog, InfoDialog, TransferDialog
from aitbc_tui.widgets.footer import KeyFooter
from aitbc_tui.widgets.overflow import Panel
from aitbc_tui.widgets.table import Table, cell_width


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

    async def scenario(app: AitbcApp, pilot: Pilot[Any]) -> None:
        for key in ("1", "4", "5"):
            await pilot.press(key)
            await pilot.pause()
            shown = screen_text(app)
            assert "0.000642" in shown, (key, shown)
            if key != "5":  # the Staking screen shows stakes, not balances
                assert "989,999.99999" in shown and "989,999.999990" not in shown, (key, shown)
            assert "150.00" in shown, (key, shown)  # a stake never reads "150" here and "150.00" there

    drive(lambda: fixed_app(tmp_path, store), scenario, (160, 48))


def test_escape_leaves_every_input_and_the_screen_keys_work_again(tmp_path: Path) -> None:
    """On Chain, ``/`` then Esc used to keep focus in the search box, so ``3`` typed "3"; now Esc
    leaves any field of any screen and the next key switches screens."""
    async def scenario(app: AitbcApp, pilot: Pilot[Any]) -> None:
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

    drive(lambda: fixed_app(tmp_path), scenario, (80, 24))


def test_selection_stays_on_the_same_block_while_20_blocks_arrive(tmp_path: Path) -> None:
    store = fixed_store()

    async def scenario(app: AitbcApp, pilot: Pilot[Any]) -> None:
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

    drive(lambda: fixed_app(tmp_path, store), scenario, (120, 36))


def test_escape_outside_a_field_keeps_the_screen_own_meaning(tmp_path: Path) -> None:
    """With no field focused, Esc on Chain still clears the search and the detail."""
    async def scenario(app: AitbcApp, pilot: Pilot[Any]) -> None:
        await pilot.press("2", "slash", "4", "2", "escape")
        await pilot.pause()
        box = app.screen.query_one("#chain-search", Input)
        assert box.value == "42" and app.screen.focused is app.screen.query_one("#blocks")
        await pilot.press("escape")
        await pilot.pause()
        assert box.value == "" and app.current_mode == "chain"

    drive(lambda: fixed_app(tmp_path), scenario, (80, 24))


def test_fast_typing_with_tab_lands_in_the_right_fields(tmp_path: Path) -> None:
    """``c`` then ``newbie2<Tab>hunter2<Tab>hunter2`` in one burst (as a terminal delivers fast
    typing): every key lands in its field; once everything went into Name, and the ``2`` of a
    name typed before the dialog was up switched to the Chain screen."""
    async def scenario(app: AitbcApp, pilot: Pilot[Any]) -> None:
        await pilot.press("4")
        await pilot.pause()
        for key in ["c", *"newbie2", "tab", *"hunter2", "tab", *"hunter2"]:
            app.post_message(events.Key(key, "\t" if key == "tab" else key))  # no wait in between
        await wait_for(pilot, lambda: isinstance(app.screen, CreateWalletDialog)
                       and app.screen.query_one("#password2", Input).value == "hunter2", "the form filled")
        values = {field.id: field.value for field in app.screen.query(Input)}
        assert values == {"name": "newbie2", "password": "hunter2", "password2": "hunter2"}, values

    drive(lambda: fixed_app(tmp_path), scenario, (80, 24))


def test_forms_show_their_own_keys(tmp_path: Path) -> None:
    async def scenario(app: AitbcApp, pilot: Pilot[Any]) -> None:
        await pilot.press("4", "c")
        await wait_for(pilot, lambda: isinstance(app.screen, CreateWalletDialog), "the dialog")
        await pilot.pause()
        footer = screen_text(app).splitlines()[-1]
        assert "⏎ Create" in footer and "esc Cancel" in footer and "tab Next field" in footer, footer
        assert "Unlock" not in footer  # not the Wallets screen's keys behind the dialog

    drive(lambda: fixed_app(tmp_path), scenario, (80, 24))


SIZES = [(80, 24), (120, 36), (160, 48)]
SCREEN_KEYS = "12345678"


def cut_texts(app: AitbcApp) -> list[str]:
    """Footer hints, panel titles and column headings of the visible screen that are not shown in full."""
    problems = []
    screen = app.screen
    width = app.size.width
    footer = screen.query_one(KeyFooter)
    hints = list(footer.query(FooterKey))
    if not any(hint.description == "Help" for hint in hints):
        problems.append("footer without Help")
    for hint in hints:
        if hint.region.right > width or hint.region.width < len(hint.key_display) + len(hint.description) + 1:
            problems.append(f"footer hint {hint.key_display} {hint.description}: {hint.region}")
    shown = screen_text(app)
    visible = screen._compositor.visible_widgets
    for widget in screen.query("*"):
        region, clip = visible.get(widget, (None, None))
        if region is None or clip is None or clip.y > region.y:
            continue  # hidden, or its top row scrolled out of its container
        for title in (widget.border_title, widget.border_subtitle):
            plain = Text.from_markup(str(title)).plain if title else ""
            if plain and plain not in shown:
                problems.append(f"title {plain!r} of {widget}")
        if isinstance(widget, DataTable):
            for column in widget.columns.values():
                if column.get_render_width(widget) - 2 * widget.cell_padding < column.label.cell_len:
                    problems.append(f"column {column.label.plain!r} of {widget}")
    return problems


def test_no_footer_hint_and_no_heading_is_cut(tmp_path: Path) -> None:
    """At 80x24, 120x36 and 160x48 every screen shows its footer hints whole (``t The▏`` and
    ``Qu▏`` were cut at 80 columns) and its panel titles and column headings in full."""

    async def scenario(app: AitbcApp, pilot: Pilot[Any]) -> None:
        for key in SCREEN_KEYS:
            await pilot.press(key)
            await pilot.pause()
            await pilot.pause()
            problems = cut_texts(app)
            assert not problems, (size, app.current_mode, problems, screen_text(app))

    for size in SIZES:
        drive(lambda: fixed_app(tmp_path), scenario, size)


def test_palette_lists_the_console_commands_without_confusing_built_ins(tmp_path: Path) -> None:
    async def scenario(app: AitbcApp, pilot: Pilot[Any]) -> None:
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: "Go to Dashboard" in screen_text(app), "the palette")
        shown = screen_text(app)
        for built_in in ("Maximize", "Screenshot", "Keys", "Change theme"):
            assert built_in not in shown, shown
        assert shown.index("Go to Dashboard") < shown.index("Toggle light/dark theme")

    drive(lambda: fixed_app(tmp_path), scenario, (120, 36))


def test_send_picks_sender_and_recipient_among_own_wallets_and_names_them(tmp_path: Path) -> None:
    async def scenario(app: AitbcApp, pilot: Pilot[Any]) -> None:
        await pilot.press("4", "s")
        await wait_for(pilot, lambda: isinstance(app.screen, TransferDialog) and app.screen.keys_ready, "the form")
        form = app.screen
        assert form.query_one("#wallet", Select).value == OPERATOR
        form.query_one("#recipient", Select).value = SAVINGS
        await pilot.pause()
        assert form.query_one("#target", Input).value == SAVINGS
        form.query_one("#amount", Input).value = "1.5"
        await pilot.pause()
        form.submit()
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")
        await pilot.pause()
        shown = screen_text(app)
        assert f"operator {OPERATOR}" in shown and f"{SAVINGS} (savings)" in shown, shown
        await pilot.press("escape")

    drive(lambda: fixed_app(tmp_path), scenario, (120, 36))


def test_delegate_form_picks_the_wallet_and_typing_goes_to_the_amount(tmp_path: Path) -> None:
    """Delegate once asked "Which wallet signs?" in a dialog of its own, then left focus on the
    validator picker so a typed amount was lost."""
    async def scenario(app: AitbcApp, pilot: Pilot[Any]) -> None:
        await pilot.press("5", "d", "2", "5")
        await wait_for(pilot, lambda: isinstance(app.screen, TransferDialog)
                       and app.screen.query_one("#amount", Input).value == "25", "the amount typed")
        form = app.screen
        assert form.query_one("#wallet", Select).value in (OPERATOR, SAVINGS)
        assert form.query_one("#target-select", Select).value is not Select.NULL
        await pilot.press("escape")

    drive(lambda: fixed_app(tmp_path), scenario, (120, 36))


def test_progress_toast_goes_when_the_work_is_over(tmp_path: Path) -> None:
    async def scenario(app: AitbcApp, pilot: Pilot[Any]) -> None:
        await pilot.press("4")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SectionScreen)
        with screen.progress("creating the wallet…", "Wallet"):
            await pilot.pause()
            assert [n.message for n in app._notifications] == ["creating the wallet…"]
        await pilot.pause()
        assert not list(app._notifications)

    drive(lambda: fixed_app(tmp_path), scenario, (80, 24))


def test_dashboard_does_not_count_a_dead_local_miner_as_live_without_saying_so(tmp_path: Path) -> None:
    store = fixed_store()
    store.coordinator.miners_live = store.coordinator.miners_total = 1

    async def scenario(app: AitbcApp, pilot: Pilot[Any]) -> None:
        await pilot.pause()
        assert "local miner down" not in screen_text(app)
        store.status["miner"] = SourceStatus(name="miner", state="down", message="no socket")
        app.source_changed("miner")
        await wait_for(pilot, lambda: "1 live of 1 · local miner down" in screen_text(app), "the miner note")

    drive(lambda: fixed_app(tmp_path, store), scenario, (160, 48))


def test_cut_log_lines_can_be_read_in_full(tmp_path: Path) -> None:
    """At 80 columns a long log line was cut at the edge with no way to see the rest; ``w``
    wraps the lines in full. The log followed to its end says there is more above."""
    write_logs(tmp_path / "h" / "logs")

    async def scenario(app: AitbcApp, pilot: Pilot[Any]) -> None:
        await pilot.press("7")
        await wait_for(pilot, lambda: "wrong password" in screen_text(app), "the log lines")
        view = app.screen.query_one("#log-view", RichLog)
        await wait_for(pilot, lambda: str(view.border_subtitle).endswith("following · ↑ more"), "the log hint")
        assert "attempt wallet=operator" not in screen_text(app)
        await pilot.press("w")
        await wait_for(pilot, lambda: "attempt wallet=operator" in screen_text(app).replace("\n", " "), "the wrapped line")

    drive(lambda: fixed_app(tmp_path), scenario, (80, 24))


def test_recent_events_open_in_full(tmp_path: Path) -> None:
    store = fixed_store()
    long_text = "miner 0x1234 slashed for a wrong result on job 0e7534878 " + "x" * 120 + " END"
    store.events.add(EventLine(time_ms=store.node.latest_time_ms, source="coordinator", text=long_text))

    async def scenario(app: AitbcApp, pilot: Pilot[Any]) -> None:
        await pilot.pause()
        assert " END" not in screen_text(app)  # cut at the panel's edge
        await pilot.press("e")
        await wait_for(pilot, lambda: " END" in screen_text(app), "the event in full")

    drive(lambda: fixed_app(tmp_path, store), scenario, (80, 24))


def test_proposal_fee_is_typed_in_ait_like_every_other_fee(tmp_path: Path) -> None:
    """The propose form once asked for "Fee (units)" with a bare 10 in it."""
    from aitbc_tui.screens.gov_dialogs import ProposalRequest, ProposeDialog

    chosen: list[ProposalRequest | None] = []

    async def scenario(app: AitbcApp, pilot: Pilot[Any]) -> None:
        app.push_screen(ProposeDialog("operator", OPERATOR, 500_000_000, 100_000_000, 10), chosen.append)
        await wait_for(pilot, lambda: isinstance(app.screen, ProposeDialog) and bool(app.screen.query("#fee")),
                       "the propose form")
        form = app.screen
        await pilot.pause()
        text = screen_text(app)
        assert "Fee (AIT, or units with a 'u' suffix)" in text and "Fee (units)" not in text
        assert form.query_one("#fee", Input).value == "0.000010"
        form.query_one("#title", Input).value = "a note"
        form.query_one("#fee", Input).value = "0.00002"
        form.submit()
        await wait_for(pilot, lambda: bool(chosen), "the proposal")

    drive(lambda: fixed_app(tmp_path), scenario, (120, 36))
    assert chosen[0] is not None and chosen[0].fee == 20


def test_escrow_form_shows_what_is_already_escrowed(tmp_path: Path) -> None:
    coordinator = "0x" + "c0" * 20

    async def scenario(app: AitbcApp, pilot: Pilot[Any]) -> None:
        app.push_screen(TransferDialog("escrow", "operator", OPERATOR, 9_000_000, 10, target=coordinator,
                                       escrowed=2_500_000))
        await wait_for(pilot, lambda: isinstance(app.screen, TransferDialog) and bool(app.screen.query("#amount")),
                       "the escrow form")
        await pilot.pause()
        text = screen_text(app)
        assert "Already escrowed" in text and "2.500000 AIT" in text and coordinator in text

    drive(lambda: fixed_app(tmp_path), scenario, (120, 36))


def test_send_offers_recent_recipients_and_a_typed_address_still_works(tmp_path: Path) -> None:
    """Beside the address field the form offers one's other wallets and, from the wallet daemon's
    history, where the sender sent funds before; the confirmation names both ends."""
    store = fixed_store()
    friend, stranger = addr("friend"), addr("stranger")
    store.wallet.history[OPERATOR].insert(0, HistoryRow(
        hash=h("hist-4"), height=1_239, index=0, type="transfer", sender=OPERATOR, direction="out",
        counterparty=friend, amount=2_000_000, fee=10, nonce=3, payload={"to": friend, "amount": 2_000_000}))

    async def scenario(app: AitbcApp, pilot: Pilot[Any]) -> None:
        for pick, expected in ((friend, f"{friend} (sent before)"), (None, stranger)):
            await pilot.press("4", "s")
            await wait_for(pilot, lambda: isinstance(app.screen, TransferDialog) and app.screen.keys_ready,
                           "the form")
            form = app.screen
            recipients = form.query_one("#recipient", Select)
            assert [value for _, value in recipients._options if value != Select.NULL] == [SAVINGS, friend]
            if pick is not None:
                recipients.value = pick
            else:
                await pilot.press(*stranger)  # focus starts in the address field
            await pilot.pause()
            assert form.query_one("#target", Input).value == (pick or stranger)
            form.query_one("#amount", Input).value = "1"
            form.submit()
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")
            await pilot.pause()
            shown = screen_text(app)
            assert f"operator {OPERATOR}" in shown and expected in shown, shown
            assert pick is not None or f"{stranger} (" not in shown  # an unknown address gets no name
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.current_mode == "wallets" and not isinstance(
                app.screen, (ConfirmDialog, TransferDialog)), "the Wallets screen again")

    drive(lambda: fixed_app(tmp_path, store), scenario, (120, 36))


def test_a_panel_that_scrolls_says_so_at_80x24_and_one_that_fits_does_not(tmp_path: Path) -> None:
    """A job's detail runs past the bottom of its panel at 80x24: its border says ``↓ more``
    (``↑ more`` once scrolled to the end); the empty Chain detail fits and says nothing; a long
    report in a dialog says it too, a short one does not, and so does the help."""
    async def scenario(app: AitbcApp, pilot: Pilot[Any]) -> None:
        await pilot.press("3")
        detail = app.screen.query_one("#job-detail", Panel)
        await wait_for(pilot, lambda: detail.border_subtitle == "↓ more", "the hint on the job detail")
        assert "↓ more" in screen_text(app)
        detail.scroll_end(animate=False)
        await wait_for(pilot, lambda: detail.border_subtitle == "↑ more", "the hint at the end")
        await pilot.press("2")
        await pilot.pause()
        await pilot.pause()
        assert app.screen.query_one("#chain-detail", Panel).border_subtitle == ""
        assert "more" not in screen_text(app)
        for lines, hint in ((3, ""), (60, "↓ more")):
            body = Text("\n".join(f"line {i}" for i in range(lines)))
            app.push_screen(InfoDialog("Report", body))
            await wait_for(pilot, lambda: isinstance(app.screen, InfoDialog), "the report")
            await pilot.pause()
            await pilot.pause()
            assert app.screen.query_one(".info-dialog").border_subtitle == hint
            await pilot.press("escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, InfoDialog), "the report closed")
        await pilot.press("question_mark")  # the key list runs past its box at 80x24
        await wait_for(pilot, lambda: app.screen.id == "help", "the help")
        await wait_for(pilot, lambda: app.screen.query_one("#help-body").border_subtitle == "↓ more", "its hint")

    drive(lambda: fixed_app(tmp_path), scenario, (80, 24))


def test_values_cut_at_a_panel_edge_open_in_full(tmp_path: Path) -> None:
    """Enter on a panel shows its text whole: the miner's ``…reporting CPU and RAM only`` cut
    on the Dashboard, the validator's whole address, the tally's thresholds."""
    store = fixed_store()
    reason = "no NVIDIA driver available (NVML Shared Library Not Found); reporting CPU and RAM only"
    store.miner.gpus, store.miner.gpu_reason = [], reason

    async def scenario(app: AitbcApp, pilot: Pilot[Any]) -> None:
        await pilot.pause()
        assert "no NVIDIA driver" in screen_text(app) and reason not in screen_text(app)
        for panel, whole in (("#gpu-panel", reason), ("#chain-panel", f"{VALIDATOR} active, next")):
            app.screen.query_one(panel, Panel).focus()
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, InfoDialog), "the panel in full")
            await pilot.pause()
            assert whole in screen_text(app), screen_text(app)
            await pilot.press("escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, InfoDialog), "the dialog closed")
        await pilot.press("8")
        await pilot.pause()
        assert "99.85% of yes+no+veto, pass > 50.00%" not in screen_text(app)  # cut in the panel
        app.screen.query_one("#gov-tally-panel", Panel).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, InfoDialog), "the tally in full")
        await pilot.pause()
        assert "99.85% of yes+no+veto, pass > 50.00%" in screen_text(app)

    drive(lambda: fixed_app(tmp_path, store), scenario, (120, 36))


def cut_cells(table: Table) -> list[str]:
    """The cells of ``table`` cut inside their column or running past the table's right edge
    (off screen until scrolled, as the Staking ``Address`` and the Miner ``Outcome`` were)."""
    room, padding = table.scrollable_content_region.width, table.cell_padding
    x, problems = 0, []
    for column in table.columns.values():
        width = column.get_render_width(table)
        for cell in [column.label, *(table.get_cell(row, column.key) for row in table.rows)]:
            need = cell_width(cell)
            if need > width - 2 * padding or x + padding + need > room:
                problems.append(f"{table.id} {column.label.plain!r}: {cell!r} needs {need} at {x} of {room}")
        x += width
    return problems


async def open_row_in_full(pilot: Any, table: Table) -> str:
    """Enter on ``table``'s highlighted row; the dialog's text (the dialog is closed again)."""
    app = pilot.app
    table.focus()
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, InfoDialog), f"{table.id}'s row in full")
    await pilot.pause()
    shown = screen_text(app)
    await pilot.press("escape")
    await wait_for(pilot, lambda: not isinstance(app.screen, InfoDialog), "the dialog closed")
    return shown


def test_no_table_cell_is_cut_and_shortened_values_open_in_full(tmp_path: Path) -> None:
    """At 80x24 and 120x36 no cell of the Wallets, Staking, Miner and Governance tables is cut:
    a narrow table leaves out its low-priority columns (``Dir``, ``Address``, ``Received``,
    ``Action``) instead, and Enter on a row shows it whole: the validator's address, the
    transaction's hash and the wallet's address, the miner's job id. The queue and "to vote on" lines wrap, not cut."""
    store = fixed_store()
    history = store.wallet.history[OPERATOR]
    task = store.miner.tasks[0]

    async def scenario(app: AitbcApp, pilot: Pilot[Any]) -> None:
        await pilot.pause()
        awaiting = app.screen.query_one("#gov-awaiting")
        words = " ".join(str(awaiting.render()).split())
        assert "to vote on: #4" in words and words in " ".join(screen_text(app).split()), screen_text(app)
        for key in "34568":
            await pilot.press(key)
            await pilot.pause()
            await pilot.pause()
            for table in app.screen.query(Table):
                assert table.row_count and not cut_cells(table), (size, cut_cells(table), screen_text(app))
            if key == "3":
                assert "models: smollm2 (1 miner)" in screen_text(app)
            if key == "4":
                assert history[0].hash not in screen_text(app)
                shown = await open_row_in_full(pilot, app.screen.query_one("#history", Table))
                assert history[0].hash in shown and history[0].counterparty in shown, shown
                assert OPERATOR not in screen_text(app)
                assert OPERATOR in await open_row_in_full(pilot, app.screen.query_one("#wallet-table", Table))
            if key == "5":
                validators = app.screen.query_one("#validators", Table)
                assert ("address" in validators.shown_columns) == (size[0] >= 120)
                assert VALIDATOR in await open_row_in_full(pilot, validators)
            if key == "6":
                shown = await open_row_in_full(pilot, app.screen.query_one("#miner-tasks", Table))
                assert task.job_id in shown and task.job_id not in screen_text(app), shown
            if key == "8":
                proposals = app.screen.query_one("#proposals", Table)
                assert ("kind" in proposals.shown_columns) == (size[0] >= 120)

    for size in SIZES[:2]:
        drive(lambda: fixed_app(tmp_path, store), scenario, size)
