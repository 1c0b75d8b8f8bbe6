"""In-process event fan-out and the ``/v1/events`` WebSocket that streams it to the TUI and CLI.

Publishing never waits for subscribers: each has a bounded queue, and one that falls behind is
cut off (told it lagged, then closed) instead of stalling block production or job matching.
A lagging client resubscribes and re-reads current state; that is cheaper and more honest than
an unbounded queue that hides the problem until memory runs out.

Protocol on the socket (JSON text frames):
  client -> ``{"subscribe": ["new_block", "tx:0xab..", "job:*"]}`` (``{"unsubscribe": [...]}``)
  server -> ``{"subscribed": [...all current topics...]}`` once the change is in effect
  server -> ``{"topic": "new_block", "data": {...}}`` for every matching event
  server -> ``{"error": {"code": "lagging" | "bad_request" | "too_many", "message": "..."}}`` then close
A topic ending in ``*`` matches every topic with that prefix; ``*`` alone matches everything.

The socket may face the internet (the node's public WebSocket port), so what one client can make
the daemon hold is bounded: ``MAX_TOPICS`` topics per connection, each at most ``MAX_TOPIC_LEN``
characters, and at most ``max_subscribers`` connections per hub; past a bound the client gets a
``too_many`` error naming it, and the daemon carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, Depends, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from daemons.common.api import require_operator
from daemons.common.models import Event, SubscribeRequest

log = logging.getLogger(__name__)
DEFAULT_QUEUE = 1024
DEFAULT_MAX_SUBSCRIBERS = 1024
MAX_TOPICS = 64
MAX_TOPIC_LEN = 200
LAG_CLOSE_CODE = 4008


class Lagging(Exception):
    """The subscriber fell more than its queue size behind and was dropped."""


class Subscription:
    """One subscriber's topics and bounded queue. Read with :meth:`next`."""

    def __init__(self, topics: Iterable[str], maxsize: int) -> None:
        self.topics: set[str] = set(topics)
        self.lagging = False
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize)

    def matches(self, topic: str) -> bool:
        return topic in self.topics or any(
            t.endswith("*") and topic.startswith(t[:-1]) for t in self.topics)

    def _offer(self, event: Event) -> bool:
        """Queue the event; on overflow, replace the backlog with the lag marker. False = drop me."""
        try:
            self._queue.put_nowait(event)
            return True
        except asyncio.QueueFull:
            self.lagging = True
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(None)
            return False

    async def next(self) -> Event:
        """The next event; raises :class:`Lagging` once the subscriber was dropped."""
        event = await self._queue.get()
        if event is None:
            raise Lagging("subscriber too slow: events were dropped; resubscribe and re-read state")
        return event


class EventHub:
    """Topic-based fan-out inside one daemon's event loop."""

    def __init__(self, queue_size: int = DEFAULT_QUEUE, max_subscribers: int = DEFAULT_MAX_SUBSCRIBERS) -> None:
        self.queue_size = queue_size
        self.max_subscribers = max_subscribers
        self._subs: set[Subscription] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    def subscribe(self, topics: Iterable[str] = ()) -> Subscription:
        self._loop = asyncio.get_running_loop()
        sub = Subscription(topics, self.queue_size)
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)

    def publish(self, topic: str, data: dict[str, Any]) -> int:
        """Deliver to every matching subscriber without waiting; returns how many got it.

        Call from the event loop's thread (an ``async def`` endpoint or task; a plain ``def``
        endpoint runs in a worker thread); other threads use :meth:`publish_threadsafe`.
        """
        event = Event(topic=topic, data=data)
        delivered = 0
        for sub in list(self._subs):
            if sub.matches(topic):
                if sub._offer(event):
                    delivered += 1
                else:
                    self._subs.discard(sub)
                    log.warning("event subscriber lagging, dropped", extra={"topic": topic})
        return delivered

    def publish_threadsafe(self, topic: str, data: dict[str, Any]) -> None:
        """Publish from a worker thread (e.g. an inference thread); no-op before any subscriber."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.publish, topic, data)


def events_router(hub: EventHub, path: str = "/v1/events", *, operator_only: bool = False) -> APIRouter:
    """A router with the WebSocket event stream at ``path`` (see the module doc for the protocol)."""
    router = APIRouter(dependencies=[Depends(require_operator)] if operator_only else [])

    @router.websocket(path)
    async def stream(ws: WebSocket) -> None:
        await ws.accept()
        if hub.subscriber_count >= hub.max_subscribers:
            await _send_error(ws, "too_many", f"this daemon already serves {hub.max_subscribers} event "
                                              f"subscribers; try again later", 1013)
            return
        sub = hub.subscribe()
        send_lock = asyncio.Lock()
        tasks = [asyncio.create_task(_read(ws, sub, send_lock)),
                 asyncio.create_task(_write(ws, sub, send_lock))]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            hub.unsubscribe(sub)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await ws.close()

    return router


async def _read(ws: WebSocket, sub: Subscription, send_lock: asyncio.Lock) -> None:
    """Apply (un)subscribe messages; the ack goes out under the send lock, so no event for a new
    topic can reach the client before the client knows its subscription is active."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            raw = await ws.receive_text()
            try:
                req = SubscribeRequest.model_validate(json.loads(raw))
            except (ValueError, ValidationError):
                async with send_lock:
                    await _send_error(ws, "bad_request",
                                      'expected {"subscribe": [topics]} or {"unsubscribe": [topics]}')
                return
            topics = (sub.topics | set(req.subscribe)) - set(req.unsubscribe)
            refusal = _topics_refusal(topics)
            if refusal is not None:
                async with send_lock:
                    await _send_error(ws, "too_many", refusal)
                return
            async with send_lock:
                sub.topics = topics
                await ws.send_json({"subscribed": sorted(sub.topics)})


def _topics_refusal(topics: set[str]) -> str | None:
    """Why one connection may not hold ``topics``; None when it may."""
    if len(topics) > MAX_TOPICS:
        return f"{len(topics)} topics asked; at most {MAX_TOPICS} per connection"
    long = next((t for t in topics if len(t) > MAX_TOPIC_LEN), None)
    if long is not None:
        return f"topic of {len(long)} characters; at most {MAX_TOPIC_LEN}"
    return None


async def _write(ws: WebSocket, sub: Subscription, send_lock: asyncio.Lock) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            try:
                event = await sub.next()
            except Lagging as exc:
                async with send_lock:
                    await _send_error(ws, "lagging", str(exc), LAG_CLOSE_CODE)
                return
            async with send_lock:
                await ws.send_json(event.model_dump())


async def _send_error(ws: WebSocket, code: str, message: str, close_code: int = 1008) -> None:
    await ws.send_json({"error": {"code": code, "message": message}})
    await ws.close(code=close_code, reason=code)
