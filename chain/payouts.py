"""Delayed payouts: unbonding stake, unbonding miner bonds and escrow withdrawals.

Each is a ``pending`` entry released at the start of its due height. Three rules live here:

* **Flat cost.** A payout is listed under its due height (``index due/<height>``), so a block
  reads only the payouts due now, never the whole ``pending`` table.
* **Slashable while unbonding.** Unbonding entries are also listed under the validator (or the
  miner) they left and the height they ``start``-ed at, so that evidence of an earlier
  infraction still reaches them (``chain.slashing``): leaving the bond does not end liability
  until the unbonding period is over, as in Cosmos SDK's x/staking.
* **Escrow withdrawals reserve.** A withdrawal promises part of an escrow; a second one can only
  ask for what is not promised yet, so one small escrow cannot queue unlimited entries.

Each entry also has a minimum size (``min_unbond``, ``min_escrow_withdraw``) unless it empties
the position, so the number of pending entries is bounded by the value locked, not by fees paid.
"""

from __future__ import annotations

from chain import indexes
from chain.amounts import ait
from chain.errors import InsufficientFunds, InvalidPayload
from chain.ledger import Ledger


def require_minimum(amount: int, minimum: int, whole: int, what: str, param: str) -> None:
    """An entry below ``minimum`` is refused unless it takes the ``whole`` position."""
    if amount < minimum and amount != whole:
        raise InvalidPayload(f"{what} of {ait(amount)} is below the minimum {ait(minimum)} ({param}); "
                             f"only the whole remaining {ait(whole)} may be smaller")


def liability_key(kind: str, who: str, start: int) -> str:
    """Index of the unbonding entries that left ``who`` at height ``start``. Keyed by start
    height so that each list is bounded by one block's transactions, and a slash reads only the
    heights since its infraction (at most the evidence age limit of them)."""
    return f"{kind}/{who}/{indexes.height_key(start)}"


def _liability_key(entry: dict) -> str | None:
    if entry["kind"] == "unbond":
        return liability_key("unbonding", entry["validator"], entry["start"])
    if entry["kind"] == "miner_unbond":
        return liability_key("miner_unbonding", entry["owner"], entry["start"])
    return None


def _reserved_key(owner: str, coordinator: str) -> str:
    return f"escrow_reserved/{owner}/{coordinator}"


def schedule(ledger: Ledger, height: int, tx_hash: str, delay: int, entry: dict) -> str:
    """Queue ``entry`` for release at ``height + max(delay, 1)`` and index it; returns its key."""
    release = height + max(delay, 1)
    index = 0
    while ledger.get("pending", f"{indexes.height_key(release)}/{tx_hash}/{index}") is not None:
        index += 1
    key = f"{indexes.height_key(release)}/{tx_hash}/{index}"
    full = {**entry, "start": height, "release": release}
    ledger.put("pending", key, full)
    indexes.add(ledger, f"due/{indexes.height_key(release)}", key)
    liability = _liability_key(full)
    if liability is not None:
        indexes.add(ledger, liability, key)
    return key


def escrow_withdrawable(ledger: Ledger, owner: str, coordinator: str) -> tuple[int, int]:
    """(escrow balance, part of it not yet promised to pending withdrawals)."""
    escrow = ledger.get("escrow", f"{owner}/{coordinator}")
    balance = int(escrow["balance"]) if escrow else 0
    reserved = indexes.amount(ledger, _reserved_key(owner, coordinator))
    return balance, max(balance - reserved, 0)


def request_escrow_withdrawal(ledger: Ledger, height: int, tx_hash: str, owner: str, coordinator: str,
                              amount: int) -> None:
    balance, free = escrow_withdrawable(ledger, owner, coordinator)
    if free < amount:
        raise InsufficientFunds(f"escrow with {coordinator} holds {ait(balance)}, of which {ait(balance - free)} is already "
                                f"being withdrawn; cannot withdraw {ait(amount)}")
    require_minimum(amount, ledger.params.min_escrow_withdraw, free, "escrow withdrawal", "min_escrow_withdraw")
    key = _reserved_key(owner, coordinator)
    indexes.set_amount(ledger, key, indexes.amount(ledger, key) + amount)
    schedule(ledger, height, tx_hash, ledger.params.escrow_withdraw_delay,
             {"kind": "escrow_withdraw", "owner": owner, "amount": amount, "coordinator": coordinator})


def release_due(ledger: Ledger, height: int) -> None:
    """Pay out every entry due at ``height`` (in key order) and drop it from the indexes."""
    due_key = f"due/{indexes.height_key(height)}"
    for key in sorted(indexes.members(ledger, due_key)):
        entry = ledger.get("pending", key)
        if entry is None:
            continue
        ledger.put("pending", key, None)
        liability = _liability_key(entry)
        if liability is not None:
            indexes.remove(ledger, liability, key)
        if entry["kind"] == "escrow_withdraw":
            owner, coordinator = entry["owner"], entry["coordinator"]
            escrow_key = f"{owner}/{coordinator}"
            escrow = ledger.get("escrow", escrow_key) or {"balance": 0}
            # The coordinator may have settled jobs from this escrow during the delay.
            amount = min(entry["amount"], escrow["balance"])
            ledger.put("escrow", escrow_key, {**escrow, "balance": escrow["balance"] - amount})
            reserved = _reserved_key(owner, coordinator)
            indexes.set_amount(ledger, reserved, indexes.amount(ledger, reserved) - entry["amount"])
            ledger.credit(owner, amount)
        else:
            ledger.credit(entry["owner"], entry["amount"])
    indexes.store(ledger, due_key, [])


def slash_unbonding(ledger: Ledger, kind: str, who: str, since_height: int, height: int, bps: int,
                    bps_whole: int) -> int:
    """Cut ``bps`` of every ``kind`` entry of ``who`` that started at a height from
    ``since_height`` to ``height``; returns the units cut (the caller burns them)."""
    burned = 0
    for start in range(max(since_height, 0), height + 1):
        for key in indexes.members(ledger, liability_key(kind, who, start)):
            entry = ledger.get("pending", key)
            if entry is None:
                continue
            cut = entry["amount"] * bps // bps_whole
            if cut:
                ledger.put("pending", key, {**entry, "amount": entry["amount"] - cut,
                                            "slashed": entry.get("slashed", 0) + cut})
                burned += cut
    return burned
