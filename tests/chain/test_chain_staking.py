"""stake / unstake (with the unbonding period) / claim_rewards, and the block reward split."""

from __future__ import annotations

import pytest
from chainkit import (
    ALICE, BOB, FEE, FUNDS, OUTSIDER, STAKE, VALIDATORS, Chain, accounted_supply, make_genesis, supply_total,
)

from chain.errors import InsufficientFunds, UnknownEntity
from chain.execution import TREASURY
from chain.staking import tokens, unclaimed_rewards

V0 = VALIDATORS[0]


def delegation(chain: Chain, who: str, validator: str = V0.address) -> dict | None:
    """A delegation as its owner sees it: the units its shares are worth and the rewards it could
    claim now (state keeps shares and a reward index, ``chain.staking``)."""
    entry = chain.get("delegation", f"{who}/{validator}")
    if entry is None:
        return None
    pool = chain.get("validator", validator)
    return {"amount": tokens(pool, entry["shares"]), "rewards": unclaimed_rewards(entry, pool)}


def test_empty_block_reward_split(chain: Chain) -> None:
    """2 AIT minted: 10% treasury, 30% miners (none: to treasury), 60% stakers; 10% commission."""
    supply = supply_total(chain.state)
    account_before = chain.balance(V0)
    chain.step()
    assert supply_total(chain.state) == supply + 2_000_000
    assert chain.balance(TREASURY) == 200_000 + 600_000
    assert chain.balance(V0) == account_before + 120_000
    assert delegation(chain, V0.address) == {"amount": STAKE, "rewards": 1_080_000}
    assert accounted_supply(chain.state) == supply_total(chain.state)


def test_fees_join_the_reward_pool(chain: Chain) -> None:
    chain.step([chain.tx(ALICE, "transfer", {"to": BOB.address, "amount": 1})])
    pool = 2_000_000 + FEE
    treasury = pool * 1000 // 10_000 + pool * 3000 // 10_000
    assert chain.balance(TREASURY) == treasury
    staker = pool - treasury
    assert delegation(chain, V0.address)["rewards"] == staker - staker * 1000 // 10_000


def test_stake_accept(chain: Chain) -> None:
    amount = 500 * 10**6
    chain.run(chain.tx(ALICE, "stake", {"validator": V0.address, "amount": amount}))
    assert chain.balance(ALICE) == FUNDS - amount - FEE
    validator = chain.get("validator", V0.address)
    assert validator["power"] == STAKE + amount and validator["self_bond"] == STAKE
    assert delegation(chain, ALICE.address)["amount"] == amount
    # Stake again: amounts add up.
    chain.run(chain.tx(ALICE, "stake", {"validator": V0.address, "amount": amount}))
    assert delegation(chain, ALICE.address)["amount"] == 2 * amount
    assert accounted_supply(chain.state) == supply_total(chain.state)


def test_self_stake_raises_self_bond(chain: Chain) -> None:
    chain.run(chain.tx(V0, "stake", {"validator": V0.address, "amount": 7}))
    validator = chain.get("validator", V0.address)
    assert validator["self_bond"] == STAKE + 7 and validator["power"] == STAKE + 7
    assert delegation(chain, V0.address)["amount"] == STAKE + 7


def test_stake_rejects(chain: Chain) -> None:
    chain.assert_rejected(chain.tx(ALICE, "stake", {"validator": BOB.address, "amount": 5}), UnknownEntity,
                          "is not a validator")
    chain.assert_rejected(chain.tx(ALICE, "stake", {"validator": V0.address, "amount": FUNDS}), InsufficientFunds,
                          "stake needs")


