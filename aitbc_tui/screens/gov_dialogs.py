"""The Governance screen's forms: a new proposal (one set of fields per action) and a deposit.

Like every dialog they only collect and validate; the screen confirms and signs. The action is
built and checked by ``aitbc_tui.gov_actions``, the builder of ``aitbc gov propose``, so a typo
(an address, an amount, ``NAME=INTEGER``, a version) is refused with the CLI's sentence; the
chain's own rules (which parameter exists, whether the treasury can pay) answer through the
wallet daemon.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Label, Select, Static

from aitbc_tui.format import ait, parse_amount
from aitbc_tui.gov_actions import ActionError, ActionKind, build_action, split_list
from aitbc_tui.screens.dialog_base import FormDialog
from aitbc_tui.screens.dialogs import amount_and_fee_fields, read_amount_and_fee
from aitbc_tui.widgets.panels import kv

PROPOSAL_KINDS: list[tuple[str, ActionKind]] = [
    ("text: a signal, no on-chain effect", "text"),
    ("param-change: set chain parameters", "param_change"),
    ("treasury-spend: pay from the treasury", "treasury_spend"),
    ("coordinator-update: register/remove coordinators", "coordinator_update"),
    ("validator-update: add/remove validators", "validator_update"),
    ("software-upgrade: nodes older than a version stop", "software_upgrade"),
]
INPUTS: dict[ActionKind, dict[str, tuple[str, str, str]]] = {
    "param_change": {"set_": ("changes", "Changes: NAME=INTEGER, comma separated", "min_fee=20")},
    "treasury_spend": {"to": ("to", "Pay to address", "0x + 40 hex digits"),
                       "amount": ("spend", "Amount (AIT)", "")},
    "coordinator_update": {"add": ("coord-add", "Register coordinators (addresses, comma separated)", "0x…"),
                           "remove": ("coord-remove", "Remove coordinators (addresses, comma separated)", "0x…")},
    "validator_update": {"add_validator": ("val-add", "Add validators: ADDRESS:PUBKEY:COMMISSION_BPS:NAME, comma "
                                                      "separated", "0x…:64 hex:500:name"),
                         "remove": ("val-remove", "Remove validators (addresses, comma separated)", "0x…")},
    "software_upgrade": {"name": ("upgrade-name", "Upgrade name", "v0.2"),
                         "version": ("upgrade-version", "Minimum aitbc version (nodes below it stop)", "0.2.0"),
                         "height": ("upgrade-height", "At height", ""),
                         "protocol_version": ("upgrade-protocol", "New protocol version (optional)", "")},
}
"""Each action's inputs: the builder's field -> (input id, label, placeholder)."""
LISTS = {"set_", "add", "remove", "add_validator"}
"""Fields typed as a comma separated list (repeatable options in the CLI)."""
NAMES = {field: field.rstrip("_").replace("_", " ") for fields in INPUTS.values() for field in fields}
NAMES["set_"] = "changes"


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
        for kind, inputs in INPUTS.items():
            with Vertical(id=f"fields-{kind}", classes="action-fields"):
                for input_id, label, placeholder in inputs.values():
                    yield Label(label)
                    yield Input(id=input_id, placeholder=placeholder, compact=True)
        yield Label("Deposit now (AIT; others may add)")
        yield Input(id="deposit", value=ait(self.min_deposit, suffix=False).replace(",", ""), compact=True)
        yield Label("Fee (AIT, or units with a 'u' suffix)")
        yield Input(id="fee", value=ait(self.default_fee, full=True, suffix=False), compact=True)

    def on_mount(self) -> None:
        self._show_fields("text")

    @on(Select.Changed, "#kind")
    def _kind_changed(self, event: Select.Changed) -> None:
        self._show_fields(str(event.value))

    def _show_fields(self, kind: str) -> None:
        for fields in self.query(".action-fields"):
            fields.display = fields.id == f"fields-{kind}"

    def _action(self, kind: ActionKind) -> dict[str, Any]:
        """The chosen action through the builder ``aitbc gov propose`` uses; a bad field is
        focused, with the builder's sentence on the error line."""
        given: dict[str, Any] = {}
        for field, (input_id, _, _) in INPUTS.get(kind, {}).items():
            text = self.value(input_id)
            given[field] = split_list(text) if field in LISTS else text.strip()
        try:
            return build_action(kind, given, NAMES)
        except ActionError as exc:
            input_id = INPUTS.get(kind, {}).get(exc.field, ("",))[0]
            if input_id:
                self.query_one(f"#{input_id}", Input).focus()
            raise

    def submit(self) -> None:
        title = self.value("title").strip()
        if not title:
            self.error("a proposal needs a title")
            return
        try:
            action = self._action(self.query_one("#kind", Select).value)  # type: ignore[arg-type]
            deposit = parse_amount(self.value("deposit") or "0")
            fee = parse_amount(self.value("fee"))
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
