"""The one back-off rule the miner, the wallet and the TUI's sources share."""

from __future__ import annotations

import random

import pytest

from daemons.common.backoff import Backoff, backoff_delay


def test_delay_is_zero_without_failures_then_doubles_from_base_up_to_the_cap() -> None:
    assert [backoff_delay(n, 0.5, 3.0) for n in range(7)] == [0.0, 0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    assert backoff_delay(-2, 0.5, 3.0) == 0.0
    assert backoff_delay(5, 0.0, 3.0) == 0.0  # a zero base never grows


def test_a_huge_failure_count_is_the_cap_not_an_overflow() -> None:
    assert backoff_delay(10**6, 0.25, 30.0) == 30.0
    assert backoff_delay(10**6, 1e-300, 7.5) == 7.5


def test_a_cap_below_the_base_wins_from_the_first_failure() -> None:
    assert backoff_delay(1, 0.5, 0.1) == 0.1
    b = Backoff(0.5, 0.1)
    assert [b.next(), b.next()] == [0.1, 0.1]


def test_next_doubles_and_reset_starts_again_at_base() -> None:
    b = Backoff(0.25, 3.0)
    assert [b.next() for _ in range(6)] == [0.25, 0.5, 1.0, 2.0, 3.0, 3.0]
    assert b.failures == 6
    b.reset()
    assert b.failures == 0
    assert [b.next(), b.next()] == [0.25, 0.5]


def test_jitter_shortens_each_delay_by_the_drawn_fraction_and_is_reproducible() -> None:
    draws = iter([0.0, 0.5, 0.999])
    b = Backoff(1.0, 8.0, jitter=0.5, rng=lambda: next(draws))
    assert b.next() == 1.0          # draw 0: the full delay
    assert b.next() == 2.0 * 0.75   # draw 0.5 with jitter 0.5: a quarter off
    assert b.next() == pytest.approx(4.0 * (1 - 0.5 * 0.999))
    first = Backoff(0.5, 30.0, jitter=1.0, rng=random.Random(7).random)
    second = Backoff(0.5, 30.0, jitter=1.0, rng=random.Random(7).random)
    seq = [first.next() for _ in range(10)]
    assert seq == [second.next() for _ in range(10)]
    assert all(0.0 < d <= backoff_delay(i + 1, 0.5, 30.0) for i, d in enumerate(seq))
    assert len(set(seq)) == len(seq)  # the draws really vary the delays


def test_no_randomness_is_used_without_jitter() -> None:
    def never() -> float:
        raise AssertionError("rng called without jitter")

    b = Backoff(0.5, 4.0, rng=never)
    assert [b.next(), b.next()] == [0.5, 1.0]


@pytest.mark.parametrize("kwargs, message", [
    ({"base": -0.1, "cap": 1.0}, "must not be negative"),
    ({"base": 0.5, "cap": -1.0}, "must not be negative"),
    ({"base": 0.5, "cap": 1.0, "jitter": 1.5, "rng": random.random}, "between 0 and 1"),
    ({"base": 0.5, "cap": 1.0, "jitter": -0.1, "rng": random.random}, "between 0 and 1"),
    ({"base": 0.5, "cap": 1.0, "jitter": 0.2}, "needs a random source"),
])
def test_bad_settings_are_refused_clearly(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Backoff(**kwargs)
    with pytest.raises(ValueError, match="must not be negative"):
        backoff_delay(1, -1.0, 1.0)


def test_an_rng_outside_its_range_is_refused_and_counts_nothing() -> None:
    b = Backoff(0.5, 4.0, jitter=0.5, rng=lambda: 1.0)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        b.next()
    assert b.failures == 0
