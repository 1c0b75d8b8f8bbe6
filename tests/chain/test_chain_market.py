"""escrow_deposit / escrow_withdraw, job_receipt settlement, miner_bond / miner_unbond."""

from __future__ import annotations

import pytest
from chainkit import (
    ALICE, CHAIN_ID, CLIENT, COORD, COORD2, FEE, FUNDS, MINER, MINER2, MINER_BOND, Chain, accounted_supply,
    make_genesis, make_proof, make_receipt, supply_total,
)

from chain.errors import DuplicateJob, InsufficientFunds, InvalidBlock, Unauthorized, UnknownEntity, WrongChainId
from chain.execution import TREASURY, apply_block
from chain.receipt import Receipt, job_key

ESCROW = f"{CLIENT.address}/{COORD.address}"


def escrow(chain: Chain, key: str = ESCROW) -> int | None:
    entry = chain.get("escrow", key)
    return None if entry is None else entry["balance"]


def settle(chain: Chain, *receipts: Receipt, sender=COORD):
    return chain.tx(sender, "job_receipt", {"receipts": [r.to_dict() for r in receipts]})


# -- escrow ---------------------------------------------------------------------------------------------


def test_escrow_deposit(chain: Chain) -> None:
    chain.run(chain.tx(CLIENT, "escrow_deposit", {"coordinator": COORD.address, "amount": 5000}))
    assert escrow(chain) == 5000
    assert chain.balance(CLIENT) == FUNDS - 5000 - FEE
    chain.run(chain.tx(CLIENT, "escrow_deposit", {"coordinator": COORD.address, "amount": 1}))
    assert escrow(chain) == 5001
    assert accounted_supply(chain.state) == supply_total(chain.state)


def test_escrow_deposit_rejects(chain: Chain) -> None:
    chain.assert_rejected(chain.tx(CLIENT, "escrow_deposit", {"coordinator": COORD2.address, "amount": 5}),
                          UnknownEntity, "not a registered coordinator")
    chain.assert_rejected(chain.tx(CLIENT, "escrow_deposit", {"coordinator": COORD.address, "amount": FUNDS}),
                          InsufficientFunds, "escrow deposit needs")


def test_escrow_withdraw_after_delay(market: Chain) -> None:
    chain = market
    balance = chain.balance(CLIENT)
    chain.run(chain.tx(CLIENT, "escrow_withdraw", {"coordinator": COORD.address, "amount": 4000}))
    h = chain.state.height
    assert escrow(chain) == 10_000  # still spendable by the coordinator during the delay
    (key, pending), = chain.state.items("pending")
    assert pending == {"kind": "escrow_withdraw", "owner": CLIENT.address, "amount": 4000,
                       "coordinator": COORD.address, "start": h, "release": h + 3}
    chain.advance(2)
    assert chain.balance(CLIENT) == balance - FEE and escrow(chain) == 10_000
    chain.advance(1)
    assert chain.balance(CLIENT) == balance - FEE + 4000
    assert escrow(chain) == 6000
    assert list(chain.state.items("pending")) == []
    assert accounted_supply(chain.state) == supply_total(chain.state)


def test_coordinator_settles_during_withdraw_delay_and_withdrawal_is_capped(market: Chain) -> None:
    chain = market
    balance = chain.balance(CLIENT)
    chain.run(chain.tx(CLIENT, "escrow_withdraw", {"coordinator": COORD.address, "amount": 10_000}))
    chain.run(settle(chain, make_receipt("job-late", 4000)))
    assert escrow(chain) == 6000
    chain.advance(2)
    assert chain.balance(CLIENT) == balance - FEE + 6000  # what was left, not the 10_000 asked for
    assert escrow(chain) == 0
    chain.assert_rejected(settle(chain, make_receipt("job-after", 1)), InsufficientFunds, "holds 0")
    assert accounted_supply(chain.state) == supply_total(chain.state)


