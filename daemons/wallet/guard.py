"""Brute-force resistance for everything that checks a wallet password.

scrypt already makes each guess expensive; this adds a per-wallet delay that doubles with every
wrong password (``base * 2**(failures-1)``, capped) and is reset by a right one. Attempts on one
wallet are serialized, and an attempt first waits out the delay earned by the previous failure,
so parallel requests or a client that hangs up early (cancelling the answer's delay) gain
nothing: the rate of guesses per wallet stays at most one per current delay.

Failures are counted per wallet address in memory. A restart of the daemon resets them, but a
restart is the operator's act, not the attacker's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from daemons.common.backoff import backoff_delay
from keys import WrongPassword

T = TypeVar("T")


@dataclass(frozen=True)
class Refused:
    """One refused attempt: how many in a row, and the delay it earned."""

    failures: int
    delay_s: float


class UnlockGuard:
    def __init__(self, base_s: float, max_s: float,
                 on_failure: Callable[[str, Refused], Awaitable[None]] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.base_s = base_s
        self.max_s = max_s
        self._on_failure = on_failure
        self._clock = clock
        self._locks: dict[str, asyncio.Lock] = {}
        self._failures: dict[str, int] = {}
        self._not_before: dict[str, float] = {}

    def failures(self, address: str) -> int:
        return self._failures.get(address, 0)

    def delay_for(self, failures: int) -> float:
        return backoff_delay(failures, self.base_s, self.max_s)

    async def attempt(self, address: str, check: Callable[[], Awaitable[T]]) -> T:
        """Run ``check`` (which raises ``WrongPassword`` on a bad password) under this wallet's
        guard. On a wrong password the failure is recorded, reported, and the answer delayed."""
        lock = self._locks.setdefault(address, asyncio.Lock())
        async with lock:
            wait = self._not_before.get(address, 0.0) - self._clock()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                result = await check()
            except WrongPassword:
                failures = self._failures.get(address, 0) + 1
                self._failures[address] = failures
                refused = Refused(failures, self.delay_for(failures))
                self._not_before[address] = self._clock() + refused.delay_s
                if self._on_failure is not None:
                    await self._on_failure(address, refused)
                if refused.delay_s > 0:
                    await asyncio.sleep(refused.delay_s)
                raise
            self._failures.pop(address, None)
            self._not_before.pop(address, None)
            return result
