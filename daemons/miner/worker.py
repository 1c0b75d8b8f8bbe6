"""A dedicated inference thread per backend, awaited from the event loop.

Inference is long, blocking work (seconds to minutes) that must never run on the event loop:
heartbeats, the long poll, ``/health`` and the event stream have to keep answering while a job
generates. ``asyncio.to_thread`` would do the awaiting, but its pool threads are joined when
the process exits, so a shutdown would wait for a generation nobody wants any more. This
thread is a daemon thread: a drain that hands a running job back can exit at once, and the
abandoned generation dies with the process.

One thread per backend also serialises calls into one model (neither a torch model nor a vLLM
engine may be driven from two threads at once) while letting two models, e.g. on two GPUs,
work side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger("aitbc.miner")
_Item = tuple[Callable[[], Any], asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


class InferenceWorker:
    """Runs submitted callables one at a time on its own daemon thread."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._busy_since: float | None = None
        self._thread = threading.Thread(target=self._loop, name=f"inference-{name}", daemon=True)
        self._thread.start()

    @property
    def busy(self) -> bool:
        return self._busy_since is not None

    async def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the worker thread; its result or exception comes back here.

        Cancelling the awaiting task does not stop ``fn`` (a forward pass cannot be
        interrupted); its result is then dropped.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put((fn, loop, future))
        return await future

    def close(self) -> None:
        """Let the thread end after the call it is running (if any)."""
        self._queue.put(None)

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            fn, loop, future = item
            if future.cancelled():
                continue
            self._busy_since = time.monotonic()
            try:
                result = fn()
            except BaseException as exc:  # handed to the awaiting task, which decides
                self._settle(loop, future, None, exc)
            else:
                self._settle(loop, future, result, None)
            finally:
                self._busy_since = None

    @staticmethod
    def _settle(loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], result: Any,
                exc: BaseException | None) -> None:
        def settle() -> None:
            if future.done():
                return
            if exc is not None:
                future.set_exception(exc)
            else:
                future.set_result(result)

        with contextlib.suppress(RuntimeError):  # the loop is gone: the process is exiting
            loop.call_soon_threadsafe(settle)
