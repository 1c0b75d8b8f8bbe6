"""Modal dialogs: forms that collect what an action needs, and the confirmations before money moves.

Dialogs only collect and validate input; they return a pydantic model (secrets as ``SecretStr``,
so they never show up in a repr) and the screen that opened them performs the action in a
worker. A bad value is refused inside the dialog with a one-line reason and nothing is sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, SecretStr
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, Select, Static

from chain.crypto import is_address

from aitbc_tui.format import ait, parse_amount, short_addr
from aitbc_tui.screens.dialog_base import DialogScreen, FormDialog, new_password_fields
from aitbc_tui.widgets.overflow import OverflowHint
from aitbc_tui.widgets.panels import kv


# -- wallets --------------------------------------------------------------------------------------


class CreateWalletRequest(BaseModel):
    name: str | None
    password: SecretStr
    words: Literal[12, 24]


class CreateWalletDialog(FormDialog):
    DIALOG_TITLE = "Create wallet"
    OK_LABEL = "Create"

    def compose_form(self) -> ComposeResult:
        yield Label("Name (optional)")
        yield Input(placeholder="e.g. operator", id="name", max_length=64, compact=True)
        yield from new_password_fields("Password (encrypts the key file)")
        yield Label("Recovery phrase length")
        yield Select([("24 words", 24), ("12 words", 12)], value=24, allow_blank=False, id="words", compact=True)

    def submit(self) -> None:
        password = self.new_password()
        if password is None:
            return
        words = self.query_one("#words", Select).value
        self.dismiss(CreateWalletRequest(name=self.value("name").strip() or None, password=SecretStr(password),
                                         words=24 if words != 12 else 12))


class MnemonicDialog(DialogScreen[None]):
    """Shows a new wallet's recovery phrase exactly once; closing it forgets the words."""

    DEFAULT_CSS = """
    #mnemonic-words {
        grid-size: 4;
        grid-gutter: 0 1;
        height: auto;
        margin: 1 0;
    }
    .mnemonic-word {
        height: 1;
    }
    #mnemonic-warning {
        height: auto;
    }
    """

    BINDINGS = [Binding("escape", "noop", show=False)]

    def __init__(self, name: str, address: str, mnemonic: str, warning: str) -> None:
        super().__init__()
        self._name, self._address, self._warning = name, address, warning
        self._words = mnemonic.split()

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="mnemonic-box") as box:
            box.border_title = "Recovery phrase — shown once"
            yield Static(kv([("Wallet", self._name), ("Address", self._address)]))
            with Grid(id="mnemonic-words"):
                for index, word in enumerate(self._words, start=1):
                    yield Static(f"{index:>2}. {word}", classes="mnemonic-word")
            yield Static(Text(self._warning, style="bold yellow"), id="mnemonic-warning")
            with Horizontal(classes="dialog-buttons"):
                yield Button("I have written it down", variant="warning", id="done")

    def action_noop(self) -> None:
        """Escape does nothing here: leaving must be a deliberate press of the button."""

    @on(Button.Pressed, "#done")
    def _done(self) -> None:
        self._words = []
        for widget in self.query(".mnemonic-word"):
            widget.remove()
        self.dismiss(None)


class ImportWalletRequest(BaseModel):
    name: str | None
    kind: Literal["mnemonic", "private_key"]
    secret: SecretStr
    password: SecretStr


class ImportWalletDialog(FormDialog):
    DIALOG_TITLE = "Import wallet"
    OK_LABEL = "Import"

    def compose_form(self) -> ComposeResult:
        yield Label("Name (optional)")
        yield Input(id="name", max_length=64, compact=True)
        yield Label("Import from")
        yield Select([("Recovery phrase (12 or 24 words)", "mnemonic"), ("Private key (64 hex digits)", "private_key")],
                     value="mnemonic", allow_blank=False, id="kind", compact=True)
        yield Label("Recovery phrase or private key")
        yield Input(password=True, id="secret", compact=True)
        yield from new_password_fields("New password (encrypts the key file)")

    def submit(self) -> None:
        kind = self.query_one("#kind", Select).value
        secret = " ".join(self.value("secret").split())
        if not secret:
            self.error("enter the recovery phrase or the private key")
            return
        if kind == "mnemonic" and len(secret.split()) not in (12, 15, 18, 21, 24):
            self.error(f"a recovery phrase has 12 to 24 words, this has {len(secret.split())}")
            return
        if kind == "private_key" and (len(secret) != 64 or any(c not in "0123456789abcdef" for c in secret.lower())):
            self.error("a private key is 64 hex digits")
            return
        password = self.new_password()
        if password is None:
            return
        self.dismiss(ImportWalletRequest(name=self.value("name").strip() or None,
                                         kind="private_key" if kind == "private_key" else "mnemonic",
                                         secret=SecretStr(secret), password=SecretStr(password)))


