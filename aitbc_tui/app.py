"""``aitbc-tui``: the operator console, attached to the local daemons over their Unix sockets.

Architecture in one paragraph: one asynchronous *source* per daemon (``aitbc_tui.sources``) runs
as a Textual worker on the app's event loop, holds the daemon's typed client, follows its event
stream and keeps the shared :class:`~aitbc_tui.models.Store` current. After each change it posts
a :class:`SourceChanged` message; the app coalesces those and repaints the visible screen at most
``FLUSH_S`` apart, so a chain producing ten blocks a second costs a few repaints, not ten. Every
action (search, send, submit) runs in a worker through the same client API as the CLI.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from textual import events
from textual.app import App, ScreenStackError
from textual.binding import Binding
from textual.message import Message
from textual.reactive import Reactive
from textual.screen import ModalScreen, Screen

from daemons.common.home import Home
from daemons.ops.rigs import Rig

from aitbc_tui.commands import AitbcCommands
from aitbc_tui.config import DEFAULT_DARK, TuiConfig, load_config, save_config
from aitbc_tui.models import DAEMONS, SourceStatus, Store
from aitbc_tui.sources.base import DaemonSource
from aitbc_tui.sources.logs import LogTail
from aitbc_tui.sources.fleet import FleetMonitor
from aitbc_tui.sources.rig_logs import RemoteLogTail
from aitbc_tui.theme import ANSI_DARK, ANSI_LIGHT, THEMES
from aitbc_tui.widgets.chrome import SECTIONS

FLUSH_S = 0.25
"""Shortest time between two repaints caused by daemon data (at most 4 per second)."""

KEY_HOLD_S = 1.0
"""Longest time keys typed right after an action key wait for a dialog that action may open
(they are replayed as soon as the dialog is up or the action is over, whichever comes first)."""



class SourceChanged(Message):
    """A source updated the store (posted by the sources, handled by the app)."""

    def __init__(self, source: str) -> None:
        super().__init__()
        self.source = source


@dataclass(frozen=True)
class PaletteCommand:
    title: str
    help: str
    run: Callable[[], Awaitable[Any] | Any]


def _screens() -> dict[str, Callable[[], Any]]:
    """Section screens by mode name (imported here so ``aitbc-tui --help`` stays fast)."""
    from aitbc_tui.screens.chain import ChainScreen
    from aitbc_tui.screens.dashboard import DashboardScreen
    from aitbc_tui.screens.governance import GovernanceScreen
    from aitbc_tui.screens.jobs import JobsScreen
    from aitbc_tui.screens.logs import LogsScreen
    from aitbc_tui.screens.miner import MinerScreen
    from aitbc_tui.screens.staking import StakingScreen
    from aitbc_tui.screens.wallets import WalletsScreen

    return {"dashboard": DashboardScreen, "chain": ChainScreen, "jobs": JobsScreen, "wallets": WalletsScreen,
            "staking": StakingScreen, "miner": MinerScreen, "logs": LogsScreen, "governance": GovernanceScreen}


class AitbcApp(App[None]):
    """The console. ``live=False`` shows the given store without connecting (snapshot tests)."""

    CSS_PATH = "styles/app.tcss"
    TITLE = "AITBC"
    COMMANDS = {AitbcCommands}
    """Only the console's own commands: Textual's built-ins (Keys, Maximize, Screenshot, a Theme
    picker that differs from ``t``, a second Quit) duplicate the console's or confuse."""
    ansi_theme_dark = Reactive(ANSI_DARK, init=False)
    ansi_theme_light = Reactive(ANSI_LIGHT, init=False)
    """How ``[red]``, ``style="green"`` and the other named colours are drawn: readable on the themes."""
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]] | None] = [(0, "-narrow"), (120, "-wide")]
    BINDINGS: ClassVar[list[Binding]] = [  # type: ignore[assignment]
        Binding("q", "quit", "Quit"),
        Binding("f1,question_mark", "help", "Help", key_display="?"),
        Binding("t", "toggle_theme", "Theme"),
        Binding("ctrl+p", "command_palette", "Palette", show=False),
        Binding("F", "fleet", "Fleet", show=False),
        Binding("escape", "leave_input", "Leave a text field (back to the screen's keys)", show=False, priority=True),
        *[Binding(str(i), f"goto('{mode}')", label, show=False) for i, (mode, label) in enumerate(SECTIONS, 1)],
    ]

    def __init__(self, home: Home, *, store: Store | None = None, live: bool = True,
                 config: TuiConfig | None = None, save_settings: bool = True,
                 settings_home: Home | None = None, rig: Rig | None = None,
                 fleet: FleetMonitor | None = None) -> None:
        self.home = home
        """Where the daemons' sockets (and logs) are; a rig's forwarded sockets with ``--rig``."""
        self.settings_home = settings_home or home
        """Where HOME/tui.toml lives (the operator's own home, also when attached to a rig)."""
        self.rig = rig
        self.fleet = fleet
        """The rigs of HOME/rigs.toml, polled over SSH (None without rigs; see ``aitbc_tui.sources.fleet``)."""
        self.store = store or Store()
        self.live = live
        self.save_settings = save_settings
        loaded, self._config_problem = (config, None) if config is not None else load_config(self.settings_home)
        self.config = loaded
        self.sources: dict[str, DaemonSource] = {}
        self._dirty: set[str] = set()
        self._flush_pending = False
        self._last_states: dict[str, str] = {}
        self._held_keys: list[events.Key] = []
        self._holding_keys = False
        self.MODES = _screens()  # type: ignore[misc]
        super().__init__()
        for theme in THEMES:
            self.register_theme(theme)

    # -- lifecycle ---------------------------------------------------------------------------------

    def on_mount(self) -> None:
        self._apply_theme(self.config.theme)
        if self._config_problem:
            self.notify(self._config_problem, title="Settings", severity="warning")
        if self.live:
            from aitbc_tui.sources.registry import build_sources

            self.sources = build_sources(self.home, self.store, self.source_changed)
            for source in self.sources.values():
                if hasattr(source, "attach"):
                    source.attach(self.sources)
                self.run_worker(source.run(), name=f"source:{source.service}", group="sources",
                                exit_on_error=False)
            if self.fleet is None and self.rig is None:
                self.fleet = FleetMonitor.for_home(self.settings_home, self.source_changed)
                if self.fleet is not None:
                    self.fleet.start()
        self._last_states = {name: s.state for name, s in self.store.status.items()}
        self.switch_mode("dashboard")

    async def on_unmount(self) -> None:
        self.workers.cancel_group(self, "sources")
        if self.fleet is not None:
            self.fleet.stop()
        for source in self.sources.values():
            await source.aclose()

    # -- keys typed ahead of a dialog -----------------------------------------------------------------

    async def on_event(self, event: events.Event) -> None:
        """Keys typed right after an action key wait for the dialog it opens, never go astray.

        A terminal delivers fast typing in one burst. Textual hands each key to the focused
        widget and runs ordinary bindings only when the key has bubbled back to the app, after
        the next keys of the burst were already handed out; and an action opens its dialog from
        a worker, a moment later still. So on a section screen (outside a text field) the keys'
        bindings run here, in order, and after a key that started a worker, or while a dialog
        is mounting (``keys_ready`` False), the following keys are held and replayed in order
        once the dialog has focused its first field (``c`` then ``name<Tab>secret`` fills the
        Create wallet form; ``2`` in the name no longer switches to the Chain screen).
        """
        if not isinstance(event, events.Key) or event.is_forwarded:
            await super().on_event(event)
            return
        if self._holding_keys or self._held_keys or not self._screen_takes_keys():
            self._held_keys.append(event)
            return
        await self._handle_key(event)

    async def _handle_key(self, event: events.Key) -> None:
        from textual.widgets import Input, TextArea

        screen = self._visible_screen()
        if hasattr(screen, "action_leave_input") and not isinstance(self.focused, (Input, TextArea)):
            self.app_focus = True
            before = set(self.workers)
            if await self._check_bindings(event.key, priority=True) or await self._check_bindings(event.key):
                started = [worker for worker in self.workers if worker not in before]
                if started:  # an action started: it may be opening a dialog
                    self._holding_keys = True
                    self._hold_for(screen, started, KEY_HOLD_S)
                return
        await super().on_event(event)

    def _hold_for(self, screen: Screen[Any] | None, workers: list[Any], left_s: float) -> None:
        """Keep holding keys while ``workers`` run on ``screen`` (for at most ``left_s``)."""
        if left_s > 0 and self._visible_screen() is screen and any(w.is_running for w in workers):
            self.set_timer(0.02, partial(self._hold_for, screen, workers, left_s - 0.02))
        else:
            self.call_later(self.release_keys)

    def _screen_takes_keys(self) -> bool:
        return getattr(self._visible_screen(), "keys_ready", True) is not False

    async def release_keys(self) -> None:
        """Replay held keys in order while the top screen takes them (called by dialogs when ready)."""
        self._holding_keys = False
        while self._held_keys and not self._holding_keys and self._screen_takes_keys():
            await self._handle_key(self._held_keys.pop(0))

    # -- data flow ---------------------------------------------------------------------------------

    def source_changed(self, source: str) -> None:
        """Called by a source after it updated the store."""
        self.post_message(SourceChanged(source))

    def on_source_changed(self, message: SourceChanged) -> None:
        self._dirty.add(message.source)
        if not self._flush_pending:
            self._flush_pending = True
            self.set_timer(getattr(self._visible_screen(), "REPAINT_S", FLUSH_S), self._repaint)

    def _visible_screen(self) -> Screen[Any] | None:
        """The active screen, or None before the first screen is up (or after the last is gone)."""
        try:
            return self.screen
        except (ScreenStackError, KeyError):
            return None

    def _repaint(self) -> None:
        self._flush_pending = False
        changed, self._dirty = frozenset(self._dirty), set()
        self._announce_transitions()
        if self._visible_screen() is None:
            return
        for screen in self.screen_stack:
            refresh = getattr(screen, "refresh_data", None)
            if refresh is not None and screen.is_attached:
                refresh(changed)

    def _announce_transitions(self) -> None:
        """A toast when a daemon goes down or comes back (the banner stays while it is down)."""
        for name, status in self.store.status.items():
            before = self._last_states.get(name)
            if before == status.state:
                continue
            self._last_states[name] = status.state
            if status.state == "down" and before == "up":
                self.notify(status.message, title=f"{name} is down", severity="error", timeout=6)
            elif status.state == "up" and before == "down":
                self.notify(f"reconnected to the {name}", title=f"{name} is back", timeout=4)

    def status_of(self, daemon: str) -> SourceStatus:
        return self.store.status[daemon]

    def has_daemon(self, daemon: str) -> bool:
        """Whether this build can talk to ``daemon`` at all (its actions exist, even while it is down)."""
        if self.live:
            return daemon in self.sources
        return self.store.status[daemon].state != "absent"

    # -- actions -----------------------------------------------------------------------------------

    async def action_goto(self, mode: str) -> None:
        if isinstance(self._visible_screen(), ModalScreen):
            return  # a dialog is open: finish or cancel it first (its action is waiting for it)
        if mode in self.MODES and self.current_mode != mode:
            await self.switch_mode(mode)

    def action_fleet(self) -> None:
        """The Fleet screen (key F): every rig of HOME/rigs.toml."""
        from aitbc_tui.screens.fleet import FleetScreen

        if isinstance(self._visible_screen(), (ModalScreen, FleetScreen)):
            return
        if self.fleet is None:
            self.notify("no rigs yet: add one with `aitbc rig add NAME ssh://user@host --accept-new`",
                        title="Fleet", severity="warning")
            return
        self.push_screen(FleetScreen(self.fleet))
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "leave_input":  # only while a text field of a section screen has focus
            from textual.widgets import Input, TextArea

            return isinstance(self.focused, (Input, TextArea)) and hasattr(self.screen, "action_leave_input")
        return True

    def action_leave_input(self) -> None:
        self.screen.action_leave_input()  # type: ignore[attr-defined]

    def action_help(self) -> None:
        from aitbc_tui.screens.help import HelpScreen

        if self.screen.id != "help":
            self.push_screen(HelpScreen(self.screen))

    def action_toggle_theme(self) -> None:
        current = self.get_theme(self.theme)
        target = self.config.light_theme if current is not None and current.dark else self.config.dark_theme
        self._apply_theme(target)

    def _apply_theme(self, name: str) -> None:
        if self.get_theme(name) is None:
            self.notify(f"unknown theme {name!r}; using {DEFAULT_DARK}", title="Settings", severity="warning")
            name = DEFAULT_DARK
        self.theme = name

    def watch_theme(self, theme: str) -> None:
        """Remember the theme (toggle, palette or settings) in HOME/tui.toml."""
        if theme == self.config.theme:
            return
        chosen = self.get_theme(theme)
        update: dict[str, Any] = {"theme": theme}
        if chosen is not None:
            update["dark_theme" if chosen.dark else "light_theme"] = theme
        self.config = self.config.model_copy(update=update)
        self.persist_config()

    def persist_config(self) -> None:
        """Write ``self.config`` to HOME/tui.toml; a failure is a warning, never a crash."""
        if not self.save_settings:
            return
        try:
            save_config(self.settings_home, self.config)
        except OSError as exc:
            self.notify(f"could not save settings: {exc.strerror or exc}", title="Settings", severity="warning")

    # -- command palette ---------------------------------------------------------------------------

    def palette_commands(self) -> list[PaletteCommand]:
        commands = [PaletteCommand(f"Go to {label}", f"Show the {label} screen (key {i})",
                                   partial(self.action_goto, mode))
                    for i, (mode, label) in enumerate(SECTIONS, 1)]
        commands += [
            PaletteCommand("Toggle light/dark theme", "Switch theme; remembered in HOME/tui.toml (key t)",
                           self.action_toggle_theme),
            PaletteCommand("Fleet: every rig", "Rigs of HOME/rigs.toml over SSH, miner actions on many (key F)",
                           self.action_fleet),
            PaletteCommand("Help: keys and actions", "Every key binding (F1 or ?)", self.action_help),
            PaletteCommand("Quit", "Leave the console; daemons keep running (key q)", self.action_quit),
        ]
        for mode, factory in self.MODES.items():
            actions = getattr(factory, "palette_actions", None)
            if actions is None:
                continue
            for action in actions(self):
                commands.append(PaletteCommand(action.title, action.help,
                                               partial(self._run_screen_action, mode, action.action)))
        return commands

    async def _run_screen_action(self, mode: str, action: str) -> None:
        await self.action_goto(mode)
        await self.screen.run_action(action)

    def daemon_states(self) -> dict[str, str]:
        return {name: self.store.status[name].state for name in DAEMONS}

    def log_tail(self) -> LogTail | RemoteLogTail:
        """The daemons' logs: HOME/logs here, or the rig's through SSH."""
        if self.rig is not None:
            return RemoteLogTail(self.rig, self.settings_home)
        return LogTail(self.home.logs_dir)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="aitbc-tui", description=(
        "AITBC operator console: chain, jobs, wallets, staking, GPUs, logs and governance of the daemons in one home."))
    parser.add_argument("--home", type=Path, default=None,
                        help="Installation home (default: $AITBC_HOME, else ~/.aitbc).")
    parser.add_argument("--rig", default=None, metavar="NAME",
                        help="Attach to a remote rig registered with `aitbc rig add` (through SSH).")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        home = Home.resolve(args.home)
    except (ValueError, OSError) as exc:
        sys.stderr.write(f"aitbc-tui: invalid home: {exc}\n")
        raise SystemExit(2) from None
    if args.rig is None:
        AitbcApp(home).run()
        return
    from daemons.ops.rigs import RigError, find_rig
    from daemons.ops.rigs_ssh import RigTunnel

    try:
        rig = find_rig(home, args.rig)
        tunnel = RigTunnel(rig, home)
        tunnel.start()
    except RigError as exc:
        sys.stderr.write(f"aitbc-tui: {exc}\n")
        raise SystemExit(2) from None
    try:
        AitbcApp(tunnel.home, settings_home=home, rig=rig).run()
    finally:
        tunnel.stop()
