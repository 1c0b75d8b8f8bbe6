"""Stopping a daemon's background tasks: cancel them and wait until they are really gone.

Every daemon's ``stop()`` ends its loops (block producer, consensus driver, idle-lock reaper)
before it closes what those loops use (the database, the HTTP client, the unlocked keys). One
helper, so that each of them gets the two details right: the tasks are *awaited* after the
cancel (a cancelled task still runs until its next ``await``), and a task that had already died
of an error is logged rather than raised, so that the rest of the shutdown (closing the
database, wiping keys) still happens.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger("aitbc.daemon")


async def stop_tasks(*tasks: asyncio.Task[Any] | None) -> None:
    """Cancel each task (``None`` entries are skipped) and wait until all have finished."""
    live = [task for task in tasks if task is not None]
    for task in live:
        task.cancel()
    results = await asyncio.gather(*live, return_exceptions=True)
    for task, result in zip(live, results):
        if isinstance(result, Exception):
            log.error("background task %s had failed: %r", task.get_name(), result,
                      exc_info=(type(result), result, result.__traceback__))
