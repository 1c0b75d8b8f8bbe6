"""Miner / GPU: per-device telemetry, served models, running jobs, earnings."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from aitbc_tui.screens.base import SectionScreen
from aitbc_tui.widgets.panels import notice


class MinerScreen(SectionScreen):
    SECTION = "miner"
    TITLE_TEXT = "Miner / GPU"

    def compose_body(self) -> ComposeResult:
        with Vertical(id="miner", classes="panel") as box:
            box.border_title = "Miner / GPU"
            yield Static(id="miner-note")

    def update_body(self, changed: frozenset[str]) -> None:
        note = self.unavailable_text("miner", "Telemetry")
        self.query_one("#miner-note", Static).update(notice(note or "miner connected"))
