"""Token-bucket rate limits per key, shared by the daemons that meter their callers.

The coordinator meters API keys per role; the wallet meters wallet creation and password checks
per API key on its public door. One implementation, so both count the same way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Token buckets per key: ``rate`` requests per second sustained, ``burst`` at once.

    In-process: with several coordinator processes each enforces its own share, which bounds a
    key to (processes x rate); that is the usual trade against a shared counter on every request.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, key: str, rate: float, burst: int) -> float | None:
        """Take one token; None when allowed, else seconds until one is available."""
        now = self._clock()
        with self._lock:
            tokens, stamp = self._buckets.get(key, (float(burst), now))
            tokens = min(float(burst), tokens + (now - stamp) * rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return None
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / rate
