"""``stop_tasks``: a stopped daemon's loops are really over before it closes what they use."""

from __future__ import annotations

import asyncio
import logging

import pytest

from daemons.common.background import stop_tasks


def test_cancelled_tasks_have_finished_their_cleanup_when_stop_returns() -> None:
    cleaned: list[str] = []

    async def loop(name: str) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0)  # cleanup that itself awaits: still done before stop_tasks returns
            cleaned.append(name)

    async def scenario() -> list[bool]:
        tasks = [asyncio.create_task(loop(n), name=n) for n in ("producer", "reaper")]
        await asyncio.sleep(0)
        await stop_tasks(tasks[0], None, tasks[1])
        return [t.cancelled() for t in tasks]

    assert asyncio.run(scenario()) == [True, True]
    assert sorted(cleaned) == ["producer", "reaper"]


def test_a_task_that_had_died_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    async def broken() -> None:
        raise RuntimeError("disk full")

    async def scenario() -> bool:
        task = asyncio.create_task(broken(), name="reaper")
        await asyncio.sleep(0)
        await stop_tasks(task)  # must not raise: the rest of the shutdown still has to run
        return task.done()

    with caplog.at_level(logging.ERROR, logger="aitbc.daemon"):
        assert asyncio.run(scenario())
    assert any("reaper" in r.getMessage() and "disk full" in r.getMessage() for r in caplog.records)


def test_nothing_to_stop() -> None:
    asyncio.run(stop_tasks())
    asyncio.run(stop_tasks(None))
