"""The miner's business with the chain: keeping ``stake_amount`` bonded, and reading earnings.

The coordinator gives work only to miners whose on-chain bond reaches the chain's minimum, and
slashing burns part of a bond, so the miner tops its bond back up to ``stake_amount`` whenever
it finds it lower (at start, and again on each retry while bonding fails). Only the missing
difference is bonded. Transactions this address already has pending are waited for first: a
miner that crashed between broadcasting a bond and seeing it commit must not bond twice.

Blocking calls (the node client is synchronous); the runtime runs them in a thread.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from chain.errors import ChainError
from chain.genesis import load_genesis
from chain.params import ChainParams
from chain.tx import make_tx
from daemons.common.home import Home
from daemons.node.client import NodeClient

_PENDING_POLL_S = 0.25


class BondError(Exception):
    """The bond cannot be topped up now; the message says why and what to do."""


@dataclass(frozen=True)
class BondOutcome:
    chain_id: str
    bond: int
    """The bond on chain after this call, in units."""
    tx_hash: str | None
    """The miner_bond transaction sent by this call, if one was needed."""


def chain_min_fee(home: Home) -> int:
    """The chain's minimum fee from the home's genesis when there is one, else the protocol's."""
    try:
        return load_genesis(home.genesis_file.read_bytes()).params.min_fee
    except (OSError, ValueError, ChainError):
        return ChainParams().min_fee


def miner_record(account: dict[str, Any]) -> dict[str, int]:
    """``{bond, slashed, jobs}`` of a node ``get_account`` answer (zeros for a miner never bonded)."""
    record = account.get("miner") or {}
    return {k: int(record.get(k, 0)) for k in ("bond", "slashed", "jobs")}


def ensure_bond(node: NodeClient, seed: bytes, address: str, target: int, fee: int,
                commit_timeout: float) -> BondOutcome:
    """Bond the difference between ``target`` units and the bond on chain; waits for the commit."""
    chain_id = str(node.status()["chain_id"])
    account = _settled_account(node, address, commit_timeout)
    bond = miner_record(account)["bond"]
    if bond >= target:
        return BondOutcome(chain_id, bond, None)
    need = target - bond
    balance = int(account["balance"])
    if balance < need + fee:
        raise BondError(f"cannot bond {need} units: balance of {address} is {balance} units, "
                        f"{need + fee} needed (bond plus fee); fund this address")
    tx = make_tx(seed, chain_id, "miner_bond", int(account["pending_nonce"]), fee, {"amount": need})
    node.broadcast_tx(tx, mode="commit", timeout_s=commit_timeout)
    after = miner_record(node.get_account(address))["bond"]
    return BondOutcome(chain_id, after, tx.hash)


def _settled_account(node: NodeClient, address: str, timeout: float) -> dict[str, Any]:
    """The account once none of its transactions is pending (bounded by ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        account = node.get_account(address)
        if int(account["pending_nonce"]) <= int(account["nonce"]) or time.monotonic() > deadline:
            return account
        time.sleep(_PENDING_POLL_S)
