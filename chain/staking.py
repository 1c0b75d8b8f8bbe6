"""Validator pools: delegations as shares, rewards by a per-share index (Cosmos x/staking + F1).

A validator holds a pool of bonded units (``power``) owned by its delegators in proportion to
their ``shares`` (the operator's own delegation is its self-bond). Two rules follow, each O(1)
per validator whatever the number of delegators:

* **Slashing reaches every delegator in proportion.** A slash burns units from the pool and
  leaves the shares alone, so each share is worth less: a validator backed by delegated power
  risks all of it, not only its own bond.
* **Rewards without scanning delegations.** A block's reward for a validator's delegators
  raises the validator's ``reward_index`` (units per share, times ``REWARD_SCALE``) and its
  ``outstanding`` rewards; a delegation records the index it was last settled at and is
  settled (``settle``) before its shares change or when its owner claims. Rounding leaves dust
  in ``outstanding``; it is never paid twice.
"""

from __future__ import annotations

from typing import Any

from chain.amounts import ait
from chain.errors import InsufficientFunds, InvalidPayload, Unauthorized, UnknownEntity
from chain.ledger import Ledger
from chain.params import MAX_AMOUNT

REWARD_SCALE = 10**18
"""Fixed-point scale of ``reward_index``: one unit spread over 10^18 shares still counts."""

NEW_VALIDATOR: dict[str, Any] = {
    "power": 0, "shares": 0, "self_bond": 0, "reward_index": 0, "outstanding": 0,
    "jailed": False, "jailed_until": 0, "tombstoned": False, "removed": False,
}
"""Pool fields of a validator that has no stake yet (genesis and ``validator_update`` add to it)."""


def require_validator(ledger: Ledger, address: str) -> dict[str, Any]:
    validator = ledger.get("validator", address)
    if validator is None:
        raise UnknownEntity(f"{address} is not a validator")
    return validator


def tokens(validator: dict[str, Any], shares: int) -> int:
    """Units that ``shares`` of this validator's pool are worth now (rounded down)."""
    return shares * validator["power"] // validator["shares"] if validator["shares"] else 0


