"""slash with wrong-result evidence: proven by a bonded verifier's signed verdict, only from the
job's own coordinator, never against a result settled as correct, once per miner per job."""

from __future__ import annotations

import pytest
from chainkit import (
    ALICE, CAROL, CHAIN_ID, CLIENT, COORD, COORD2, MINER, MINER2, MINER_BOND, OUTSIDER, Chain, accounted_supply,
    make_genesis, make_proof, make_receipt, make_verdict, supply_total, wrong_result,
)

from chain import crypto
from chain.encoding import canonical_json
from chain.errors import DuplicateJob, InvalidPayload, Unauthorized, UnknownEntity, WrongChainId
from chain.receipt import ProofBody, sign_proof
from chain.tx import parse_transaction
from chain.verdict import SignedVerdict, evidence_id

BURN_BPS = 1000


@pytest.fixture
def bonded(chain: Chain) -> Chain:
    """MINER (the accused) and MINER2 (the verifier) bonded; CLIENT has escrow with COORD."""
    chain.step([chain.tx(MINER, "miner_bond", {"amount": MINER_BOND}),
                chain.tx(MINER2, "miner_bond", {"amount": MINER_BOND}),
                chain.tx(CLIENT, "escrow_deposit", {"coordinator": COORD.address, "amount": 10_000})])
    return chain


def test_wrong_result_burns_the_bond_once_per_miner_and_job(bonded: Chain) -> None:
    chain = bonded
    supply = supply_total(chain.state)
    proof = make_proof(MINER, "job-7")
    chain.run(chain.tx(COORD, "slash", wrong_result(proof)))
    burn = MINER_BOND * BURN_BPS // 10_000
    assert chain.get("miner", MINER.address) == {"bond": MINER_BOND - burn, "slashed": burn, "jobs": 0}
    assert chain.get("evidence", evidence_id(proof.body)) == {
        "height": chain.state.height, "burned": burn, "miner": MINER.address, "coordinator": COORD.address,
        "job_id": "job-7", "verifier": MINER2.address}
    assert supply_total(chain.state) == supply + 2_000_000 - burn
    assert accounted_supply(chain.state) == supply_total(chain.state)

    # The same evidence again, a second verifier's verdict, or another proof by the same miner for
    # the same job: one (miner, coordinator, job) is slashed once.
    chain.assert_rejected(chain.tx(COORD, "slash", wrong_result(proof)), DuplicateJob, "already slashed for job job-7")
    chain.run(chain.tx(CAROL, "miner_bond", {"amount": MINER_BOND}))
    chain.assert_rejected(chain.tx(COORD, "slash", wrong_result(proof, make_verdict(proof, CAROL))), DuplicateJob)
    other_output = sign_proof(ProofBody(**{**proof.body.model_dump(), "output_hash": "ab" * 32}), MINER.seed)
    chain.assert_rejected(chain.tx(COORD, "slash", wrong_result(other_output)), DuplicateJob)
    # Another job is another offence.
    chain.run(chain.tx(COORD, "slash", wrong_result(make_proof(MINER, "job-8"))))
    assert chain.get("miner", MINER.address)["slashed"] == burn + (MINER_BOND - burn) * BURN_BPS // 10_000


def test_public_proofs_of_settled_jobs_cannot_burn_the_bond(bonded: Chain) -> None:
    """The replay of issue 22: every settled receipt carries a public proof; none of them may be
    turned into evidence, so n past jobs do not shrink the bond to bond x 0.9^n."""
    chain = bonded
    receipts = [make_receipt(f"job-{i}", 100) for i in range(3)]
    chain.run(chain.tx(COORD, "job_receipt", {"receipts": [r.to_dict() for r in receipts]}))
    for receipt in receipts:
        chain.assert_rejected(chain.tx(COORD, "slash", wrong_result(receipt.body.proof)), Unauthorized,
                              "settled as correct with this very result")
    assert chain.get("miner", MINER.address)["bond"] == MINER_BOND


def test_a_refuted_result_stays_slashable_after_another_miner_settles_the_job(bonded: Chain) -> None:
    """The daemon flow: MINER's result is refuted, the job is re-run by MINER2 and settled; the
    settlement is about MINER2's result and does not contradict the evidence against MINER."""
    chain = bonded
    chain.run(chain.tx(COORD, "job_receipt", {"receipts": [make_receipt("job-1", 100, miner=MINER2).to_dict()]}))
    chain.run(chain.tx(CAROL, "miner_bond", {"amount": MINER_BOND}))
    proof = make_proof(MINER, "job-1")
    chain.run(chain.tx(COORD, "slash", wrong_result(proof, make_verdict(proof, CAROL))))
    assert chain.get("miner", MINER.address)["slashed"] == MINER_BOND * BURN_BPS // 10_000