def test_two_withdrawals_cannot_take_more_than_the_escrow(market: Chain) -> None:
    """A withdrawal reserves what it asks for (issue 22, item 5: unreserved withdrawals let one
    small escrow queue unlimited pending entries): a second one only gets what is left."""
    chain = market
    balance = chain.balance(CLIENT)
    first = chain.tx(CLIENT, "escrow_withdraw", {"coordinator": COORD.address, "amount": 8000})
    chain.run(first)
    chain.assert_rejected(chain.tx(CLIENT, "escrow_withdraw", {"coordinator": COORD.address, "amount": 8000}),
                          InsufficientFunds, "of which 0.008 AIT is already being withdrawn; cannot withdraw 0.008 AIT")
    chain.run(chain.tx(CLIENT, "escrow_withdraw", {"coordinator": COORD.address, "amount": 2000}))
    assert len(list(chain.state.items("pending"))) == 2
    chain.assert_rejected(chain.tx(CLIENT, "escrow_withdraw", {"coordinator": COORD.address, "amount": 1}),
                          InsufficientFunds, "of which 0.01 AIT is already being withdrawn")
    chain.advance(3)
    assert chain.balance(CLIENT) == balance - 2 * FEE + 10_000
    assert escrow(chain) == 0
    assert list(chain.state.items("index")) == []  # reservations and due lists are cleaned up
    assert accounted_supply(chain.state) == supply_total(chain.state)


def test_escrow_withdraw_rejects(market: Chain) -> None:
    chain = market
    chain.assert_rejected(chain.tx(CLIENT, "escrow_withdraw", {"coordinator": COORD.address, "amount": 10_001}),
                          InsufficientFunds, "holds 0.01 AIT, of which 0 AIT is already being withdrawn; cannot withdraw 0.010001 AIT")
    chain.assert_rejected(chain.tx(ALICE, "escrow_withdraw", {"coordinator": COORD.address, "amount": 1}),
                          InsufficientFunds, "holds 0")


# -- job receipts -----------------------------------------------------------------------------------------


def test_valid_settlement_pays_miner_and_treasury(market: Chain) -> None:
    chain = market
    miner_before, treasury_before = chain.balance(MINER), chain.balance(TREASURY)
    receipt = make_receipt("job-1", 1000)
    tx = settle(chain, receipt)
    chain.run(tx)
    pool = 2_000_000 + FEE
    miner_cut = pool * 3000 // 10_000
    assert escrow(chain) == 9000
    # Price less the 5% receipt fee (1000 * 500 // 10000 = 50), plus the miners' block share capped
    # at the receipt fees the miner's jobs paid (issue 22, item 3): 50. The rest of the miners'
    # share goes to the treasury.
    assert chain.balance(MINER) == miner_before + 950 + 50
    assert chain.balance(TREASURY) == treasury_before + 50 + pool * 1000 // 10_000 + (miner_cut - 50)
    job = chain.get("job", job_key(COORD.address, "job-1"))
    assert job == {"receipt_id": receipt.receipt_id, "height": chain.state.height, "tx": tx.hash,
                   "miner": MINER.address, "client": CLIENT.address, "price": 1000,
                   "proof_hash": receipt.body.proof.body.hash}
    assert chain.get("miner", MINER.address)["jobs"] == 1
    assert accounted_supply(chain.state) == supply_total(chain.state)


def test_batch_settlement_splits_miner_share_by_price(market: Chain) -> None:
    chain = market
    chain.run(chain.tx(MINER2, "miner_bond", {"amount": MINER_BOND}))
    m1, m2 = chain.balance(MINER), chain.balance(MINER2)
    chain.run(settle(chain, make_receipt("a", 1000), make_receipt("b", 3000, miner=MINER2), make_receipt("c", 0 + 2000)))
    # Receipt fees: 50 (a) + 100 (c) for MINER, 150 (b) for MINER2; each miner's block share is
    # weighted by them and capped at them, so here it is exactly the fees paid.
    assert chain.balance(MINER) == m1 + (950 + 1900) + (50 + 100)
    assert chain.balance(MINER2) == m2 + 2850 + 150
    assert escrow(chain) == 4000
    assert accounted_supply(chain.state) == supply_total(chain.state)


