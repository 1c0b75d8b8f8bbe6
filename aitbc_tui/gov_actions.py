"""A governance proposal's action from the fields a person typed: the one builder behind both
``aitbc gov propose KIND`` (its options) and the TUI's propose dialog (its inputs).

Both front ends give the same raw strings (lists for repeatable options), so both refuse the
same typos with the same sentence, before anything is signed. Each refusal is an
``ActionError`` naming the field it is about, so the CLI can name its flag and the dialog its
input. The result is finally checked against the chain's own action model (``chain.tx``), so
what passes here has the shape the chain accepts; the chain's state rules (which parameter
exists, whether the treasury can pay) still answer through the wallet daemon.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError

from chain.crypto import address_from_pubkey, is_address
from chain.tx import ProposalAction

from aitbc_tui.format import parse_amount

ActionKind = Literal["text", "param_change", "treasury_spend", "coordinator_update", "validator_update",
                     "software_upgrade"]
FIELDS: dict[ActionKind, tuple[str, ...]] = {
    "text": (),
    "param_change": ("set_",),
    "treasury_spend": ("to", "amount"),
    "coordinator_update": ("add", "remove"),
    "validator_update": ("add_validator", "remove"),
    "software_upgrade": ("name", "version", "height", "protocol_version"),
}
"""The fields each action takes; any other one given is refused (a typo must not turn into a
different proposal)."""
REQUIRED: dict[ActionKind, tuple[str, ...]] = {
    "param_change": ("set_",), "treasury_spend": ("to", "amount"), "software_upgrade": ("name", "version", "height"),
}
AT_LEAST_ONE: dict[ActionKind, tuple[str, ...]] = {
    "coordinator_update": ("add", "remove"), "validator_update": ("add_validator", "remove"),
}
"""A set change that changes nothing is refused: it would only cost a deposit and a vote."""
_VERSION = re.compile(r"^[0-9]{1,6}(\.[0-9]{1,6}){1,3}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_ACTION = TypeAdapter(ProposalAction)


class ActionError(ValueError):
    """A field of the action is missing, stray or malformed; ``field`` is its key in ``FIELDS``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _given(value: Any) -> bool:
    return value not in (None, "", [], ())


def split_list(text: str) -> list[str]:
    """``'0xa, 0xb\\n0xc'`` -> ``['0xa', '0xb', '0xc']``: a typed list of addresses or entries."""
    return [item.strip() for item in text.replace("\n", ",").split(",") if item.strip()]


def parse_changes(items: Sequence[str]) -> dict[str, int]:
    """``['min_fee=20', 'quorum_bps = 4000']`` -> ``{'min_fee': 20, 'quorum_bps': 4000}``."""
    changes: dict[str, int] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip().lstrip("-").isdigit():
            raise ActionError("set_", f"changes are NAME=INTEGER, not {item!r}")
        changes[name.strip()] = int(value)
    if not changes:
        raise ActionError("set_", "a param-change needs at least one NAME=INTEGER")
    return changes


def _addresses(field: str, items: Sequence[str], what: str) -> list[str]:
    for item in items:
        if not is_address(item):
            raise ActionError(field, f"{what} must be 0x followed by 40 lower-case hex digits, not {item!r}")
    return list(items)


def _new_validator(item: str) -> dict[str, Any]:
    parts = item.split(":", 3)
    if len(parts) != 4:
        raise ActionError("add_validator", f"a new validator is ADDRESS:PUBKEY:COMMISSION_BPS:NAME, not {item!r}")
    address, pubkey, commission, name = (part.strip() for part in parts)
    _addresses("add_validator", [address], "a new validator's address")
    if not _HEX64.fullmatch(pubkey):
        raise ActionError("add_validator", f"a new validator's public key is 64 lower-case hex digits, not {pubkey!r}")
    # The chain checks this only when the passed proposal is enacted, weeks of voting later.
    if address_from_pubkey(bytes.fromhex(pubkey)) != address:
        raise ActionError("add_validator", f"the address {address} is not the one of public key {pubkey} "
                                           f"({address_from_pubkey(bytes.fromhex(pubkey))})")
    if not commission.isdigit() or int(commission) > 10_000:
        raise ActionError("add_validator", f"the commission is basis points from 0 to 10000, not {commission!r}")
    if not name or len(name) > 64:
        raise ActionError("add_validator", "a new validator needs a name of 1 to 64 characters")
    return {"address": address, "pubkey": pubkey, "commission_bps": int(commission), "name": name}


