"""The console's two themes: Textual's own dark and light ones with colours that read.

Textual's light theme draws its accent (panel titles, the footer's keys) in orange on light grey,
a contrast of 1.5:1; its error red is a shade too light for the white text of the daemon banner.
These themes keep Textual's look and change only those colours, so that every text colour meets
WCAG AA (4.5:1) on the backgrounds it is drawn on (``tests/tui`` computes the ratios).
"""

from __future__ import annotations

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
