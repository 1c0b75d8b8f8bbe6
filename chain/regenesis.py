"""Carry a protocol-1 chain's holdings into the genesis of a new protocol-2 chain.

Protocol 2 (``chain.protocol``) reads state that protocol 1 never wrote (delegation shares, reward
indexes, payout indexes), and its state root is computed over that state, so its rules cannot
continue a protocol-1 chain, and rewriting that chain's blocks would change every root. What a
release can do instead is what Cosmos chains do across a breaking upgrade: export the final state
and start a new chain from it, under a new chain id so that no transaction signed for the old chain
can be replayed on the new one. The old chain's database is kept, untouched, as its archive.

The rule of the export, applied to the final protocol-1 state:

- every account keeps its balance;
- each validator that was not removed keeps its self-bond as its genesis stake, its commission
  and name; a removed validator's bond is paid back to its balance;
- everything else that belonged to someone comes back to its balance: a delegator's stake,
  unclaimed rewards (the validators' own included), escrows, miner bonds, and funds still
  unbonding (an escrow withdrawal in flight is still part of its escrow, counted once);
- the treasury keeps its balance; the coordinators and parameters carry over, parameters with
  ``protocol_version`` 2 and protocol 2's defaults for what protocol 1 did not have;
- nothing is created or lost: the sum of the new genesis equals the old chain's recorded supply,
  or the export is refused.

Jobs, proposals, votes and evidence are history: they stay in the archived chain.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from chain.errors import InvalidGenesis
from chain.genesis import Genesis, GenesisAccount, GenesisValidator
from chain.governance import TREASURY
from chain.params import ChainParams
from chain.protocol import PROTOCOL_VERSION, chain_protocol_version

Entry = tuple[str, str, dict[str, Any]]
"""(namespace, key, value) of one state row."""


def export_protocol_one(entries: Iterable[Entry], chain_id: str, genesis_time_ms: int) -> Genesis:
    """The new chain's genesis from a protocol-1 chain's final state (see the module's rule)."""
    state: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for namespace, key, value in entries:
        state[namespace][key] = value
    meta = state["meta"]
    version = chain_protocol_version(meta.get("params", {}))
    if version != 1:
        raise InvalidGenesis(f"the chain runs protocol {version}; only a protocol 1 chain is exported this way")

    balances: dict[str, int] = defaultdict(int)
    for address, account in state["account"].items():
        balances[address] += int(account["balance"])
    validators: list[GenesisValidator] = []
    for key, delegation in state["delegation"].items():
        delegator, _, validator = key.partition("/")
        pool = state["validator"].get(validator, {})
        own = delegator == validator and not pool.get("removed", False)
        balances[delegator] += int(delegation.get("rewards", 0)) + (0 if own else int(delegation["amount"]))
    for address, pool in sorted(state["validator"].items()):
        own = state["delegation"].get(f"{address}/{address}")
        if pool.get("removed", False) or own is None or int(own["amount"]) <= 0:
            continue
        validators.append(GenesisValidator(address=address, pubkey=pool["pubkey"], stake=int(own["amount"]),
                                           commission_bps=int(pool["commission_bps"]), name=pool.get("name", "")))
    for key, escrow in state["escrow"].items():
        balances[key.partition("/")[0]] += int(escrow["balance"])
    for address, miner in state["miner"].items():
        balances[address] += int(miner["bond"])
    for entry in state["pending"].values():
        if entry["kind"] != "escrow_withdraw":  # still inside its escrow, paid back above
            balances[entry["owner"]] += int(entry["amount"])
    if not validators:
        raise InvalidGenesis("the chain has no validator with a self-bond left to start a new chain with")

    treasury = balances.pop(TREASURY, 0)
    params = ChainParams.model_validate({**meta["params"], "protocol_version": PROTOCOL_VERSION})
    genesis = Genesis(
        chain_id=chain_id, genesis_time_ms=genesis_time_ms, params=params,
        accounts=[GenesisAccount(address=a, balance=b) for a, b in sorted(balances.items()) if b > 0],
        validators=validators, coordinators=list(meta.get("coordinators", {}).get("list", [])),
        treasury_balance=treasury,
    )
    recorded = int(meta.get("supply", {}).get("total", -1))
    carried = sum(a.balance for a in genesis.accounts) + sum(v.stake for v in genesis.validators) + treasury
    if carried != recorded:
        raise InvalidGenesis(f"the export carries {carried} units but the chain records a supply of {recorded}; "
                             "refused rather than create or lose funds")
    return genesis
