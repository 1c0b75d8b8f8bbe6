"""The miner runtime's parts without a network: what a runtime that has not started answers,
and the task book's changes of state on a real journal file."""

from __future__ import annotations

import asyncio
from pathlib import Path

from daemons.common.events import EventHub
from daemons.common.home import Home
from daemons.coordinator.models import Task
from daemons.miner import tasks as t
from daemons.miner.book import TaskBook
from daemons.miner.daemon import build
from daemons.miner.journal import TaskJournal
from daemons.miner.settings import load_miner_settings
from daemons.miner.state import MinerState


def _task(task_id: str, model: str = "smollm2") -> Task:
    return Task(task_id=task_id, kind="run", job_id=f"job-{task_id}", model=model, prompt="Hello",
                params={"max_tokens": 4, "temperature_milli": 0, "top_p_milli": 1000, "seed": 0},
                deadline_ms=2**62)


def test_a_runtime_not_started_answers_status_and_health_with_why_it_is_not_ready(tmp_path: Path) -> None:
    settings = load_miner_settings(Home(root=tmp_path / "h"), capacity=3)
    runtime = build(settings)
    status = runtime.status()
    assert status.phase == "starting" and not status.ready
    assert status.free_slots == 3 and status.tasks == [] and status.models == []
    assert status.reasons[0] == "starting" and "not registered with the coordinator" in status.reasons
    assert not status.gpu.ok and status.gpu.reason == "not sampled yet"
    health = runtime.health("operator")
    assert health.status == "unavailable" and health.reasons == status.reasons and not health.model_loaded
    assert not runtime.inference_busy()


def test_the_book_answers_a_task_for_a_model_not_loaded_at_once_and_journals_it(tmp_path: Path) -> None:
    settings = load_miner_settings(Home(root=tmp_path / "h"), capacity=2)
    state = MinerState(settings, EventHub())
    assert state.journal.load() == []  # what the runtime's start does first
    book = TaskBook(state)

    async def scenario() -> list[tuple[str, str]]:
        jobs = state.hub.subscribe(["job"])
        await book.accept(_task("t1"))
        await book.accept(_task("t1"))  # the same task again changes nothing
        assert book.answered.is_set()
        return [((e := await jobs.next()).data["event"], e.data["task_id"]) for _ in range(2)]

    assert asyncio.run(scenario()) == [("received", "t1"), ("failed", "t1")]
    [entry] = state.journal
    assert entry.state == "done" and entry.outcome == "failed"
    assert entry.result == t.failure("model 'smollm2' is not loaded on this miner")
    assert state.counters.failed == 1 and state.free_slots() == 2
    reread = TaskJournal(settings.journal_path)
    assert [e.task_id for e in reread.load()] == ["t1"]  # durable before the answer is posted


def test_the_book_cancels_what_the_coordinator_drops_and_stops_waiting_when_draining(tmp_path: Path) -> None:
    settings = load_miner_settings(Home(root=tmp_path / "h"), capacity=1)
    state = MinerState(settings, EventHub())
    state.journal.load()
    book = TaskBook(state)

    async def scenario() -> None:
        await book.accept(_task("t2"))
        await book.cancel("t2")
        await book.cancel("unknown")  # nothing held under that id: nothing changes
        assert await asyncio.wait_for(book.wait_for_room(), timeout=60)
        state.draining = True
        assert await asyncio.wait_for(book.next_batch("smollm2"), timeout=60) is None
        assert await asyncio.wait_for(book.wait_for_room(), timeout=60) is False

    asyncio.run(scenario())
    assert len(state.journal) == 0 and state.counters.cancelled == 1 and state.free_slots() == 1
