"""Logs: the daemons' JSON logs from ``HOME/logs``, filtered by level, service and text.

The files are read only while this screen is shown (once a second while following), in a
worker thread, so a large log never stalls the console.
"""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.timer import Timer
from textual.widgets import Checkbox, Input, RichLog, Select

from aitbc_tui.screens.base import ScreenKey, SectionScreen
from aitbc_tui.sources.logs import LEVELS, LogLine, LogTail
from aitbc_tui.sources.rig_logs import RemoteLogTail
from aitbc_tui.widgets.overflow import OverflowHint

FOLLOW_EVERY_S = 1.0
SHOWN_LINES = 2000
_LEVEL_STYLE = {"debug": "dim", "info": "", "warning": "yellow", "error": "bold red", "critical": "bold red"}


def format_line(line: LogLine, wrap: bool = False) -> Text:
    text = Text(no_wrap=not wrap)
    text.append(f"{line.clock:<12} ", style="dim")
    text.append(f"{line.level.upper():<7.7} ", style=_LEVEL_STYLE.get(line.level, ""))
    text.append(f"{line.service:<11.11} ", style="cyan")
    text.append(line.msg, style=_LEVEL_STYLE.get(line.level, ""))
    for key, value in line.extra.items():
        text.append(f" {key}=", style="dim")
        text.append(str(value))
    return text


class FollowBox(Checkbox):
    """The Follow checkbox as ``[X] Follow``: Textual's half-block sides (``▐X▌``) drew a stray
    ``▌`` at the end of the controls on dark themes, where the left half disappears."""

    BUTTON_LEFT = "["
    BUTTON_RIGHT = "]"


