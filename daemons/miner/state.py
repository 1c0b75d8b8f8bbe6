"""What the miner's parts share: the facts they read and write, and the background tasks.

The miner is a few parts with one job each (:mod:`~daemons.miner.monitor` samples the hardware,
:mod:`~daemons.miner.bond_keeper` keeps the bond, :mod:`~daemons.miner.session` talks to the
coordinator, :mod:`~daemons.miner.execution` runs tasks, :mod:`~daemons.miner.delivery` posts
their results). They meet here, on one :class:`MinerState`: the phase, the identity, the served
models, the journal of tasks held, the bond and registration as last seen, the counters. Every
field exists from construction on (the key and the journal's contents arrive at ``start()``), so
no part needs to ask whether another has started.

Readiness (:meth:`MinerState.reasons`) is computed here because it is a function of these facts
alone, and every phase change publishes it on the ``miner`` topic.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import Any

from daemons.common.events import EventHub
from daemons.miner.journal import JournalEntry, TaskJournal
from daemons.miner.models import BondState, Counters, Phase, Registration
from daemons.miner.serving import Served
from daemons.miner.settings import MinerSettings
from daemons.miner.telemetry import TelemetrySnapshot

log = logging.getLogger("aitbc.miner")


def now_ms() -> int:
    return int(time.time() * 1000)


class MinerState:
    """The miner's facts, shared by its parts. Used from the event loop's thread only."""

    def __init__(self, settings: MinerSettings, hub: EventHub) -> None:
        self.settings = settings
        self.hub = hub
        self.phase: Phase = "starting"
        self.started_ms = now_ms()
        self.counters = Counters()
        target = settings.stake_units
        self.bond = BondState(target=target, status="disabled" if target == 0 or not settings.compute_enabled
                              else "unknown")
        self.registration = Registration(coordinator=settings.coordinator_target)
        self.served: list[Served] = []
        self.journal = TaskJournal(settings.journal_path)
        self.snapshot: TelemetrySnapshot | None = None
        self.address = ""
        self.seed = b""
        self.last_error: str | None = None
        self.fail_reason: str | None = None
        """Why nothing can be served (phase ``failed``)."""
        self.chain_id: str | None = None
        """The coordinator's chain: proofs are signed for it."""
        self.chain_problem: str | None = None
        self.draining = False

    # ------------------------------------------------------------------------------ phase

    def set_phase(self, phase: Phase) -> None:
        if phase != self.phase:
            self.phase = phase
            self.hub.publish("miner", {"phase": phase, "ready": self.ready()})

    def reasons(self) -> list[str]:
        """Why the miner is not ready to take jobs (empty when it is)."""
        if not self.settings.compute_enabled:
            return [] if self.snapshot is not None else ["starting"]
        why: list[str] = []
        loading = [sv.name for sv in self.served if sv.backend is not None and not sv.loaded and sv.reason is None]
        if self.phase == "starting":
            why.append("starting")
        elif self.phase == "draining":
            why.append("draining (shutting down)")
        elif self.phase == "failed":
            why.append(self.fail_reason or "no model can be served")
        elif loading:
            why.append(f"loading {', '.join(loading)}")
        elif self.phase == "loading":
            why.append("waiting for the coordinator before taking jobs")
        if not self.registration.registered:
            why.append("not registered with the coordinator" +
                       (f": {self.registration.error}" if self.registration.error else ""))
        elif self.registration.error:
            why.append(f"coordinator unreachable: {self.registration.error}")
        if self.chain_problem:
            why.append(self.chain_problem)
        if self.bond.status not in ("bonded", "disabled"):
            why.append(f"not bonded ({self.bond.status})" + (f": {self.bond.error}" if self.bond.error else ""))
        elif (self.bond.status == "bonded" and self.registration.registered and not self.registration.bonded
              and (self.bond.on_chain or 0) >= (self.registration.min_miner_bond or 0)):
            why.append("bonded on chain; waiting for the coordinator to see the bond")
        return why

    def ready(self) -> bool:
        return not self.reasons()

    # ------------------------------------------------------------------------------ models, tasks, chain

    def usable(self, model: str) -> Served | None:
        """The served model of that name when it is loaded and usable."""
        return next((sv for sv in self.served if sv.name == model and sv.usable), None)

    def free_slots(self) -> int:
        return max(0, self.settings.capacity - len(self.journal.in_state("queued", "running")))

    def job_event(self, entry: JournalEntry, event: str, reason: str = "") -> None:
        """Publish a task's step on the ``job`` topic."""
        data = {"task_id": entry.task_id, "kind": entry.task["kind"], "job_id": entry.task["job_id"],
                "model": entry.task["model"], "event": event, "state": entry.state, "outcome": entry.outcome}
        if reason:
            data["reason"] = reason
        self.hub.publish("job", data)

    def check_chain(self, chain_id: str) -> None:
        """The node and the coordinator must be on one chain, or proofs would be for the wrong one."""
        if self.chain_id is None:
            self.chain_id = chain_id
        elif self.chain_id != chain_id:
            self.chain_problem = (f"the node runs chain {chain_id!r} but the coordinator settles on "
                                  f"{self.chain_id!r}; check the node and coordinator settings")
            log.error("chain mismatch", extra={"node_chain": chain_id, "coordinator_chain": self.chain_id})


class Background:
    """The miner's background tasks: each guarded, so one that dies is logged and reported
    (``last_error``), never silent; all cancelled together at shutdown."""

    def __init__(self, state: MinerState) -> None:
        self._state = state
        self._tasks: list[asyncio.Task[Any]] = []

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(self._guard(coro, name), name=name)
        self._tasks.append(task)
        return task

    async def cancel_all(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _guard(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("background task failed", extra={"task": name})
            self._state.last_error = f"{name}: {exc}"
