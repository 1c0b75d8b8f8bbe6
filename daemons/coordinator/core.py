"""The coordinator's core: jobs, miners, matching, results and receipts, without any server.

The API (``daemons.coordinator.api``) calls these methods from worker threads; every state
change is one guarded transaction in :class:`~daemons.coordinator.store.CoordinatorStore`, so
several threads, or several processes on one PostgreSQL, can run them at once. Refusals are
:class:`~daemons.common.api.ApiError` with the status and code the API answers.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from chain.errors import ChainError
from chain.receipt import MinerProof, ReceiptBody, sign_receipt
from chain.receipt_verify import proof_mismatch
from chain.tx import WrongResultEvidence
from chain.verdict import evidence_problem
from daemons.common.api import ApiError
from daemons.common.errors import DaemonError
from daemons.common.logging import audit
from daemons.coordinator import models as m
from daemons.coordinator.chain_view import ChainView, Escrow
from daemons.coordinator.live import LiveOutputs
from daemons.coordinator.market import RECHECK_TIMEOUT, free_gpu_memory, job_price, may_verify, reputation
from daemons.coordinator.models import BUSY, JobRecord, JobStatus
from daemons.coordinator.part import Part, Publish, publish_nowhere
from daemons.coordinator.settings import CoordinatorSettings
from daemons.coordinator.store import Conflict, CoordinatorStore, InsufficientEscrow, MinerRecord, ReceiptRecord

log = logging.getLogger("aitbc.coordinator")
R = TypeVar("R", JobRecord, ReceiptRecord)
VERIFY_SUFFIX = ":verify"
_TOUCH_EVERY_MS = 1000
QUEUE_SCAN = 1000
"""Most queued jobs counted for the public queue depth (a deeper queue shows as this many)."""
SERVED_FOR_MS = 1000
"""How long submissions reuse the finding that a live, bonded miner serves a model. A miner
counts as live for ``heartbeat_timeout`` seconds after it was last seen; reusing the finding
for a second moves that edge by at most a second, and spares every submission a read that
cost as much as its own insert (each commit of another thread's connection empties this
connection's page cache). A model found unserved is asked again each time."""


def receipt_view(receipt: ReceiptRecord) -> m.ReceiptInfo:
    return m.ReceiptInfo.model_validate(receipt.model_dump(include=set(m.ReceiptInfo.model_fields)))


def cursor_after(page: Sequence[Any], limit: int, id_field: str) -> str | None:
    """The cursor of the next page after a full one (read back by :func:`parse_cursor`)."""
    if not page or len(page) < limit:
        return None
    return f"{page[-1].created_ms}:{getattr(page[-1], id_field)}"


def _visible(record: R | None, client: str | None, missing: str) -> R:
    """A job or receipt the caller may see: the operator (``client`` None) sees all, a client
    only its own. Another client's looks missing, so that ids of others' work are not confirmed."""
    if record is None or (client is not None and record.client != client):
        raise ApiError(404, "not_found", missing)
    return record


def parse_cursor(cursor: str | None) -> tuple[int, str] | None:
    if not cursor:
        return None
    created, sep, ident = cursor.partition(":")
    if not sep or not created.isdigit() or not ident:
        raise ApiError(422, "invalid_request", "cursor: not a cursor returned by this API")
    return int(created), ident


class CoordinatorCore(Part):
    def __init__(self, settings: CoordinatorSettings, store: CoordinatorStore, chain: ChainView, address: str,
                 seed: bytes, *, publish: Publish = publish_nowhere, notify: Callable[[], None] = lambda: None,
                 listening: Callable[[], bool] = lambda: False, clock: Callable[[], float] = time.time) -> None:
        super().__init__(settings, store, chain, address, seed, publish=publish, clock=clock)
        self.notify = notify
        self.listening = listening
        """Whether anyone subscribed to events: job events cost database reads, so skip them if not."""
        self._match_lock = threading.Lock()
        self._touched: dict[str, int] = {}
        self._served_at: dict[str, int] = {}
        """Model -> when a live, bonded miner was last found serving it (see :data:`SERVED_FOR_MS`)."""
        self._full_since: dict[str, float] = {}
        """When (monotonic) each miner last said it has no room: its waiting long poll ends then."""
        self._random = random.SystemRandom()
        self.live = LiveOutputs(settings.max_output_chars)
        """Running jobs' output as their miners push it (``daemons.coordinator.live``)."""

    # -- time and thresholds -------------------------------------------------------------------------

    def live_since(self, now_ms: int) -> int:
        return now_ms - int(self.settings.heartbeat_timeout * 1000)

    @property
    def required_bond(self) -> int:
        """A miner needs the chain's minimum bond, and at least some bond: the chain settles
        receipts only for miners it knows."""
        return max(self.chain.params.min_miner_bond, 1)

    # -- client role ---------------------------------------------------------------------------------

    def submit(self, client: str, request: m.JobRequest, default_max_price: int | None = None) -> JobRecord:
        """Queue ``request`` for ``client``, reserving its max price: the request's, else
        ``default_max_price`` (the API key's), else the coordinator's ``default_max_price``."""
        settings = self.settings
        if len(request.prompt) > settings.max_prompt_chars:
            raise ApiError(422, "invalid_request", f"prompt: longer than {settings.max_prompt_chars} characters")
        if request.params.max_tokens > settings.max_tokens_limit:
            raise ApiError(422, "invalid_request", f"params.max_tokens: at most {settings.max_tokens_limit}")
        now = self.now_ms()
        if not self._is_served(request.model, now):
            served = self.store.served_models(self.live_since(now), self.required_bond)
            names = ", ".join(sorted(served)) or "none"
            raise ApiError(409, "model_not_served", f"no live miner serves model {request.model!r}; served models: {names}")
        max_price = request.max_price or default_max_price or settings.default_max_price
        job_id = uuid.uuid4().hex
        params = request.params.job_params()
        job = None
        for fresh in (False, True):
            escrow = self._escrow(client, fresh=fresh)
            try:
                job = self.store.submit_job(job_id=job_id, client=client, model=request.model, prompt=request.prompt,
                                            params=params, max_price=max_price, escrow=escrow.spendable,
                                            escrow_height=escrow.height, now_ms=now)
                break
            except InsufficientEscrow as exc:
                if fresh:
                    raise ApiError(402, "insufficient_escrow",
                                   f"{exc.message}; deposit more with an escrow_deposit for coordinator {self.address}") from None
        assert job is not None
        log.info("job submitted", extra={"job_id": job_id, "client": client, "model": request.model,
                                         "max_price": max_price})
        self._job_event(job)
        # Matching is the pollers' work (and the maintenance loop's), not the client's: a submission
        # that matched in its own request held the match lock and re-scanned the queue each time,
        # so submissions queued behind each other. Waiting polls wake now and match at once.
        self.notify()
        return job

    def _is_served(self, model: str, now: int) -> bool:
        found = self._served_at.get(model)
        if found is not None and 0 <= now - found < SERVED_FOR_MS:
            return True
        if self.store.is_served(model, self.live_since(now), self.required_bond):
            self._served_at[model] = now
            return True
        self._served_at.pop(model, None)
        return False

    def _escrow(self, client: str, *, fresh: bool) -> Escrow:
        try:
            return self.chain.escrow(client, self.address, fresh=fresh)
        except DaemonError as exc:
            raise ApiError(503, "node_unavailable", f"cannot read the escrow from the node: {exc.message}") from None

    def job_for(self, job_id: str, client: str | None) -> JobRecord:
        return _visible(self.store.get_job(job_id), client, f"no job {job_id}")

    def list_jobs(self, client: str | None, status: str | None, limit: int, cursor: str | None) -> m.JobPage:
        jobs = self.store.list_jobs(client, status, limit, parse_cursor(cursor))
        return m.JobPage(jobs=[j.client_view() for j in jobs], next_cursor=cursor_after(jobs, limit, "job_id"))

    def cancel(self, job_id: str, client: str | None) -> JobRecord:
        try:
            job = self.store.cancel_job(job_id, client, self.now_ms())
        except KeyError:
            raise ApiError(404, "not_found", f"no job {job_id}") from None
        except Conflict as exc:
            raise ApiError(409, "conflict", exc.message) from None
        self.live.forget(job_id)
        log.info("job cancelled", extra={"job_id": job_id, "client": job.client})
        self._job_event(job)
        return job

    def account(self, client: str) -> m.Account:
        escrow = self._escrow(client, fresh=True)
        reserved = self.store.reserved(client, escrow.height)
        return m.Account(address=client, escrow_balance=escrow.spendable, reserved=reserved,
                         available=max(0, escrow.spendable - reserved), height=escrow.height)

    def models(self) -> m.ModelList:
        served = self.store.served_models(self.live_since(self.now_ms()), self.required_bond)
        result = []
        for name, miners in sorted(served.items()):
            result.append(m.ModelInfo(id=name, aitbc=m.ModelFacts(
                model_ids=sorted({mi.models[name] for mi in miners}), live_miners=len(miners),
                free_slots=sum(max(0, mi.open_slots) for mi in miners),
                min_price_per_1k_tokens=min(mi.price_per_1k for mi in miners))))
        return m.ModelList(data=result)

    def receipt_for(self, receipt_id: str, client: str | None) -> ReceiptRecord:
        receipt = self.store.get_receipt(receipt_id) or self.store.receipt_for_job(receipt_id)
        return _visible(receipt, client, f"no receipt {receipt_id}")

    def list_receipts(self, client: str | None, job_id: str | None, limit: int, cursor: str | None) -> m.ReceiptPage:
        receipts = self.store.list_receipts(client, job_id, limit, parse_cursor(cursor))
        return m.ReceiptPage(receipts=[receipt_view(r) for r in receipts],
                             next_cursor=cursor_after(receipts, limit, "receipt_id"))

    # -- miner role ----------------------------------------------------------------------------------

    def register(self, miner: str | None, reg: m.MinerRegistration) -> m.RegisterReply:
        from chain.crypto import address_from_pubkey

        if miner is not None and reg.address != miner:
            raise ApiError(403, "wrong_address", f"this API key belongs to {miner}, not {reg.address}")
        if address_from_pubkey(bytes.fromhex(reg.pubkey)) != reg.address:
            raise ApiError(422, "invalid_request", "pubkey: does not belong to address")
        now = self.now_ms()
        try:
            bond = self.chain.bond(reg.address)
        except DaemonError as exc:
            log.warning("cannot read miner bond; will retry", extra={"miner": reg.address, "error": exc.message})
            bond = 0
        record = self.store.register_miner(
            reg.address, reg.pubkey, {s.name: s.model_id for s in reg.models}, reg.capacity, reg.price_per_1k_tokens,
            [g.model_dump() for g in reg.gpus], free_gpu_memory([g.model_dump() for g in reg.gpus]), now)
        self.store.set_bond(reg.address, bond, now)
        log.info("miner registered", extra={"miner": reg.address, "models": sorted(record.models),
                                            "capacity": reg.capacity, "bond": bond})
        self.publish("miner", {"address": reg.address, "event": "registered"})
        self.notify()
        return m.RegisterReply(chain_id=self.chain.chain_id, coordinator_address=self.address,
                               heartbeat_interval_s=self.settings.heartbeat_interval,
                               min_miner_bond=self.chain.params.min_miner_bond, bonded=bond >= self.required_bond)

    def heartbeat(self, miner: str, beat: m.Heartbeat) -> m.HeartbeatReply:
        now = self.now_ms()
        gpus = beat.telemetry.get("gpus")
        free_mem = free_gpu_memory(gpus) if isinstance(gpus, list) and all(isinstance(g, dict) for g in gpus) else None
        # Stored with the tasks the miner is running: matching subtracts the tasks it holds itself.
        usable = None if beat.free_slots is None else beat.free_slots + len(set(beat.running))
        if not self.store.touch_miner(miner, now, free_slots=usable, free_gpu_mem_mb=free_mem,
                                      telemetry=beat.telemetry):
            raise ApiError(409, "not_registered", f"miner {miner} is not registered: POST /v1/miners/register first")
        self._touched[miner] = now
        if beat.free_slots == 0:  # draining (or full): a poll it left waiting would hold its shutdown
            self._full_since[miner] = time.monotonic()
        assigned = self.store.assigned_to(miner)
        self.publish("miner", {"address": miner, "event": "heartbeat", "free_slots": beat.free_slots})
        return m.HeartbeatReply(cancel=[task for task in beat.running if task not in assigned])

    def full_since(self, miner: str) -> float:
        """When (``time.monotonic()``) ``miner`` last reported no free slot; 0.0 if never.

        A miner polls only with a free slot, so a poll still waiting when its miner says it has
        none is one it no longer waits on: a miner that drains for shutdown would otherwise wait
        out the whole long poll (10 s by default) before it may exit."""
        return self._full_since.get(miner, 0.0)

    def poll(self, miner: str, max_jobs: int) -> list[m.Task]:
        """One look for work: note the miner is alive, match, and hand over what is its."""
        now = self.now_ms()
        if now - self._touched.get(miner, 0) >= _TOUCH_EVERY_MS:
            if not self.store.touch_miner(miner, now):
                raise ApiError(409, "not_registered", f"miner {miner} is not registered: POST /v1/miners/register first")
            self._touched[miner] = now
        self.match()
        if not self.store.has_pending_tasks(miner):
            return []
        runs, checks = self.store.take_tasks(miner, max_jobs, now)
        tasks: list[m.Task] = []
        for verify, job in checks:
            tasks.append(m.Task(task_id=job.job_id + VERIFY_SUFFIX, kind="verify", job_id=job.job_id, model=job.model,
                                prompt=job.prompt, params=job.params, deadline_ms=verify.deadline_ms or now,
                                claimed_output=job.output, claimed_proof=job.proof))
        for job in runs:
            tasks.append(m.Task(task_id=job.job_id, kind="run", job_id=job.job_id, model=job.model, prompt=job.prompt,
                                params=job.params, deadline_ms=job.deadline_ms or now))
            self._job_event(job)
        return tasks

    def match(self) -> int:
        """Assign queued work to miners; returns how many tasks were assigned."""
        with self._match_lock:
            now = self.now_ms()
            assignments = self.store.assign(
                now_ms=now, live_since_ms=self.live_since(now), min_bond=self.required_bond,
                deadline_ms=now + int(self.settings.job_deadline * 1000))
        for a in assignments:
            log.info("task assigned", extra={"kind": a.kind, "job_id": a.job_id, "miner": a.miner})
            if a.kind == "run":
                self._job_event_by_id(a.job_id)
        if assignments:
            self.notify()
        return len(assignments)

    # -- results -------------------------------------------------------------------------------------

    def result(self, miner: str, task_id: str, result: m.TaskResult) -> m.ResultReply:
        if task_id.endswith(VERIFY_SUFFIX):
            return self._verify_result(miner, task_id[: -len(VERIFY_SUFFIX)], result)
        return self._run_result(miner, task_id, result)

    def release(self, miner: str, task_id: str) -> m.ReleaseReply:
        """A miner hands a task back without an answer (it is shutting down): the task goes back
        to the queue at once, and nothing counts against the miner's reputation."""
        now = self.now_ms()
        if task_id.endswith(VERIFY_SUFFIX):
            job_id = task_id[: -len(VERIFY_SUFFIX)]
            check = self.store.get_verify(job_id)
            if check is None:
                raise ApiError(404, "not_found", f"no task {task_id}")
            if not self.store.release_verify(job_id, miner, now):
                raise ApiError(409, "not_your_task", f"task {task_id} is not assigned to {miner} any more")
        else:
            job = self.store.get_job(task_id)
            if job is None:
                raise ApiError(404, "not_found", f"no task {task_id}")
            if not self.store.release_job(task_id, miner, now):
                raise ApiError(409, "not_your_task", f"task {task_id} is not assigned to {miner} any more "
                                                     "(re-assigned, cancelled or already answered)")
            self._job_event_by_id(task_id)
        log.info("task handed back", extra={"task_id": task_id, "miner": miner})
        self.match()
        self.notify()
        return m.ReleaseReply(released=True, reason="task back in the queue; no failure counted")

    def _run_result(self, miner: str, job_id: str, result: m.TaskResult) -> m.ResultReply:
        self.live.forget(job_id)
        job = self.store.get_job(job_id)
        if job is None:
            raise ApiError(404, "not_found", f"no task {job_id}")
        if job.miner != miner or job.status not in BUSY or job.result_ms is not None:
            raise ApiError(409, "not_your_task", f"task {job_id} is not assigned to {miner} any more "
                                                 "(re-assigned, cancelled or already answered)")
        now = self.now_ms()
        if result.kind == "failure":
            status = self.store.requeue_job(job_id, miner, error=f"miner failed: {result.error}",
                                            max_attempts=self.settings.max_attempts, now_ms=now)
            log.info("miner reported failure", extra={"job_id": job_id, "miner": miner, "error": result.error})
            self._after_requeue(job_id, status)
            return m.ResultReply(accepted=False, reason="failure recorded; the job goes to another miner")
        if result.kind != "run":
            raise ApiError(422, "invalid_request", f"task {job_id} is a run task: send output, token counts and proof")
        assert result.output is not None and result.proof is not None
        assert result.prompt_tokens is not None and result.completion_tokens is not None
        if len(result.output) > self.settings.max_output_chars:
            raise ApiError(422, "invalid_request", f"output: longer than {self.settings.max_output_chars} characters")
        record = self.store.get_miner(miner)
        model_id = record.models.get(job.model) if record else None
        reason = proof_mismatch(
            result.proof, chain_id=self.chain.chain_id, job_id=job_id, coordinator=self.address, miner=miner,
            model=job.model, params=job.params, prompt=job.prompt, output=result.output,
            prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens, model_id=model_id)
        if reason is None and result.completion_tokens > int(job.params.get("max_tokens", 0)):
            reason = f"completion_tokens {result.completion_tokens} exceeds the job's max_tokens"
        if reason is not None:
            status = self.store.requeue_job(job_id, miner, error=f"miner returned an invalid result: {reason}",
                                            max_attempts=self.settings.max_attempts, now_ms=now)
            log.warning("invalid proof refused", extra={"job_id": job_id, "miner": miner, "reason": reason})
            self._after_requeue(job_id, status)
            return m.ResultReply(accepted=False, reason=reason)
        verify = None
        if model_id is not None and self._random.random() < self.settings.recheck_rate \
                and self._verifier_exists(job.model, model_id, miner, now):
            verify = (job.model, model_id)
        if not self.store.record_result(job_id, miner, output=result.output, prompt_tokens=result.prompt_tokens,
                                        completion_tokens=result.completion_tokens,
                                        proof=result.proof.model_dump(), now_ms=now, verify=verify):
            raise ApiError(409, "not_your_task", f"task {job_id} is not assigned to {miner} any more")
        if verify is not None:
            log.info("result queued for re-check", extra={"job_id": job_id, "miner": miner})
            self._job_event_by_id(job_id)
            self.match()
            return m.ResultReply(accepted=True, reason="proof verified; the result is being re-checked by another miner")
        self._accept(job_id, miner)
        return m.ResultReply(accepted=True, reason="proof verified; receipt signed")

    def _verifier_exists(self, model: str, model_id: str, runner: str, now: int) -> bool:
        return any(mi.bond >= self.required_bond and may_verify(mi, model=model, model_id=model_id, runner=runner)
                   for mi in self.store.list_miners(self.live_since(now)))

    def _verify_result(self, miner: str, job_id: str, result: m.TaskResult) -> m.ResultReply:
        check = self.store.get_verify(job_id)
        if check is None:
            raise ApiError(404, "not_found", f"no task {job_id}{VERIFY_SUFFIX}")
        if check.verifier != miner or check.status not in BUSY:
            raise ApiError(409, "not_your_task", f"task {job_id}{VERIFY_SUFFIX} is not assigned to {miner} any more")
        now = self.now_ms()
        if result.kind == "failure":
            self.store.requeue_verify(job_id, miner, now)
            self.notify()
            return m.ResultReply(accepted=False, reason="failure recorded; the re-check goes to another miner")
        if result.kind != "verify":
            raise ApiError(422, "invalid_request", f"task {job_id}{VERIFY_SUFFIX} is a re-check: send accepted, "
                                                   "first_mismatch and reason")
        if result.accepted:
            if self.store.accept_verify(job_id, miner, result.reason, now):
                log.info("re-check passed", extra={"job_id": job_id, "runner": check.runner, "verifier": miner})
                self._accept(job_id, check.runner)
            return m.ResultReply(accepted=True, reason="re-check recorded")
        job = self.store.get_job(job_id)
        problem = "the re-check answer carries no signed verdict" if result.verdict is None else None
        if result.verdict is not None and job is not None and job.proof is not None:
            problem = evidence_problem(MinerProof.model_validate(job.proof), result.verdict)
            if problem is None and result.verdict.body.verifier != miner:
                problem = f"the verdict is signed by {result.verdict.body.verifier}, not by this verifier"
        if problem is not None:
            # Without it nothing can be proven on chain: the miner reports a failure instead and
            # the re-check goes to another verifier.
            raise ApiError(422, "invalid_request", f"a re-check that refutes a result must carry the verifier's "
                                                   f"signed verdict about it: {problem}")
        self._caught(job_id, check.runner, miner, result)
        return m.ResultReply(accepted=True, reason="re-check recorded; the result was rejected")

    def _caught(self, job_id: str, runner: str, verifier: str, result: m.TaskResult) -> None:
        """A re-check refuted a result: slash the runner with its own signed proof and the
        verifier's signed verdict as evidence."""
        job = self.store.get_job(job_id)
        if job is None or job.proof is None or result.verdict is None:
            return
        where = f" (first mismatch at token {result.first_mismatch})" if result.first_mismatch is not None else ""
        reason = ((result.reason or "output does not follow from the prompt") + where)[:500]
        evidence = WrongResultEvidence(kind="wrong_result", proof=MinerProof.model_validate(job.proof),
                                       verdict=result.verdict)
        status = self.store.reject_result(job_id, runner, verifier, evidence=evidence.model_dump(), reason=reason,
                                          max_attempts=self.settings.max_attempts, now_ms=self.now_ms())
        if status is None:
            return
        log.warning("wrong result caught; slashing", extra={"job_id": job_id, "miner": runner, "verifier": verifier,
                                                            "reason": reason})
        audit("miner_wrong_result", job_id=job_id, miner=runner, verifier=verifier, reason=reason)
        self.publish("miner", {"address": runner, "event": "caught", "job_id": job_id})
        self._after_requeue(job_id, status)

    def _accept(self, job_id: str, miner: str) -> None:
        """Sign the receipt for an accepted result and queue it for settlement."""
        job = self.store.get_job(job_id)
        record = self.store.get_miner(miner)
        if job is None or job.proof is None or record is None:
            return
        proof = MinerProof.model_validate(job.proof)
        price = job_price(proof.body.prompt_tokens, proof.body.completion_tokens, record.price_per_1k, job.max_price)
        now = self.now_ms()
        body = ReceiptBody(proof=proof, client=job.client, coordinator=self.address, price=price, created_ms=now)
        receipt = sign_receipt(body, self.seed)
        if self.store.complete_job(job_id, miner, receipt_id=receipt.receipt_id, receipt=receipt.model_dump(),
                                   price=price, now_ms=now):
            log.info("job completed", extra={"job_id": job_id, "miner": miner, "price": price,
                                             "receipt_id": receipt.receipt_id})
            self._job_event_by_id(job_id)

    def _after_requeue(self, job_id: str, status: str | None) -> None:
        if status is None:
            return
        self._job_event_by_id(job_id)
        if status == JobStatus.QUEUED:
            self.match()

    # -- maintenance ---------------------------------------------------------------------------------

    def reap(self) -> None:
        """Re-queue work of lost or late miners; settle re-checks nobody could take."""
        now = self.now_ms()
        settings = self.settings
        expired = self.store.expire(now_ms=now, live_since_ms=self.live_since(now), max_attempts=settings.max_attempts,
                                    queue_timeout_ms=int(settings.queue_timeout * 1000),
                                    verify_wait_ms=int(settings.verify_wait * 1000))
        for job_id in expired.requeued + expired.failed:
            log.info("job re-queued" if job_id in expired.requeued else "job failed", extra={"job_id": job_id})
            self._job_event_by_id(job_id)
        for job_id in expired.verify_unavailable:
            check = self.store.get_verify(job_id)
            if check is not None and self.store.drop_verify(job_id, now, RECHECK_TIMEOUT):
                log.warning("re-check dropped; result accepted unchecked", extra={"job_id": job_id})
                self._accept(job_id, check.runner)
        if expired.requeued or expired.verify_requeued:
            self.match()

    def refresh_bonds(self) -> None:
        now = self.now_ms()
        stale_before = now - int(self.settings.bond_refresh * 1000)
        for address in self.store.miners_needing_bond_check(self.live_since(now), stale_before):
            try:
                bond = self.chain.bond(address)
            except (DaemonError, ChainError) as exc:
                log.warning("cannot read miner bond", extra={"miner": address, "error": str(exc)})
                return
            self.store.set_bond(address, bond, now)

    # -- operator views ------------------------------------------------------------------------------

    def miner_info(self, miner: MinerRecord, now: int) -> m.MinerInfo:
        return m.MinerInfo(
            address=miner.address, models=miner.models, capacity=miner.capacity, active=miner.active,
            price_per_1k_tokens=miner.price_per_1k, free_gpu_mem_mb=miner.free_gpu_mem_mb, bond=miner.bond,
            live=miner.last_seen_ms >= self.live_since(now), bonded=miner.bond >= self.required_bond,
            completed=miner.completed, failed=miner.failed, slashed=miner.slashed,
            reputation=reputation(miner.completed, miner.failed, miner.slashed), last_seen_ms=miner.last_seen_ms,
            gpus=miner.gpus, telemetry=miner.telemetry)

    def miners(self) -> m.MinerList:
        now = self.now_ms()
        return m.MinerList(miners=[self.miner_info(mi, now) for mi in self.store.list_miners()])

    def public_miners(self) -> m.PublicMinerList:
        """The live miners' public facts (the Marketplace, ``curl .../v1/miners``)."""
        now = self.now_ms()
        live = [self.miner_info(mi, now) for mi in self.store.list_miners() if mi.last_seen_ms >= self.live_since(now)]
        return m.PublicMinerList(
            miners=[m.PublicMiner(address=mi.address, models=sorted(mi.models), price_per_1k_tokens=mi.price_per_1k_tokens,
                                  capacity=mi.capacity, active=mi.active, bond=mi.bond, bonded=mi.bonded,
                                  completed=mi.completed, failed=mi.failed, reputation=mi.reputation) for mi in live],
            queued_jobs=dict(Counter(job.model for job in self.store.list_jobs(None, "queued", QUEUE_SCAN))))

    # -- events ----------------------------------------------------------------------------------------

    def _job_event_by_id(self, job_id: str) -> None:
        if not self.listening():
            return
        job = self.store.get_job(job_id)
        if job is not None:
            self._job_event(job)

    def _job_event(self, job: JobRecord) -> None:
        if not self.listening():
            return
        data = job.client_view().model_dump()
        self.publish(f"job:{job.job_id}", data)
        self.publish("job", {"job_id": job.job_id, "status": job.status, "client": job.client, "miner": job.miner})

