"""Delivery: post every answered task's result until the coordinator settles it.

Results are journaled before they are posted, so delivery outlives a coordinator outage and a
restart of the miner (restored results go out first, registered or not). A failed post is
retried with back-off; an answer that settles the matter (accepted, refused, or the task no
longer this miner's) removes the task from the journal.
"""

from __future__ import annotations

import asyncio
import logging

from daemons.common.backoff import Backoff
from daemons.common.errors import DaemonError
from daemons.coordinator.models import ReleaseReply, ResultReply
from daemons.miner import tasks as t
from daemons.miner.book import TaskBook
from daemons.miner.journal import JournalEntry
from daemons.miner.session import BACKOFF_START_S, CoordinatorSession
from daemons.miner.state import MinerState

log = logging.getLogger("aitbc.miner")


class Delivery:
    """Posts results (and hand-backs) from the journal to the coordinator."""

    def __init__(self, state: MinerState, book: TaskBook, session: CoordinatorSession) -> None:
        self._state = state
        self._book = book
        self._session = session

    async def run(self) -> None:
        journal, answered = self._state.journal, self._book.answered
        backoff = Backoff(BACKOFF_START_S, self._state.settings.retry_max)
        while True:
            pending = journal.in_state("done")
            if not pending:
                answered.clear()
                if not journal.in_state("done"):
                    await answered.wait()
                continue
            failed = False
            for entry in pending:
                if journal.get(entry.task_id) is not entry:
                    continue
                if not await self._deliver(entry):
                    failed = True
                    break
            if failed:
                self._state.counters.delivery_retries += 1
                await asyncio.sleep(backoff.next())
            else:
                backoff.reset()

    async def _deliver(self, entry: JournalEntry) -> bool:
        """Post one result; True when the coordinator settled the matter (accepted, refused or
        no longer ours), False when it should be retried later."""
        state, client = self._state, self._session.client
        assert entry.result is not None
        entry.delivery_attempts += 1
        try:
            reply: ResultReply | ReleaseReply
            if entry.outcome == "handed_back":
                # A hand-back is no failure: the coordinator re-queues the task at once and counts
                # nothing against this miner's reputation.
                reply = await client.release(entry.task_id)
            else:
                reply = await client.result(entry.task_id, entry.result)
        except DaemonError as exc:
            if exc.status in (404, 409):
                log.info("the coordinator no longer holds this task; result dropped",
                         extra={"task_id": entry.task_id, "reason": exc.message})
                self._delivered(entry, "dropped")
                state.counters.results_refused += 1
                return True
            if exc.status == 422 and "error" not in entry.result:
                log.error("result refused as malformed; reporting a failure instead",
                          extra={"task_id": entry.task_id, "reason": exc.message})
                entry.result, entry.outcome = t.failure(f"result refused by the coordinator: {exc.message}"), "failed"
                state.counters.failed += 1
                state.journal.put(entry)
                return True
            if exc.status == 422:
                log.error("failure report refused; dropped", extra={"task_id": entry.task_id, "reason": exc.message})
                self._delivered(entry, "dropped")
                return True
            if state.last_error != f"deliver: {exc.message}":
                log.warning("result delivery failed; will retry", extra={"task_id": entry.task_id,
                                                                          "error": exc.message})
            state.last_error = f"deliver: {exc.message}"
            return False
        state.counters.results_delivered += 1
        if entry.outcome == "completed" and isinstance(reply, ResultReply) and not reply.accepted:
            state.counters.results_refused += 1
            log.warning("the coordinator refused a result", extra={"task_id": entry.task_id, "reason": reply.reason})
        self._delivered(entry, "delivered", reply.reason)
        return True

    def _delivered(self, entry: JournalEntry, event: str, reason: str = "") -> None:
        self._state.journal.remove(entry.task_id)
        self._state.job_event(entry, event, reason=reason)
