"""Live output: the text of running jobs as their miners generate it, and following one job.

A miner pushes each run task's output in pieces while it generates (``POST
/v1/miners/jobs/{task_id}/output``, see :class:`~daemons.coordinator.models.OutputDelta`). The
pieces are kept here, in this process's memory only (they are a preview: the job's result, its
proof and its receipt are what count, and they are in the database), and published on the event
hub as ``output:<job_id>`` (the TUI's Jobs screen shows them growing). :class:`JobFollower` turns
them, plus the job's own events, into what a streaming client reads: text deltas in order, then
the finished job.

A job may be run twice (its miner is lost, the job is re-queued): the second miner's text starts
again at offset 0. The follower passes on only what extends the text it already sent, so a
client never sees text twice; a second run that *disagrees* with what was sent (sampling on other
hardware) cannot be taken back, and ends the stream with :class:`StreamBroken`. With several
coordinator processes, a miner may push to another process than the one a client follows on: the
client then gets the whole output in one piece when the job completes.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from daemons.common.events import EventHub, Lagging, Subscription
from daemons.coordinator.models import BUSY, Job, JobRecord, OutputDelta

RECHECK_HOLD_S = 0.5
"""How long a miner's hold on a job is trusted before the database is asked again: bounds how
late a cancelled job's miner hears that it should stop, and the reads the pushes cost."""
REREAD_S = 1.0
"""A follower re-reads the job this often even without events (a lost event, another process)."""


@dataclass
class _Attempt:
    miner: str
    text: str
    tokens: int
    checked: float


class LiveOutputs:
    """The pushed output of each running job (one attempt at a time), thread-safe."""

    def __init__(self, max_chars: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_chars = max_chars
        self._clock = clock
        self._lock = threading.Lock()
        self._jobs: dict[str, _Attempt] = {}

    def holds(self, job_id: str, miner: str) -> bool:
        """Whether ``miner``'s hold on the job was confirmed recently enough to skip the database."""
        with self._lock:
            current = self._jobs.get(job_id)
            return current is not None and current.miner == miner and \
                self._clock() - current.checked < RECHECK_HOLD_S

    def confirm(self, job: JobRecord, miner: str) -> bool:
        """Record whether the database says ``miner`` runs ``job`` now (a fresh read)."""
        running = job.miner == miner and job.status in BUSY and job.result_ms is None
        with self._lock:
            current = self._jobs.get(job.job_id)
            if not running:
                if current is not None and current.miner == miner:
                    del self._jobs[job.job_id]
                return False
            if current is None or current.miner != miner:
                self._jobs[job.job_id] = _Attempt(miner, "", 0, self._clock())
            else:
                current.checked = self._clock()
            return True

    def add(self, job_id: str, miner: str, delta: OutputDelta) -> dict[str, Any] | None:
        """Append a piece (after :meth:`confirm`); the event to publish, or None when the piece
        does not continue the text (a gap: a push was lost) or was already taken."""
        with self._lock:
            current = self._jobs.get(job_id)
            if current is None or current.miner != miner:
                return None
            have = len(current.text)
            if delta.offset > have or delta.offset + len(delta.text) <= have:
                return None
            piece = delta.text[have - delta.offset:]
            if have + len(piece) > self.max_chars:
                return None
            current.text += piece
            current.tokens = max(current.tokens, delta.tokens)
            return {"job_id": job_id, "miner": miner, "offset": have, "text": piece, "tokens": current.tokens}

    def snapshot(self, job_id: str) -> tuple[str, str] | None:
        """(miner, text so far) of the job's current attempt."""
        with self._lock:
            current = self._jobs.get(job_id)
            return None if current is None else (current.miner, current.text)

    def forget(self, job_id: str) -> None:
        """The job's attempt ended (result, cancel, re-queue): its pushes are no longer wanted."""
        with self._lock:
            self._jobs.pop(job_id, None)


class StreamBroken(Exception):
    """The job's output cannot be streamed on consistently (a re-run disagreed with what was sent)."""


class JobFollower:
    """Follows one job: yields text deltas (``str``) in order, then the finished :class:`Job`.

    ``read_job`` is a blocking read of the job as its client sees it (run in a worker thread);
    events wake the follower, and it re-reads the job every :data:`REREAD_S` in any case. The
    subscription is made on construction, before the first read, so nothing is missed.
    """

    def __init__(self, hub: EventHub, live: LiveOutputs, job_id: str, read_job: Callable[[], Job]) -> None:
        self.job_id = job_id
        self._hub = hub
        self._live = live
        self._read_job = read_job
        self._sub: Subscription = hub.subscribe([f"output:{job_id}", f"job:{job_id}"])
        self.sent = ""
        """Text passed on so far."""
        self._miner: str | None = None
        self._got = ""
        """The current attempt's text as received."""

    def close(self) -> None:
        self._hub.unsubscribe(self._sub)

    def _take(self, miner: str, offset: int, text: str) -> str:
        """Apply a piece of ``miner``'s attempt; the new text to pass on."""
        if miner != self._miner:
            if offset != 0:
                return self._resync()
            self._miner, self._got = miner, ""
        if offset != len(self._got):
            return self._resync() if offset > len(self._got) else ""
        self._got += text
        return self._extend(self._got)

    def _resync(self) -> str:
        snap = self._live.snapshot(self.job_id)
        if snap is None:
            return ""
        self._miner, self._got = snap
        return self._extend(self._got)

    def _extend(self, text: str) -> str:
        if text.startswith(self.sent):
            new, self.sent = text[len(self.sent):], text
            return new
        if self.sent.startswith(text):
            return ""  # a re-run still catching up with what was already sent
        raise StreamBroken("the job was re-run after its miner was lost, and the new output differs from the "
                           "part already streamed; the stream cannot continue")

    async def events(self, disconnected: Callable[[], Any] | None = None) -> AsyncIterator[str | Job]:
        """Deltas, then the finished job; stops early (returns) when ``disconnected()`` is true."""
        from starlette.concurrency import run_in_threadpool

        new = self._resync()
        if new:
            yield new
        while True:
            job = await run_in_threadpool(self._read_job)
            if job.finished:
                final = job.output or ""
                if job.output is not None:
                    new = self._extend(final)
                    if new:
                        yield new
                yield job
                return
            deadline = time.monotonic() + REREAD_S
            while (left := deadline - time.monotonic()) > 0:
                try:
                    event = await asyncio.wait_for(self._sub.next(), left)
                except asyncio.TimeoutError:
                    break
                except Lagging:
                    self._sub = self._hub.subscribe([f"output:{self.job_id}", f"job:{self.job_id}"])
                    break
                if event.topic.startswith("job:"):
                    break
                data = event.data
                new = self._take(str(data["miner"]), int(data["offset"]), str(data["text"]))
                if new:
                    yield new
            if disconnected is not None and await disconnected():
                return