def test_stake_in_a_block_does_not_overpay_from_the_treasury(chain: Chain) -> None:
    """Power is fixed at the start of a block, delegations are read after its transactions: a
    large stake added in the block used to be paid as if the validator's power had not grown,
    with the excess taken from the treasury (whose balance went below zero)."""
    chain.step([chain.tx(ALICE, "stake", {"validator": V0.address, "amount": 100 * STAKE})])
    assert chain.balance(TREASURY) >= 0
    staked = delegation(chain, ALICE.address)["rewards"] + delegation(chain, V0.address)["rewards"]
    pool = 2_000_000 + FEE
    staker_cut = pool - pool * 1000 // 10_000 - pool * 3000 // 10_000
    assert staked + chain.balance(V0) - FUNDS <= staker_cut
    assert accounted_supply(chain.state) == supply_total(chain.state)
    # From the next block on, rewards follow the new stake 100:1.
    before_a, before_v = delegation(chain, ALICE.address)["rewards"], delegation(chain, V0.address)["rewards"]
    chain.step()
    gain_a = delegation(chain, ALICE.address)["rewards"] - before_a
    gain_v = delegation(chain, V0.address)["rewards"] - before_v
    # Rewards accrue through a per-share index (cumulative rounding): each gain is within one unit
    # of its exact share and together they never exceed what the block gave the delegators.
    assert abs(gain_a - 1_080_000 * 100 // 101) <= 1 and abs(gain_v - 1_080_000 * 1 // 101) <= 1
    assert gain_a + gain_v <= 1_080_000


def test_unstake_waits_for_the_unbonding_period(chain: Chain) -> None:
    amount = 300
    chain.run(chain.tx(ALICE, "stake", {"validator": V0.address, "amount": amount}))
    balance = chain.balance(ALICE)
    chain.run(chain.tx(ALICE, "unstake", {"validator": V0.address, "amount": 100}))
    height = chain.state.height
    assert chain.balance(ALICE) == balance - FEE
    assert delegation(chain, ALICE.address)["amount"] == 200
    assert chain.get("validator", V0.address)["power"] == STAKE + 200
    pending = [(k, p) for k, p in chain.state.items("pending")]
    assert len(pending) == 1
    key, entry = pending[0]
    assert entry == {"kind": "unbond", "owner": ALICE.address, "amount": 100, "validator": V0.address,
                     "start": height, "release": height + 3}
    assert key.startswith(f"{height + 3:012d}/")
    assert accounted_supply(chain.state) == supply_total(chain.state)
    chain.advance(2)  # heights h+1, h+2: still bonded
    assert chain.balance(ALICE) == balance - FEE
    chain.advance(1)  # h+3 releases at its start
    assert chain.balance(ALICE) == balance - FEE + 100
    assert list(chain.state.items("pending")) == []
    assert accounted_supply(chain.state) == supply_total(chain.state)


def test_unstake_everything_keeps_rewards_until_claimed(chain: Chain) -> None:
    chain.run(chain.tx(ALICE, "stake", {"validator": V0.address, "amount": STAKE}))
    chain.advance(1)
    rewards = delegation(chain, ALICE.address)["rewards"]
    assert rewards > 0
    chain.run(chain.tx(ALICE, "unstake", {"validator": V0.address, "amount": STAKE}))
    kept = delegation(chain, ALICE.address)
    assert kept["amount"] == 0 and kept["rewards"] >= rewards
    balance = chain.balance(ALICE)
    chain.run(chain.tx(ALICE, "claim_rewards", {"validator": V0.address}))
    assert chain.balance(ALICE) == balance - FEE + kept["rewards"]
    assert delegation(chain, ALICE.address) is None
    chain.advance(3)
    assert accounted_supply(chain.state) == supply_total(chain.state)


def test_unstake_rejects(chain: Chain) -> None:
    chain.assert_rejected(chain.tx(ALICE, "unstake", {"validator": V0.address, "amount": 1}), InsufficientFunds,
                          "only 0 AIT is staked")
    chain.run(chain.tx(ALICE, "stake", {"validator": V0.address, "amount": 10}))
    chain.assert_rejected(chain.tx(ALICE, "unstake", {"validator": V0.address, "amount": 11}), InsufficientFunds,
                          "only 0.00001 AIT is staked")
    chain.assert_rejected(chain.tx(ALICE, "unstake", {"validator": BOB.address, "amount": 1}), InsufficientFunds)


def test_claim_rewards(chain: Chain) -> None:
    chain.run(chain.tx(ALICE, "stake", {"validator": V0.address, "amount": STAKE}))
    chain.advance(2)
    rewards = delegation(chain, ALICE.address)["rewards"]
    balance = chain.balance(ALICE)
    built = chain.step([chain.tx(ALICE, "claim_rewards", {"validator": V0.address})])
    assert built.rejected == []
    after = delegation(chain, ALICE.address)
    assert after["amount"] == STAKE
    # Claimed what was there; this block's reward accrued afresh afterwards.
    assert chain.balance(ALICE) == balance - FEE + rewards
    assert 0 < after["rewards"] < rewards
    assert chain.get("delegation", f"{ALICE.address}/{V0.address}")["rewards"] == 0  # settled and paid
    assert accounted_supply(chain.state) == supply_total(chain.state)


def test_claim_rewards_rejects(chain: Chain) -> None:
    chain.assert_rejected(chain.tx(ALICE, "claim_rewards", {"validator": V0.address}), UnknownEntity,
                          "no rewards to claim")
    chain.run(chain.tx(ALICE, "stake", {"validator": V0.address, "amount": 10}))
    chain.assert_rejected(chain.tx(OUTSIDER, "claim_rewards", {"validator": V0.address}), InsufficientFunds)


def test_rewards_split_by_power_between_validators() -> None:
    chain = Chain(make_genesis(2, powers=[STAKE, 3 * STAKE]))
    chain.step()
    v0 = delegation(chain, VALIDATORS[0].address, VALIDATORS[0].address)["rewards"]
    v1 = delegation(chain, VALIDATORS[1].address, VALIDATORS[1].address)["rewards"]
    assert (v0, v1) == (1_200_000 // 4 * 9 // 10, 1_200_000 * 3 // 4 * 9 // 10)
    assert accounted_supply(chain.state) == supply_total(chain.state)


@pytest.mark.parametrize("commission", [0, 5000])
def test_commission(commission: int) -> None:
    chain = Chain(make_genesis(1, commission_bps=commission))
    before = chain.balance(V0)
    chain.step()
    assert chain.balance(V0) - before == 1_200_000 * commission // 10_000
    assert delegation(chain, V0.address)["rewards"] == 1_200_000 - 1_200_000 * commission // 10_000
