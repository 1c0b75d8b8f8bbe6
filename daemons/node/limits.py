"""What one caller may ask of the node's public RPC door: requests per second per client
address, requests in flight at once, and rows per request.

The public port is meant to be left open to the internet, so one client must not be able to
starve the others (rate), nor pile up work faster than it is served (in flight), nor make one
request read and encode an unbounded answer (rows). The operator's socket is not metered: it
is the operator. Every refusal is a JSON-RPC error the caller can act on (retry after, smaller
batch), never a dropped connection.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

from daemons.common.ratelimit import RateLimiter
from daemons.node.models import MAX_ROWS, RATE_LIMITED, SERVER_BUSY, TOO_LARGE


class LimitExceeded(Exception):
    """A request refused by a limit: its JSON-RPC code and message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class RowBudget:
    """The rows one request may still ask for; each call with a ``limit`` takes its share."""

    def __init__(self, rows: int = MAX_ROWS) -> None:
        self.left = rows
        self.total = rows

    def take(self, rows: int) -> None:
        if rows > self.left:
            raise LimitExceeded(TOO_LARGE, f"this request asks for more than {self.total} rows in all "
                                           f"(the sum of its calls' limit); split it into smaller requests")
        self.left -= rows


class PublicLimits:
    """Rate and concurrency limits of the public door, per client address."""

    def __init__(self, rate: float, burst: int, max_in_flight: int) -> None:
        self.rate = rate
        self.burst = burst
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self._limiter = RateLimiter()

    @contextmanager
    def admit(self, client: str) -> Iterator[None]:
        """Hold one of the door's request slots for ``client``, or raise ``LimitExceeded``.

        Used from the event loop only, so the counter needs no lock."""
        if self.rate > 0:
            wait = self._limiter.retry_after(client, self.rate, self.burst)
            if wait is not None:
                raise LimitExceeded(RATE_LIMITED, f"rate limited: more than {self.rate:g} requests/s from "
                                                  f"{client}; retry after {math.ceil(wait * 1000)} ms")
        if self.in_flight >= self.max_in_flight:
            raise LimitExceeded(SERVER_BUSY, f"server busy: {self.in_flight} requests in flight on the public "
                                             f"port; retry shortly")
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1