class UnlockRequest(BaseModel):
    password: SecretStr
    timeout_s: float | None


class UnlockDialog(FormDialog):
    DIALOG_TITLE = "Unlock wallet"
    OK_LABEL = "Unlock"

    def __init__(self, wallet_name: str, default_timeout_s: float) -> None:
        super().__init__()
        self.wallet_name, self.default_timeout_s = wallet_name, default_timeout_s

    def compose_form(self) -> ComposeResult:
        yield Static(kv([("Wallet", self.wallet_name)]))
        yield Label("Password")
        yield Input(password=True, id="password", compact=True)
        yield Label(f"Lock again after idle seconds (empty: daemon default {self.default_timeout_s:g}, 0: never)")
        yield Input(id="timeout", type="number", compact=True)

    def submit(self) -> None:
        password = self.value("password")
        if not password:
            self.error("enter the wallet's password")
            return
        raw = self.value("timeout").strip()
        try:
            timeout = float(raw) if raw else None
        except ValueError:
            self.error("the timeout is a number of seconds")
            return
        if timeout is not None and timeout < 0:
            self.error("the timeout cannot be negative")
            return
        self.dismiss(UnlockRequest(password=SecretStr(password), timeout_s=timeout))


# -- transactions ---------------------------------------------------------------------------------


class TransferRequest(BaseModel):
    """Send or stake: what the operator asked for, before confirmation."""

    kind: Literal["send", "delegate", "unbond", "escrow"]
    wallet: str
    target: str
    amount: int
    fee: int


def amount_and_fee_fields(amount: int | None, fee: int) -> ComposeResult:
    """The ``#amount`` and ``#fee`` inputs of a form that moves funds, both in AIT (a fee is an
    amount like any other; units only when typed with a ``u`` suffix)."""
    yield Label("Amount (AIT, up to 6 decimals, or units with a 'u' suffix)")
    initial = ait(amount, full=True, suffix=False).replace(",", "") if amount else ""
    yield Input(id="amount", value=initial, compact=True)
    yield Label("Fee (AIT, or units with a 'u' suffix)")
    yield Input(id="fee", value=ait(fee, full=True, suffix=False), compact=True)


def read_amount_and_fee(dialog: FormDialog) -> tuple[int, int] | None:
    """The amount (more than zero) and fee typed in :func:`amount_and_fee_fields`, or None after
    showing what is wrong."""
    try:
        amount = parse_amount(dialog.value("amount"))
    except ValueError as exc:
        dialog.error(str(exc))
        return None
    if amount <= 0:
        dialog.error("the amount must be more than zero")
        return None
    try:
        fee = parse_amount(dialog.value("fee"))
    except ValueError as exc:
        dialog.error(f"fee: {exc}")
        return None
    return amount, fee


class WalletChoice(BaseModel):
    """A wallet a transfer form offers as its sender: name, address, what it can spend, and the
    addresses it recently sent funds to (newest first, from the wallet daemon's history)."""

    name: str
    address: str
    available: int | None
    recent: list[str] = []


