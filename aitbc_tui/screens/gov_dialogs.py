"""The Governance screen's forms: a new proposal (one set of fields per action) and a deposit.

Like every dialog they only collect and validate; the screen confirms and signs. The checks
here are the ones a typo would fail (an address, an amount, ``NAME=INTEGER``); the chain's own
rules (which parameter exists, whether the treasury can pay) answer through the wallet daemon.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Label, Select, Static

from chain.crypto import is_address

from aitbc_tui.format import ait, parse_amount
from aitbc_tui.screens.dialog_base import FormDialog
from aitbc_tui.screens.dialogs import amount_and_fee_fields, read_amount_and_fee
from aitbc_tui.widgets.panels import kv

ProposalKind = Literal["text", "param_change", "treasury_spend"]
PROPOSAL_KINDS: list[tuple[str, ProposalKind]] = [
    ("text: a signal, no on-chain effect", "text"),
    ("param-change: set chain parameters", "param_change"),
    ("treasury-spend: pay from the treasury", "treasury_spend"),
]


def parse_changes(text: str) -> dict[str, int]:
    """``'min_fee=20, quorum_bps=4000'`` -> ``{'min_fee': 20, 'quorum_bps': 4000}``; ValueError
    naming the bad item otherwise."""
    changes: dict[str, int] = {}
    for item in (part.strip() for part in text.replace("\n", ",").split(",")):
        if not item:
            continue
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip().lstrip("-").isdigit():
            raise ValueError(f"changes are NAME=INTEGER, not {item!r}")
        changes[name.strip()] = int(value)
    if not changes:
        raise ValueError("a param-change needs at least one NAME=INTEGER")
    return changes


def parse_fee(text: str) -> int:
    raw = text.strip()
    if not raw.isdigit():
        raise ValueError("the fee is a whole number of units")
    return int(raw)


class ProposalRequest(BaseModel):
    """A proposal as the wallet daemon's ``/v1/gov/propose`` takes it, plus the fee."""

    title: str
    description: str
    action: dict[str, Any]
    deposit: int
    fee: int

    def body(self) -> dict[str, Any]:
        return {"title": self.title, "description": self.description, "action": self.action, "deposit": self.deposit}


class ProposeDialog(FormDialog):
    """Title, description, deposit and the fields of the chosen action."""

    DIALOG_TITLE = "New proposal"
    OK_LABEL = "Review…"
    DEFAULT_CSS = """
    ProposeDialog .action-fields {
        height: auto;
    }
    """

    def __init__(self, wallet_name: str, wallet_address: str, available: int | None, min_deposit: int,
                 default_fee: int) -> None:
        super().__init__()
        self.wallet_name, self.wallet_address, self.available = wallet_name, wallet_address, available
        self.min_deposit, self.default_fee = min_deposit, default_fee

    def compose_form(self) -> ComposeResult:
        yield Static(kv([("From", f"{self.wallet_name} {self.wallet_address}"),
                         ("Available", ait(self.available) if self.available is not None else "unknown"),
                         ("Min. deposit", f"{ait(self.min_deposit)} (voting opens when reached)")]))
        yield Label("Action")
        yield Select(PROPOSAL_KINDS, value="text", allow_blank=False, id="kind", compact=True)
        yield Label("Title")
        yield Input(id="title", compact=True)
        yield Label("Description (why; shown to voters)")
        yield Input(id="description", compact=True)
        with Vertical(id="fields-param_change", classes="action-fields"):
            yield Label("Changes: NAME=INTEGER, comma separated")
            yield Input(id="changes", placeholder="min_fee=20", compact=True)
        with Vertical(id="fields-treasury_spend", classes="action-fields"):
            yield Label("Pay to address")
            yield Input(id="to", placeholder="0x + 40 hex digits", compact=True)
            yield Label("Amount (AIT)")
            yield Input(id="spend", compact=True)
        yield Label("Deposit now (AIT; others may add)")
        yield Input(id="deposit", value=ait(self.min_deposit, suffix=False).replace(",", ""), compact=True)
        yield Label("Fee (units)")
        yield Input(id="fee", value=str(self.default_fee), type="integer", compact=True)

    def on_mount(self) -> None:
        self._show_fields("text")

    @on(Select.Changed, "#kind")
    def _kind_changed(self, event: Select.Changed) -> None:
        self._show_fields(str(event.value))

    def _show_fields(self, kind: str) -> None:
        for fields in self.query(".action-fields"):
            fields.display = fields.id == f"fields-{kind}"

    def _action(self, kind: str) -> dict[str, Any]:
        if kind == "param_change":
            return {"kind": "param_change", "changes": parse_changes(self.value("changes"))}
        if kind == "treasury_spend":
            to = self.value("to").strip()
            if not is_address(to):
                raise ValueError("the recipient must be 0x followed by 40 lower-case hex digits")
            amount = parse_amount(self.value("spend"))
            if amount <= 0:
                raise ValueError("the amount to pay must be more than zero")
            return {"kind": "treasury_spend", "to": to, "amount": amount}
        return {"kind": "text"}

    def submit(self) -> None:
        title = self.value("title").strip()
        if not title:
            self.error("a proposal needs a title")
            return
        try:
            action = self._action(str(self.query_one("#kind", Select).value))
            deposit = parse_amount(self.value("deposit") or "0")
            fee = parse_fee(self.value("fee"))
        except ValueError as exc:
            self.error(str(exc))
            return
        if self.available is not None and deposit + fee > self.available:
            self.error(f"deposit plus fee ({ait(deposit + fee)}) is more than the available {ait(self.available)}")
            return
        self.dismiss(ProposalRequest(title=title, description=self.value("description").strip(), action=action,
                                     deposit=deposit, fee=fee))


class DepositRequest(BaseModel):
    amount: int
    fee: int


class DepositDialog(FormDialog):
    """Add to a proposal's deposit; offers what is still missing to open the vote."""

    OK_LABEL = "Review…"

    def __init__(self, proposal_label: str, wallet_name: str, available: int | None, missing: int,
                 default_fee: int) -> None:
        super().__init__()
        self.DIALOG_TITLE = "Deposit on " + proposal_label
        self.wallet_name, self.available, self.missing, self.default_fee = wallet_name, available, missing, default_fee

    def compose_form(self) -> ComposeResult:
        yield Static(kv([("From", self.wallet_name),
                         ("Available", ait(self.available) if self.available is not None else "unknown"),
                         ("Still needed", ait(self.missing) if self.missing else "none: voting is open")]))
        yield from amount_and_fee_fields(self.missing, self.default_fee)

    def submit(self) -> None:
        read = read_amount_and_fee(self)
        if read is None:
            return
        amount, fee = read
        if self.available is not None and amount + fee > self.available:
            self.error(f"amount plus fee ({ait(amount + fee)}) is more than the available {ait(self.available)}")
            return
        self.dismiss(DepositRequest(amount=amount, fee=fee))
