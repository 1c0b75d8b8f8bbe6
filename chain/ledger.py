"""A write overlay over a ``State``, with nested savepoints.

Execution never mutates a ``State``: it reads through a ``Ledger`` and records writes in it. A
transaction runs in a child ledger that is merged into its parent only if every rule passed, so
a rejected transaction leaves no trace; a rejected block is simply dropped with its ledger.
"""

from __future__ import annotations

from typing import Any

from chain.errors import InvalidPayload
from chain.params import MAX_AMOUNT, ChainParams
from chain.state import Entry, Key, State


def add_amounts(a: int, b: int) -> int:
    """``a + b``, refused past ``MAX_AMOUNT``: every amount must fit a signed 64-bit column, and
    a sum beyond it would mean units were created that the supply does not account for."""
    total = a + b
    if total > MAX_AMOUNT:
        raise InvalidPayload("amount overflows the 2^63-1 bound")
    return total


class Ledger:
    __slots__ = ("base", "parent", "writes", "_params")

    def __init__(self, base: State, parent: "Ledger | None" = None) -> None:
        self.base = base
        self.parent = parent
        self.writes: dict[Key, Entry | None] = {}
        self._params: ChainParams | None = parent._params if parent else None

    def get(self, ns: str, key: str) -> Entry | None:
        ledger: Ledger | None = self
        while ledger is not None:
            if (ns, key) in ledger.writes:
                return ledger.writes[(ns, key)]
            ledger = ledger.parent
        return self.base.get(ns, key)

    def put(self, ns: str, key: str, value: Entry | None) -> None:
        self.writes[(ns, key)] = value
        if ns == "meta" and key == "params":
            self._params = None

    def scan(self, ns: str) -> dict[str, Entry]:
        """All live entries of a namespace, overlay included."""
        chain: list[Ledger] = []
        ledger: Ledger | None = self
        while ledger is not None:
            chain.append(ledger)
            ledger = ledger.parent
        merged: dict[str, Entry | None] = dict(self.base.items(ns))
        for layer in reversed(chain):
            for (wns, key), value in layer.writes.items():
                if wns == ns:
                    merged[key] = value
        return {k: v for k, v in merged.items() if v is not None}

    def child(self) -> "Ledger":
        return Ledger(self.base, self)

    def absorb(self, child: "Ledger") -> None:
        self.writes.update(child.writes)
        if any(k == ("meta", "params") for k in child.writes):
            self._params = None

    # -- typed helpers ------------------------------------------------------------------------

    @property
    def params(self) -> ChainParams:
        if self._params is None:
            self._params = ChainParams.model_validate(self.get("meta", "params"))
        return self._params

    def account(self, address: str) -> dict[str, Any]:
        return self.get("account", address) or {"balance": 0, "nonce": 0}

    def balance(self, address: str) -> int:
        return int(self.account(address)["balance"])

    def set_balance(self, address: str, balance: int) -> None:
        account = self.account(address)
        self.put("account", address, {"balance": balance, "nonce": account["nonce"]})

    def credit(self, address: str, amount: int) -> None:
        if amount:
            self.set_balance(address, add_amounts(self.balance(address), amount))

    def meta(self, key: str) -> dict[str, Any]:
        value = self.get("meta", key)
        if value is None:
            raise KeyError(f"state has no meta entry {key!r}")
        return value

    def adjust_supply(self, delta: int) -> None:
        if delta:
            self.put("meta", "supply", {"total": add_amounts(int(self.meta("supply")["total"]), delta)})
