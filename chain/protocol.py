"""The version of the state machine's rules, and the check that a chain runs the version here.

Protocol 1 is the rule set before issue 22 (slashing that unbonding could escape, rewards paid
to every validator, per-block scans of all delegations and payouts). Protocol 2 is the rule set
of this code: delegations as shares of a validator's pool, slashable unbonding entries, the
downtime window, fee-capped miner rewards and the secondary indexes in the ``index`` namespace.

Version 2 state carries data version 1 state does not (shares, reward indexes, payout indexes),
so running these rules over a version 1 state would silently misread it. Instead a block on such
a chain is refused with a message naming both versions: a live chain moves to version 2 through
governance's ``software_upgrade``, whose handler migrates the state and then sets
``params.protocol_version``. New genesis documents get the current version by default.
"""

from __future__ import annotations

from typing import Any

from chain.errors import InvalidBlock

PROTOCOL_VERSION = 2
"""The only rule set this code implements."""


def chain_protocol_version(raw_params: dict[str, Any]) -> int:
    """The version a state's stored parameters name; states from before versioning are 1."""
    return int(raw_params.get("protocol_version", 1))


def require_supported(raw_params: dict[str, Any]) -> None:
    """Refuse to apply blocks to a chain whose rules are not the ones implemented here."""
    version = chain_protocol_version(raw_params)
    if version != PROTOCOL_VERSION:
        raise InvalidBlock(f"the chain runs protocol version {version}, this node implements version "
                           f"{PROTOCOL_VERSION}; it must be adopted by a software_upgrade first")


def apply_upgrade(raw_params: dict[str, Any], protocol_version: int | None) -> dict[str, Any] | None:
    """The stored parameters once a ``software_upgrade`` reaches its height: with the plan's
    protocol version, or ``None`` when the plan changes no rules. Applied before the height's
    ``require_supported``, so the upgrade block itself already runs (and demands) the new rules."""
    if protocol_version is None or protocol_version == chain_protocol_version(raw_params):
        return None
    return {**raw_params, "protocol_version": protocol_version}
