"""The console's two themes: Textual's own dark and light ones with colours that read.

Textual's light theme draws its accent (panel titles, the footer's keys) in orange on light grey,
a contrast of 1.5:1; its error red is a shade too light for the white text of the daemon banner.
These themes keep Textual's look and change only those colours, so that every text colour meets
WCAG AA (4.5:1) on the backgrounds it is drawn on (``tests/tui`` computes the ratios).

The named colours of styles and markup (``[red]``, ``style="green"``) are not theme colours: Textual
draws them through an ANSI palette per kind of theme (Monokai on dark, Alabaster on light), whose
red read at 3.3:1 on the dark panels and yellow at 1.8:1 on the light ones. :data:`ANSI_DARK` and
:data:`ANSI_LIGHT` are those palettes with the colours the console uses made readable.
"""

from __future__ import annotations

from rich.color_triplet import ColorTriplet
from rich.terminal_theme import TerminalTheme
from textual._ansi_theme import ALABASTER, MONOKAI
from textual.theme import BUILTIN_THEMES, Theme

AITBC_DARK = Theme(**{
    **BUILTIN_THEMES["textual-dark"].__dict__, "name": "aitbc-dark", "error": "#B23A58",
    "variables": {"block-cursor-background": "#0062AD"},  # the highlighted row: white on blue
})
AITBC_LIGHT = Theme(**{
    **BUILTIN_THEMES["textual-light"].__dict__, "name": "aitbc-light",
    "accent": "#8A4600", "warning": "#7A4A00", "success": "#17652F", "error": "#A8324F",
    "variables": {"footer-key-foreground": "#00508C"},
})
THEMES = (AITBC_DARK, AITBC_LIGHT)

ANSI_INDEX = {"red": 1, "green": 2, "yellow": 3, "blue": 4, "magenta": 5, "cyan": 6, "bright_black": 8}
"""The named Rich colours the screens use in styles and markup (``[red]``, ``style="green"``),
with their place in a terminal's 16-colour palette."""


def _ansi(base: TerminalTheme, colours: dict[str, str]) -> TerminalTheme:
    """``base`` with the named colours of ``colours`` (``"red": "#962A25"``) replaced."""
    palette = [base.ansi_colors[i] for i in range(16)]
    for name, value in colours.items():
        code = int(value.lstrip("#"), 16)
        palette[ANSI_INDEX[name]] = ColorTriplet(code >> 16, code >> 8 & 255, code & 255)
    return TerminalTheme(tuple(base.background_color), tuple(base.foreground_color),
                         [tuple(c) for c in palette[:8]], [tuple(c) for c in palette[8:]])


ANSI_DARK = _ansi(MONOKAI, {"red": "#FF5F87", "magenta": "#E67AF0", "blue": "#A88BFF", "bright_black": "#9A9A9A"})
"""How named colours are drawn under a dark theme: Textual's Monokai with a red (and a magenta,
which Monokai draws in the same red) that read at 4.5:1 on the panels' grey, not 3.3:1, and a
grey (``bright_black``: abstain, dropped) that reads at all (2.9:1 before)."""
ANSI_LIGHT = _ansi(ALABASTER, {"red": "#962A25", "green": "#27601A", "yellow": "#6B4E00", "blue": "#2A4FA8",
                               "magenta": "#733A94", "cyan": "#005A78", "bright_black": "#595959"})
"""Under a light theme: Textual's Alabaster darkened (its yellow read at 1.8:1 on light grey)."""
