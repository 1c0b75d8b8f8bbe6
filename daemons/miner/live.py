"""Live output: push a run task's text to the coordinator while the model generates it.

The backend calls a :data:`~daemons.miner.inference.TokenSink` from the inference thread for
each token; :class:`LiveOutput` routes it to the task's :class:`OutputPusher`, which turns ids
into text with the shared :class:`~daemons.miner.inference.IncrementalDetokenizer` and wakes a
task on the event loop that posts whatever text has gathered (``POST
/v1/miners/jobs/{task_id}/output``). Only one post per task is in flight at a time, so a fast
model's tokens are coalesced into fewer, larger posts instead of queueing up behind a slow
network; the first token goes out at once.

The pushes are a preview for clients that stream: the result, its proof and the receipt are
still made from the whole output and delivered by :mod:`daemons.miner.delivery`, so a lost push
loses nothing. A coordinator that answers ``cancel`` (the job was cancelled, e.g. because its
streaming client went away) makes the miner drop the task and stop generating it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from daemons.common.errors import DaemonError
from daemons.coordinator.client import AsyncCoordinatorClient
from daemons.miner.inference import IncrementalDetokenizer, InferenceError

log = logging.getLogger("aitbc.miner")
MIN_PUSH_INTERVAL_S = 0.05
"""At most twenty posts a second per task: keeps a long output inside the miner key's rate limit."""
RETRY_AFTER_S = 0.5
FLUSH_S = 1.0
"""Longest a finished generation waits for its last pieces to be pushed before its result goes out."""


class GenerationCancelled(InferenceError):
    """Raised from the token sink to stop a generation nobody wants any more."""


class OutputPusher:
    """One run task's output on its way to the coordinator."""

    def __init__(self, client: AsyncCoordinatorClient, task_id: str, tokenizer: Any, eos_ids: frozenset[int]) -> None:
        self._client = client
        self.task_id = task_id
        self._detokenizer = IncrementalDetokenizer(tokenizer, eos_ids)
        self._loop = asyncio.get_running_loop()
        self._lock = threading.Lock()
        self._pending = ""
        self._tokens = 0
        self._sent = 0
        self._wake = asyncio.Event()
        self._closing = False
        self.cancelled = False
        self._task = asyncio.create_task(self._run(), name=f"push-{task_id}")

    def token(self, token_id: int) -> None:
        """A new token (called on the inference thread)."""
        text = self._detokenizer.push(token_id)
        with self._lock:
            self._tokens += 1
            if not text:
                return
            self._pending += text
        with contextlib.suppress(RuntimeError):  # the loop is closing: the process exits
            self._loop.call_soon_threadsafe(self._wake.set)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            with self._lock:
                text, tokens, self._pending = self._pending, self._tokens, ""
            if not text:
                if self._closing:
                    return
                continue
            try:
                reply = await self._client.push_output(self.task_id, {"offset": self._sent, "text": text,
                                                                      "tokens": tokens})
            except DaemonError as exc:
                if exc.status in (404, 405, 422):  # a coordinator without live output, or a refusal: stop pushing
                    log.info("live output not taken; the result will carry the text",
                             extra={"task_id": self.task_id, "reason": exc.message})
                    return
                with self._lock:
                    self._pending = text + self._pending
                await asyncio.sleep(RETRY_AFTER_S)
                self._wake.set()
                continue
            if reply.cancel:
                self.cancelled = True
                return
            if not reply.accepted:
                return  # the coordinator lost our place: the result will carry the whole text
            self._sent += len(text)
            if self._closing:
                self._wake.set()  # send what came meanwhile, then end
            else:
                await asyncio.sleep(MIN_PUSH_INTERVAL_S)

    async def close(self) -> None:
        """Send what is left (for at most :data:`FLUSH_S`: the result carries the whole text
        anyway), then stop."""
        with self._lock:
            self._pending += self._detokenizer.flush()
        self._closing = True
        self._wake.set()
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(self._task), FLUSH_S)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class LiveOutput:
    """The pushers of one ``generate`` call, and the token sink that feeds them."""

    def __init__(self, pushers: list[OutputPusher | None]) -> None:
        self.pushers = pushers

    @classmethod
    def start(cls, client: AsyncCoordinatorClient | None, task_ids: list[str], backend: Any) -> LiveOutput:
        if client is None:
            return cls([None] * len(task_ids))
        tokenizer, eos = backend.tokenizer, backend.eos_ids
        return cls([OutputPusher(client, task_id, tokenizer, eos) for task_id in task_ids])

    def sink(self) -> Callable[[int, int], None] | None:
        if not any(self.pushers):
            return None

        def on_token(index: int, token_id: int) -> None:
            pusher = self.pushers[index]
            if pusher is not None:
                pusher.token(token_id)
            if all(p is not None and p.cancelled for p in self.pushers):
                raise GenerationCancelled("every job of this generation was cancelled by the coordinator")

        return on_token

    def cancelled(self) -> list[str]:
        return [p.task_id for p in self.pushers if p is not None and p.cancelled]

    async def close(self) -> None:
        for pusher in self.pushers:
            if pusher is not None:
                await pusher.close()
