"""Pauses between retries that double after every failure, up to a cap.

Three places retry something that may keep failing for a while: the miner (registering, polling
and delivering results to the coordinator), the wallet (the delay after a wrong password) and
the TUI's data sources (reconnecting to a daemon). Each wants the same thing: a short first pause,
so that a blip (a daemon restarting) costs little, and a pause that doubles so that a peer down
for good is not hammered, capped so that recovery is noticed within a bounded time. This module
is that rule, once.

It is pure: no clock and no sleeping (callers sleep what it returns), and randomness only from an
injected source, so that the sequence of delays is a function of its inputs and can be tested.
"""

from __future__ import annotations

from collections.abc import Callable

# 2.0 ** 1023 is the largest power of two a float holds; beyond it the cap applies anyway.
_MAX_EXPONENT = 1023


def backoff_delay(failures: int, base: float, cap: float) -> float:
    """The pause after ``failures`` failures in a row: 0 for none, then ``base``, doubling, at
    most ``cap`` (``base * 2**(failures-1)``, capped)."""
    _check(base, cap)
    if failures <= 0:
        return 0.0
    return min(cap, base * 2.0 ** min(failures - 1, _MAX_EXPONENT))


class Backoff:
    """The delays of one retry loop: :meth:`next` after each failure, :meth:`reset` on success.

    ``jitter`` (0..1) shortens each delay by up to that fraction, drawn from ``rng`` (a function
    returning a number in [0, 1), such as ``random.Random(seed).random``), so that many clients
    that failed together do not retry together. Without jitter no randomness is used.
    """

    def __init__(self, base: float, cap: float, *, jitter: float = 0.0,
                 rng: Callable[[], float] | None = None) -> None:
        _check(base, cap)
        if not 0.0 <= jitter <= 1.0:
            raise ValueError(f"backoff jitter must be between 0 and 1, got {jitter}")
        if jitter > 0 and rng is None:
            raise ValueError("backoff jitter needs a random source (rng)")
        self.base = base
        self.cap = cap
        self.jitter = jitter
        self._rng = rng
        self.failures = 0

    def next(self) -> float:
        """Count one more failure and return the pause to wait before the next try."""
        shorten = 0.0
        if self._rng is not None and self.jitter > 0:
            draw = self._rng()
            if not 0.0 <= draw < 1.0:
                raise ValueError(f"backoff rng must return a number in [0, 1), got {draw}")
            shorten = self.jitter * draw
        self.failures += 1
        return backoff_delay(self.failures, self.base, self.cap) * (1.0 - shorten)

    def reset(self) -> None:
        """A success: the next failure starts again at ``base``."""
        self.failures = 0


def _check(base: float, cap: float) -> None:
    if base < 0 or cap < 0:
        raise ValueError(f"backoff base and cap must not be negative, got base={base}, cap={cap}")
