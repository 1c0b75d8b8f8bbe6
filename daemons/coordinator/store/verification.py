"""Re-checks: another miner re-runs a finished job (task id ``<job_id>:verify``); its answer
accepts the result, or refutes it and the runner is slashed. Statuses: queued, assigned,
running (the :data:`~daemons.coordinator.models.BUSY` pair, as for jobs), done."""

from __future__ import annotations

import json
from typing import Any

from daemons.coordinator.market import rejected
from daemons.coordinator.models import BUSY, JobStatus
from daemons.coordinator.store.base import text
from daemons.coordinator.store.jobs import Jobs
from daemons.coordinator.store.records import VerifyRecord
from daemons.coordinator.store.tables import VerifyRow

DONE = "done"


class Verification(Jobs):
    def get_verify(self, job_id: str) -> VerifyRecord | None:
        return self._maybe(self.Verify.get_or_none(self.Verify.job_id == job_id), self._verify_record)

    def accept_verify(self, job_id: str, verifier: str, reason: str, now_ms: int) -> bool:
        V = self.Verify
        return (V.update(status=DONE, accepted=True, reason=reason, updated_ms=now_ms)
                .where((V.job_id == job_id) & (V.verifier == verifier) & V.status.in_(BUSY)).execute()) == 1

    def reject_result(self, job_id: str, runner: str, verifier: str, *, evidence: dict[str, Any] | None,
                      reason: str, max_attempts: int, now_ms: int) -> str | None:
        """A re-check refuted the runner's result: record the slash (when there is evidence to
        submit), count it against the runner, re-queue the job elsewhere (or fail it)."""
        J, V, M, S = self.Job, self.Verify, self.Miner, self.Slash
        with self._db.atomic():
            row = self._locked(J.select().where((J.job_id == job_id) & (J.miner == runner)
                                                & (J.status == JobStatus.RUNNING) & J.result_ms.is_null(False))).first()
            if row is None:
                return None
            V.update(status=DONE, accepted=False, reason=reason, updated_ms=now_ms).where(V.job_id == job_id).execute()
            M.update(slashed=M.slashed + 1).where(M.address == runner).execute()
            if evidence is not None:
                S.insert(job_id=job_id, miner=runner, verifier=verifier, evidence=text(evidence), status="pending",
                         created_ms=now_ms, updated_ms=now_ms).on_conflict_ignore().execute()
            return self._requeue_row(row, rejected(reason), max_attempts, now_ms)

    def requeue_verify(self, job_id: str, verifier: str, now_ms: int) -> bool:
        """The verifier failed or vanished: another miner takes the re-check."""
        V, M = self.Verify, self.Miner
        with self._db.atomic():
            row = self._locked(V.select().where((V.job_id == job_id) & (V.verifier == verifier)
                                                & V.status.in_(BUSY))).first()
            if row is None:
                return False
            excluded = sorted(set(json.loads(row.excluded)) | {verifier})
            V.update(status=JobStatus.QUEUED, verifier=None, excluded=text(excluded), deadline_ms=None,
                     updated_ms=now_ms).where(V.job_id == job_id).execute()
            M.update(failed=M.failed + 1).where(M.address == verifier).execute()
        return True

    def release_verify(self, job_id: str, verifier: str, now_ms: int) -> bool:
        """The verifier hands a re-check back unanswered: re-queued, no failure counted, the
        verifier not excluded (see :meth:`release_job`)."""
        V, M = self.Verify, self.Miner
        with self._db.atomic():
            updated = (V.update(status=JobStatus.QUEUED, verifier=None, deadline_ms=None, updated_ms=now_ms)
                       .where((V.job_id == job_id) & (V.verifier == verifier) & V.status.in_(BUSY)).execute())
            if not updated:
                return False
            M.update(free_slots=0).where(M.address == verifier).execute()
        return True

    def drop_verify(self, job_id: str, now_ms: int, reason: str) -> bool:
        """Give up on a re-check nobody could take (the result then stands unchecked)."""
        V = self.Verify
        return (V.update(status=DONE, accepted=None, reason=reason, updated_ms=now_ms)
                .where((V.job_id == job_id) & (V.status == JobStatus.QUEUED)).execute()) == 1

    @staticmethod
    def _verify_record(row: VerifyRow) -> VerifyRecord:
        return VerifyRecord(job_id=row.job_id, model=row.model, model_id=row.model_id, runner=row.runner,
                            verifier=row.verifier, status=row.status, attempts=row.attempts,
                            excluded=json.loads(row.excluded), deadline_ms=row.deadline_ms, accepted=row.accepted,
                            reason=row.reason, created_ms=row.created_ms, updated_ms=row.updated_ms)