def test_unsigned_forged_or_mismatched_verdicts_are_refused(bonded: Chain) -> None:
    chain = bonded
    proof = make_proof(MINER, "job-7")

    def refused(verdict: SignedVerdict, match: str) -> None:
        chain.assert_rejected(chain.tx(COORD, "slash", wrong_result(proof, verdict)), InvalidPayload, match)

    refused(make_verdict(proof, signer=CAROL), "verdict's signature does not verify")
    good = make_verdict(proof)
    refused(SignedVerdict(body=good.body, pubkey=CAROL.pub.hex(), signature=good.signature), "signature does not verify")
    # A signature over the bare body, without the verdict domain, is no verdict.
    bare = crypto.sign(MINER2.seed, canonical_json(good.body.model_dump())).hex()
    refused(SignedVerdict(body=good.body, pubkey=good.pubkey, signature=bare), "signature does not verify")
    # A genuine verdict about another claim proves nothing about this one.
    refused(make_verdict(make_proof(MINER, "job-8")), "its job_id is 'job-8'")
    refused(make_verdict(proof, proof_hash="cd" * 32), "its proof_hash is")
    refused(make_verdict(proof, model_id="ef" * 32), "its model_id is")
    refused(make_verdict(proof, miner=MINER2.address), "its miner is")
    refused(make_verdict(proof, coordinator=COORD2.address), "its coordinator is")
    refused(make_verdict(proof, chain_id="x-chain"), "its chain_id is 'x-chain'")
    # A passed re-check is no evidence; nor is a miner judging itself, or the accuser judging.
    refused(make_verdict(proof, verdict="correct"), "only a 'wrong' verdict is evidence")
    refused(make_verdict(proof, MINER), "own verifier")
    refused(make_verdict(proof, COORD), "accusing coordinator cannot be the verifier")
    # And the miner's own proof must be genuine.
    forged = make_proof(MINER, "job-7", signer=MINER2)
    chain.assert_rejected(chain.tx(COORD, "slash", wrong_result(forged)), InvalidPayload,
                          "miner proof's signature does not verify")
    assert chain.get("miner", MINER.address)["bond"] == MINER_BOND


def test_only_the_jobs_own_coordinator_may_accuse() -> None:
    chain = Chain(make_genesis(1, coordinators=(COORD.address, COORD2.address)))
    chain.step([chain.tx(MINER, "miner_bond", {"amount": MINER_BOND}),
                chain.tx(MINER2, "miner_bond", {"amount": MINER_BOND})])
    proof = make_proof(MINER, "job-7")  # run for COORD
    chain.assert_rejected(chain.tx(COORD2, "slash", wrong_result(proof)), Unauthorized,
                          f"run for coordinator {COORD.address}: only it can submit")
    chain.assert_rejected(chain.tx(ALICE, "slash", wrong_result(proof)), Unauthorized, "only it can submit")
    # A proof naming an address that is not a registered coordinator is accused by no one.
    own = make_proof(MINER, "job-9", coordinator=ALICE)
    chain.assert_rejected(chain.tx(ALICE, "slash", wrong_result(own)), Unauthorized, "only a registered coordinator")
    chain.run(chain.tx(COORD, "slash", wrong_result(proof)))


def test_the_verifier_must_be_a_bonded_miner(chain: Chain) -> None:
    chain.run(chain.tx(MINER, "miner_bond", {"amount": MINER_BOND}))
    proof = make_proof(MINER, "job-7")
    for verifier in (MINER2, OUTSIDER):
        chain.assert_rejected(chain.tx(COORD, "slash", wrong_result(proof, make_verdict(proof, verifier))),
                              Unauthorized, f"verifier {verifier.address} is not a bonded miner")
    chain.run(chain.tx(MINER2, "miner_bond", {"amount": MINER_BOND - 1}))
    chain.assert_rejected(chain.tx(COORD, "slash", wrong_result(proof)), Unauthorized, "not a bonded miner")
    chain.run(chain.tx(MINER2, "miner_bond", {"amount": 1}))
    chain.run(chain.tx(COORD, "slash", wrong_result(proof)))


def test_other_refusals(bonded: Chain) -> None:
    chain = bonded
    chain.assert_rejected(chain.tx(COORD, "slash", wrong_result(make_proof(MINER, "j", chain_id="x-chain"))),
                          WrongChainId, "x-chain")
    chain.assert_rejected(chain.tx(COORD, "slash", wrong_result(make_proof(CAROL, "j"))), UnknownEntity, "not a miner")


def test_evidence_payload_shape(bonded: Chain) -> None:
    tx = bonded.tx(COORD, "slash", wrong_result(make_proof(MINER, "j")))
    data = tx.to_dict()
    data["payload"] = {"evidence": {**data["payload"]["evidence"], "kind": "vibes"}}
    with pytest.raises(InvalidPayload, match="evidence"):
        parse_transaction(data)
    # The old shape (a bare verifier address and a reason, no signed verdict) no longer parses.
    old = {"kind": "wrong_result", "proof": make_proof(MINER, "j").model_dump(), "verifier": MINER2.address,
           "reason": "trust me"}
    with pytest.raises(InvalidPayload, match="verdict"):
        parse_transaction({**tx.to_dict(), "payload": {"evidence": old}})
    assert CHAIN_ID in tx.encoded.decode()
