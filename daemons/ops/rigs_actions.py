"""Actions on rigs, the same for the CLI and the TUI: miner control, settings, logs, exec.

Each action is one SSH command over the rig's master (:class:`daemons.ops.rigs_ssh.RigLink`).
Miner control and settings run the rig-side agent (:mod:`daemons.ops.rigs_agent`) with the rig's
own Python, so the rig's installed code decides (systemd or supervisor, what a valid setting is);
this side only builds the quoted command and reads the one JSON answer. Actions on many rigs run
concurrently (:func:`on_rigs`), each rig's outcome reported on its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from daemons.ops.rigs import Rig, RigError
from daemons.ops.rigs_ssh import RigLink

MINER_ACTIONS = ("start", "stop", "restart", "drain")
ACTION_TIMEOUT_S = 420.0
"""Longer than the agent waits for a miner to start (a restart is a stop and a start)."""
T = TypeVar("T")


def agent_argv(rig: Rig, *args: str) -> list[str]:
    """The rig-side argv of the agent (``python -P -m daemons.ops.rigs_agent --home H ...``)."""
    return [rig.remote_python, "-P", "-m", "daemons.ops.rigs_agent", "--home", str(rig.remote_home), *args]


def _agent(link: RigLink, *args: str, timeout_s: float = ACTION_TIMEOUT_S) -> dict[str, Any]:
    done = link.run(agent_argv(link.rig, *args), timeout_s=timeout_s)
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        raise RigError(f"rig {link.rig.name}: {lines[-1] if lines else f'exited with {done.returncode}'}")
    try:
        answer = json.loads(done.stdout.decode(errors="replace").strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise RigError(f"rig {link.rig.name}: the rig's AITBC gave no answer (is it installed? "
                       f"`aitbc rig provision {link.rig.name}`)") from None
    return answer if isinstance(answer, dict) else {"answer": answer}


def miner_action(link: RigLink, action: str) -> dict[str, Any]:
    """start, stop, restart or drain the rig's miner."""
    if action not in MINER_ACTIONS:
        raise RigError(f"unknown miner action {action!r} (one of {', '.join(MINER_ACTIONS)})")
    return _agent(link, "miner", action)


def config_set(link: RigLink, assignments: Sequence[str], *, restart: bool = True) -> dict[str, Any]:
    """Write ``table.key=value`` settings on the rig after its own settings code accepted them;
    a running miner is restarted to apply them unless ``restart`` is False."""
    for item in assignments:
        if "=" not in item or item.startswith("-"):
            raise RigError(f"{item!r}: write TABLE.KEY=VALUE, e.g. mining.gpu_devices=0,1")
    return _agent(link, "config", *assignments, *(["--restart"] if restart else []))


def on_rigs(links: Sequence[RigLink], act: Callable[[RigLink], T]) -> dict[str, T | RigError]:
    """``act`` on every rig at once; each rig's result or its RigError (one slow rig delays only
    its own answer)."""
    def one(link: RigLink) -> T | RigError:
        try:
            return act(link)
        except RigError as exc:
            return exc
    if not links:
        return {}
    with ThreadPoolExecutor(max_workers=min(32, len(links))) as pool:
        results = list(pool.map(one, links))
    return {link.rig.name: result for link, result in zip(links, results)}
