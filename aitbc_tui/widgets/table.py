"""The tables of the section screens: a row cursor, a border title and fixed columns.

Every screen declares its columns as ``(label, key, width)`` and repaints by handing over all
rows as ``(row key, cells)``; where the cursor goes after a repaint stays the screen's choice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual.widgets import DataTable

Column = tuple[str, str, int]
"""``(label, key, width)`` of one column."""

Row = tuple[str, tuple[Any, ...]]
"""``(row key, cells)`` of one row."""


class Table(DataTable[Any]):
    """A DataTable with a row cursor, a border title and the given columns."""

    def __init__(self, columns: Sequence[Column], *, id: str, title: str, zebra_stripes: bool = True) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=zebra_stripes)
        self.border_title = title
        self._column_spec = tuple(columns)

    def on_mount(self) -> None:
        for label, key, width in self._column_spec:
            self.add_column(label, key=key, width=width)

    def refill(self, rows: Sequence[Row]) -> list[str]:
        """Replace all rows with ``rows``; returns their keys in order."""
        self.clear()
        for key, cells in rows:
            self.add_row(*cells, key=key)
        return [key for key, _ in rows]
