"""Wallets: keys held by the wallet daemon, balances, history, create/import/unlock/send."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from aitbc_tui.screens.base import SectionScreen
from aitbc_tui.widgets.panels import notice


class WalletsScreen(SectionScreen):
    SECTION = "wallets"
    TITLE_TEXT = "Wallets"

    def compose_body(self) -> ComposeResult:
        with Vertical(id="wallets", classes="panel") as box:
            box.border_title = "Wallets"
            yield Static(id="wallets-note")

    def update_body(self, changed: frozenset[str]) -> None:
        note = self.unavailable_text("wallet", "Wallets")
        self.query_one("#wallets-note", Static).update(notice(note or "wallet connected"))