class LogsScreen(SectionScreen):
    SECTION = "logs"
    DEFAULT_CSS = """
    #log-controls {
        height: 1;
        margin: 0 1;
    }
    #log-level {
        width: 14;
    }
    #log-service {
        width: 20;
        margin-left: 1;
    }
    #log-filter {
        width: 1fr;
        margin-left: 1;
    }
    #log-follow {
        width: auto;
        margin-left: 1;
    }
    #log-view {
        height: 1fr;
        width: 1fr;
    }
    """
    AUTO_FOCUS = "#log-view"
    KEYS = (
        ScreenKey("f", "toggle_follow", "Follow",
                  palette=("Logs: toggle follow", "Pause or resume following the log files")),
        ScreenKey("l", "cycle_level", "Level", palette=("Logs: next level", "Cycle the minimum level shown")),
        ScreenKey("s", "cycle_service", "Service"),
        ScreenKey("slash", "focus_filter", "Filter", palette=("Logs: filter", "Filter the log by text"), key_display="/"),
        ScreenKey("w", "toggle_wrap", "Wrap"),
    )

    tail: LogTail | RemoteLogTail

    def __init__(self) -> None:
        super().__init__()
        self._timer: Timer | None = None
        self._services: list[str] = []
        self._hint: OverflowHint | None = None

    def compose_body(self) -> ComposeResult:
        self.tail = self.aitbc.log_tail()
        config = self.aitbc.config
        with Horizontal(id="log-controls"):
            yield Select([(name, name) for name in LEVELS], value=config.log_level, allow_blank=False,
                         id="log-level", compact=True)
            yield Select([], prompt="all services", id="log-service", compact=True)
            yield Input(placeholder="filter text (/)", id="log-filter", compact=True)
            yield FollowBox("Follow", value=config.log_follow, id="log-follow", compact=True)
        log = RichLog(id="log-view", max_lines=SHOWN_LINES, wrap=False, markup=False, auto_scroll=True)
        log.border_title = f"rig {self.aitbc.rig.name}: {self.tail.directory}" if self.aitbc.rig else "HOME/logs"
        yield log

    # -- lifecycle: read only while visible --------------------------------------------------------

    def on_mount(self) -> None:
        self._hint = OverflowHint(self.query_one("#log-view", RichLog))
        self._hint.attach()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        self.read_more()
        if self._timer is None:
            self._timer = self.set_interval(FOLLOW_EVERY_S, self.read_more, pause=not self.following)
        elif self.following:
            self._timer.resume()

    def on_screen_suspend(self) -> None:
        if self._timer is not None:
            self._timer.pause()

    def on_unmount(self) -> None:
        if isinstance(self.tail, RemoteLogTail):
            self.tail.close()

    @property
    def following(self) -> bool:
        return self.query_one("#log-follow", Checkbox).value

    @work(exclusive=True, group="log-read")
    async def read_more(self) -> None:
        fresh = await asyncio.to_thread(self.tail.poll)
        self._update_services()
        if fresh:
            view = self.query_one("#log-view", RichLog)
            level, service, needle = self._filters()
            for line in fresh[-SHOWN_LINES:]:
                if line.matches(level, service, needle):
                    view.write(format_line(line, view.wrap))
        self._update_subtitle()

    def _filters(self) -> tuple[str, str | None, str]:
        level = self.query_one("#log-level", Select).value
        service = self.query_one("#log-service", Select).value
        needle = self.query_one("#log-filter", Input).value.strip()
        return (str(level) if level != Select.NULL else "debug",
                str(service) if service != Select.NULL else None, needle)

    def _update_services(self) -> None:
        services = self.tail.services
        if services != self._services:
            self._services = services
            select = self.query_one("#log-service", Select)
            current = select.value
            select.set_options([(s, s) for s in services])
            if current in services:
                select.value = current

    def _update_subtitle(self) -> None:
        state = "following" if self.following else "paused"
        if self._hint is not None:
            self._hint.set_note(f"{len(self.tail.lines):,} records · {state}")

    def rerender(self) -> None:
        view = self.query_one("#log-view", RichLog)
        view.clear()
        level, service, needle = self._filters()
        matching = [line for line in self.tail.lines if line.matches(level, service, needle)]
        for line in matching[-SHOWN_LINES:]:
            view.write(format_line(line, view.wrap))
        self._update_subtitle()

    # -- controls ----------------------------------------------------------------------------------

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "log-level":
            self._save(log_level=str(event.value))
        self.rerender()

    @on(Input.Changed, "#log-filter")
    def _filter_changed(self) -> None:
        self.rerender()

    @on(Checkbox.Changed, "#log-follow")
    def _follow_changed(self, event: Checkbox.Changed) -> None:
        view = self.query_one("#log-view", RichLog)
        view.auto_scroll = event.value
        if self._timer is not None:
            if event.value:
                self._timer.resume()
                self.read_more()
                view.scroll_end(animate=False)
            else:
                self._timer.pause()
        self._save(log_follow=event.value)
        self._update_subtitle()

    def _save(self, **changes: object) -> None:
        app = self.aitbc
        updated = app.config.model_copy(update=changes)
        if updated != app.config:
            app.config = updated
            app.persist_config()

    def action_toggle_follow(self) -> None:
        box = self.query_one("#log-follow", Checkbox)
        box.value = not box.value

    def action_cycle_level(self) -> None:
        select = self.query_one("#log-level", Select)
        names = list(LEVELS)
        current = str(select.value) if select.value in names else "info"
        select.value = names[(names.index(current) + 1) % len(names)]

    def action_cycle_service(self) -> None:
        select = self.query_one("#log-service", Select)
        choices: list[object] = [Select.NULL, *self._services]
        current = select.value if select.value in choices else Select.NULL
        select.value = choices[(choices.index(current) + 1) % len(choices)]  # type: ignore[assignment]

    def action_toggle_wrap(self) -> None:
        """Long lines wrapped in full, or one line each (cut at the edge, the default)."""
        view = self.query_one("#log-view", RichLog)
        view.wrap = not view.wrap
        self.rerender()

    def action_focus_filter(self) -> None:
        self.query_one("#log-filter", Input).focus()