def _settle(delegation: dict[str, Any], validator: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    earned = delegation["shares"] * (validator["reward_index"] - delegation["index"]) // REWARD_SCALE
    return ({**delegation, "rewards": delegation["rewards"] + earned, "index": validator["reward_index"]},
            {**validator, "outstanding": validator["outstanding"] - earned})


def _save(ledger: Ledger, delegator: str, address: str, delegation: dict[str, Any], validator: dict[str, Any]) -> None:
    """Write both back, dropping an empty delegation and keeping ``self_bond`` current."""
    key = f"{delegator}/{address}"
    empty = delegation["shares"] == 0 and delegation["rewards"] == 0
    ledger.put("delegation", key, None if empty else delegation)
    own = delegation if delegator == address else ledger.get("delegation", f"{address}/{address}")
    own_shares = own["shares"] if own else 0
    ledger.put("validator", address, {**validator, "self_bond": tokens(validator, own_shares)})


def staked(ledger: Ledger, delegator: str, address: str) -> int:
    """Units a delegation is worth now (0 when there is none)."""
    validator = ledger.get("validator", address)
    delegation = ledger.get("delegation", f"{delegator}/{address}")
    return tokens(validator, delegation["shares"]) if validator and delegation else 0


def unclaimed_rewards(delegation: dict[str, Any], validator: dict[str, Any]) -> int:
    """Rewards a delegation could claim now: settled plus earned since (what RPC shows)."""
    return _settle(delegation, validator)[0]["rewards"]


def delegation_of(ledger: Ledger, delegator: str, address: str, validator: dict[str, Any]) -> dict[str, Any]:
    return ledger.get("delegation", f"{delegator}/{address}") or {
        "shares": 0, "rewards": 0, "index": validator["reward_index"]}


def delegate(ledger: Ledger, delegator: str, address: str, amount: int) -> None:
    """Add ``amount`` units (already taken from the delegator) to the pool for new shares."""
    validator = require_validator(ledger, address)
    if validator["shares"] and validator["power"] == 0:
        raise Unauthorized(f"validator {address}'s pool was slashed to nothing; its shares are worthless")
    delegation, validator = _settle(delegation_of(ledger, delegator, address, validator), validator)
    new_shares = amount * validator["shares"] // validator["power"] if validator["shares"] else amount
    if new_shares == 0:
        raise InvalidPayload(f"stake of {ait(amount)} buys no share of validator {address}'s pool")
    if validator["power"] + amount > MAX_AMOUNT or validator["shares"] + new_shares > MAX_AMOUNT:
        raise InvalidPayload("amount overflows the 2^63-1 bound")
    validator = {**validator, "power": validator["power"] + amount, "shares": validator["shares"] + new_shares}
    _save(ledger, delegator, address, {**delegation, "shares": delegation["shares"] + new_shares}, validator)


def undelegate(ledger: Ledger, delegator: str, address: str, amount: int) -> int:
    """Take ``amount`` units out of the pool for the delegator. Returns the dust the pool is left
    with when its last share leaves (the caller gives it to the treasury), usually 0."""
    validator = require_validator(ledger, address)
    delegation = ledger.get("delegation", f"{delegator}/{address}")
    held = tokens(validator, delegation["shares"]) if delegation else 0
    if delegation is None or held < amount:
        raise InsufficientFunds(f"unstake of {ait(amount)} from {address}: only {ait(held)} is staked")
    delegation, validator = _settle(delegation, validator)
    if amount == held:
        burned_shares = delegation["shares"]
    else:  # round the shares taken up, so that rounding never favours the one leaving
        burned_shares = -(-amount * validator["shares"] // validator["power"])
    validator = {**validator, "power": validator["power"] - amount, "shares": validator["shares"] - burned_shares}
    dust = 0
    if validator["shares"] == 0 and validator["power"] > 0:
        # Nobody owns what rounding left in the pool: it must not keep an unowned validator active.
        dust, validator = validator["power"], {**validator, "power": 0}
    _save(ledger, delegator, address, {**delegation, "shares": delegation["shares"] - burned_shares}, validator)
    return dust


def claim(ledger: Ledger, delegator: str, address: str) -> int:
    """Settle and empty a delegation's rewards; returns the units to pay out."""
    delegation = ledger.get("delegation", f"{delegator}/{address}")
    validator = ledger.get("validator", address)
    if delegation is None or validator is None:
        raise UnknownEntity(f"{delegator} has no rewards to claim from {address}")
    delegation, validator = _settle(delegation, validator)
    rewards = delegation["rewards"]
    if rewards == 0:
        raise UnknownEntity(f"{delegator} has no rewards to claim from {address}")
    _save(ledger, delegator, address, {**delegation, "rewards": 0}, validator)
    return rewards


def allocate(ledger: Ledger, address: str, amount: int) -> int:
    """Give ``amount`` to the delegators of ``address`` by share; returns the units allocated
    (0 when the pool has no shares: the caller keeps them)."""
    validator = require_validator(ledger, address)
    if amount <= 0 or validator["shares"] == 0:
        return 0
    ledger.put("validator", address, {
        **validator, "outstanding": validator["outstanding"] + amount,
        "reward_index": validator["reward_index"] + amount * REWARD_SCALE // validator["shares"]})
    return amount


def burn_from_pool(ledger: Ledger, address: str, bps: int, bps_whole: int) -> int:
    """Burn ``bps`` of the pool: every share loses the same part. Returns the units burned."""
    validator = require_validator(ledger, address)
    burned = validator["power"] * bps // bps_whole
    if burned:
        validator = {**validator, "power": validator["power"] - burned}
        own = ledger.get("delegation", f"{address}/{address}")
        ledger.put("validator", address, {**validator, "self_bond": tokens(validator, own["shares"] if own else 0)})
    return burned
