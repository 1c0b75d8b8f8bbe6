"""The tables of the section screens: a row cursor, a border title and fixed columns.

Every screen declares its columns as ``(label, key, width)`` and repaints by handing over all
rows as ``(row key, cells)``; the cursor stays on the same row key (the same block, job or
wallet) while live data arrives, so Enter opens the row the operator aimed at.
The width is a minimum that keeps an 80-column layout steady; a column grows to its widest cell,
so a value is never cut while the terminal has room for it (``escrow_deposit``, not ``escrow_depo``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual.widgets import DataTable

Column = tuple[str, str, int]
"""``(label, key, minimum width)`` of one column."""

Row = tuple[str, tuple[Any, ...]]
"""``(row key, cells)`` of one row."""


class Table(DataTable[Any]):
    """A DataTable with a row cursor, a border title and the given columns; it takes the
    height it is given (every screen's tables fill their column)."""

    DEFAULT_CSS = """
    Table {
        height: 1fr;
    }
    """

    def __init__(self, columns: Sequence[Column], *, id: str, title: str, zebra_stripes: bool = True) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=zebra_stripes)
        self.border_title = title
        self._column_spec = tuple(columns)

    def on_mount(self) -> None:
        for label, key, width in self._column_spec:
            column_key = self.add_column(label, key=key, width=None)
            column = self.columns[column_key]
            column.content_width = max(column.content_width, width)

    def selected_key(self) -> str | None:
        """The key of the row under the cursor (None when the table is empty)."""
        if not self.row_count or not 0 <= self.cursor_row < self.row_count:
            return None
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value

    def refill(self, rows: Sequence[Row]) -> list[str]:
        """Replace all rows with ``rows``; returns their keys in order. The cursor stays on the
        same key while it is still there, else on the same row number (clamped)."""
        selected, row = self.selected_key(), self.cursor_row
        self.clear()
        for key, cells in rows:
            self.add_row(*cells, key=key)
        keys = [key for key, _ in rows]
        if keys:
            target = keys.index(selected) if selected in keys else min(max(row, 0), len(keys) - 1)
            if target != self.cursor_row:
                self.move_cursor(row=target, animate=False)
        return keys