def _positive_int(field: str, value: Any, what: str) -> int:
    text = str(value).strip()
    if not text.isdigit() or int(text) < 1:
        raise ActionError(field, f"{what} is a whole number from 1, not {text!r}")
    return int(text)


def build_action(kind: ActionKind, given: Mapping[str, Any],
                 names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The action dict of a ``kind`` proposal from its fields (strings, or lists of strings for
    ``set_``, ``add``, ``remove``, ``add_validator``); ``ActionError`` for the first bad field.
    ``names`` says how the front end calls a field in a message (the CLI: its flags)."""
    def called(fields: Sequence[str]) -> str:
        return ", ".join(sorted((names or {}).get(f, f) for f in fields))

    label = kind.replace("_", "-")
    stray = [field for field, value in given.items() if _given(value) and field not in FIELDS[kind]]
    if stray:
        raise ActionError(stray[0], f"{called(stray)} {'does' if len(stray) == 1 else 'do'} not apply to a "
                                    f"{label} proposal")
    missing = [field for field in REQUIRED.get(kind, ()) if not _given(given.get(field))]
    if missing:
        raise ActionError(missing[0], f"a {label} proposal needs {called(missing)}")
    choices = AT_LEAST_ONE.get(kind)
    if choices and not any(_given(given.get(f)) for f in choices):
        raise ActionError(choices[0], f"a {label} proposal needs {' or '.join(called([f]) for f in choices)}")
    action: dict[str, Any]
    if kind == "param_change":
        action = {"kind": kind, "changes": parse_changes(given["set_"])}
    elif kind == "treasury_spend":
        try:
            amount = parse_amount(str(given["amount"]))
        except ValueError as exc:
            raise ActionError("amount", str(exc)) from None
        if amount <= 0:
            raise ActionError("amount", "the amount to pay must be more than zero")
        action = {"kind": kind, "to": _addresses("to", [str(given["to"]).strip()], "the recipient")[0], "amount": amount}
    elif kind == "coordinator_update":
        action = {"kind": kind, "add": _addresses("add", given.get("add") or [], "a coordinator to add"),
                  "remove": _addresses("remove", given.get("remove") or [], "a coordinator to remove")}
    elif kind == "validator_update":
        action = {"kind": kind, "add": [_new_validator(item) for item in given.get("add_validator") or []],
                  "remove": _addresses("remove", given.get("remove") or [], "a validator to remove")}
    elif kind == "software_upgrade":
        name, version = str(given["name"]).strip(), str(given["version"]).strip()
        if not 1 <= len(name) <= 64:
            raise ActionError("name", "the upgrade's name is 1 to 64 characters")
        if not _VERSION.fullmatch(version):
            raise ActionError("version", f"the version is dotted integers such as 0.2.0, not {version!r}")
        protocol = given.get("protocol_version")
        action = {"kind": kind, "name": name, "version": version,
                  "height": _positive_int("height", given["height"], "the upgrade height"),
                  "protocol_version": _positive_int("protocol_version", protocol, "the protocol version")
                  if _given(protocol) else None}
    else:
        action = {"kind": "text"}
    try:
        _ACTION.validate_python(action)
    except ValidationError as exc:  # a limit checked only by the chain's model (e.g. list length)
        first = exc.errors()[0]
        raise ActionError(str(first["loc"][1]) if len(first["loc"]) > 1 else "kind", first["msg"]) from None
    return action
