"""The tasks the miner holds, and every change of their state.

A task is taken (:meth:`TaskBook.accept`), queued, picked for a run (:meth:`TaskBook.next_batch`),
finished with an answer (:meth:`TaskBook.finish`), then delivered and forgotten (the delivery
part), or cancelled by the coordinator (:meth:`TaskBook.cancel`) on the way. Each change is
written to the journal first, published on the ``job`` topic, and wakes whoever waits on it:
the executors for queued work, the poll loop for free slots, the delivery loop for answers.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from daemons.coordinator.models import Task
from daemons.miner import tasks as t
from daemons.miner.journal import JournalEntry, TaskState
from daemons.miner.state import MinerState, now_ms

log = logging.getLogger("aitbc.miner")


class TaskBook:
    """State changes of the journal's tasks and the signals that go with them."""

    def __init__(self, state: MinerState) -> None:
        self._state = state
        self._work = asyncio.Condition()
        self.answered = asyncio.Event()
        """Set when a task gets its answer, so the delivery loop wakes."""

    async def notify(self) -> None:
        """Wake every waiter: something changed (a slot, a queue, draining)."""
        async with self._work:
            self._work.notify_all()

    async def wait_for_room(self) -> bool:
        """Wait for a free slot; False when the miner drains instead."""
        state = self._state
        async with self._work:
            await self._work.wait_for(lambda: state.draining or state.free_slots() > 0)
        return not state.draining

    async def next_batch(self, model: str) -> list[JournalEntry] | None:
        """Wait for queued work for ``model`` and mark a batch of it running; None when draining."""
        state = self._state
        async with self._work:
            await self._work.wait_for(lambda: state.draining or bool(self._queued_for(model)))
            if state.draining:
                return None
            return self._take_batch(model)

    def _queued_for(self, model: str) -> list[JournalEntry]:
        return [e for e in self._state.journal.in_state("queued") if e.task["model"] == model]

    def _take_batch(self, model: str) -> list[JournalEntry]:
        """The oldest queued task, with the queued run tasks that may share its generate call."""
        queued = self._queued_for(model)
        now = now_ms()
        batch: list[JournalEntry] = []
        for entry in queued:
            if batch and (entry.task["kind"] == "verify" or batch[0].task["kind"] == "verify"):
                continue
            batch.append(entry)
            if len(batch) >= self._state.settings.capacity:
                break
        for entry in batch:
            entry.state, entry.started_ms = "running", now
            self._state.journal.put(entry)
            self._state.job_event(entry, "running")
        return batch

    async def accept(self, task: Task) -> None:
        """Journal a task the coordinator handed out; answer at once one this miner cannot run."""
        state = self._state
        if task.task_id in state.journal:
            return  # the coordinator hands a task out once; a repeat changes nothing
        entry = JournalEntry(task=task.model_dump(), received_ms=now_ms())
        sv = state.usable(task.model)
        problem = None
        if sv is None:
            problem = f"model {task.model!r} is not loaded on this miner"
        elif task.kind == "verify" and t.claimed_model_id(entry.task) not in (None, sv.model_id):
            problem = "this miner's weights differ from the claimed model id; it cannot re-check this output"
        state.journal.put(entry)
        log.info("task received", extra={"task_id": task.task_id, "kind": task.kind, "model": task.model})
        state.job_event(entry, "received")
        if problem is not None:
            await self.finish(entry, t.failure(problem), "failed")
            return
        await self.notify()

    async def cancel(self, task_id: str) -> None:
        """The coordinator no longer wants this task: forget it, whatever its state."""
        entry = self._state.journal.remove(task_id)
        if entry is None:
            return
        self._state.counters.cancelled += 1
        log.info("task cancelled by the coordinator", extra={"task_id": task_id, "state": entry.state})
        self._state.job_event(entry, "cancelled")
        await self.notify()

    async def finish(self, entry: JournalEntry, result: dict[str, Any], outcome: str) -> bool:
        """Record a task's answer (durably) and hand it to delivery; False if no longer ours."""
        state = self._state
        if state.journal.get(entry.task_id) is not entry or entry.state == "done":
            return False
        entry.state, entry.result, entry.outcome, entry.finished_ms = "done", result, outcome, now_ms()
        state.journal.put(entry)
        if outcome == "failed":
            state.counters.failed += 1
        elif outcome == "handed_back":
            state.counters.handed_back += 1
        log.info("task finished", extra={"task_id": entry.task_id, "outcome": outcome})
        state.job_event(entry, outcome)
        self.answered.set()
        await self.notify()
        return True

    async def answer_all(self, why: str, outcome: str, *states: TaskState) -> None:
        """Answer every task in ``states`` with a failure report (``outcome`` failed or
        handed_back) saying ``why``."""
        for entry in self._state.journal.in_state(*states):
            await self.finish(entry, t.failure(why), outcome)
