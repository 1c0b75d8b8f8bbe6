"""Helpers to render label/value blocks inside bordered panels."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static

Row = tuple[str, str | Text]


def kv(rows: Sequence[Row], label_width: int | None = None) -> Text:
    """Aligned ``label  value`` lines (labels dim) as one Text."""
    width = label_width if label_width is not None else max((len(label) for label, _ in rows), default=0)
    text = Text(no_wrap=True, overflow="ellipsis")
    for i, (label, value) in enumerate(rows):
        if i:
            text.append("\n")
        text.append(f"{label:<{width}}  ", style="dim")
        text.append(value if isinstance(value, Text) else Text(str(value)))
    return text


def notice(message: str) -> Text:
    """A panel body that says why there is nothing to show."""
    return Text(message, style="italic dim")


def bar(fraction: float | None, width: int = 10) -> Text:
    """A horizontal gauge ``████░░░░`` for utilisation-like values in [0, 1]."""
    if fraction is None:
        return Text("-" * width, style="dim")
    fraction = min(1.0, max(0.0, fraction))
    full = round(fraction * width)
    style = "green" if fraction < 0.7 else "yellow" if fraction < 0.9 else "red"
    text = Text("█" * full, style=style)
    text.append("░" * (width - full), style="dim")
    return text


_BLOCKS = "▁▂▃▄▅▆▇█"


def spark(values: Sequence[float], width: int, low: float = 0.0, high: float | None = None) -> str:
    """A text sparkline of the last ``width`` values (for panels too small for a Sparkline widget)."""
    tail = list(values)[-width:]
    if not tail:
        return ""
    top = high if high is not None else max(tail)
    span = (top - low) or 1.0
    return "".join(_BLOCKS[min(7, max(0, int((v - low) / span * 7.999)))] for v in tail)


class TextView(Static):
    """A Static that ignores updates with unchanged content.

    ``Static.update`` schedules a repaint (and a layout pass for auto-sized widgets) even when
    nothing changed; the dashboard re-renders its panels after every block, so skipping equal
    content is most of what keeps the console idle between events.
    """

    DEFAULT_CSS = """
    TextView.note {
        height: auto;
        padding: 0 1;
    }
    """
    _shown: object = None

    def show(self, content: Text | str) -> None:
        if content == self._shown:
            return
        self._shown = content
        self.update(content)

    def show_note(self, note: str | None) -> None:
        """Show ``note`` as a notice, or hide this view when there is nothing to say (a view
        of class ``note``: the line under a screen's tables saying why they are empty)."""
        self.display = note is not None
        if note is not None:
            self.show(notice(note))
