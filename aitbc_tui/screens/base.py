"""The base of every section screen: navigation bar, daemon banner, body, footer.

Screens do not poll and do not talk to the store on their own timers. The app calls
:meth:`SectionScreen.refresh_data` with the names of the daemons whose data changed (at most a
few times per second) while the screen is visible, and once with everything when the screen is
shown again, so hidden screens cost nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, ClassVar, NamedTuple

from textual.app import ComposeResult
from textual.binding import Binding
from textual.notifications import Notification, Notify
from textual.screen import Screen
from textual.widgets import Static

from aitbc_tui.models import DAEMONS, Store
from aitbc_tui.screens.dialogs import InfoDialog
from aitbc_tui.widgets.chrome import SECTIONS, DaemonBanner, NavBar
from aitbc_tui.widgets.footer import KeyFooter
from aitbc_tui.widgets.overflow import ShowInFull

if TYPE_CHECKING:
    from aitbc_tui.app import AitbcApp

ALL: frozenset[str] = frozenset(DAEMONS) | {"logs"}

PROGRESS_TOAST_S = 600.0
"""Longest a progress toast stays up; :meth:`SectionScreen.progress` removes it as soon as the
thing it announces is over."""


class PaletteAction:
    """A screen action offered in the command palette (title, help text, action name)."""

    def __init__(self, title: str, help: str, action: str) -> None:
        self.title, self.help, self.action = title, help, action


class ScreenKey(NamedTuple):
    """One action of a section screen, declared once: its key and footer label, the daemons it
    talks to (``needs``) and its command palette entry (``palette``: title, help), if any."""

    key: str
    action: str
    label: str
    needs: tuple[str, ...] = ()
    palette: tuple[str, str] | None = None
    key_display: str | None = None
    show: bool = True


class SectionScreen(Screen[None]):
    """Base class: subclasses set SECTION and implement compose_body/update_body."""

    SECTION: ClassVar[str] = ""
    TITLE_TEXT: ClassVar[str] = ""
    """The heading of the screen's keys in the help; the navigation bar's label unless set."""
    KEYS: ClassVar[tuple[ScreenKey, ...]] = ()
    """The screen's actions; its BINDINGS are made from them. An action whose daemons are not
    part of this installation is hidden (and left out of the palette), and disabled while one
    of them is down (:meth:`check_action`)."""
    REPAINT_S: ClassVar[float] = 0.25
    """Shortest time between two repaints of this screen caused by daemon data."""

    def __init_subclass__(cls, **kwargs: bool) -> None:
        if "KEYS" in cls.__dict__:  # before Textual's own hook, which reads BINDINGS
            cls.BINDINGS = [Binding(k.key, k.action, k.label, show=k.show, key_display=k.key_display)
                            for k in cls.KEYS]
        super().__init_subclass__(**kwargs)
        if not cls.TITLE_TEXT:
            cls.TITLE_TEXT = dict(SECTIONS).get(cls.SECTION, "")

    @property
    def aitbc(self) -> AitbcApp:
        return self.app  # type: ignore[return-value]

    @property
    def store(self) -> Store:
        return self.aitbc.store

    def compose(self) -> ComposeResult:
        yield NavBar(self.SECTION)
        yield DaemonBanner()
        yield from self.compose_body()
        yield KeyFooter()

    def compose_body(self) -> ComposeResult:
        yield Static()

    @contextmanager
    def progress(self, message: str, title: str) -> Iterator[None]:
        """A toast (``creating the wallet…``) that stays while the work in the ``with`` block
        runs and is dismissed when it is over, not after a fixed timeout that outlives it."""
        toast = Notification(message, title, "information", PROGRESS_TOAST_S)
        self.app.post_message(Notify(toast))
        try:
            yield
        finally:
            self.app.call_later(self._dismiss_toast, toast)

    def _dismiss_toast(self, toast: Notification) -> None:
        if toast in self.app._notifications:
            self.app._unnotify(toast)

    def action_leave_input(self) -> None:
        """Move focus from a text field to the screen's main widget (its AUTO_FOCUS), so the
        screen's keys work again (``3`` switches screens instead of typing "3"). Bound to Esc by
        the app with priority, so no screen's own Esc binding can shadow it while a field has
        focus; with no field focused the screen's Esc (clear, close) runs as before."""
        target = next(iter(self.query(self.AUTO_FOCUS)), None) if self.AUTO_FOCUS else None
        self.set_focus(target if target is not None and target.focusable else None)

    def on_screen_resume(self) -> None:
        self.refresh_data(ALL)

    def on_show_in_full(self, message: ShowInFull) -> None:
        """A panel's text in full (Enter on a panel, "Events in full"): one read-only dialog."""
        message.stop()
        self.app.push_screen(InfoDialog(message.title, message.text))

    def refresh_data(self, changed: Iterable[str]) -> None:
        """Repaint from the store; ``changed`` names the sources whose data moved."""
        self.query_one(DaemonBanner).show_status(self.store)
        self.update_body(frozenset(changed))

    def update_body(self, changed: frozenset[str]) -> None:
        """Subclasses repaint the widgets that depend on ``changed``."""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        daemons = next((k.needs for k in self.KEYS if k.action == action), ())
        return self.needs(*daemons) if daemons else True

    @classmethod
    def palette_actions(cls, app: AitbcApp) -> list[PaletteAction]:
        """The palette entries of the actions this installation has the daemons for."""
        return [PaletteAction(*k.palette, k.action) for k in cls.KEYS
                if k.palette and all(app.has_daemon(d) for d in k.needs)]

    def needs(self, *daemons: str) -> bool | None:
        """``check_action``'s answer for an action that talks to ``daemons``: hidden (False) when
        one is not part of this installation, shown but disabled (None) while one is not up."""
        if not all(self.aitbc.has_daemon(daemon) for daemon in daemons):
            return False
        if not all(self.store.up(daemon) for daemon in daemons):
            return None
        return True

    def unavailable_text(self, daemon: str, what: str) -> str | None:
        """Why ``daemon``'s data cannot be shown, or None when it is up."""
        status = self.store.status[daemon]
        if status.state == "up":
            return None
        if status.state == "absent":
            return f"{daemon} not available: {status.message}"
        if status.state == "connecting" and not status.message:
            return f"connecting to the {daemon}…"
        return f"{daemon} down: {status.message}\n{what} will appear when it is back."
