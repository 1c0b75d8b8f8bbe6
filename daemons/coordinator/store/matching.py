"""Matching and expiry, as transactions: the store reads the live miners and the queued work
under locks and applies what :mod:`daemons.coordinator.market` decides, each change guarded
on the status it expects. No policy here: order, eligibility and reasons are the market's."""

from __future__ import annotations

import json

from daemons.coordinator.market import (
    QUEUE_TIMEOUT, Assignment, Candidate, QueuedCheck, QueuedJob, open_slots, overdue, plan, ranked, served,
)
from daemons.coordinator.models import BUSY, JobRecord, JobStatus
from daemons.coordinator.store.records import Expired, VerifyRecord
from daemons.coordinator.store.verification import Verification

QUEUED, ASSIGNED, RUNNING = JobStatus.QUEUED, JobStatus.ASSIGNED, JobStatus.RUNNING


class Matching(Verification):
    def assign(self, *, now_ms: int, live_since_ms: int, min_bond: int, deadline_ms: int,
               limit: int = 200) -> list[Assignment]:
        """Give queued re-checks and jobs to live, bonded miners with free slots, as
        :func:`~daemons.coordinator.market.plan` decides, in one transaction.

        The miners are locked (a slot count is read and used under one lock) and the queued
        work is taken ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so that two matchers work on
        disjoint jobs; each assignment is still guarded on the task being queued.
        """
        M, J, V = self.Miner, self.Job, self.Verify
        if not (J.select().where(J.status == QUEUED).exists() or V.select().where(V.status == QUEUED).exists()):
            return []  # the common case for a polling miner: no write transaction at all
        with self._db.atomic():
            miner_query = (M.select().where((M.last_seen_ms >= live_since_ms) & (M.bond >= min_bond))
                           .order_by(M.address))
            miners = list(self._locked(miner_query, skip_locked=True))
            addresses = [m.address for m in miners]
            models = self._models_of(addresses)
            active = self._active(addresses)
            candidates = ranked(
                Candidate(address=m.address, price_per_1k=m.price_per_1k, free_gpu_mem_mb=m.free_gpu_mem_mb,
                          completed=m.completed, failed=m.failed, slashed=m.slashed,
                          models=models.get(m.address, {}),
                          free=open_slots(m.capacity, m.free_slots, active.get(m.address, 0)))
                for m in miners)
            if not candidates:
                return []
            names = served(candidates)
            checks = [QueuedCheck(job_id=r.job_id, model=r.model, model_id=r.model_id, runner=r.runner,
                                  excluded=frozenset(json.loads(r.excluded)))
                      for r in self._locked(V.select().where((V.status == QUEUED) & V.model.in_(names))
                                            .order_by(V.created_ms).limit(limit), skip_locked=True)]
            jobs = [QueuedJob(job_id=r.job_id, model=r.model, excluded=frozenset(json.loads(r.excluded)))
                    for r in self._locked(J.select(J.job_id, J.model, J.excluded)
                                          .where((J.status == QUEUED) & J.model.in_(names))
                                          .order_by(J.fair_key, J.created_ms, J.job_id).limit(limit),
                                          skip_locked=True)]
            done: list[Assignment] = []
            for a in plan(candidates, checks, jobs):
                if a.kind == "verify":
                    updated = (V.update(status=ASSIGNED, verifier=a.miner, attempts=V.attempts + 1,
                                        deadline_ms=deadline_ms, updated_ms=now_ms)
                               .where((V.job_id == a.job_id) & (V.status == QUEUED)).execute())
                else:
                    updated = (J.update(status=ASSIGNED, miner=a.miner, attempts=J.attempts + 1,
                                        assigned_ms=now_ms, deadline_ms=deadline_ms, updated_ms=now_ms)
                               .where((J.job_id == a.job_id) & (J.status == QUEUED)).execute())
                if updated:
                    done.append(a)
        return done

    def take_tasks(self, miner: str, limit: int, now_ms: int) -> tuple[list[JobRecord], list[tuple[VerifyRecord, JobRecord]]]:
        """Hand the miner what was assigned to it: each task moves assigned -> running exactly once,
        so a task is delivered to one poll only."""
        J, V = self.Job, self.Verify
        runs: list[JobRecord] = []
        checks: list[tuple[VerifyRecord, JobRecord]] = []
        with self._db.atomic():
            vrows = list(V.select().where((V.verifier == miner) & (V.status == ASSIGNED))
                         .order_by(V.updated_ms).limit(limit))
            for vrow in vrows:
                if V.update(status=RUNNING, updated_ms=now_ms).where(
                        (V.job_id == vrow.job_id) & (V.status == ASSIGNED) & (V.verifier == miner)).execute():
                    job = self.get_job(vrow.job_id)
                    if job is not None:
                        checks.append((self._verify_record(V.get_by_id(vrow.job_id)), job))
            room = limit - len(checks)
            if room > 0:
                jrows = list(J.select(J.job_id).where((J.miner == miner) & (J.status == ASSIGNED))
                             .order_by(J.assigned_ms).limit(room))
                for jrow in jrows:
                    if J.update(status=RUNNING, updated_ms=now_ms).where(
                            (J.job_id == jrow.job_id) & (J.status == ASSIGNED) & (J.miner == miner)).execute():
                        runs.append(self._job(jrow.job_id))
        return runs, checks

    def assigned_to(self, miner: str) -> set[str]:
        """Task ids the miner should be working on (for the heartbeat's cancel list)."""
        J, V = self.Job, self.Verify
        ids = {r for (r,) in J.select(J.job_id).where(
            (J.miner == miner) & J.status.in_(BUSY) & J.result_ms.is_null()).tuples()}
        ids |= {f"{r}:verify" for (r,) in V.select(V.job_id).where(
            (V.verifier == miner) & V.status.in_(BUSY)).tuples()}
        return ids

    def has_pending_tasks(self, miner: str) -> bool:
        J, V = self.Job, self.Verify
        return (J.select().where((J.miner == miner) & (J.status == ASSIGNED)).exists()
                or V.select().where((V.verifier == miner) & (V.status == ASSIGNED)).exists())

    def expire(self, *, now_ms: int, live_since_ms: int, max_attempts: int, queue_timeout_ms: int,
               verify_wait_ms: int) -> Expired:
        """Take work back from miners that stopped heart-beating or missed a deadline
        (:func:`~daemons.coordinator.market.overdue` says which and why); fail jobs queued too
        long; report re-checks that waited too long for a verifier."""
        J, V, M = self.Job, self.Verify, self.Miner
        out = Expired()
        dead = {a for (a,) in M.select(M.address).where(M.last_seen_ms < live_since_ms).tuples()}
        busy = list(J.select(J.job_id, J.miner, J.deadline_ms).where(J.status.in_(BUSY) & J.result_ms.is_null()).tuples())
        for job_id, miner, deadline in busy:
            why = overdue(miner, deadline, dead, now_ms)
            if why is None:
                continue
            status = self.requeue_job(job_id, miner, error=why, max_attempts=max_attempts, now_ms=now_ms)
            if status == QUEUED:
                out.requeued.append(job_id)
            elif status == JobStatus.FAILED:
                out.failed.append(job_id)
        stale = [r for (r,) in J.select(J.job_id).where(
            (J.status == QUEUED) & (J.created_ms < now_ms - queue_timeout_ms)).tuples()]
        for job_id in stale:
            if J.update(status=JobStatus.FAILED, error=QUEUE_TIMEOUT, updated_ms=now_ms).where(
                    (J.job_id == job_id) & (J.status == QUEUED)).execute():
                out.failed.append(job_id)
        checks = list(V.select(V.job_id, V.verifier, V.deadline_ms).where(V.status.in_(BUSY)).tuples())
        for job_id, verifier, deadline in checks:
            if overdue(verifier, deadline, dead, now_ms) is not None and self.requeue_verify(job_id, verifier, now_ms):
                out.verify_requeued.append(job_id)
        out.verify_unavailable += [r for (r,) in V.select(V.job_id).where(
            (V.status == QUEUED) & (V.created_ms < now_ms - verify_wait_ms)).tuples()]
        return out
