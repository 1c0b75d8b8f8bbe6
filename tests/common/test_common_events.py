"""EventHub fan-out: topics, wildcards, bounded queues, lagging subscribers (in-process)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from daemons.common.events import EventHub, Lagging


def test_publish_reaches_matching_subscribers_only() -> None:
    async def scenario() -> None:
        hub = EventHub()
        blocks = hub.subscribe(["new_block"])
        tx = hub.subscribe(["tx:0xabc"])
        everything = hub.subscribe(["*"])
        jobs = hub.subscribe(["job:*"])
        assert hub.publish("new_block", {"height": 1}) == 2
        assert hub.publish("tx:0xabc", {"ok": True}) == 2
        assert hub.publish("job:42", {"state": "done"}) == 2
        assert (await blocks.next()).data == {"height": 1}
        assert (await tx.next()).topic == "tx:0xabc"
        assert (await jobs.next()).topic == "job:42"
        assert [(await everything.next()).topic for _ in range(3)] == ["new_block", "tx:0xabc", "job:42"]
        hub.unsubscribe(blocks)
        assert hub.publish("new_block", {"height": 2}) == 1

    asyncio.run(scenario())


def test_a_slow_subscriber_is_dropped_not_waited_for() -> None:
    async def scenario() -> None:
        hub = EventHub(queue_size=3)
        slow = hub.subscribe(["new_block"])
        fast = hub.subscribe(["new_block"])
        for height in range(3):
            hub.publish("new_block", {"height": height})
            await fast.next()
        assert hub.publish("new_block", {"height": 3}) == 1  # slow overflowed, fast got it
        assert slow.lagging and hub.subscriber_count == 1
        with pytest.raises(Lagging, match="resubscribe"):
            await slow.next()
        assert (await fast.next()).data == {"height": 3}

    asyncio.run(scenario())


def test_publish_threadsafe_from_a_worker_thread() -> None:
    async def scenario() -> None:
        hub = EventHub()
        sub = hub.subscribe(["telemetry"])
        worker = threading.Thread(target=hub.publish_threadsafe, args=("telemetry", {"gpu": 0}))
        worker.start()
        event = await asyncio.wait_for(sub.next(), 10)
        worker.join()
        assert event.data == {"gpu": 0}

    asyncio.run(scenario())
