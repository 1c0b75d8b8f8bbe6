"""Scheduled software upgrades (``chain.governance``'s ``software_upgrade``), on the node's side.

A passed upgrade proposal leaves a plan in state (``meta/upgrade``: name, minimum software
version, height, proposal id). Like Cosmos SDK's x/upgrade, a node whose software is older than
the plan's version must not apply the block at the plan's height or any later one: it would run
rules it does not implement and fork. So the node checks the plan after every block it commits
and at start-up, and stops with a message naming the proposal and the version to install; a node
at or above the version goes on.

The software version is the installed ``aitbc`` distribution's version (importlib.metadata, the
one ``pip`` installed), compared as dotted integers (the form ``software_upgrade`` accepts).
"""

from __future__ import annotations

import re
from typing import Any

from chain.state import State

_LEADING_NUMBERS = re.compile(r"^[0-9]+(\.[0-9]+)*")




def version_key(version: str) -> tuple[int, ...]:
    """``"0.10.2"`` -> ``(0, 10, 2)``, trailing zeros dropped so ``1.0`` equals ``1.0.0``. A
    pre-release suffix (``0.2.0.dev1``, ``0.2.0rc1``) is ignored: it counts as that release."""
    match = _LEADING_NUMBERS.match(version)
    if match is None:
        raise ValueError(f"cannot read software version {version!r}")
    parts = [int(part) for part in match.group(0).split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def scheduled_plan(state: State) -> dict[str, Any] | None:
    return state.get("meta", "upgrade")


def halt_reason(state: State, version: str) -> str | None:
    """Why this node must stop before the next block, or None when it may apply it."""
    plan = scheduled_plan(state)
    if plan is None or state.height + 1 < plan["height"]:
        return None
    if version_key(version) >= version_key(plan["version"]):
        return None
    return (f"software upgrade {plan['name']!r} (proposal {plan['proposal_id']}) took effect at height "
            f"{plan['height']}: it needs aitbc {plan['version']} or later, this node runs {version}. "
            f"Install aitbc {plan['version']} and start the node again.")
