"""The key footer of every screen and dialog: the keys in priority order, never one cut in half.

Textual's own footer lays every key out in a row and lets the terminal's edge cut the last ones
(``t The▏``, ``c Claim rewards q Qu▏`` at 80 columns). :class:`KeyFooter` measures each hint and
keeps only those that fit, dropping the least important first: the app-wide keys (Palette,
Theme, Quit) before the screen's own, the screen's last before its first, and Help never, since
Help lists every key that had to go. Screens and dialogs added later inherit this by using
:class:`KeyFooter` (the base classes do).
"""

from __future__ import annotations

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

PINNED = ("help",)
"""Actions always shown: the way to every other key."""

APP_LAST = ("quit", "command_palette", "toggle_theme")
"""App-wide actions, shown after the screen's own keys and dropped first (last one first)."""


def hint_width(key_display: str, description: str) -> int:
    """Cells one hint takes in the footer: `` key `` then ``description `` (FooterKey's padding)."""
    return cell_len(key_display) + 2 + (cell_len(description) + 1 if description else 0)


def fit_hints(hints: list[tuple[str, int]], width: int) -> list[str]:
    """The actions of ``hints`` (``(action, width)`` in priority order, most important first) that
    fit in ``width`` cells, in the same order; pinned actions are kept even when nothing else fits."""
    kept = list(hints)
    while kept and sum(w for _, w in kept) > width:
        droppable = [i for i, (action, _) in enumerate(kept) if action not in PINNED]
        if not droppable:
            break
        del kept[droppable[-1]]
    return [action for action, _ in kept]


def _short(action: str) -> str:
    """``app.toggle_theme`` / ``toggle_theme`` -> ``toggle_theme`` (namespaces do not matter here)."""
    return action.rpartition(".")[2]


class KeyFooter(Footer):
    """A footer that shows the screen's keys first, then the app's, and drops what does not fit."""

    def __init__(self) -> None:
        super().__init__(show_command_palette=False)

    def ordered_bindings(self) -> list[tuple[Binding, bool, str]]:
        """``(binding, enabled, tooltip)`` of every key to hint, most important first."""
        own: list[tuple[Binding, bool, str]] = []
        app_wide: dict[str, tuple[Binding, bool, str]] = {}
        seen: set[str] = set()
        palette = self.app.COMMAND_PALETTE_BINDING
        active = dict(self.screen.active_bindings)
        for key, bindings in self.screen._bindings.key_to_bindings.items():
            # a screen key the focused field also uses without a hint (Enter in a form's input
            # submits the form either way) keeps the screen's hint
            shadowed = active.get(key)
            if shadowed is not None and not shadowed.binding.show and bindings[0].show:
                active[key] = shadowed._replace(binding=bindings[0])
        for key, (_, binding, enabled, tooltip) in active.items():
            action = _short(binding.action)
            if (not binding.show and key != palette) or action in seen:
                continue
            seen.add(action)
            if action in PINNED or action in APP_LAST:
                app_wide[action] = (binding, enabled, tooltip)
            else:
                own.append((binding, enabled, tooltip))
        return own + [app_wide[a] for a in (*PINNED, *APP_LAST) if a in app_wide]

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        ordered = self.ordered_bindings()
        displays = {_short(b.action): self.app.get_key_display(b) for b, _, _ in ordered}
        hints = [(_short(b.action), hint_width(displays[_short(b.action)], b.description)) for b, _, _ in ordered]
        width = self.size.width or self.app.size.width
        shown = set(fit_hints(hints, width))
        for binding, enabled, tooltip in ordered:
            action = _short(binding.action)
            if action in shown:
                yield FooterKey(binding.key, displays[action], binding.description, binding.action,
                                disabled=not enabled, tooltip=tooltip or binding.description,
                                ).data_bind(compact=Footer.compact)

    def on_resize(self) -> None:
        if self._bindings_ready:
            self.call_after_refresh(self.recompose)
