"""Jobs: submission under the client's escrow, reading, cancelling, results, and giving a job
back to the queue. Every change is guarded on the status it expects (see the package docstring)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cached_property
from typing import Any

import peewee

from daemons.coordinator.market import retry
from daemons.coordinator.models import ACTIVE, BUSY, JobRecord, JobStatus
from daemons.coordinator.store.base import Conflict, InsufficientEscrow, text
from daemons.coordinator.store.miners import Miners
from daemons.coordinator.store.receipts import UNSETTLED
from daemons.coordinator.store.tables import JobRow
from storage.database import Statement

QUEUED, RUNNING = JobStatus.QUEUED, JobStatus.RUNNING


class Jobs(Miners):
    # -- submission, reading, cancelling ----------------------------------------------------------

    def _promised_parts(self, arg: Any) -> list[peewee.Node]:
        """The three parts of :meth:`reserved` as scalar subqueries, each a range of an index that
        holds the summed column too (jobs: ``client, status, max_price``; receipts: ``client,
        status, settled_height, price``), where they had scanned the client's whole history."""
        J, R, fn = self.Job, self.Receipt, peewee.fn
        jobs = J.select(fn.COALESCE(fn.SUM(J.max_price), 0)).where((J.client == arg("client")) & J.status.in_(ACTIVE))
        unsettled = R.select(fn.COALESCE(fn.SUM(R.price), 0)).where(
            (R.client == arg("client")) & R.status.in_(UNSETTLED))
        settled_later = R.select(fn.COALESCE(fn.SUM(R.price), 0)).where(
            (R.client == arg("client")) & (R.status == "settled") & (R.settled_height > arg("height")))
        return [jobs, unsettled, settled_later]

    @cached_property
    def _promised(self) -> Statement:
        """:meth:`_promised_parts` in one round trip."""
        return Statement(self._db, lambda arg: peewee.Select(columns=self._promised_parts(arg)))

    @cached_property
    def _take_turn(self) -> Statement:
        """The client's next fair key, written and answered in one statement: one more than its
        last, never below the oldest fair key in the queue. Updating the client's row locks it
        until the transaction ends (on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already excludes
        other writers): the lock that serializes the client's reservations."""
        C, J = self.Client, self.Job
        greatest = peewee.fn.GREATEST if self._pg else peewee.fn.MAX  # SQLite's two-argument MAX is scalar
        frontier = J.select(peewee.fn.COALESCE(peewee.fn.MIN(J.fair_key), 0)).where(J.status == QUEUED.value)
        return Statement(self._db, lambda arg: C.update(last_fair_key=greatest(C.last_fair_key + 1, frontier)).where(
            C.address == arg("client")).returning(C.last_fair_key))

    @cached_property
    def _insert_affordable(self) -> Statement:
        """A queued job, inserted only if ``escrow`` minus what the client's jobs and receipts
        already promise covers its max price: the reservation check and the insert in one
        statement (one row inserted, or none when the escrow falls short)."""
        J = self.Job

        def build(arg: Any) -> peewee.Node:
            values = {J.job_id: arg("job_id"), J.client: arg("client"), J.model: arg("model"), J.prompt: arg("prompt"),
                      J.params: arg("params"), J.max_price: arg("max_price"), J.status: QUEUED.value,
                      J.fair_key: arg("fair_key"), J.attempts: 0, J.excluded: "[]", J.created_ms: arg("now"),
                      J.updated_ms: arg("now")}
            jobs, unsettled, settled_later = self._promised_parts(arg)
            affordable = arg("escrow") - jobs - unsettled - settled_later >= arg("max_price")
            return J.insert_from(peewee.Select(columns=list(values.values())).where(affordable), list(values))

        return Statement(self._db, build)

    def reserved(self, client: str, escrow_height: int) -> int:
        """Units of the client's escrow already promised: max price of every unfinished job, plus
        the price of every receipt the chain had not settled at ``escrow_height`` (the height the
        escrow balance was read at), so a stale balance can never be spent twice."""
        row = self._promised.row(client=client, height=escrow_height)
        assert row is not None  # a SELECT of three aggregates always answers one row
        return sum(int(part) for part in row)

    def submit_job(self, *, job_id: str, client: str, model: str, prompt: str, params: dict[str, Any],
                   max_price: int, escrow: int, escrow_height: int, now_ms: int) -> JobRecord:
        """Insert a queued job if ``escrow`` minus reservations covers ``max_price``.

        Raises :class:`InsufficientEscrow` (nothing written) otherwise. Every submission runs
        these statements, so they are compiled once (:class:`~storage.database.Statement`), and
        they are two: the client's turn (its fair key, and the lock on its row) and the insert
        that checks the reservation itself; only a refusal reads the reservations again, for its
        message. On SQLite, submissions that arrive together commit together (group commit):
        this returns once the job is committed.
        """
        params_text = text(params)

        def reserve_and_insert() -> int:
            turn = self._take_turn.rows(client=client)
            if not turn:  # the client's first job: its row, then its turn
                self.Client.insert(address=client, last_fair_key=0).on_conflict_ignore().execute()
                turn = self._take_turn.rows(client=client)
            fair_key = int(turn[0][0])
            inserted = self._insert_affordable.run(
                job_id=job_id, client=client, model=model, prompt=prompt, params=params_text, max_price=max_price,
                fair_key=fair_key, now=now_ms, escrow=escrow, height=escrow_height).rowcount
            if inserted != 1:  # raising rolls back the turn taken above too
                available = escrow - self.reserved(client, escrow_height)
                raise InsufficientEscrow(
                    f"escrow available for jobs is {available} units (escrow {escrow} minus reservations), "
                    f"the job's max price is {max_price}", max(available, 0))
            return fair_key

        if self._grouped is not None:
            fair_key = self._grouped.run(reserve_and_insert)
        else:
            with self._db.atomic():
                fair_key = reserve_and_insert()
        # The record of exactly the row written (the table's defaults for the rest): reading it
        # back cost every submission one more query.
        return JobRecord(job_id=job_id, client=client, model=model, prompt=prompt, params=json.loads(params_text),
                         max_price=max_price, status=QUEUED, fair_key=fair_key, attempts=0, excluded=[],
                         assigned_ms=None, deadline_ms=None, result_ms=None, proof=None, created_ms=now_ms,
                         updated_ms=now_ms)

    def get_job(self, job_id: str) -> JobRecord | None:
        row = self.Job.get_or_none(self.Job.job_id == job_id)
        if row is None:
            return None
        return self._job_record(row, self._receipt_states([row.receipt_id]))

    def _job(self, job_id: str) -> JobRecord:
        """A job known to exist (just written in this process)."""
        job = self.get_job(job_id)
        assert job is not None, job_id
        return job

    def list_jobs(self, client: str | None = None, status: str | None = None, limit: int = 50,
                  before: tuple[int, str] | None = None) -> list[JobRecord]:
        """Newest first; ``before`` = (created_ms, job_id) of the last item of the previous page."""
        rows = list(self._page(self.Job.select(), "job_id", before, limit, client=client, status=status))
        states = self._receipt_states([r.receipt_id for r in rows])
        return [self._job_record(r, states) for r in rows]

    def count_jobs(self) -> dict[str, int]:
        J = self.Job
        return {s: int(c) for s, c in J.select(J.status, peewee.fn.COUNT(J.job_id)).group_by(J.status).tuples()}

    def cancel_job(self, job_id: str, client: str | None, now_ms: int) -> JobRecord:
        """Cancel an unfinished job whose result has not arrived; releases its reservation.

        ``client`` None: the operator may cancel any job. Raises ``KeyError`` for an unknown job
        (or another client's), :class:`Conflict` when it is too late.
        """
        J = self.Job
        job = self.get_job(job_id)
        if job is None or (client is not None and job.client != client):
            raise KeyError(job_id)
        updated = (J.update(status=JobStatus.CANCELLED, error="cancelled by the client", updated_ms=now_ms)
                   .where((J.job_id == job_id) & J.status.in_(ACTIVE) & J.result_ms.is_null()).execute())
        if not updated:
            current = self._job(job_id)
            if current.status in ACTIVE:
                raise Conflict(f"job {job_id} already has a result that is being checked; it can no longer be cancelled")
            raise Conflict(f"job {job_id} is {current.status}; only queued, assigned or running jobs can be cancelled")
        return self._job(job_id)

    def _receipt_states(self, receipt_ids: Iterable[str | None]) -> dict[str, tuple[str, int | None]]:
        ids = [r for r in receipt_ids if r]
        if not ids:
            return {}
        R = self.Receipt
        return {rid: (status, height) for rid, status, height in
                R.select(R.receipt_id, R.status, R.settled_height).where(R.receipt_id.in_(ids)).tuples()}

    @staticmethod
    def _job_record(row: JobRow, receipts: dict[str, tuple[str, int | None]]) -> JobRecord:
        state = receipts.get(row.receipt_id or "")
        return JobRecord(
            job_id=row.job_id, client=row.client, model=row.model, prompt=row.prompt, params=json.loads(row.params),
            max_price=row.max_price, status=row.status, fair_key=row.fair_key, miner=row.miner,
            attempts=row.attempts, excluded=json.loads(row.excluded), assigned_ms=row.assigned_ms,
            deadline_ms=row.deadline_ms, result_ms=row.result_ms, output=row.output,
            prompt_tokens=row.prompt_tokens, completion_tokens=row.completion_tokens,
            proof=json.loads(row.proof) if row.proof else None, price=row.price, receipt_id=row.receipt_id,
            error=row.error, created_ms=row.created_ms, updated_ms=row.updated_ms,
            settled_height=state[1] if state else None, receipt_status=state[0] if state else None)

    # -- results ----------------------------------------------------------------------------------

    def record_result(self, job_id: str, miner: str, *, output: str, prompt_tokens: int, completion_tokens: int,
                      proof: dict[str, Any], now_ms: int, verify: tuple[str, str] | None = None) -> bool:
        """Store a proven result. With ``verify`` = (model, model_id) a re-check is queued and
        the job stays ``running`` until it is answered. False when the task is no longer this
        miner's (re-assigned, cancelled): the result is then ignored."""
        J, V = self.Job, self.Verify
        with self._db.atomic():
            updated = (J.update(output=output, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                                proof=text(proof), result_ms=now_ms, updated_ms=now_ms)
                       .where((J.job_id == job_id) & (J.miner == miner) & J.status.in_(BUSY) & J.result_ms.is_null())
                       .execute())
            if not updated:
                return False
            J.update(status=RUNNING).where(J.job_id == job_id).execute()
            if verify is not None:
                model, model_id = verify
                V.delete().where(V.job_id == job_id).execute()
                V.insert(job_id=job_id, model=model, model_id=model_id, runner=miner, status=QUEUED,
                         created_ms=now_ms, updated_ms=now_ms).execute()
        return True

    def complete_job(self, job_id: str, miner: str, *, receipt_id: str, receipt: dict[str, Any], price: int,
                     now_ms: int) -> bool:
        """Mark a job completed with its signed receipt (queued for settlement); counts the
        miner's success. Guarded: False if the job is not running with this miner's result."""
        J, R, M, V = self.Job, self.Receipt, self.Miner, self.Verify
        with self._db.atomic():
            updated = (J.update(status=JobStatus.COMPLETED, price=price, receipt_id=receipt_id, error=None,
                                updated_ms=now_ms)
                       .where((J.job_id == job_id) & (J.miner == miner) & (J.status == RUNNING)
                              & J.result_ms.is_null(False)).execute())
            if not updated:
                return False
            job = J.get_by_id(job_id)
            R.insert(receipt_id=receipt_id, job_id=job_id, client=job.client, miner=miner, price=price,
                     data=text(receipt), status="pending", created_ms=now_ms, updated_ms=now_ms).execute()
            M.update(completed=M.completed + 1).where(M.address == miner).execute()
            V.update(status="done", updated_ms=now_ms).where((V.job_id == job_id) & (V.status != "done")).execute()
        return True

    # -- back to the queue ------------------------------------------------------------------------

    def requeue_job(self, job_id: str, miner: str, *, error: str, max_attempts: int, now_ms: int,
                    penalize: bool = True) -> str | None:
        """Give the job back to the queue (not to ``miner`` again), or fail it after
        ``max_attempts`` (:func:`~daemons.coordinator.market.retry`). Returns the new status, or
        None if the job had moved on already."""
        J, M = self.Job, self.Miner
        with self._db.atomic():
            row = self._locked(J.select().where((J.job_id == job_id) & (J.miner == miner) & J.status.in_(BUSY))).first()
            if row is None:
                return None
            status = self._requeue_row(row, error, max_attempts, now_ms)
            if penalize:
                M.update(failed=M.failed + 1).where(M.address == miner).execute()
        return status

    def release_job(self, job_id: str, miner: str, now_ms: int) -> bool:
        """The miner hands an unanswered job back (a graceful drain): straight back to the queue,
        with no failure counted, the attempt not used up and the miner not excluded (a miner
        restarting may well take it again). Until its next heartbeat the miner counts as having
        no free slot, so the job is not handed straight back to it. False if it is not the miner's."""
        J, M = self.Job, self.Miner
        with self._db.atomic():
            row = self._locked(J.select().where((J.job_id == job_id) & (J.miner == miner) & J.status.in_(BUSY)
                                                & J.result_ms.is_null())).first()
            if row is None:
                return False
            J.update(status=QUEUED, miner=None, attempts=max(0, row.attempts - 1), assigned_ms=None,
                     deadline_ms=None, updated_ms=now_ms).where(J.job_id == job_id).execute()
            M.update(free_slots=0).where(M.address == miner).execute()
        return True

    def _requeue_row(self, row: JobRow, error: str, max_attempts: int, now_ms: int) -> str:
        """Apply the market's :func:`~daemons.coordinator.market.retry` to a locked job row; any
        result it had is dropped."""
        outcome = retry(attempts=row.attempts, max_attempts=max_attempts, excluded=json.loads(row.excluded),
                        miner=row.miner, error=error)
        fields: dict[str, Any] = {
            "status": outcome.status, "excluded": text(outcome.excluded), "updated_ms": now_ms, "error": outcome.error,
            "output": None, "prompt_tokens": None, "completion_tokens": None, "proof": None, "result_ms": None,
            "assigned_ms": None, "deadline_ms": None,
        }
        if outcome.status == QUEUED:
            fields["miner"] = None
        self.Job.update(**fields).where(self.Job.job_id == row.job_id).execute()
        return outcome.status
