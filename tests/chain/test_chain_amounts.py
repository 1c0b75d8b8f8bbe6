"""Refusals speak AIT: the protocol's one reading of an amount for a person."""

from __future__ import annotations

import pytest
from chainkit import ALICE, BOB, Chain

from chain.amounts import ait
from chain.errors import InsufficientFunds


@pytest.mark.parametrize(("units", "text"), [
    (0, "0 AIT"),
    (1, "0.000001 AIT"),
    (1_500, "0.0015 AIT"),
    (1_000_000, "1 AIT"),
    (2_500_000, "2.5 AIT"),
    (100_000_000_000, "100,000 AIT"),
    (-1_250_000, "-1.25 AIT"),
])
def test_ait_is_exact_and_short(units: int, text: str) -> None:
    assert ait(units) == text


def test_transfer_refusal_names_ait_not_units(chain: Chain) -> None:
    too_much = chain.balance(ALICE) + 1
    chain.assert_rejected(chain.tx(ALICE, "transfer", {"to": BOB.address, "amount": too_much}), InsufficientFunds,
                          r"^transfer needs [\d,]+(\.\d+)? AIT, \S+ has [\d,]+(\.\d+)? AIT$")
