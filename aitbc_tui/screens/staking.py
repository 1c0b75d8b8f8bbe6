"""Staking: the validator set (power, commission, state) and the stakes and rewards of the
accounts this installation holds keys for."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from aitbc_tui.format import ait, percent_bps, short_addr
from aitbc_tui.models import Store
from aitbc_tui.screens.base import SectionScreen
from aitbc_tui.widgets.panels import notice


def share(power: int, total: int) -> str:
    if total <= 0:
        return "-"
    bps = power * 10_000 // total
    return percent_bps(bps)


def validator_rows(store: Store) -> list[tuple[str, tuple[Any, ...]]]:
    node = store.node
    rows = []
    for v in sorted(node.validators, key=lambda v: (-v.power, v.address)):
        state = "jailed" if v.jailed else "removed" if v.removed else "active" if v.active else "inactive"
        style = {"active": "green", "jailed": "red", "removed": "red"}.get(state, "yellow")
        mine = " ★" if v.address == node.validator_address else ""
        rows.append((v.address, (
            (v.name or "-") + mine,
            Text(ait(v.power, decimals=0, suffix=False), justify="right"),
            Text(share(v.power, node.total_power), justify="right"),
            Text(percent_bps(v.commission_bps), justify="right"),
            Text(state, style=style),
            Text(ait(v.self_bond, decimals=0, suffix=False), justify="right"),
            v.address)))
    return rows


def stake_rows(store: Store) -> list[tuple[str, tuple[Any, ...]]]:
    rows = []
    names = {v.address: v.name for v in store.node.validators}
    for account in store.node.accounts.values():
        label = account.label or short_addr(account.address)
        for stake in account.stakes:
            rows.append((f"{account.address}/{stake.validator}", (
                label, names.get(stake.validator) or short_addr(stake.validator),
                Text(ait(stake.amount, decimals=2, suffix=False), justify="right"),
                Text(ait(stake.rewards, decimals=6, suffix=False), justify="right", style="green"), "bonded")))
        for index, entry in enumerate(account.unbonding):
            rows.append((f"{account.address}/unbonding/{index}", (
                label, entry.kind or "unbonding",
                Text(ait(entry.amount, decimals=2, suffix=False), justify="right"), Text("-", justify="right"),
                f"released at {entry.release_height}" if entry.release_height is not None else "unbonding")))
    return rows


class StakingScreen(SectionScreen):
    SECTION = "staking"
    TITLE_TEXT = "Staking"
    AUTO_FOCUS = "#validators"
    BINDINGS: ClassVar[list[Binding]] = [  # type: ignore[assignment]
        Binding("v", "focus_validators", "Validators"),
        Binding("r", "focus_stakes", "Stakes"),
    ]

    def compose_body(self) -> ComposeResult:
        with Vertical(id="staking"):
            validators = DataTable(id="validators", cursor_type="row", zebra_stripes=True)
            validators.border_title = "Validators"
            yield validators
            stakes = DataTable(id="stakes", cursor_type="row", zebra_stripes=True)
            stakes.border_title = "Your stakes & rewards"
            yield stakes
            yield Static(id="staking-note")

    def on_mount(self) -> None:
        table = self.query_one("#validators", DataTable)
        for label, key, width in (("Name", "name", 14), ("Power (AIT)", "power", 12), ("Share", "share", 7),
                                  ("Comm.", "commission", 6), ("State", "state", 8), ("Self bond", "self", 12),
                                  ("Address", "address", 42)):
            table.add_column(label, key=key, width=width)
        stakes = self.query_one("#stakes", DataTable)
        for label, key, width in (("Account", "account", 12), ("Validator", "validator", 13),
                                  ("Amount (AIT)", "amount", 13), ("Rewards (AIT)", "rewards", 14), ("State", "state", 18)):
            stakes.add_column(label, key=key, width=width)

    def update_body(self, changed: frozenset[str]) -> None:
        if not changed & {"node", "wallet"}:
            return
        store = self.store
        self._fill(self.query_one("#validators", DataTable), validator_rows(store))
        self._fill(self.query_one("#stakes", DataTable), stake_rows(store))
        node = store.node
        self.query_one("#validators", DataTable).border_subtitle = (
            f"total power {ait(node.total_power, decimals=0)}" if node.total_power else "")
        note = self.unavailable_text("node", "Validators")
        if note is None and not stake_rows(store):
            note = "no stakes held by this installation's accounts"
        note_widget = self.query_one("#staking-note", Static)
        note_widget.display = note is not None
        if note is not None:
            note_widget.update(notice(note))

    @staticmethod
    def _fill(table: DataTable[Any], rows: list[tuple[str, tuple[Any, ...]]]) -> None:
        cursor = table.cursor_row
        table.clear()
        for key, cells in rows:
            table.add_row(*cells, key=key)
        if rows and 0 < cursor < len(rows):
            table.move_cursor(row=cursor, animate=False)

    def action_focus_validators(self) -> None:
        self.query_one("#validators", DataTable).focus()

    def action_focus_stakes(self) -> None:
        self.query_one("#stakes", DataTable).focus()
