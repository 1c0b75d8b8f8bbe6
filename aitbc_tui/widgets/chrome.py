"""The frame around every screen: navigation bar and daemon-down banner.

The navigation bar is one line of clickable labels (mouse) that also shows the number key of
each section (keyboard), so the way to move around is visible without opening the help.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from aitbc_tui.models import Store

SECTIONS: tuple[tuple[str, str], ...] = (
    ("dashboard", "Dashboard"),
    ("chain", "Chain"),
    ("jobs", "Jobs"),
    ("wallets", "Wallets"),
    ("staking", "Staking"),
    ("miner", "Miner"),
    ("logs", "Logs"),
    ("governance", "Governance"),
)
SHORT_LABELS = {"dashboard": "Dash", "governance": "Gov"}
"""What the navigation bar shows instead when the full bar is wider than the terminal (80 columns)."""


class NavBar(Static):
    """``AITBC  1 Dashboard  2 Chain ...``; the active section is highlighted; click to switch."""

    DEFAULT_CSS = """
    NavBar {
        height: 1;
        width: 1fr;
        background: $panel;
        color: $text-muted;
    }
    """

    def __init__(self, active: str) -> None:
        super().__init__(id="nav")
        self.active = active
        self._markup = ""

    def on_mount(self) -> None:
        self._paint()

    def on_resize(self) -> None:
        self._paint()

    def _paint(self) -> None:
        markup = self.render_markup()
        if self.size.width and Text.from_markup(markup).cell_len > self.size.width:
            markup = self.render_markup(short=True)
        if markup != self._markup:
            self._markup = markup
            self.update(markup)

    def render_markup(self, short: bool = False) -> str:
        rig = getattr(self.app, "rig", None)
        parts = [f"[b reverse] AITBC{' @' + rig.name if rig is not None else ''} [/] "]
        for index, (mode, label) in enumerate(SECTIONS, start=1):
            style = "b reverse " if mode == self.active else ""
            shown = SHORT_LABELS.get(mode, label) if short else label
            parts.append(f"[{style}@click=app.goto('{mode}')] {index} {shown} [/]")
        return "".join(parts)


class DaemonBanner(Static):
    """One line per daemon that should answer and does not; hidden when all is well."""

    DEFAULT_CSS = """
    DaemonBanner {
        height: auto;
        max-height: 4;
        text-wrap: nowrap;
        text-overflow: ellipsis;
        background: $error;
        color: $text;
        display: none;
    }
    """

    def __init__(self) -> None:
        super().__init__(id="banner", markup=False)
        self._last: tuple[tuple[str, str], ...] | None = None

    def show_status(self, store: Store) -> None:
        down = tuple((s.name, s.message) for s in store.down_daemons())
        if down == self._last:
            return
        self._last = down
        self.display = bool(down)
        if down:
            text = Text()
            for i, (name, message) in enumerate(down):
                if i:
                    text.append("\n")
                text.append(f" ⚠ {name} down", style="bold")
                text.append(" (reconnecting): ", style="italic")
                text.append(message)
            self.update(text)
