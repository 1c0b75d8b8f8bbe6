"""The validator set: who may vote, with what power, and who proposes.

Hybrid PoA/PoS (ARCHITECTURE.md): the authorities are named in genesis and changed only by
governance; their voting power is their bonded stake (own plus delegated). Jailed, removed and
zero-power validators do not vote.

The set that votes on block ``h`` ("signers") is fixed at the start of ``h``, before its
transactions run, and kept in state as ``meta/signers`` so that block ``h+1`` can verify the
commit of ``h`` from state alone.
"""

from __future__ import annotations

from typing import Any

from chain.block import Commit, commit_signature_valid
from chain.encoding import hash_value
from chain.errors import InvalidBlock
from chain.ledger import Ledger

Signers = dict[str, dict[str, Any]]
"""address -> {pubkey, power, priority}"""


def active_set(ledger: Ledger) -> Signers:
    """Validators with voting power now, carrying their proposer priority forward.

    One that was not in the previous set (new, or back from jail or removal) starts at
    ``newcomer_priority``, as in Tendermint, instead of 0: otherwise joining, or leaving and
    rejoining, would jump the queue of validators that have been waiting their turn.
    """
    previous = (ledger.get("meta", "signers") or {}).get("set", {})
    active = {address: v for address, v in sorted(ledger.scan("validator").items())
              if not (v["jailed"] or v["removed"] or v["power"] <= 0)}
    newcomer = newcomer_priority(sum(int(v["power"]) for v in active.values()))
    result: Signers = {}
    for address, v in active.items():
        priority = previous[address]["priority"] if address in previous else newcomer
        result[address] = {"pubkey": v["pubkey"], "power": int(v["power"]), "priority": int(priority)}
    return result


def newcomer_priority(total: int) -> int:
    """-1.125 x total power (Tendermint's rule, in integers: ``-(total + total >> 3)``): a
    validator joining the set waits about a full rotation before it proposes."""
    return -(total + (total >> 3))


def total_power(signers: Signers) -> int:
    return sum(int(s["power"]) for s in signers.values())


def validators_hash(signers: Signers) -> str:
    """Commits to who votes and with what power (priorities are derived, so left out)."""
    return hash_value(sorted([address, s["pubkey"], s["power"]] for address, s in signers.items()))


def _advance(priorities: dict[str, int], powers: dict[str, int]) -> str:
    """One step of Tendermint's weighted round robin: everyone gains their power, the highest
    proposes and pays back the total. Over time each validator proposes in proportion to power."""
    total = sum(powers.values())
    for address in priorities:
        priorities[address] += powers[address]
    chosen = max(priorities, key=lambda a: (priorities[a], [-ord(c) for c in a]))
    priorities[chosen] -= total
    return chosen


def proposer_for(signers: Signers, round_: int) -> str:
    """The proposer of ``round_`` for a height whose signers are ``signers``."""
    if not signers:
        raise InvalidBlock("no active validator: the chain cannot make progress")
    priorities = {a: int(s["priority"]) for a, s in signers.items()}
    powers = {a: int(s["power"]) for a, s in signers.items()}
    chosen = ""
    for _ in range(round_ + 1):
        chosen = _advance(priorities, powers)
    return chosen


def advanced_priorities(signers: Signers) -> Signers:
    """Signers with priorities moved on by one height (the round-0 step)."""
    priorities = {a: int(s["priority"]) for a, s in signers.items()}
    powers = {a: int(s["power"]) for a, s in signers.items()}
    if priorities:
        _advance(priorities, powers)
    # Keep priorities bounded so they never grow without limit as powers change.
    if priorities:
        mean = sum(priorities.values()) // len(priorities)
        priorities = {a: p - mean for a, p in priorities.items()}
    return {a: {**s, "priority": priorities[a]} for a, s in signers.items()}


def verify_commit(commit: Commit, signers: Signers, chain_id: str, height: int, block_hash: str) -> None:
    """A commit is valid when distinct signers with more than 2/3 of power signed precommits
    for exactly this block."""
    if commit.height != height or commit.block_hash != block_hash:
        raise InvalidBlock(f"last commit is for block {commit.block_hash[:12]} at height {commit.height}, "
                           f"expected {block_hash[:12]} at height {height}")
    seen: set[str] = set()
    power = 0
    for sig in commit.signatures:
        if sig.validator in seen:
            raise InvalidBlock(f"commit has two signatures from {sig.validator}")
        seen.add(sig.validator)
        signer = signers.get(sig.validator)
        if signer is None:
            raise InvalidBlock(f"commit signature from {sig.validator}, which was not a validator at height {height}")
        if not commit_signature_valid(commit, chain_id, sig.validator, signer["pubkey"], sig.signature):
            raise InvalidBlock(f"commit signature from {sig.validator} does not verify")
        power += int(signer["power"])
    if power * 3 <= total_power(signers) * 2:
        raise InvalidBlock(f"commit has {power} of {total_power(signers)} voting power; more than 2/3 is needed")
