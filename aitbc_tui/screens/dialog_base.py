"""What every dialog shares: the centered box and its look (:class:`DialogScreen`), and the form
with an error line, OK / Cancel and Enter to submit (:class:`FormDialog`).

The concrete dialogs are in :mod:`aitbc_tui.screens.dialogs`.
"""

from __future__ import annotations

from typing import TypeVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static
from textual.widgets.button import ButtonVariant

from aitbc_tui.widgets.footer import KeyFooter

ResultT = TypeVar("ResultT")


class DialogScreen(ModalScreen[ResultT]):
    """The look every dialog shares: a centered, bordered box with its buttons at the right.

    ``keys_ready`` stays False until the dialog is on screen with its first field focused; the
    app holds keys typed meanwhile and replays them then (fast typing lands in the fields)."""

    keys_ready = False

    DEFAULT_CSS = """
    DialogScreen {
        align: center middle;
    }
    .dialog {
        width: 76;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: thick $accent;
        background: $surface;
        padding: 0 1;
        overflow-y: auto;
    }
    .dialog Label {
        margin-top: 0;
        color: $text-muted;
    }
    .dialog Input, .dialog Select {
        margin: 0;
    }
    .dialog-error {
        height: auto;
    }
    .dialog-buttons {
        height: auto;
        align-horizontal: right;
    }
    .dialog-buttons Button {
        margin-left: 1;
    }
    """

    def on_mount(self) -> None:
        self.call_after_refresh(self._take_keys)

    async def _take_keys(self) -> None:
        self.keys_ready = True
        release = getattr(self.app, "release_keys", None)
        if release is not None:
            await release()


class FormDialog(DialogScreen[object]):
    """Centered box with a title, a body, an error line and buttons; Escape cancels.

    Its footer shows the form's own keys (Enter submits with the OK button's label, Tab moves to
    the next field, Esc cancels) instead of the screen's keys behind it. Tab and Shift+Tab are
    priority bindings: the app runs them before it hands the next key to the focused field, so
    ``name<Tab>secret`` typed in one burst puts ``secret`` in the second field, not in the first
    (an ordinary binding only runs once the Tab has bubbled back up, after the next keys)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"),
                Binding("tab", "app.focus_next", "Next field", priority=True),
                Binding("shift+tab", "app.focus_previous", "Previous field", show=False, priority=True)]
    DIALOG_TITLE = ""
    OK_LABEL = "OK"
    OK_VARIANT: ButtonVariant = "primary"

    def compose(self) -> ComposeResult:
        # bound here, not in BINDINGS, so the hint says what Enter does (Send, Create, Review)
        self._bindings.bind("enter", "submit", self.OK_LABEL.rstrip("…"), key_display="⏎")
        with Vertical(classes="dialog") as box:
            box.border_title = self.DIALOG_TITLE
            yield from self.compose_form()
            yield Static("", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield from self.compose_buttons()
        yield KeyFooter()

    def action_submit(self) -> None:
        self.submit()

    def compose_form(self) -> ComposeResult:
        yield from ()

    def compose_buttons(self) -> ComposeResult:
        yield Button(self.OK_LABEL, variant=self.OK_VARIANT, id="ok")
        yield Button("Cancel", id="cancel")

    def error(self, message: str) -> None:
        self.query_one(".dialog-error", Static).update(Text(message, style="bold red"))

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        self.submit()

    @on(Input.Submitted)
    def _enter(self) -> None:
        self.submit()

    def submit(self) -> None:
        self.dismiss(True)

    def value(self, widget_id: str) -> str:
        return self.query_one(f"#{widget_id}", Input).value

    def new_password(self) -> str | None:
        """The new password typed twice (``#password``, ``#password2``), or None after saying
        what is wrong with it."""
        password = self.value("password")
        if not password:
            self.error("a password is required")
            return None
        if password != self.value("password2"):
            self.error("the passwords differ")
            return None
        return password


def new_password_fields(label: str) -> ComposeResult:
    """The two inputs :meth:`FormDialog.new_password` reads, under ``label``."""
    yield Label(label)
    yield Input(password=True, id="password", compact=True)
    yield Label("Repeat password")
    yield Input(password=True, id="password2", compact=True)
