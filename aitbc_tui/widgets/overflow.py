"""What a panel does with content that does not fit: it says so, and it opens it in full.

A scrolling panel once showed only a thin scrollbar thumb, easy to miss, so a long job detail or
receipt looked complete (issue 21). :class:`OverflowHint` writes ``↓ more`` (``↑ more`` at the
bottom, ``↑↓ more`` in between) into the bottom border of the widget whose content runs on past
its edge, after that border's own note, and clears it when everything fits. It follows the
scroll position and the content's size through Textual's reactives, so it costs nothing while
nothing moves (no timer).

A line cut at a panel's right edge (``Validator 0x…2f89 active, ne…``, ``reporting CPU a…``)
had no way to be read whole. :class:`Panel` is a focusable, scrolling panel whose Enter posts
:class:`ShowInFull` with its text wrapped instead of cut; the section screens answer it with the
one read-only dialog (``InfoDialog``), the same one the Dashboard's "Events in full" opens.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static


def overflow_mark(scroll_y: float, max_scroll_y: int) -> str:
    """``↓ more`` / ``↑↓ more`` / ``↑ more`` for a scroller at ``scroll_y`` of ``max_scroll_y``
    (0: everything fits, no mark)."""
    above, below = round(scroll_y) > 0, round(scroll_y) < max_scroll_y
    if above and below:
        return "↑↓ more"
    if below:
        return "↓ more"
    return "↑ more" if above else ""


class OverflowHint:
    """Keeps :func:`overflow_mark` of ``scroller`` in the bottom border of ``bordered`` (the
    scroller itself unless the border is drawn by a container around it), after ``note``.

    Whoever owns that border sets its own text with :meth:`set_note` instead of assigning
    ``border_subtitle``, so the mark and the note never overwrite each other."""

    def __init__(self, scroller: Widget, bordered: Widget | None = None) -> None:
        self.scroller, self.bordered = scroller, bordered or scroller
        self.note = ""
        self._pending = False

    def attach(self) -> None:
        """Start following the scroller (call once both widgets are mounted)."""
        for reactive in ("scroll_y", "virtual_size", "show_vertical_scrollbar"):
            self.bordered.watch(self.scroller, reactive, self.changed, init=False)
        self.changed()

    def set_note(self, note: str) -> None:
        self.note = note
        self._apply()

    def changed(self) -> None:
        # the sizes settle in the layout pass that follows a change: read them after it, once
        if not self._pending:
            self._pending = True
            self.bordered.call_after_refresh(self._settled)

    def _settled(self) -> None:
        self._pending = False
        self._apply()

    def _apply(self) -> None:
        scroller = self.scroller
        mark = overflow_mark(scroller.scroll_y, scroller.max_scroll_y) if scroller.size.height else ""
        self.bordered.border_subtitle = " · ".join(part for part in (self.note, mark) if part)


def in_full(text: Text | str) -> Text:
    """``text`` wrapped at the edge instead of cut there (a copy; the panel keeps its own)."""
    whole = Text(text) if isinstance(text, str) else text.copy()
    whole.no_wrap, whole.overflow = False, "fold"
    return whole


class ShowInFull(Message):
    """Show ``text`` whole in a dialog titled ``title`` (answered by the section screens)."""

    def __init__(self, title: str, text: Text) -> None:
        super().__init__()
        self.title, self.text = title, text


class Panel(VerticalScroll):
    """A bordered panel that says when its content goes on below its edge and opens it in full.

    Its text in full is ``full()`` when given (e.g. with whole addresses where the panel shortens
    them), else what its children show (a child with a ``full_text()`` method, such as the
    events feed, gives a longer version of itself), wrapped instead of cut."""

    BINDINGS = [Binding("enter", "show_in_full", "In full", key_display="⏎")]

    def __init__(self, *children: Widget, title: str = "", id: str | None = None, classes: str = "panel",
                 full: Callable[[], Text] | None = None) -> None:
        super().__init__(*children, id=id, classes=classes)
        self.border_title = title
        self.hint = OverflowHint(self)
        self._full = full

    def on_mount(self) -> None:
        self.hint.attach()

    def on_resize(self) -> None:
        self.hint.changed()

    def full_text(self) -> Text:
        if self._full is not None:
            return in_full(self._full())
        parts: list[Text] = []
        for child in self.children:
            full = getattr(child, "full_text", None)
            if callable(full):
                parts.append(full())
            elif isinstance(child, Static) and isinstance(child.content, (Text, str)):
                parts.append(in_full(child.content))
        return Text("\n").join(part for part in parts if part.plain)

    def action_show_in_full(self) -> None:
        self.post_message(ShowInFull(str(self.border_title or ""), self.full_text()))