class TransferDialog(FormDialog):
    """Send funds, delegate or unbond: sender, target, amount, fee.

    With ``wallets`` the sender is picked in the form (the highlighted wallet preselected), and a
    send offers the other wallets and then the sender's recent recipients beside the address
    field, so moving funds between one's own wallets, or paying someone again, needs no typed
    address (typing one still works). Focus starts on the first field still to fill (the amount
    when the validator is already chosen), so typing right away never lands in a picker."""

    OK_LABEL = "Review…"

    def __init__(self, kind: Literal["send", "delegate", "unbond", "escrow"], wallet_name: str, wallet_address: str,
                 available: int | None, default_fee: int, targets: Sequence[tuple[str, str]] = (),
                 target: str | None = None, amount: int | None = None,
                 wallets: Sequence[WalletChoice] = (), escrowed: int | None = None) -> None:
        super().__init__()
        self.escrowed = escrowed
        """(escrow) What this wallet already holds in escrow for the coordinator; None: unknown."""
        self.kind, self.wallet_name, self.wallet_address = kind, wallet_name, wallet_address
        self.available, self.default_fee = available, default_fee
        self.targets, self.initial_target, self.initial_amount = list(targets), target, amount
        self.wallets = {w.address: w for w in wallets}
        self.DIALOG_TITLE = {"send": "Send funds", "delegate": "Delegate stake", "unbond": "Unbond stake",
                             "escrow": "Escrow for the coordinator"}[kind]

    def _available_text(self) -> Text:
        what = "Available" if self.kind != "unbond" else "Bonded"
        shown = ait(self.available, full=True) if self.available is not None else "unknown (node not connected)"
        return kv([(what, shown)])

    def _recipients(self, sender: str) -> list[tuple[str, str]]:
        own = [(f"{w.name} {short_addr(w.address)}", w.address) for w in self.wallets.values() if w.address != sender]
        chosen = self.wallets.get(sender)
        recent = [(f"recent {short_addr(address)}", address) for address in (chosen.recent if chosen else [])
                  if address not in self.wallets]
        return own + recent

    def compose_form(self) -> ComposeResult:
        if len(self.wallets) > 1:
            yield Label("From wallet")
            yield Select([(f"{w.name} {short_addr(w.address)}", w.address) for w in self.wallets.values()],
                         value=self.wallet_address, allow_blank=False, id="wallet", compact=True)
        else:
            yield Static(kv([("From", f"{self.wallet_name} {self.wallet_address}")]))
        yield Static(self._available_text(), id="available")
        if self.kind == "escrow":
            held = ait(self.escrowed, full=True) if self.escrowed is not None else "unknown (node not connected)"
            yield Static(kv([("Coordinator", self.initial_target or "-"), ("Already escrowed", held)]))
        if self.kind == "send":
            yield Label("To address")
            yield Input(placeholder="0x + 40 hex digits", id="target", value=self.initial_target or "", compact=True)
            choices = self._recipients(self.wallet_address)
            if choices:
                recent = any(w.recent for w in self.wallets.values())
                prompt = "or pick one of your wallets" + (" or a recent recipient" if recent else "")
                yield Select(choices, prompt=prompt, id="recipient", compact=True)
        elif self.kind in ("delegate", "unbond"):
            yield Label("Validator")
            yield Select(self.targets, value=self.initial_target if self.initial_target else Select.NULL,
                         id="target-select", prompt="choose a validator", compact=True)
        yield from amount_and_fee_fields(self.initial_amount, self.default_fee)

    def on_mount(self) -> None:
        if self.kind == "send" and not self.initial_target:
            first = "#target"
        elif self.kind in ("delegate", "unbond") and not self.initial_target:
            first = "#target-select"
        else:
            first = "#amount"
        self.query_one(first).focus()

    @on(Select.Changed, "#wallet")
    def _wallet_changed(self, event: Select.Changed) -> None:
        chosen = self.wallets.get(str(event.value))
        if chosen is None or chosen.address == self.wallet_address:
            return
        self.wallet_name, self.wallet_address, self.available = chosen.name, chosen.address, chosen.available
        self.query_one("#available", Static).update(self._available_text())
        if self.kind == "send" and self.query("#recipient"):
            self.query_one("#recipient", Select).set_options(self._recipients(chosen.address))

    @on(Select.Changed, "#recipient")
    def _recipient_picked(self, event: Select.Changed) -> None:
        if event.value is not Select.NULL:
            self.query_one("#target", Input).value = str(event.value)

    def submit(self) -> None:
        if self.kind == "escrow":
            target = self.initial_target or ""
        elif self.kind == "send":
            target = self.value("target").strip()
            if not is_address(target):
                self.error("the recipient must be 0x followed by 40 lower-case hex digits")
                return
        else:
            choice = self.query_one("#target-select", Select).value
            if choice is Select.NULL:
                self.error("choose a validator")
                return
            target = str(choice)
        read = read_amount_and_fee(self)
        if read is None:
            return
        amount, fee = read
        if self.available is not None:
            need = amount + fee if self.kind != "unbond" else amount
            if self.kind != "unbond" and need > self.available:
                self.error(f"amount plus fee ({ait(need, full=True)}) is more than the available {ait(self.available, full=True)}")
                return
            if self.kind == "unbond" and amount > self.available:
                self.error(f"only {ait(self.available, full=True)} is bonded")
                return
        self.dismiss(TransferRequest(kind=self.kind, wallet=self.wallet_address, target=target, amount=amount, fee=fee))


