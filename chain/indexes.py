"""Secondary indexes kept in state, so that no block has to scan a whole namespace.

Every rule that runs each block (payouts, governance tallies, downtime) must cost the same
whether the chain holds a thousand or a million entries. State tables are plain maps without
range queries, so each such rule keeps a small list under a known key of the ``index``
namespace and reads only that:

``due/<height>``                     pending payout keys released at the start of that height
``unbonding/<validator>/<start>``    pending unbond keys that left that validator at ``start``
``miner_unbonding/<miner>/<start>``  pending miner unbond keys of that miner started at ``start``
``escrow_reserved/<client>/<coord>`` escrow already promised to pending withdrawals
``proposals_ending/<height>``        proposal ids whose vote is tallied at that height
``votes/<proposal_id>``              who voted on a proposal
``deposits_ending/<height>``         proposal ids whose deposit period ends at that height
``depositors/<proposal_id>``         who holds a deposit on a proposal
``deposit/<proposal_id>/<address>``  that depositor's amount (``amount``), until refunded or forfeited
``missed/<validator>``               heights in the signing window whose commit it did not sign

Lists keep insertion order, which is the deterministic order of transactions in blocks; readers
that need a canonical order sort. An empty list deletes its entry, so indexes never leave
garbage behind.
"""

from __future__ import annotations

from typing import Any

from chain.ledger import Ledger


def height_key(height: int) -> str:
    """Heights zero-padded so that keys sort in height order."""
    return f"{height:012d}"


def members(ledger: Ledger, key: str) -> list[Any]:
    entry = ledger.get("index", key)
    return list(entry["items"]) if entry else []


def store(ledger: Ledger, key: str, items: list[Any]) -> None:
    ledger.put("index", key, {"items": items} if items else None)


def add(ledger: Ledger, key: str, item: Any) -> None:
    items = members(ledger, key)
    if item not in items:
        store(ledger, key, items + [item])


def remove(ledger: Ledger, key: str, item: Any) -> None:
    items = members(ledger, key)
    if item in items:
        items.remove(item)
        store(ledger, key, items)


def amount(ledger: Ledger, key: str) -> int:
    entry = ledger.get("index", key)
    return int(entry["amount"]) if entry else 0


def set_amount(ledger: Ledger, key: str, value: int) -> None:
    ledger.put("index", key, {"amount": value} if value > 0 else None)