def test_receipt_from_unregistered_coordinator(market: Chain) -> None:
    chain = market
    chain.step([chain.tx(CLIENT, "escrow_deposit", {"coordinator": COORD.address, "amount": 1})])
    receipt = make_receipt("job-x", 10, coordinator=COORD2)
    chain.assert_rejected(settle(chain, receipt, sender=COORD2), Unauthorized, "not a registered coordinator")
    # A registered coordinator cannot settle another coordinator's receipt either.
    chain.assert_rejected(settle(chain, receipt), Unauthorized, "names coordinator")


def test_receipt_with_bad_coordinator_signature(market: Chain) -> None:
    bad = make_receipt("job-x", 10, coordinator_signer=COORD2)
    market.assert_rejected(settle(market, bad), Unauthorized, "coordinator signature does not verify")
    good = make_receipt("job-x", 10)
    tampered = Receipt.model_validate({**good.to_dict(), "body": {**good.body.model_dump(), "price": 11}})
    market.assert_rejected(settle(market, tampered), Unauthorized, "coordinator signature does not verify")


def test_receipt_with_bad_miner_proof(market: Chain) -> None:
    proof = make_proof(MINER, "job-x", signer=MINER2)
    market.assert_rejected(settle(market, make_receipt("job-x", 10, proof=proof)), Unauthorized,
                           "miner proof signature does not verify")


def test_receipt_for_unbonded_miner(market: Chain) -> None:
    market.assert_rejected(settle(market, make_receipt("job-x", 10, miner=MINER2)), Unauthorized, "not bonded")
    market.run(market.tx(MINER2, "miner_bond", {"amount": MINER_BOND - 1}))
    market.assert_rejected(settle(market, make_receipt("job-x", 10, miner=MINER2)), Unauthorized, "not bonded")


def test_receipt_overdrawing_escrow(market: Chain) -> None:
    market.assert_rejected(settle(market, make_receipt("job-x", 10_001)), InsufficientFunds,
                           "charges 10001, escrow of .* holds 10000")
    # Two receipts that each fit but together do not.
    market.assert_rejected(settle(market, make_receipt("job-x", 6000), make_receipt("job-y", 6000)),
                           InsufficientFunds, "holds 4000")
    market.assert_rejected(settle(market, make_receipt("job-x", 1, client=ALICE)), InsufficientFunds, "holds 0")


def test_repeated_job_id(market: Chain) -> None:
    chain = market
    chain.assert_rejected(settle(chain, make_receipt("job-1", 10), make_receipt("job-1", 20)), DuplicateJob,
                          "job job-1 was already settled")
    chain.run(settle(chain, make_receipt("job-1", 10)))
    chain.assert_rejected(settle(chain, make_receipt("job-1", 10)), DuplicateJob)
    chain.advance(2)
    chain.assert_rejected(settle(chain, make_receipt("job-1", 99, miner=MINER)), DuplicateJob)


def test_receipt_for_another_chain(market: Chain) -> None:
    receipt = make_receipt("job-x", 10, chain_id="other-chain")
    market.assert_rejected(settle(market, receipt), WrongChainId, "other-chain")


def test_failed_batch_in_a_proposed_block_leaves_no_miner_reward(market: Chain) -> None:
    """A proposer skips a receipt batch whose second receipt fails. The first receipt's price
    must not linger in the block's miner weights: the block the proposer builds has to apply
    on every other node, where that batch never ran."""
    chain = market
    bad_batch = settle(chain, make_receipt("job-1", 1000), make_receipt("job-1", 1000))
    good = chain.tx(ALICE, "transfer", {"to": CLIENT.address, "amount": 1})
    miner_before = chain.balance(MINER)
    built = chain.build([bad_batch, good])
    assert [tx.hash for tx, _ in built.rejected] == [bad_batch.hash]
    assert isinstance(built.rejected[0][1], DuplicateJob)
    chain.apply(built.block)  # recomputes the state root from scratch
    assert chain.state.root == built.state.root
    assert chain.balance(MINER) == miner_before  # no job settled, so no share of the reward
    assert chain.get("job", job_key(COORD.address, "job-1")) is None
    assert accounted_supply(chain.state) == supply_total(chain.state)


