"""Jobs: the coordinator's job queue, submission, progress, cancel, receipts."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from aitbc_tui.screens.base import SectionScreen
from aitbc_tui.widgets.panels import notice


class JobsScreen(SectionScreen):
    SECTION = "jobs"
    TITLE_TEXT = "Jobs"

    def compose_body(self) -> ComposeResult:
        with Vertical(id="jobs", classes="panel") as box:
            box.border_title = "Jobs"
            yield Static(id="jobs-note")

    def update_body(self, changed: frozenset[str]) -> None:
        note = self.unavailable_text("coordinator", "Jobs")
        self.query_one("#jobs-note", Static).update(notice(note or "coordinator connected"))
