"""Execution: run the queued tasks of each loaded model on its inference thread.

One executor per loaded model takes a batch at a time from the task book: queued run tasks that
share one ``generate`` call, or a single re-check. A run's answer is its output with a signed
proof; a re-check's answer is a verdict from one teacher-forced pass. The operator's own check
(``POST /v1/verify``) is the same pass, answered to the caller instead of the coordinator.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from daemons.common.api import ApiError
from daemons.miner import tasks as t
from daemons.miner.book import TaskBook
from daemons.miner.inference import GenerationResult, InferenceError, VerificationResult
from daemons.miner.journal import JournalEntry
from daemons.miner.live import GenerationCancelled, LiveOutput
from daemons.miner.models import VerifyRequest, VerifyVerdict
from daemons.miner.serving import Served
from daemons.miner.session import CoordinatorSession
from daemons.miner.state import MinerState, now_ms

log = logging.getLogger("aitbc.miner")
_NO_CHAIN = "the miner does not know the chain id yet"


class Execution:
    """Runs tasks and operator checks on the served models' workers."""

    def __init__(self, state: MinerState, book: TaskBook, session: CoordinatorSession | None = None) -> None:
        self._state = state
        self._book = book
        self._session = session
        """Where a run's output is pushed while it is generated (``daemons.miner.live``); None: not pushed."""

    async def executor(self, sv: Served) -> None:
        """Run ``sv``'s queued tasks until the miner drains."""
        while True:
            batch = await self._book.next_batch(sv.name)
            if batch is None:
                return
            now = now_ms()
            for entry in [e for e in batch if int(e.task.get("deadline_ms") or now) < now]:
                batch.remove(entry)
                await self._book.finish(entry, t.failure("the task's deadline passed before this miner could run it"),
                                        "failed")
            if not batch:
                continue
            if batch[0].task["kind"] == "verify":
                await self._run_verify(sv, batch[0])
            else:
                await self._run_batch(sv, batch)

    async def _run_batch(self, sv: Served, entries: list[JournalEntry]) -> None:
        assert sv.backend is not None and sv.worker is not None
        finish = self._book.finish
        runnable: list[tuple[JournalEntry, Any]] = []
        for entry in entries:
            try:
                runnable.append((entry, t.generation_request(entry.task["prompt"], entry.task["params"])))
            except t.TaskRefused as exc:
                await finish(entry, t.failure(str(exc)), "failed")
        if not runnable:
            return
        backend = sv.backend
        session = self._session
        live = LiveOutput.start(session.client if session is not None and session.opened else None,
                                [entry.task_id for entry, _ in runnable], backend)
        sink = live.sink()
        generate = partial(backend.generate, [r for _, r in runnable], **({"on_token": sink} if sink else {}))
        try:
            results = await sv.worker.run(generate)
        except GenerationCancelled:
            return  # every task of the call was cancelled: nothing to answer
        except InferenceError as exc:
            if len(runnable) > 1:  # one bad request refuses the batch: find it by running each alone
                for entry, _ in runnable:
                    await self._run_batch(sv, [entry])
                return
            await finish(runnable[0][0], t.failure(exc.message), "failed")
            return
        except Exception as exc:
            log.exception("generation failed", extra={"model": sv.name})
            for entry, _ in runnable:
                await finish(entry, t.failure(f"generation failed on this miner: {type(exc).__name__}"), "failed")
            return
        finally:
            await live.close()
            for task_id in live.cancelled():
                await self._book.cancel(task_id)
        for (entry, _), result in zip(runnable, results):
            await self._finish_run(entry, result)

    async def _finish_run(self, entry: JournalEntry, result: GenerationResult) -> None:
        state = self._state
        if state.chain_id is None:
            await self._book.finish(entry, t.failure(_NO_CHAIN), "failed")
            return
        coordinator = state.registration.coordinator_address
        if coordinator is None:
            await self._book.finish(entry, t.failure("the miner does not know the coordinator's address yet"), "failed")
            return
        body = t.run_result(entry.task, result, chain_id=state.chain_id, coordinator=coordinator,
                            miner=state.address, seed=state.seed)
        if await self._book.finish(entry, body, "completed"):
            state.counters.runs_completed += 1
            state.counters.prompt_tokens += result.prompt_tokens
            state.counters.completion_tokens += result.completion_tokens

    async def _run_verify(self, sv: Served, entry: JournalEntry) -> None:
        assert sv.backend is not None and sv.worker is not None and sv.model_id is not None
        state, finish, task = self._state, self._book.finish, entry.task
        if state.chain_id is None:
            await finish(entry, t.failure(_NO_CHAIN), "failed")
            return
        problem = t.claim_problem(task, chain_id=state.chain_id,
                                  coordinator=state.registration.coordinator_address or "", model_id=sv.model_id)
        if problem is not None:
            await finish(entry, {"accepted": False, "first_mismatch": None, "reason": problem[:500]}, "rejected")
            state.counters.verifies_rejected += 1
            return
        try:
            params = t.generation_params(task["params"])
            backend = sv.backend
            verification: VerificationResult = await sv.worker.run(
                partial(backend.verify, task["prompt"], task["claimed_output"], params,
                        committed_tokens=t.committed_tokens(task)))
        except t.TaskRefused as exc:
            await finish(entry, t.failure(str(exc)), "failed")
            return
        except InferenceError as exc:
            await finish(entry, t.failure(exc.message), "failed")
            return
        body = t.with_verdict(task, t.verify_result(task, verification), verifier=state.address, seed=state.seed)
        accepted = bool(body["accepted"])
        if await finish(entry, body, "accepted" if accepted else "rejected"):
            if accepted:
                state.counters.verifies_accepted += 1
            else:
                state.counters.verifies_rejected += 1
                log.warning("re-check refuted a claimed output", extra={
                    "job_id": task["job_id"], "runner": task["claimed_proof"]["body"].get("miner"),
                    "first_mismatch": body.get("first_mismatch"), "reason": body["reason"]})

    async def verify_claim(self, request: VerifyRequest) -> VerifyVerdict:
        """Re-check an output exactly as a re-check task would (operator socket only)."""
        sv = self._state.usable(request.model)
        if sv is None:
            loaded = ", ".join(x.name for x in self._state.served if x.usable) or "none"
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