# -- miner bonds --------------------------------------------------------------------------------------------


def test_miner_bond_and_unbond(chain: Chain) -> None:
    chain.run(chain.tx(MINER, "miner_bond", {"amount": MINER_BOND}))
    assert chain.get("miner", MINER.address) == {"bond": MINER_BOND, "slashed": 0, "jobs": 0}
    assert chain.balance(MINER) == FUNDS - MINER_BOND - FEE
    chain.run(chain.tx(MINER, "miner_bond", {"amount": 5}))
    assert chain.get("miner", MINER.address)["bond"] == MINER_BOND + 5
    chain.run(chain.tx(MINER, "miner_unbond", {"amount": 6}))
    h = chain.state.height
    assert chain.get("miner", MINER.address)["bond"] == MINER_BOND - 1
    (_, pending), = chain.state.items("pending")
    assert pending == {"kind": "miner_unbond", "owner": MINER.address, "amount": 6, "start": h, "release": h + 3}
    balance = chain.balance(MINER)
    assert accounted_supply(chain.state) == supply_total(chain.state)
    chain.advance(2)
    assert chain.balance(MINER) == balance
    chain.advance(1)
    assert chain.balance(MINER) == balance + 6
    assert accounted_supply(chain.state) == supply_total(chain.state)


def test_miner_bond_rejects(chain: Chain) -> None:
    chain.assert_rejected(chain.tx(MINER, "miner_bond", {"amount": FUNDS}), InsufficientFunds, "miner bond needs")
    chain.assert_rejected(chain.tx(MINER, "miner_unbond", {"amount": 1}), InsufficientFunds, "bond is 0")
    chain.run(chain.tx(MINER, "miner_bond", {"amount": 10}))
    chain.assert_rejected(chain.tx(MINER, "miner_unbond", {"amount": 11}), InsufficientFunds,
                          "bond is 0.00001 AIT, cannot unbond 0.000011 AIT")


def test_unbonded_miner_can_no_longer_settle(market: Chain) -> None:
    market.run(market.tx(MINER, "miner_unbond", {"amount": 1}))
    market.assert_rejected(settle(market, make_receipt("job-x", 10)), Unauthorized, "not bonded")


def test_receipt_ids_are_stable_and_signed() -> None:
    receipt = make_receipt("job-9", 10)
    assert receipt.coordinator_signature_valid() and receipt.body.proof.is_valid()
    assert receipt.job_id == "job-9"
    assert receipt.receipt_id == make_receipt("job-9", 10).receipt_id
    assert receipt.receipt_id != make_receipt("job-9", 11).receipt_id
    assert receipt.body.proof.body.chain_id == CHAIN_ID


@pytest.mark.parametrize("bad_job_id", ["", "has space", "x" * 129, "slash/y"])
def test_malformed_job_ids_are_refused(bad_job_id: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        make_receipt(bad_job_id, 10)


def test_apply_refuses_forged_block_with_bad_batch(market: Chain) -> None:
    bad = settle(market, make_receipt("job-1", 1000), make_receipt("job-1", 1000))
    with pytest.raises(InvalidBlock, match="already settled"):
        apply_block(market.state, market.forge([bad]))


def test_genesis_without_coordinators_refuses_deposits() -> None:
    chain = Chain(make_genesis(1, coordinators=()))
    chain.assert_rejected(chain.tx(CLIENT, "escrow_deposit", {"coordinator": COORD.address, "amount": 5}),
                          UnknownEntity)
