"""The recent-events feed: the newest events that fit, newest at the bottom, like a log tail."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from aitbc_tui.format import clock
from aitbc_tui.models import EventLog

FULL_EVENTS = 200
"""How many of the newest events the full view lists."""

_LEVEL_STYLE = {"info": "", "warning": "yellow", "error": "bold red"}


class EventFeed(Widget):
    """Renders the tail of an :class:`EventLog`; repaints only when the log changed."""

    DEFAULT_CSS = """
    EventFeed {
        height: 1fr;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def __init__(self, log: EventLog, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.log_source = log
        self._seen = -1

    def sync(self) -> None:
        if self.log_source.seq != self._seen:
            self._seen = self.log_source.seq
            self.refresh()

    def render(self) -> Text:
        return events_text(self.log_source, max(1, self.size.height))

    def full_text(self) -> Text:
        """The events a panel's "in full" shows: more than fit, wrapped instead of cut."""
        return events_text(self.log_source, FULL_EVENTS, wrap=True)


def events_text(log: EventLog, count: int, *, wrap: bool = False) -> Text:
    """The newest ``count`` events, one a line; cut at the edge unless ``wrap`` (the full view)."""
    lines = log.tail(count)
    if not lines:
        return Text("no events yet", style="dim")
    text = Text(no_wrap=not wrap, overflow="fold" if wrap else "ellipsis")
    for i, line in enumerate(lines):
        if i:
            text.append("\n")
        text.append(clock(line.time_ms), style="dim")
        text.append(f" {line.source:<11.11} ", style="cyan")
        text.append(line.text, style=_LEVEL_STYLE[line.level])
    return text
