"""F1 / ?: every key binding of the app and of the current section, plus how to reach the rest."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from aitbc_tui.widgets.footer import KeyFooter
from aitbc_tui.widgets.overflow import OverflowHint


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    #help-body {
        width: 72;
        max-width: 95%;
        height: auto;
        max-height: 90%;
        border: thick $accent;
        background: $surface;
        padding: 1 2;
    }
    """
    BINDINGS = [Binding("escape,q,f1,question_mark", "dismiss", "Close", show=True)]

    def __init__(self, section: Screen[object]) -> None:
        super().__init__(id="help")
        self.section = section

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body") as body:
            body.border_title = "Help — keys and actions"
            yield Static(self._render_help())
        yield KeyFooter()

    def on_mount(self) -> None:
        # at 80x24 the list runs past the box: its border says so
        self.hint = OverflowHint(self.query_one("#help-body"))
        self.hint.attach()

    def _render_help(self) -> Table:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        table.add_row(Text("Everywhere", style="underline"), "")
        for binding in self._collect(self.app.BINDINGS):
            table.add_row(self.app.get_key_display(binding), binding.description)
        table.add_row("ctrl+p", "Command palette: every action by name")
        table.add_row("mouse", "Click tabs, table rows and buttons; scroll with the wheel")
        table.add_row("tab, ⏎", "Move to a panel; Enter shows its text in full")
        title = getattr(self.section, "TITLE_TEXT", "") or type(self.section).__name__
        own = self._collect(self.section.BINDINGS)
        if own:
            table.add_row("", "")
            table.add_row(Text(title, style="underline"), "")
            for binding in own:
                table.add_row(self.app.get_key_display(binding), binding.description)
        return table

    @staticmethod
    def _collect(raw: object) -> list[Binding]:
        result: list[Binding] = []
        for item in raw:  # type: ignore[attr-defined]
            binding = item if isinstance(item, Binding) else Binding(*item)
            if binding.description and not binding.key.startswith("_"):
                result.append(binding)
        return result