class Confirmation(BaseModel):
    password: SecretStr | None


class ConfirmDialog(FormDialog):
    """The last look before signing: every number that matters, and the password if needed."""

    OK_VARIANT = "warning"

    def __init__(self, title: str, rows: Sequence[tuple[str, str | Text]], needs_password: bool,
                 confirm_label: str = "Confirm") -> None:
        super().__init__()
        self.DIALOG_TITLE = title
        self.rows, self.needs_password, self.OK_LABEL = list(rows), needs_password, confirm_label

    def compose_form(self) -> ComposeResult:
        yield Static(kv(self.rows), id="confirm-summary")
        if self.needs_password:
            yield Label("The wallet is locked: its password signs this one transaction")
            yield Input(password=True, id="password", compact=True)

    def submit(self) -> None:
        password: SecretStr | None = None
        if self.needs_password:
            raw = self.value("password")
            if not raw:
                self.error("enter the wallet's password (or unlock the wallet first)")
                return
            password = SecretStr(raw)
        self.dismiss(Confirmation(password=password))


def transfer_summary(request: TransferRequest, wallet_name: str, balance: int | None,
                     target_label: str | None = None) -> list[tuple[str, str | Text]]:
    """The rows a confirmation shows: amount, fee, total and what is left afterwards."""
    rows: list[tuple[str, str | Text]] = [("From", f"{wallet_name} {request.wallet}")]
    label = {"send": "To", "delegate": "Validator", "unbond": "Validator", "escrow": "Coordinator"}[request.kind]
    rows.append((label, request.target + (f" ({target_label})" if target_label else "")))
    rows.append(("Amount", Text(ait(request.amount, full=True), style="bold")))
    rows.append(("Fee", f"{ait(request.fee, full=True)}"))
    if request.kind == "unbond":
        rows.append(("Total cost", Text(ait(request.fee, full=True), style="bold")))
        rows.append(("Note", "unbonded funds return after the unbonding period"))
        if balance is not None:
            rows.append(("Balance after", ait(balance - request.fee, full=True)))
    else:
        total = request.amount + request.fee
        rows.append(("Total", Text(ait(total, full=True), style="bold")))
        if balance is not None:
            rows.append(("Balance after", ait(balance - total, full=True)))
    return rows


class PickDialog(FormDialog):
    """Choose one of a few options (e.g. which wallet signs)."""

    def __init__(self, title: str, prompt: str, options: Sequence[tuple[str, str]]) -> None:
        super().__init__()
        self.DIALOG_TITLE, self.prompt, self.options = title, prompt, list(options)

    def compose_form(self) -> ComposeResult:
        yield Label(self.prompt)
        yield Select(self.options, value=self.options[0][1] if self.options else Select.NULL, allow_blank=False,
                     id="choice", compact=True)

    def submit(self) -> None:
        choice = self.query_one("#choice", Select).value
        if choice is Select.NULL:
            self.error("choose one")
            return
        self.dismiss(str(choice))


# -- jobs -----------------------------------------------------------------------------------------


class JobRequestForm(BaseModel):
    """A job as the operator described it (the coordinator validates it again)."""

    client: str
    model: str
    prompt: str
    max_tokens: int
    temperature_milli: int
    seed: int
    max_price: int | None


def _milli(text: str) -> int:
    """'0.7' -> 700 exactly (canonical JSON forbids floats, so parameters are integers)."""
    raw = text.strip() or "0"
    whole, _, frac = raw.partition(".")
    if not whole.isdigit() and whole != "" or (frac and not frac.isdigit()) or len(frac) > 3:
        raise ValueError(f"invalid number {text!r}: use e.g. 0.7 (at most 3 decimals)")
    return int(whole or "0") * 1000 + int((frac or "0").ljust(3, "0"))


