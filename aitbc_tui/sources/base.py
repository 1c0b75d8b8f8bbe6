"""What every daemon source shares: the connect/subscribe/reconnect loop and status keeping.

Why a loop with backoff rather than a poll: while a daemon is up the source sits on its event
stream and costs nothing; when it goes down the source retries quickly at first (a restart takes
a second or two) and then every few seconds, so a daemon that is off for good costs one failed
``connect()`` on a missing socket every few seconds, not a storm.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from daemons.common.backoff import Backoff
from daemons.common.errors import DaemonError
from daemons.common.home import Home
from daemons.common.models import Event
from daemons.common.stream import AsyncEventStream

from aitbc_tui.models import EventLine, SourceStatus, Store

Changed = Callable[[str], None]
MIN_BACKOFF_S = 0.25
MAX_BACKOFF_S = 3.0


def now_ms() -> int:
    return int(time.time() * 1000)


class Closes(Protocol):
    """What a source needs of every asyncio daemon client."""

    async def aclose(self) -> None: ...


class Streams(Closes, Protocol):
    """What a :class:`StreamingSource` needs of its client: the daemon's event stream too."""

    def events(self, topics: list[str]) -> AsyncEventStream: ...


C = TypeVar("C", bound=Closes)
S = TypeVar("S", bound=Streams)


class DaemonSource(ABC, Generic[C]):
    """Base of the per-daemon sources: each holds one asyncio client of its daemon on the operator
    socket, made by :meth:`open_client` and closed by :meth:`aclose`. Subclasses implement
    :meth:`session`."""

    service: ClassVar[str]

    def __init__(self, home: Home, store: Store, changed: Changed) -> None:
        self.home = home
        self.store = store
        self._changed = changed
        self.socket = home.socket(self.service)
        self.client: C = self.open_client()

    @abstractmethod
    def open_client(self) -> C:
        """The daemon's asyncio client on :attr:`socket`."""

    # -- status ------------------------------------------------------------------------------------

    @property
    def status(self) -> SourceStatus:
        return self.store.status[self.service]

    def changed(self) -> None:
        self._changed(self.service)

    def mark_up(self) -> None:
        was = self.status.state
        self.store.status[self.service] = SourceStatus(name=self.service, state="up", since_ms=now_ms())
        if was != "up":
            again = " again" if was == "down" else ""
            self.store.events.add(EventLine(time_ms=now_ms(), source=self.service,
                                            text=f"connected to {self.service}{again}"))
        self.changed()

    def mark_down(self, message: str) -> None:
        was = self.status
        if was.state == "down" and was.message == message:
            return
        self.store.status[self.service] = SourceStatus(name=self.service, state="down", message=message,
                                                       since_ms=now_ms())
        if was.state == "up":
            self.store.events.add(EventLine(time_ms=now_ms(), source=self.service, level="error",
                                            text=f"lost {self.service}: {message}"))
        self.changed()

    # -- lifecycle ---------------------------------------------------------------------------------

    async def run(self) -> None:
        """Run forever (until cancelled): session, and on failure wait and reconnect."""
        backoff = Backoff(MIN_BACKOFF_S, MAX_BACKOFF_S)
        while True:
            try:
                await self.session()
                message = f"{self.service} closed the event stream"
            except asyncio.CancelledError:
                raise
            except DaemonError as exc:
                message = exc.message
            except Exception as exc:  # a bug or an unexpected answer: show it, keep trying
                message = f"{type(exc).__name__}: {exc}"
            if self.status.state == "up":
                backoff.reset()
            self.mark_down(message)
            await asyncio.sleep(backoff.next())

    @abstractmethod
    async def session(self) -> None:
        """Connect, subscribe, load a snapshot, call :meth:`mark_up`, then consume events.

        Returns or raises when the connection is lost.
        """

    async def aclose(self) -> None:
        """Release the client (the app calls this on exit)."""
        await self.client.aclose()


class StreamingSource(DaemonSource[S]):
    """A source that follows its daemon's event stream (node, coordinator, miner): subscribe to
    :attr:`topics`, load a :meth:`_snapshot`, mark up, then hand each event to :meth:`_on_event`
    while :meth:`timers` re-read what no event carries.

    The status is read again every :attr:`status_every_s`, and soon after an event handler sets
    :attr:`status_dirty` (once per burst), because a changed count or phase has one source, the
    daemon's status, and is never patched from an event."""

    topics: ClassVar[list[str]]
    status_every_s: ClassVar[float] = 5.0

    def __init__(self, home: Home, store: Store, changed: Changed) -> None:
        super().__init__(home, store, changed)
        self.status_dirty = asyncio.Event()

    async def session(self) -> None:
        async with self.client.events(self.topics) as stream:
            await self._snapshot()
            self.mark_up()
            await first_done(self._consume(stream), *self.timers())

    async def _consume(self, stream: AsyncEventStream) -> None:
        async for event in stream:
            self._on_event(event)

    def timers(self) -> list[Coroutine[Any, Any, None]]:
        """The loops that run beside the event stream for a session (a subclass adds its own)."""
        return [every(self.status_every_s, self._poll), when_set(self.status_dirty, self._poll)]

    async def _poll(self) -> None:
        await self._read_status()
        self.changed()

    @abstractmethod
    async def _snapshot(self) -> None:
        """Everything the screens need right after (re)connecting."""

    @abstractmethod
    async def _read_status(self) -> None:
        """Read the daemon's status into the store."""

    @abstractmethod
    def _on_event(self, event: Event) -> None:
        """Apply one event to the store."""


async def first_done(*coros: Coroutine[Any, Any, None]) -> None:
    """Run coroutines together until one returns or raises; cancel the rest; re-raise its error."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


async def every(interval_s: float, call: Callable[[], Awaitable[None]]) -> None:
    """Call ``call`` every ``interval_s`` seconds; its errors end the loop (and the session)."""
    while True:
        await asyncio.sleep(interval_s)
        await call()


async def when_set(flag: asyncio.Event, call: Callable[[], Awaitable[None]], settle_s: float = 0.3) -> None:
    """Call ``call`` each time ``flag`` is set, once per burst: after the first set it waits
    ``settle_s`` so that events arriving together cost one read; its errors end the loop (and the
    session), like :func:`every`."""
    while True:
        await flag.wait()
        await asyncio.sleep(settle_s)
        flag.clear()
        await call()
