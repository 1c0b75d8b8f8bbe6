"""The miner's runtime: the parts composed, started in order, and stopped by a drain.

Everything runs on the daemon's event loop; inference runs on one dedicated thread per model
(:mod:`daemons.miner.worker`) and blocking node calls in ``asyncio.to_thread``, so heartbeats,
``/health`` and the event stream keep answering while a job generates.

The parts, each with one job, sharing one :class:`~daemons.miner.state.MinerState`:

- :class:`~daemons.miner.monitor.HardwareMonitor`: sample every ``telemetry_interval``, publish
  on topic ``telemetry``;
- :class:`~daemons.miner.bond_keeper.BondKeeper`: top the on-chain bond up to ``stake_amount``,
  retrying while it fails;
- :class:`~daemons.miner.session.CoordinatorSession`: register; heartbeat (free slots, running
  tasks, telemetry; drop what the coordinator cancels); long-poll for tasks while slots are free;
- :class:`~daemons.miner.execution.Execution`: one executor per loaded model runs queued tasks
  (a batch of run tasks, or one re-check);
- :class:`~daemons.miner.delivery.Delivery`: post results until the coordinator acknowledges
  them, with back-off;
- :class:`~daemons.miner.book.TaskBook`: every task's change of state, journaled
  (:mod:`daemons.miner.journal`) before work starts, so that a restart delivers, re-runs or hands
  back what the previous process held.

Bring-up: hash the weights (the model id registration needs), start loading, bond on chain,
register, then poll once a model is loaded. Early registration is deliberate: the weights' hash
is known long before they are loaded, so a restarted miner registers and heart-beats within
seconds. Otherwise a model load longer than the coordinator's heartbeat timeout would make it
give the restarted miner's jobs away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from daemons.common.daemon_key import InitError
from daemons.common.events import EventHub
from daemons.common.models import Door
from daemons.miner import serving
from daemons.miner.bond_keeper import BondKeeper
from daemons.miner.book import TaskBook
from daemons.miner.delivery import Delivery
from daemons.miner.execution import Execution
from daemons.miner.inference import ModelCatalogue
from daemons.miner.init import read_api_key, unlock_miner_key
from daemons.miner.models import Earnings, MinerHealth, MinerStatus, VerifyRequest, VerifyVerdict
from daemons.miner.monitor import HardwareMonitor
from daemons.miner.session import CoordinatorSession
from daemons.miner.settings import MinerSettings
from daemons.miner.state import Background, MinerState
from daemons.miner.tasks import HANDED_BACK, failure
from daemons.miner.telemetry import TelemetrySnapshot
from daemons.miner.views import health_view, status_view

log = logging.getLogger("aitbc.miner")
_FINAL_DELIVERY_S = 5.0
_DRAIN_POLL_S = 0.05


class MinerRuntime:
    """Owns the parts and their background tasks; the daemon's startup and shutdown hooks."""

    def __init__(self, settings: MinerSettings, catalogue: ModelCatalogue) -> None:
        self.settings = settings
        self.catalogue = catalogue
        self.hub = EventHub()
        self.state = MinerState(settings, self.hub)
        self.book = TaskBook(self.state)
        self.monitor = HardwareMonitor(self.state)
        self.session = CoordinatorSession(self.state, self.book, self.monitor)
        self.bonds = BondKeeper(self.state, on_bonded=lambda: self.session.register(force=True))
        self.execution = Execution(self.state, self.book, self.session)
        self.delivery = Delivery(self.state, self.book, self.session)
        self._background = Background(self.state)
        self._poll_task: asyncio.Task[Any] | None = None

    # ------------------------------------------------------------------------------ life cycle

    async def start(self) -> None:
        """Startup hook: only what must succeed for the daemon to run at all (key, journal)."""
        s, state = self.settings, self.state
        api_key = read_api_key(s)
        if s.compute_enabled and s.coordinator_is_url and not api_key:
            raise InitError(f"the coordinator at {s.coordinator_target} needs a miner API key: put it in "
                            f"{s.home.keys_dir / 'miner.apikey'} (`aitbc miner api-key`) or set coordinator_api_key_file")
        state.address, state.seed = await asyncio.to_thread(unlock_miner_key, s)
        await self.monitor.open()
        restored = state.journal.load()
        state.counters.restored = len(restored)
        if restored:
            log.info("tasks restored from the journal", extra={"tasks": [e.task_id for e in restored]})
        self._background.spawn(self.monitor.run(), "telemetry")
        if not s.compute_enabled:
            state.set_phase("telemetry_only")
            log.info("miner started (compute disabled: telemetry only)", extra={"address": state.address})
            return
        self.session.open(api_key)
        state.served = await asyncio.to_thread(serving.prepare, s, self.catalogue)
        state.set_phase("loading")
        self._background.spawn(self._bring_up(), "bring-up")
        snapshot = await self.monitor.telemetry()
        log.info("miner started", extra={"address": state.address, "coordinator": s.coordinator_target,
                                         "node": s.node_target, "models": s.models, "capacity": s.capacity,
                                         "nvml": snapshot.nvml_available})

    async def stop(self) -> None:
        """Shutdown hook: drain (finish running tasks within the grace period, hand back the
        rest), then stop every background task."""
        if self.session.opened:
            await self._drain()
        await self._background.cancel_all()
        await self.session.close()
        for sv in self.state.served:
            if sv.worker is not None:
                sv.worker.close()
        await self.monitor.close()
        log.info("miner stopped", extra={"tasks_left_in_journal": len(self.state.journal)})

    def inference_busy(self) -> bool:
        """True while some model's thread is inside a forward pass."""
        return any(sv.worker is not None and sv.worker.busy for sv in self.state.served)

    async def _bring_up(self) -> None:
        state, spawn = self.state, self._background.spawn
        spawn(self.delivery.run(), "delivery")  # restored results go out first, registered or not
        await serving.identify(state.served)
        loads = [asyncio.create_task(serving.load(sv)) for sv in state.served
                 if sv.backend is not None and sv.reason is None]
        spawn(self.bonds.run(), "bonding")
        if not loads:
            await self._fail_all("no configured model can be served here: "
                                 + "; ".join(f"{sv.name}: {sv.reason}" for sv in state.served))
            return
        await self.session.register()
        spawn(self.session.heartbeat_loop(), "heartbeat")
        await asyncio.gather(*loads)
        if not any(sv.usable for sv in state.served):
            await self._fail_all("no model could be loaded: "
                                 + "; ".join(f"{sv.name}: {sv.reason}" for sv in state.served))
            return
        if any(sv.model_id and not sv.usable for sv in state.served):
            await self.session.register(force=True)  # withdraw the models that failed to load
        for entry in state.journal.in_state("queued", "running"):
            if not state.usable(entry.task["model"]):
                await self.book.finish(entry, failure(f"model {entry.task['model']!r} is not loaded on this miner"),
                                       "failed")
        for sv in state.served:
            if sv.usable:
                spawn(self.execution.executor(sv), f"executor-{sv.name}")
        state.set_phase("serving")
        self._poll_task = spawn(self.session.poll_loop(), "poll")
        log.info("miner serving", extra={"models": [sv.name for sv in state.served if sv.usable]})

    async def _fail_all(self, why: str) -> None:
        """Nothing can be served: say so, and hand every task held back to the coordinator."""
        self.state.last_error = self.state.fail_reason = why
        self.state.set_phase("failed")
        log.error("miner cannot serve", extra={"reason": why})
        await self.book.answer_all(why, "failed", "queued", "running")

    async def _drain(self) -> None:
        s, state, journal = self.settings, self.state, self.state.journal
        deadline = time.monotonic() + s.drain_timeout
        state.draining = True
        state.set_phase("draining")
        log.info("draining", extra={"grace_s": s.drain_timeout, "tasks": len(journal)})
        await self.book.notify()
        if self._poll_task is not None and not self._poll_task.done():
            # A poll in flight may be handing us tasks: let it answer (bounded) so none is lost.
            # Saying we have no room first ends it at once rather than after its whole wait.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.session.beat(), timeout=max(0.0, deadline - time.monotonic()))
            await asyncio.wait([self._poll_task], timeout=max(0.0, deadline - time.monotonic()))
        await self.book.answer_all(HANDED_BACK, "handed_back", "queued")
        while journal.in_state("running", "done") and time.monotonic() < deadline:
            await asyncio.sleep(_DRAIN_POLL_S)
        for entry in journal.in_state("running"):
            log.warning("grace period over; handing back a running task", extra={"task_id": entry.task_id})
            await self.book.finish(entry, failure(HANDED_BACK), "handed_back")
        final = time.monotonic() + _FINAL_DELIVERY_S
        while journal.in_state("done") and time.monotonic() < final:
            await asyncio.sleep(_DRAIN_POLL_S)
        left = journal.in_state("done")
        if left:
            log.warning("results not delivered before exit; kept for the next start",
                        extra={"tasks": [e.task_id for e in left]})

    # ------------------------------------------------------------------------------ the API's view

    def health(self, door: Door) -> MinerHealth:
        return health_view(self.state, door)

    def status(self, earnings: Earnings | None = None) -> MinerStatus:
        return status_view(self.state, earnings)

    async def telemetry(self) -> TelemetrySnapshot:
        return await self.monitor.telemetry()

    async def earnings(self) -> Earnings:
        return await self.bonds.earnings()

    async def verify_claim(self, request: VerifyRequest) -> VerifyVerdict:
        return await self.execution.verify_claim(request)