class JobDialog(FormDialog):
    """Submit a job: who pays (a client address with escrow), which model (from the served list), prompt."""

    DIALOG_TITLE = "Submit a job"
    OK_LABEL = "Submit"
    DEFAULT_CSS = """
    .dialog-row {
        height: auto;
    }
    .dialog-row Vertical {
        height: auto;
        width: 1fr;
        margin-right: 1;
    }
    """

    def __init__(self, clients: Sequence[tuple[str, str]], models: Sequence[tuple[str, str]]) -> None:
        super().__init__()
        self.clients, self.models = list(clients), list(models)

    def compose_form(self) -> ComposeResult:
        yield Label("Client (pays from its escrow with this coordinator)")
        if self.clients:
            yield Select(self.clients, value=self.clients[0][1], allow_blank=False, id="client", compact=True)
        else:
            yield Input(placeholder="0x + 40 hex digits", id="client-address", compact=True)
        yield Label("Model (served by live miners now)")
        yield Select(self.models, value=self.models[0][1] if self.models else Select.NULL, id="model",
                     prompt="no model is served right now", compact=True)
        yield Label("Prompt")
        yield Input(id="prompt", placeholder="What is the capital of France?", compact=True)
        with Horizontal(classes="dialog-row"):
            with Vertical():
                yield Label("Max tokens")
                yield Input("64", id="max-tokens", type="integer", compact=True)
            with Vertical():
                yield Label("Temperature")
                yield Input("0", id="temperature", compact=True)
            with Vertical():
                yield Label("Seed")
                yield Input("0", id="seed", type="integer", compact=True)
        yield Label("Max price (AIT; empty: the coordinator's default)")
        yield Input(id="max-price", compact=True)

    def submit(self) -> None:
        if self.clients:
            client = str(self.query_one("#client", Select).value)
        else:
            client = self.value("client-address").strip()
        if not is_address(client):
            self.error("the client must be 0x followed by 40 lower-case hex digits")
            return
        model = self.query_one("#model", Select).value
        if model is Select.NULL:
            self.error("no live miner serves a model: nothing can run this job now")
            return
        prompt = self.value("prompt").strip()
        if not prompt:
            self.error("the prompt is empty")
            return
        raw_tokens, raw_seed = self.value("max-tokens").strip(), self.value("seed").strip()
        if not raw_tokens.isdigit() or not 1 <= int(raw_tokens) <= 1_000_000:
            self.error("max tokens is a whole number from 1")
            return
        if not raw_seed.isdigit():
            self.error("the seed is a whole number")
            return
        try:
            temperature = _milli(self.value("temperature"))
            raw_price = self.value("max-price").strip()
            max_price = parse_amount(raw_price) if raw_price else None
        except ValueError as exc:
            self.error(str(exc))
            return
        if temperature > 5000:
            self.error("the temperature is at most 5")
            return
        self.dismiss(JobRequestForm(client=client, model=str(model), prompt=prompt, max_tokens=int(raw_tokens),
                                    temperature_milli=temperature, seed=int(raw_seed), max_price=max_price))


class InfoDialog(DialogScreen[None]):
    """A read-only report (e.g. a receipt and its verification); any close key dismisses it."""

    DEFAULT_CSS = """
    .info-dialog {
        width: 110;
    }
    .info-dialog.-valid {
        border: thick $success;
    }
    .info-dialog.-invalid {
        border: thick $error;
    }
    #info-scroll {
        height: auto;
        max-height: 100%;
    }
    #info-body {
        height: auto;
    }
    """

    BINDINGS = [Binding("escape,enter,q", "close", "Close")]

    def __init__(self, title: str, body: Text, *, ok: bool | None = None) -> None:
        super().__init__()
        self.title_text, self.body, self.ok = title, body, ok

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog info-dialog") as box:
            box.border_title = self.title_text
            if self.ok is not None:
                box.add_class("-valid" if self.ok else "-invalid")
            with VerticalScroll(id="info-scroll"):
                yield Static(self.body, id="info-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close", variant="primary", id="close")

    def on_mount(self) -> None:
        # a long receipt or proposal scrolls inside the box: its bottom border says so
        self.hint = OverflowHint(self.query_one("#info-scroll"), self.query_one(".info-dialog"))
        self.hint.attach()

    def action_close(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#close")
    def _close(self) -> None:
        self.dismiss(None)
