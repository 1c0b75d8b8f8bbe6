"""The miner's job loop: bond, register, heartbeat, long-poll, run, prove, deliver, drain.

Everything here runs on the daemon's event loop; inference runs on one dedicated thread per
model (:mod:`daemons.miner.worker`) and blocking node calls in ``asyncio.to_thread``, so
heartbeats, ``/health`` and the event stream keep answering while a job generates.

Background tasks, each with one job:

- telemetry: sample every ``telemetry_interval``, publish on topic ``telemetry``;
- bring-up: hash the weights (the model id registration needs), start loading, bond on chain,
  register, then poll once a model is loaded;
- bonding: top the on-chain bond up to ``stake_amount``, retrying while it fails;
- heartbeat: tell the coordinator free slots, running tasks and telemetry; drop what it cancels;
- poll: long-poll for tasks while there are free slots;
- one executor per loaded model: run queued tasks (a batch of run tasks, or one re-check);
- delivery: post results until the coordinator acknowledges them, with backoff.

Every task taken is written to the journal (:mod:`daemons.miner.journal`) before work starts,
so that a restart delivers, re-runs or hands back what the previous process held.

Early registration is deliberate: the weights' hash is known long before they are loaded, so a
restarted miner registers and heart-beats within seconds. Otherwise a model load longer than
the coordinator's heartbeat timeout would make it give the restarted miner's jobs away.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any

from chain.errors import ChainError
from daemons.common.api import ApiError
from daemons.common.errors import DaemonError
from daemons.common.events import EventHub
from daemons.common.logging import audit
from daemons.coordinator.client import AsyncCoordinatorClient
from daemons.coordinator.models import ReleaseReply, ResultReply, Task
from daemons.miner import tasks as t
from daemons.miner.bonding import BondError, chain_min_fee, ensure_bond, miner_record
from daemons.miner.inference import GenerationResult, InferenceError, ModelCatalogue, VerificationResult
from daemons.miner.init import read_api_key, unlock_miner_key
from daemons.miner.journal import JournalEntry, TaskJournal
from daemons.miner.models import (
    BondState, Counters, Earnings, GpuState, MinerHealth, MinerStatus, ModelState, Phase, Registration, TaskView,
    VerifyRequest, VerifyVerdict,
)
from daemons.miner.serving import Served, prepare
from daemons.miner.settings import MinerSettings
from daemons.miner.telemetry import TelemetrySampler, TelemetrySnapshot
from daemons.miner.worker import InferenceWorker
from daemons.node.client import AsyncNodeClient, NodeClient
from daemons.common.daemon_key import InitError

log = logging.getLogger("aitbc.miner")
VERSION = "0.1.0"
_BACKOFF_START_S = 0.5
_FINAL_DELIVERY_S = 5.0
_EARNINGS_TIMEOUT_S = 3.0
_BONDED_RECHECK_FACTOR = 10
_DEFAULT_HEARTBEAT_S = 5.0
_MB = 1 << 20


def _now_ms() -> int:
    return int(time.time() * 1000)


class Backoff:
    """Exponential pauses between retries: 0.5 s doubling up to ``cap``; reset on success."""

    def __init__(self, cap: float) -> None:
        self.cap = cap
        self._next = _BACKOFF_START_S

    def reset(self) -> None:
        self._next = _BACKOFF_START_S

    def next(self) -> float:
        delay, self._next = self._next, min(self.cap, self._next * 2)
        return delay


class MinerRuntime:
    """Owns the key, telemetry, backends, journal, coordinator session and background tasks."""

    journal: TaskJournal
    sampler: TelemetrySampler

    def __init__(self, settings: MinerSettings, catalogue: ModelCatalogue) -> None:
        self.settings = settings
        self.catalogue = catalogue
        self.hub = EventHub()
        self.phase: Phase = "starting"
        self.started_ms = _now_ms()
        self.counters = Counters()
        target = settings.stake_units
        self.bond = BondState(target=target, status="disabled" if target == 0 or not settings.compute_enabled
                              else "unknown")
        self.registration = Registration(coordinator=settings.coordinator_target)
        self.served: list[Served] = []
        self.snapshot: TelemetrySnapshot | None = None
        self.last_error: str | None = None
        self.address = ""
        self._seed = b""
        self._chain_id: str | None = None
        self._chain_problem: str | None = None
        self._fail_reason: str | None = None
        self._coord: AsyncCoordinatorClient | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._poll_task: asyncio.Task[Any] | None = None
        self._draining = False
        self._registered = False
        self._work = asyncio.Condition()
        self._deliver_wake = asyncio.Event()
        self._register_lock = asyncio.Lock()

    # ------------------------------------------------------------------------------ life cycle

    async def start(self) -> None:
        """Startup hook: only what must succeed for the daemon to run at all (key, journal)."""
        s = self.settings
        api_key = read_api_key(s)
        if s.compute_enabled and s.coordinator_is_url and not api_key:
            raise InitError(f"the coordinator at {s.coordinator_target} needs a miner API key: put it in "
                            f"{s.home.keys_dir / 'miner.apikey'} (`aitbc miner api-key`) or set coordinator_api_key_file")
        self.address, self._seed = await asyncio.to_thread(unlock_miner_key, s)
        self.sampler = await asyncio.to_thread(TelemetrySampler, s.gpu_devices)
        self.snapshot = await asyncio.to_thread(self.sampler.sample)
        self.journal = TaskJournal(s.journal_path)
        restored = self.journal.load()
        self.counters.restored = len(restored)
        if restored:
            log.info("tasks restored from the journal", extra={"tasks": [e.task_id for e in restored]})
        self._spawn(self._telemetry_loop(), "telemetry")
        if not s.compute_enabled:
            self._set_phase("telemetry_only")
            log.info("miner started (compute disabled: telemetry only)", extra={"address": self.address})
            return
        self._coord = AsyncCoordinatorClient(s.coordinator_target, api_key=api_key if s.coordinator_is_url else None,
                                             address=None if s.coordinator_is_url else self.address,
                                             timeout=s.poll_wait + 15)
        self.served = await asyncio.to_thread(prepare, s, self.catalogue)
        self._set_phase("loading")
        self._spawn(self._bring_up(), "bring-up")
        log.info("miner started", extra={"address": self.address, "coordinator": s.coordinator_target,
                                         "node": s.node_target, "models": s.models, "capacity": s.capacity,
                                         "nvml": self.snapshot.nvml_available})

    async def stop(self) -> None:
        """Shutdown hook: drain (finish running tasks within the grace period, hand back the
        rest), then stop every background task."""
        if self._coord is not None:
            await self._drain()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._coord is not None:
            await self._coord.aclose()
        for sv in self.served:
            if sv.worker is not None:
                sv.worker.close()
        if hasattr(self, "sampler"):
            await asyncio.to_thread(self.sampler.close)
        left = len(self.journal) if hasattr(self, "journal") else 0
        log.info("miner stopped", extra={"tasks_left_in_journal": left})

    def inference_busy(self) -> bool:
        """True while some model's thread is inside a forward pass."""
        return any(sv.worker is not None and sv.worker.busy for sv in self.served)

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(self._guard(coro, name), name=name)
        self._tasks.append(task)
        return task

    async def _guard(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        """A background task that dies unexpectedly is logged and reported, never silent."""
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("background task failed", extra={"task": name})
            self.last_error = f"{name}: {exc}"

    def _set_phase(self, phase: Phase) -> None:
        if phase != self.phase:
            self.phase = phase
            self.hub.publish("miner", {"phase": phase, "ready": self.ready()})

    # ------------------------------------------------------------------------------ bring-up

    async def _bring_up(self) -> None:
        self._spawn(self._delivery_loop(), "delivery")  # restored results go out first, registered or not
        for sv in self.served:
            if sv.backend is None:
                continue
            backend = sv.backend
            try:
                sv.model_id = t.model_id_hex(await asyncio.to_thread(lambda: backend.model_id))
            except (InferenceError, OSError) as exc:
                sv.reason = getattr(exc, "message", None) or str(exc)
        loads = [asyncio.create_task(self._load(sv)) for sv in self.served if sv.backend is not None and sv.reason is None]
        self._spawn(self._bond_loop(), "bonding")
        if not loads:
            await self._fail_all("no configured model can be served here: "
                                 + "; ".join(f"{sv.name}: {sv.reason}" for sv in self.served))
            return
        await self._register()
        self._spawn(self._heartbeat_loop(), "heartbeat")
        await asyncio.gather(*loads)
        if not any(sv.usable for sv in self.served):
            await self._fail_all("no model could be loaded: "
                                 + "; ".join(f"{sv.name}: {sv.reason}" for sv in self.served))
            return
        if any(sv.model_id and not sv.usable for sv in self.served):
            await self._register(force=True)  # withdraw the models that failed to load
        for entry in self.journal.in_state("queued", "running"):
            if not self._usable(entry.task["model"]):
                await self._finish(entry, t.failure(f"model {entry.task['model']!r} is not loaded on this miner"),
                                   "failed")
        for sv in self.served:
            if sv.usable:
                self._spawn(self._executor(sv), f"executor-{sv.name}")
        self._set_phase("serving")
        self._poll_task = self._spawn(self._poll_loop(), "poll")
        log.info("miner serving", extra={"models": [sv.name for sv in self.served if sv.usable]})

    async def _load(self, sv: Served) -> None:
        assert sv.backend is not None
        sv.worker = InferenceWorker(sv.name)
        started = time.monotonic()
        try:
            await sv.worker.run(sv.backend.load)
        except Exception as exc:  # any load failure is this model's, reported, not the daemon's end
            sv.reason = f"load failed: {getattr(exc, 'message', None) or exc}"
            log.error("model load failed", extra={"model": sv.name, "error": sv.reason})
            return
        sv.loaded = True
        log.info("model loaded", extra={"model": sv.name, "model_id": sv.model_id,
                                        "seconds": round(time.monotonic() - started, 1)})

    async def _fail_all(self, why: str) -> None:
        """Nothing can be served: say so, and hand every task held back to the coordinator."""
        self.last_error = self._fail_reason = why
        self._set_phase("failed")
        log.error("miner cannot serve", extra={"reason": why})
        for entry in self.journal.in_state("queued", "running"):
            await self._finish(entry, t.failure(why), "failed")

    def _usable(self, model: str) -> Served | None:
        return next((sv for sv in self.served if sv.name == model and sv.usable), None)

    # ------------------------------------------------------------------------------ chain

    async def _bond_loop(self) -> None:
        s = self.settings
        if self.bond.status == "disabled":
            return
        fee = s.tx_fee or chain_min_fee(s.home)
        while not self._draining:
            self.bond.status = "bonding" if self.bond.status in ("unknown", "short") else self.bond.status
            try:
                outcome = await asyncio.to_thread(self._ensure_bond, fee)
            except BondError as exc:
                self._bond_problem(str(exc))
            except (DaemonError, ChainError) as exc:
                self._bond_problem(f"node: {getattr(exc, 'message', None) or exc}", known=False)
            else:
                self.bond.on_chain, self.bond.error = outcome.bond, None
                self.bond.status = "bonded" if outcome.bond >= self.bond.target else "short"
                if outcome.tx_hash is not None:
                    self.bond.last_tx = outcome.tx_hash
                    audit("miner_bond", address=self.address, bond=outcome.bond, target=self.bond.target,
                          tx=outcome.tx_hash)
                    log.info("miner bond topped up", extra={"bond": outcome.bond, "tx": outcome.tx_hash})
                self._check_chain(outcome.chain_id)
            pause = s.bond_retry * (_BONDED_RECHECK_FACTOR if self.bond.status == "bonded" else 1)
            await asyncio.sleep(pause)

    def _ensure_bond(self, fee: int) -> Any:
        s = self.settings
        with NodeClient(s.node_target, timeout=s.commit_timeout + 10) as node:
            return ensure_bond(node, self._seed, self.address, self.bond.target, fee, s.commit_timeout)

    def _bond_problem(self, why: str, known: bool = True) -> None:
        """``known``: the bond was read and is short; otherwise the node could not be asked."""
        if self.bond.error != why:
            log.warning("cannot bond; will retry", extra={"reason": why, "retry_s": self.settings.bond_retry})
        self.bond.status, self.bond.error = ("short" if known else "unknown"), why

    def _check_chain(self, chain_id: str) -> None:
        """The node and the coordinator must be on one chain, or proofs would be for the wrong one."""
        if self._chain_id is None:
            self._chain_id = chain_id
        elif self._chain_id != chain_id:
            self._chain_problem = (f"the node runs chain {chain_id!r} but the coordinator settles on "
                                   f"{self._chain_id!r}; check the node and coordinator settings")
            log.error("chain mismatch", extra={"node_chain": chain_id, "coordinator_chain": self._chain_id})

    async def earnings(self) -> Earnings:
        """Balance, bond, slashed amount and settled jobs of this miner, from the node."""
        try:
            async with AsyncNodeClient(self.settings.node_target, timeout=_EARNINGS_TIMEOUT_S) as node:
                account = await node.get_account(self.address)
        except DaemonError as exc:
            return Earnings(address=self.address, error=exc.message)
        record = miner_record(account)
        return Earnings(address=self.address, balance=int(account["balance"]), bond=record["bond"],
                        slashed=record["slashed"], jobs_settled=record["jobs"], height=account.get("height"))

    # ------------------------------------------------------------------------------ coordinator

    def _registration_body(self) -> dict[str, Any]:
        s = self.settings
        models = [{"name": sv.name, "model_id": sv.model_id} for sv in self.served
                  if sv.model_id and sv.backend is not None and (sv.usable or not sv.reason)]
        return {"address": self.address, "pubkey": _pubkey(self._seed), "models": models, "capacity": s.capacity,
                "price_per_1k_tokens": s.price_per_1k_tokens, "gpus": self._gpu_infos()}

    async def _register(self, force: bool = False) -> None:
        """Register (again); retries with backoff until the coordinator answers or we drain."""
        assert self._coord is not None
        async with self._register_lock:
            if self._registered and not force:
                return
            backoff = Backoff(self.settings.retry_max)
            while not self._draining:
                try:
                    reply = await self._coord.register(self._registration_body())
                except DaemonError as exc:
                    self._registered = False
                    if self.registration.error != exc.message:
                        log.warning("cannot register with the coordinator; retrying",
                                    extra={"coordinator": self.settings.coordinator_target, "error": exc.message})
                    self.registration.registered, self.registration.error = False, exc.message
                    await asyncio.sleep(backoff.next())
                    continue
                self._registered = True
                self.registration = Registration(
                    coordinator=self.settings.coordinator_target, registered=True, bonded=reply.bonded,
                    chain_id=reply.chain_id, coordinator_address=reply.coordinator_address,
                    min_miner_bond=reply.min_miner_bond, heartbeat_interval_s=reply.heartbeat_interval_s,
                    last_heartbeat_ms=_now_ms())
                self._check_chain(reply.chain_id)
                self._chain_id = reply.chain_id  # proofs are for the coordinator's chain
                if self.bond.status != "disabled" and self.bond.target < reply.min_miner_bond:
                    log.warning("stake_amount is below the chain's minimum miner bond: no work will come",
                                extra={"stake_units": self.bond.target, "min_miner_bond": reply.min_miner_bond})
                log.info("registered with the coordinator", extra={
                    "coordinator": self.settings.coordinator_target, "chain_id": reply.chain_id,
                    "bonded": reply.bonded, "models": [m["name"] for m in self._registration_body()["models"]]})
                return

    async def _heartbeat_loop(self) -> None:
        assert self._coord is not None
        while True:
            interval = self.settings.heartbeat_interval or self.registration.heartbeat_interval_s or _DEFAULT_HEARTBEAT_S
            await asyncio.sleep(interval)
            busy = self.journal.in_state("queued", "running")
            try:
                # Draining: no room for new work, or the coordinator would hand back what we release.
                free = 0 if self._draining else self._free_slots()
                reply = await self._coord.heartbeat(free, [e.task_id for e in busy][:1024],
                                                    self._telemetry_summary())
            except DaemonError as exc:
                if exc.code == "not_registered":
                    self._registered = False
                    await self._register()
                else:
                    if self.registration.error != exc.message:
                        log.warning("heartbeat failed", extra={"error": exc.message})
                    self.registration.error = exc.message
                continue
            self.registration.last_heartbeat_ms, self.registration.error = _now_ms(), None
            for task_id in reply.cancel:
                await self._cancel(task_id)

    async def _poll_loop(self) -> None:
        assert self._coord is not None
        backoff = Backoff(self.settings.retry_max)
        while not self._draining:
            async with self._work:
                await self._work.wait_for(lambda: self._draining or self._free_slots() > 0)
            if self._draining:
                return
            try:
                tasks = await self._coord.poll(max_jobs=min(64, self._free_slots()), wait_s=self.settings.poll_wait)
            except DaemonError as exc:
                if exc.code == "not_registered":
                    self._registered = False
                    await self._register()
                    continue
                if self.last_error != f"poll: {exc.message}":
                    log.warning("poll failed; retrying", extra={"error": exc.message})
                self.last_error = f"poll: {exc.message}"
                await asyncio.sleep(backoff.next())
                continue
            backoff.reset()
            for task in tasks:
                await self._accept(task)

    async def _accept(self, task: Task) -> None:
        if task.task_id in self.journal:
            return  # the coordinator hands a task out once; a repeat changes nothing
        entry = JournalEntry(task=task.model_dump(), received_ms=_now_ms())
        sv = self._usable(task.model)
        problem = None
        if sv is None:
            problem = f"model {task.model!r} is not loaded on this miner"
        elif task.kind == "verify" and t.claimed_model_id(entry.task) not in (None, sv.model_id):
            problem = "this miner's weights differ from the claimed model id; it cannot re-check this output"
        self.journal.put(entry)
        log.info("task received", extra={"task_id": task.task_id, "kind": task.kind, "model": task.model})
        self._job_event(entry, "received")
        if problem is not None:
            await self._finish(entry, t.failure(problem), "failed")
            return
        async with self._work:
            self._work.notify_all()

    async def _cancel(self, task_id: str) -> None:
        entry = self.journal.remove(task_id)
        if entry is None:
            return
        self.counters.cancelled += 1
        log.info("task cancelled by the coordinator", extra={"task_id": task_id, "state": entry.state})
        self._job_event(entry, "cancelled")
        async with self._work:
            self._work.notify_all()

    def _free_slots(self) -> int:
        return max(0, self.settings.capacity - len(self.journal.in_state("queued", "running")))

    # ------------------------------------------------------------------------------ execution

    async def _executor(self, sv: Served) -> None:
        while True:
            async with self._work:
                await self._work.wait_for(lambda: self._draining or bool(self._queued_for(sv.name)))
                if self._draining:
                    return
                batch = self._take_batch(sv.name)
            now = _now_ms()
            for entry in [e for e in batch if int(e.task.get("deadline_ms") or now) < now]:
                batch.remove(entry)
                await self._finish(entry, t.failure("the task's deadline passed before this miner could run it"),
                                   "failed")
            if not batch:
                continue
            if batch[0].task["kind"] == "verify":
                await self._run_verify(sv, batch[0])
            else:
                await self._run_batch(sv, batch)

    def _queued_for(self, model: str) -> list[JournalEntry]:
        return [e for e in self.journal.in_state("queued") if e.task["model"] == model]

    def _take_batch(self, model: str) -> list[JournalEntry]:
        """The oldest queued task, with the queued run tasks that may share its generate call."""
        queued = self._queued_for(model)
        now = _now_ms()
        batch: list[JournalEntry] = []
        for entry in queued:
            if batch and (entry.task["kind"] == "verify" or batch[0].task["kind"] == "verify"):
                continue
            batch.append(entry)
            if len(batch) >= self.settings.capacity:
                break
        for entry in batch:
            entry.state, entry.started_ms = "running", now
            self.journal.put(entry)
            self._job_event(entry, "running")
        return batch

    async def _run_batch(self, sv: Served, entries: list[JournalEntry]) -> None:
        assert sv.backend is not None and sv.worker is not None
        runnable: list[tuple[JournalEntry, Any]] = []
        for entry in entries:
            try:
                runnable.append((entry, t.generation_request(entry.task["prompt"], entry.task["params"])))
            except t.TaskRefused as exc:
                await self._finish(entry, t.failure(str(exc)), "failed")
        if not runnable:
            return
        backend = sv.backend
        try:
            results = await sv.worker.run(partial(backend.generate, [r for _, r in runnable]))
        except InferenceError as exc:
            if len(runnable) > 1:  # one bad request refuses the batch: find it by running each alone
                for entry, _ in runnable:
                    await self._run_batch(sv, [entry])
                return
            await self._finish(runnable[0][0], t.failure(exc.message), "failed")
            return
        except Exception as exc:
            log.exception("generation failed", extra={"model": sv.name})
            for entry, _ in runnable:
                await self._finish(entry, t.failure(f"generation failed on this miner: {type(exc).__name__}"), "failed")
            return
        for (entry, _), result in zip(runnable, results):
            await self._finish_run(entry, result)

    async def _finish_run(self, entry: JournalEntry, result: GenerationResult) -> None:
        if self._chain_id is None:
            await self._finish(entry, t.failure("the miner does not know the chain id yet"), "failed")
            return
        coordinator = self.registration.coordinator_address
        if coordinator is None:
            await self._finish(entry, t.failure("the miner does not know the coordinator's address yet"), "failed")
            return
        body = t.run_result(entry.task, result, chain_id=self._chain_id, coordinator=coordinator, miner=self.address,
                            seed=self._seed)
        if await self._finish(entry, body, "completed"):
            self.counters.runs_completed += 1
            self.counters.prompt_tokens += result.prompt_tokens
            self.counters.completion_tokens += result.completion_tokens

    async def _run_verify(self, sv: Served, entry: JournalEntry) -> None:
        assert sv.backend is not None and sv.worker is not None and sv.model_id is not None
        task = entry.task
        if self._chain_id is None:
            await self._finish(entry, t.failure("the miner does not know the chain id yet"), "failed")
            return
        problem = t.claim_problem(task, chain_id=self._chain_id or "",
                                  coordinator=self.registration.coordinator_address or "", model_id=sv.model_id)
        if problem is not None:
            await self._finish(entry, {"accepted": False, "first_mismatch": None, "reason": problem[:500]}, "rejected")
            self.counters.verifies_rejected += 1
            return
        try:
            params = t.generation_params(task["params"])
            backend = sv.backend
            verification: VerificationResult = await sv.worker.run(
                partial(backend.verify, task["prompt"], task["claimed_output"], params))
        except t.TaskRefused as exc:
            await self._finish(entry, t.failure(str(exc)), "failed")
            return
        except InferenceError as exc:
            await self._finish(entry, t.failure(exc.message), "failed")
            return
        body = t.with_verdict(task, t.verify_result(task, verification), verifier=self.address, seed=self._seed)
        accepted = bool(body["accepted"])
        if await self._finish(entry, body, "accepted" if accepted else "rejected"):
            if accepted:
                self.counters.verifies_accepted += 1
            else:
                self.counters.verifies_rejected += 1
                log.warning("re-check refuted a claimed output", extra={
                    "job_id": task["job_id"], "runner": task["claimed_proof"]["body"].get("miner"),
                    "first_mismatch": body.get("first_mismatch"), "reason": body["reason"]})

    async def _finish(self, entry: JournalEntry, result: dict[str, Any], outcome: str) -> bool:
        """Record a task's answer (durably) and hand it to delivery; False if no longer ours."""
        if self.journal.get(entry.task_id) is not entry or entry.state == "done":
            return False
        entry.state, entry.result, entry.outcome, entry.finished_ms = "done", result, outcome, _now_ms()
        self.journal.put(entry)
        if outcome == "failed":
            self.counters.failed += 1
        elif outcome == "handed_back":
            self.counters.handed_back += 1
        log.info("task finished", extra={"task_id": entry.task_id, "outcome": outcome})
        self._job_event(entry, outcome)
        self._deliver_wake.set()
        async with self._work:
            self._work.notify_all()
        return True

    # ------------------------------------------------------------------------------ delivery

    async def _delivery_loop(self) -> None:
        backoff = Backoff(self.settings.retry_max)
        while True:
            pending = self.journal.in_state("done")
            if not pending:
                self._deliver_wake.clear()
                if not self.journal.in_state("done"):
                    await self._deliver_wake.wait()
                continue
            failed = False
            for entry in pending:
                if self.journal.get(entry.task_id) is not entry:
                    continue
                if not await self._deliver(entry):
                    failed = True
                    break
            if failed:
                self.counters.delivery_retries += 1
                await asyncio.sleep(backoff.next())
            else:
                backoff.reset()

    async def _deliver(self, entry: JournalEntry) -> bool:
        """Post one result; True when the coordinator settled the matter (accepted, refused or
        no longer ours), False when it should be retried later."""
        assert self._coord is not None and entry.result is not None
        entry.delivery_attempts += 1
        try:
            reply: ResultReply | ReleaseReply
            if entry.outcome == "handed_back":
                # A hand-back is no failure: the coordinator re-queues the task at once and counts
                # nothing against this miner's reputation.
                reply = await self._coord.release(entry.task_id)
            else:
                reply = await self._coord.result(entry.task_id, entry.result)
        except DaemonError as exc:
            if exc.status in (404, 409):
                log.info("the coordinator no longer holds this task; result dropped",
                         extra={"task_id": entry.task_id, "reason": exc.message})
                self._delivered(entry, "dropped")
                self.counters.results_refused += 1
                return True
            if exc.status == 422 and "error" not in entry.result:
                log.error("result refused as malformed; reporting a failure instead",
                          extra={"task_id": entry.task_id, "reason": exc.message})
                entry.result, entry.outcome = t.failure(f"result refused by the coordinator: {exc.message}"), "failed"
                self.counters.failed += 1
                self.journal.put(entry)
                return True
            if exc.status == 422:
                log.error("failure report refused; dropped", extra={"task_id": entry.task_id, "reason": exc.message})
                self._delivered(entry, "dropped")
                return True
            if self.last_error != f"deliver: {exc.message}":
                log.warning("result delivery failed; will retry", extra={"task_id": entry.task_id,
                                                                          "error": exc.message})
            self.last_error = f"deliver: {exc.message}"
            return False
        self.counters.results_delivered += 1
        if entry.outcome == "completed" and isinstance(reply, ResultReply) and not reply.accepted:
            self.counters.results_refused += 1
            log.warning("the coordinator refused a result", extra={"task_id": entry.task_id, "reason": reply.reason})
        self._delivered(entry, "delivered", reply.reason)
        return True

    def _delivered(self, entry: JournalEntry, event: str, reason: str = "") -> None:
        self.journal.remove(entry.task_id)
        self._job_event(entry, event, reason=reason)

    # ------------------------------------------------------------------------------ drain

    async def _drain(self) -> None:
        s = self.settings
        deadline = time.monotonic() + s.drain_timeout
        self._draining = True
        self._set_phase("draining")
        log.info("draining", extra={"grace_s": s.drain_timeout, "tasks": len(self.journal)})
        async with self._work:
            self._work.notify_all()
        if self._poll_task is not None and not self._poll_task.done():
            # A poll in flight may be handing us tasks: let it answer (bounded) so none is lost.
            await asyncio.wait([self._poll_task], timeout=max(0.0, deadline - time.monotonic()))
        for entry in self.journal.in_state("queued"):
            await self._finish(entry, t.failure(t.HANDED_BACK), "handed_back")
        while self.journal.in_state("running", "done") and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for entry in self.journal.in_state("running"):
            log.warning("grace period over; handing back a running task", extra={"task_id": entry.task_id})
            await self._finish(entry, t.failure(t.HANDED_BACK), "handed_back")
        final = time.monotonic() + _FINAL_DELIVERY_S
        while self.journal.in_state("done") and time.monotonic() < final:
            await asyncio.sleep(0.05)
        left = self.journal.in_state("done")
        if left:
            log.warning("results not delivered before exit; kept for the next start",
                        extra={"tasks": [e.task_id for e in left]})

    # ------------------------------------------------------------------------------ telemetry

    async def _telemetry_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.telemetry_interval)
            try:
                self.snapshot = await asyncio.to_thread(self.sampler.sample)
            except Exception:
                log.exception("telemetry sample failed")
                continue
            self.hub.publish("telemetry", self.snapshot.model_dump())

    async def telemetry(self) -> TelemetrySnapshot:
        if self.snapshot is None:
            self.snapshot = await asyncio.to_thread(self.sampler.sample)
        return self.snapshot

    def _gpu_infos(self) -> list[dict[str, Any]]:
        """Registration's view of the GPUs: name, total and free memory in MB (measured only)."""
        infos: list[dict[str, Any]] = []
        for gpu in self.snapshot.gpus if self.snapshot else []:
            if gpu.error is not None:
                continue
            info: dict[str, Any] = {"index": gpu.index, "name": gpu.name or ""}
            if gpu.memory_total_bytes is not None:
                info["memory_total_mb"] = gpu.memory_total_bytes // _MB
            if gpu.memory_free_bytes is not None:
                info["memory_free_mb"] = gpu.memory_free_bytes // _MB
            infos.append(info)
        return infos

    def _telemetry_summary(self) -> dict[str, Any]:
        """The heartbeat's telemetry: compact, and honest about what was not measured."""
        snap = self.snapshot
        if snap is None:
            return {}
        gpus = []
        for gpu, info in zip([g for g in snap.gpus if g.error is None], self._gpu_infos()):
            gpus.append({**info, "utilization_percent": gpu.utilization_percent,
                         "temperature_celsius": gpu.temperature_celsius, "power_watts": gpu.power_watts})
        host = snap.host
        return {"time_ms": snap.time_ms, "nvml_available": snap.nvml_available, "nvml_error": snap.nvml_error,
                "gpus": gpus, "host": {"cpu_percent": host.cpu_percent, "ram_used_bytes": host.ram_used_bytes,
                                       "ram_total_bytes": host.ram_total_bytes, "load_avg_1m": host.load_avg_1m}}

    def gpu_state(self) -> GpuState:
        devices = list(self.settings.gpu_devices)
        snap = self.snapshot
        if snap is None:
            return GpuState(ok=False, reason="not sampled yet", devices=devices)
        readable = [g for g in snap.gpus if g.error is None]
        if not snap.nvml_available:
            reason: str | None = snap.nvml_error or "NVML is not available"
        elif not devices:
            reason = "no gpu_devices configured"
        elif len(readable) < len(devices):
            reason = "; ".join(g.error for g in snap.gpus if g.error) or "a configured GPU cannot be read"
        else:
            reason = None
        return GpuState(ok=reason is None, reason=reason, devices=devices, seen=len(readable),
                        driver_version=snap.driver_version)

    # ------------------------------------------------------------------------------ views

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
            why.append(self._fail_reason or "no model can be served")
        elif loading:
            why.append(f"loading {', '.join(loading)}")
        elif self.phase == "loading":
            why.append("waiting for the coordinator before taking jobs")
        if not self.registration.registered:
            why.append("not registered with the coordinator" +
                       (f": {self.registration.error}" if self.registration.error else ""))
        elif self.registration.error:
            why.append(f"coordinator unreachable: {self.registration.error}")
        if self._chain_problem:
            why.append(self._chain_problem)
        if self.bond.status not in ("bonded", "disabled"):
            why.append(f"not bonded ({self.bond.status})" + (f": {self.bond.error}" if self.bond.error else ""))
        return why

    def ready(self) -> bool:
        return not self.reasons()

    def health(self, door: Any) -> MinerHealth:
        gpu = self.gpu_state()
        loaded = [sv.name for sv in self.served if sv.usable]
        reasons = self.reasons()
        return MinerHealth(status="ok" if not reasons else "unavailable", version=VERSION, pid=os.getpid(), door=door,
                           phase=self.phase, ready=not reasons, compute_enabled=self.settings.compute_enabled,
                           model_loaded=bool(loaded), models=loaded, gpu_ok=gpu.ok, gpu_reason=gpu.reason,
                           reasons=reasons)

    def status(self, earnings: Earnings | None = None) -> MinerStatus:
        s = self.settings
        models = [ModelState(name=sv.name, backend=sv.backend.backend_name if sv.backend else None,
                             model_id=sv.model_id, loaded=sv.loaded, served=sv.usable, reason=sv.reason)
                  for sv in self.served]
        tasks = [TaskView(task_id=e.task_id, kind=e.task["kind"], job_id=e.task["job_id"], model=e.task["model"],
                          state=e.state, received_ms=e.received_ms, started_ms=e.started_ms,
                          finished_ms=e.finished_ms, deadline_ms=e.task.get("deadline_ms"), outcome=e.outcome,
                          delivery_attempts=e.delivery_attempts, restarts=e.restarts)
                 for e in (self.journal if hasattr(self, "journal") else [])]
        reasons = self.reasons()
        return MinerStatus(
            address=self.address, version=VERSION, phase=self.phase, ready=not reasons, reasons=reasons,
            compute_enabled=s.compute_enabled, node=s.node_target, capacity=s.capacity,
            free_slots=self._free_slots() if hasattr(self, "journal") else s.capacity,
            price_per_1k_tokens=s.price_per_1k_tokens, models=models, gpu=self.gpu_state(), tasks=tasks,
            counters=self.counters.model_copy(), bond=self.bond.model_copy(),
            registration=self.registration.model_copy(), earnings=earnings or Earnings(address=self.address),
            started_ms=self.started_ms, uptime_s=round((_now_ms() - self.started_ms) / 1000, 3),
            last_error=self.last_error)

    def _job_event(self, entry: JournalEntry, event: str, reason: str = "") -> None:
        data = {"task_id": entry.task_id, "kind": entry.task["kind"], "job_id": entry.task["job_id"],
                "model": entry.task["model"], "event": event, "state": entry.state, "outcome": entry.outcome}
        if reason:
            data["reason"] = reason
        self.hub.publish("job", data)

    # ------------------------------------------------------------------------------ operator check

    async def verify_claim(self, request: VerifyRequest) -> VerifyVerdict:
        """Re-check an output exactly as a re-check task would (operator socket only)."""
        sv = self._usable(request.model)
        if sv is None:
            loaded = ", ".join(x.name for x in self.served if x.usable) or "none"
            raise ApiError(409, "model_not_loaded", f"model {request.model!r} is not loaded here (loaded: {loaded})")
        assert sv.backend is not None and sv.worker is not None
        try:
            params = t.generation_params(request.params.model_dump())
        except t.TaskRefused as exc:
            raise ApiError(422, "invalid_request", str(exc)) from None
        backend = sv.backend
        check: Callable[[], VerificationResult] = partial(backend.verify, request.prompt, request.output, params)
        try:
            result = await sv.worker.run(check)
        except InferenceError as exc:
            raise ApiError(422, "cannot_verify", exc.message) from None
        return VerifyVerdict(accepted=result.accepted, first_mismatch=result.first_mismatch, reason=result.reason,
                             mode=result.mode, model_id=t.model_id_hex(result.model_id),
                             prompt_tokens=result.prompt_tokens, checked_tokens=result.checked_tokens,
                             mismatches=[m.model_dump() for m in result.mismatches])


def _pubkey(seed: bytes) -> str:
    from chain.crypto import pubkey_from_seed

    return pubkey_from_seed(seed).hex()
