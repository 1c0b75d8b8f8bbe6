"""Slashing, jailing and unjailing: what a validator or miner risks by misbehaving.

Modelled on Cosmos SDK's x/slashing and x/evidence:

* **Reach.** Evidence of an infraction at height ``h`` burns the same share of the offender's
  pool (so of every delegation, ``chain.staking``) and of every unbonding entry that started at
  or after ``h`` (``chain.payouts``): unstaking right after double signing does not escape.
  Unlike x/slashing, the share is taken of the pool as it is now (the state keeps no history
  of past power), so stake delegated after the infraction, within the age limit, shares the
  loss; stake that left since is reached through its unbonding entry.
* **Age limit.** Evidence older than ``evidence_max_age`` blocks is refused. The limit is
  always below ``unbonding_period``, so any stake that was bonded at the infraction is still
  bonded or unbonding when evidence is accepted: the slash always has something to reach.
* **Tombstone.** A double signer is jailed for good (``tombstoned``): an equivocating key
  cannot be trusted again, it can only be replaced through governance.
* **Downtime.** A validator that fails to sign more than the allowed share of the last
  ``signed_blocks_window`` commits is jailed for ``downtime_jail_blocks`` and may then send an
  ``unjail`` transaction. Who signed is read from each block's ``last_commit``.

Jailing never takes the last active validator: a chain with no one to sign would halt for good.
"""

from __future__ import annotations

from chain import indexes, payouts, staking
from chain.errors import InvalidPayload, Unauthorized
from chain.ledger import Ledger
from chain.params import BPS, ChainParams
from chain.validators import Signers, active_set


def evidence_age_limit(params: ChainParams) -> int:
    """Blocks after an infraction its evidence is accepted: ``evidence_max_age``, but always
    below the unbonding period (an entry started at ``h`` is released at ``h + unbonding_period``,
    before a transaction of that block could slash it)."""
    return max(min(params.evidence_max_age, params.unbonding_period - 1), 0)


def check_evidence_age(params: ChainParams, infraction_height: int, height: int) -> None:
    if infraction_height > height:
        raise InvalidPayload(f"evidence is for height {infraction_height}, after the current height {height}")
    limit = evidence_age_limit(params)
    if height - infraction_height > limit:
        raise Unauthorized(f"evidence for height {infraction_height} is {height - infraction_height} blocks old; "
                           f"evidence older than {limit} blocks is refused (evidence_max_age)")


def slash_validator(ledger: Ledger, address: str, infraction_height: int, height: int, bps: int) -> int:
    """Burn ``bps`` of the validator's pool and of its unbonding entries started at or after
    ``infraction_height``; returns the units burned (supply is reduced here)."""
    burned = staking.burn_from_pool(ledger, address, bps, BPS)
    burned += payouts.slash_unbonding(ledger, "unbonding", address, infraction_height, height, bps, BPS)
    ledger.adjust_supply(-burned)
    return burned


def slash_miner_unbonding(ledger: Ledger, miner: str, infraction_height: int, height: int, bps: int) -> int:
    """Burn ``bps`` of a miner's unbonding entries started at or after ``infraction_height`` (its
    bond itself is burned by the wrong-result rule); returns the units burned."""
    burned = payouts.slash_unbonding(ledger, "miner_unbonding", miner, infraction_height, height, bps, BPS)
    ledger.adjust_supply(-burned)
    return burned


def jail(ledger: Ledger, address: str, until: int, *, tombstone: bool = False) -> bool:
    """Jail ``address`` unless it is the last active validator; returns whether it was jailed."""
    validator = staking.require_validator(ledger, address)
    if not any(other != address for other in active_set(ledger)):
        return False
    ledger.put("validator", address, {**validator, "jailed": True, "jailed_until": max(until, validator["jailed_until"]),
                                      "tombstoned": validator["tombstoned"] or tombstone})
    indexes.store(ledger, f"missed/{address}", [])
    return True


def max_missed(params: ChainParams) -> int:
    """Missed commits allowed within one window (x/slashing's window - min_signed_per_window)."""
    window = params.signed_blocks_window
    must_sign = -(-window * params.min_signed_per_window_bps // BPS)
    return window - must_sign


def track_downtime(ledger: Ledger, height: int, voters: Signers, signed: frozenset[str]) -> None:
    """Record who of ``voters`` (the set that voted on ``height - 1``) is missing from that
    block's commit, and jail those past the allowed share of the window."""
    params = ledger.params
    committed = height - 1
    oldest = committed - params.signed_blocks_window
    allowed = max_missed(params)
    for address in sorted(voters):
        key = f"missed/{address}"
        missed = indexes.members(ledger, key)
        kept = [h for h in missed if h > oldest]
        if address not in signed:
            kept.append(committed)
        if kept != missed:
            indexes.store(ledger, key, kept)
        validator = ledger.get("validator", address)
        if len(kept) > allowed and validator is not None and not validator["jailed"]:
            jail(ledger, address, height + params.downtime_jail_blocks)


def unjail(ledger: Ledger, address: str, height: int) -> None:
    """The way back for a validator jailed for downtime, once its jail period is over."""
    validator = staking.require_validator(ledger, address)
    if not validator["jailed"]:
        raise Unauthorized(f"validator {address} is not jailed")
    if validator["tombstoned"]:
        raise Unauthorized(f"validator {address} double signed and is jailed for good")
    if validator["removed"]:
        raise Unauthorized(f"validator {address} was removed by governance")
    if height < validator["jailed_until"]:
        raise Unauthorized(f"validator {address} is jailed until height {validator['jailed_until']}, now {height}")
    if validator["self_bond"] <= 0:
        raise Unauthorized(f"validator {address} has no self-bond left; stake to itself before unjailing")
    ledger.put("validator", address, {**validator, "jailed": False})
    indexes.store(ledger, f"missed/{address}", [])
