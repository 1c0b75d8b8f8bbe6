"""The tables of the section screens: a row cursor, a border title and columns that fit.

Every screen declares its columns as ``(label, key, width)`` and repaints by handing over all
rows as ``(row key, cells)``; the cursor stays on the same row key (the same block, job or
wallet) while live data arrives, so Enter opens the row the operator aimed at.
The width is a minimum that keeps an 80-column layout steady; a column grows to its widest cell,
so a value is never cut while the terminal has room for it (``escrow_deposit``, not ``escrow_depo``).

When the table is narrower than its columns (an 80-column terminal, the Miner screen's side
column at 120), the screen's ``drop`` columns are left out, in that order, until the rest fits,
instead of the last ones being cut at the right edge (issue 21: ``Addres``, ``Ou``). A table
that can lose columns or shows shortened values opens its highlighted row in full on Enter
(``opens``): every column, hidden ones included, or the screen's own ``detail`` of the row, in
the one read-only dialog (:class:`~aitbc_tui.widgets.overflow.ShowInFull`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rich.text import Text
from textual import events
from textual.widgets import DataTable

from aitbc_tui.widgets.overflow import ShowInFull, in_full
from aitbc_tui.widgets.panels import kv

Column = tuple[str, str, int]
"""``(label, key, minimum width)`` of one column."""

Row = tuple[str, tuple[Any, ...]]
"""``(row key, cells)`` of one row."""


def cell_width(cell: Any) -> int:
    """How many terminal cells ``cell`` takes on one line (its widest line)."""
    text = cell if isinstance(cell, Text) else Text(str(cell))
    return max((line.cell_len for line in text.split(allow_blank=True)), default=0)


def fitting_columns(widths: Sequence[tuple[str, int]], room: int, drop: Sequence[str]) -> list[str]:
    """The keys of the columns to show in ``room`` terminal cells: all of ``widths`` (``(key,
    width with padding)`` in order) while they fit, else without the ``drop`` keys, leaving out
    one at a time in that order until the rest fits (``room`` 0: not laid out yet, all)."""
    kept = [key for key, _ in widths]
    width = dict(widths)
    for key in drop:
        if not room or sum(width[k] for k in kept) <= room:
            break
        if key in kept:
            kept.remove(key)
    return kept


class Table(DataTable[Any]):
    """A DataTable with a row cursor, a border title and the given columns; it takes the
    height it is given (every screen's tables fill their column).

    ``drop``: keys of the columns to leave out, first to last, while the table is too narrow for
    all of them. ``opens``: Enter shows the highlighted row in full, ``detail(row key)`` when
    given, else every column's label and value."""

    DEFAULT_CSS = """
    Table {
        height: 1fr;
    }
    """

    def __init__(self, columns: Sequence[Column], *, id: str, title: str, zebra_stripes: bool = True,
                 drop: Sequence[str] = (), opens: bool = False, detail: Callable[[str], Text] | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=zebra_stripes)
        self.border_title = title
        self._column_spec = tuple(columns)
        self._drop = tuple(drop)
        self._opens = opens or detail is not None
        self._detail = detail
        self._rows: list[Row] = []
        self.shown_columns: list[str] = []
        """The keys of the columns on screen now (all unless the width left some out)."""

    def on_mount(self) -> None:
        self._set_columns([key for _, key, _ in self._column_spec])

    def _set_columns(self, keys: list[str]) -> None:
        self.clear(columns=True)
        self.shown_columns = keys
        for label, key, width in self._column_spec:
            if key in keys:
                column = self.columns[self.add_column(label, key=key, width=None)]
                column.content_width = max(column.content_width, width)

    def _fitting(self) -> list[str]:
        padding = 2 * self.cell_padding
        widths = [(key, padding + max(width, cell_width(label), *(cell_width(cells[i]) for _, cells in self._rows)))
                  for i, (label, key, width) in enumerate(self._column_spec)]
        room = self.scrollable_content_region.width
        # the last column's right padding may fall past the edge: blank, nothing of a value is cut
        return fitting_columns(widths, room + self.cell_padding if room else 0, self._drop)

    def on_resize(self, _: events.Resize) -> None:
        if self._drop and self._fitting() != self.shown_columns:
            self.refill(self._rows)

    def selected_key(self) -> str | None:
        """The key of the row under the cursor (None when the table is empty)."""
        if not self.row_count or not 0 <= self.cursor_row < self.row_count:
            return None
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value

    def refill(self, rows: Sequence[Row]) -> list[str]:
        """Replace all rows with ``rows``; returns their keys in order. The cursor stays on the
        same key while it is still there, else on the same row number (clamped)."""
        selected, row = self.selected_key(), self.cursor_row
        self._rows = list(rows)
        keys = self._fitting() if self._drop else self.shown_columns
        if keys != self.shown_columns:
            self._set_columns(keys)
        else:
            self.clear()
        shown = [i for i, (_, key, _) in enumerate(self._column_spec) if key in keys]
        for key, cells in rows:
            self.add_row(*(cells[i] for i in shown), key=key)
        keys = [key for key, _ in rows]
        if keys:
            target = keys.index(selected) if selected in keys else min(max(row, 0), len(keys) - 1)
            if target != self.cursor_row:
                self.move_cursor(row=target, animate=False)
        return keys

    def row_in_full(self, key: str) -> Text:
        """The row ``key``: the screen's ``detail`` of it, else every column's label and value."""
        if self._detail is not None:
            return self._detail(key)
        cells = next((cells for row_key, cells in self._rows if row_key == key), ())
        return kv([(label, cell if isinstance(cell, Text) else str(cell))
                   for (label, _, _), cell in zip(self._column_spec, cells, strict=False)])

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if not self._opens or event.data_table is not self or event.row_key.value is None:
            return
        event.stop()
        self.post_message(ShowInFull(str(self.border_title or ""), in_full(self.row_in_full(event.row_key.value))))
