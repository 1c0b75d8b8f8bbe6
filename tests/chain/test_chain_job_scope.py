"""Job ids are scoped to their coordinator: a rival's front-run cannot block an honest receipt."""

from __future__ import annotations

import pytest
from chainkit import (
    ALICE, CLIENT, COORD, COORD2, MINER, MINER2, MINER_BOND, Chain, accounted_supply, make_genesis, make_proof,
    make_receipt, supply_total,
)

from chain.errors import DuplicateJob, Unauthorized
from chain.receipt import Receipt, ReceiptBody, job_key, sign_receipt


@pytest.fixture
def two() -> Chain:
    """COORD (honest, CLIENT's escrow) and COORD2 (a rival, with ALICE's escrow) both registered."""
    chain = Chain(make_genesis(1, coordinators=(COORD.address, COORD2.address)))
    chain.step([chain.tx(MINER, "miner_bond", {"amount": MINER_BOND}),
                chain.tx(MINER2, "miner_bond", {"amount": MINER_BOND}),
                chain.tx(CLIENT, "escrow_deposit", {"coordinator": COORD.address, "amount": 10_000}),
                chain.tx(ALICE, "escrow_deposit", {"coordinator": COORD2.address, "amount": 10_000})])
    return chain


def settle(chain: Chain, sender, *receipts: Receipt):
    return chain.tx(sender, "job_receipt", {"receipts": [r.to_dict() for r in receipts]})


def test_a_rivals_front_run_cannot_block_the_honest_receipt(two: Chain) -> None:
    chain = two
    honest = make_receipt("job-1", 1000)
    # The rival copies the honest proof out of the mempool into a receipt of its own: refused,
    # the miner made that proof for the honest coordinator.
    stolen = sign_receipt(ReceiptBody(proof=honest.body.proof, client=ALICE.address, coordinator=COORD2.address,
                                      price=1000, created_ms=honest.body.created_ms), COORD2.seed)
    chain.assert_rejected(settle(chain, COORD2, stolen), Unauthorized, "proof was made for coordinator")
    # The rival settles the same job id with a proof of its own, ordered before the honest receipt
    # in the same block: both settle, each under its own coordinator.
    rival = make_receipt("job-1", 500, miner=MINER2, client=ALICE, coordinator=COORD2)
    miner_before = chain.balance(MINER)
    built = chain.step([settle(chain, COORD2, rival), settle(chain, COORD, honest)])
    assert not built.rejected
    assert chain.get("job", job_key(COORD.address, "job-1"))["receipt_id"] == honest.receipt_id
    assert chain.get("job", job_key(COORD2.address, "job-1"))["receipt_id"] == rival.receipt_id
    assert chain.balance(MINER) >= miner_before + 950  # the price less the receipt fee (and a reward share)
    assert chain.get("escrow", f"{CLIENT.address}/{COORD.address}") == {"balance": 9000}
    assert accounted_supply(chain.state) == supply_total(chain.state)


def test_a_coordinator_still_settles_each_of_its_jobs_once(two: Chain) -> None:
    chain = two
    chain.run(settle(chain, COORD, make_receipt("job-1", 10)))
    chain.assert_rejected(settle(chain, COORD, make_receipt("job-1", 20)), DuplicateJob,
                          f"job job-1 was already settled by coordinator {COORD.address}")
    chain.run(settle(chain, COORD2, make_receipt("job-1", 10, client=ALICE, coordinator=COORD2)))


def test_a_receipt_must_embed_a_proof_made_for_its_coordinator(two: Chain) -> None:
    proof = make_proof(MINER, "job-2", coordinator=COORD2)
    receipt = make_receipt("job-2", 10, proof=proof)  # signed by COORD around a proof for COORD2
    two.assert_rejected(settle(two, COORD, receipt), Unauthorized, f"made for coordinator {COORD2.address}")
