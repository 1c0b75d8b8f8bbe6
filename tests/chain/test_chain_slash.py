"""slash: double signing by a validator (wrong results by a miner: test_chain_evidence.py)."""

from __future__ import annotations

from typing import Any

from chainkit import ALICE, MINER, STAKE, VALIDATORS, Chain, accounted_supply, fake_hash, make_vote, supply_total

from chain import crypto
from chain.errors import DuplicateJob, InvalidPayload, UnknownEntity, WrongChainId
from chain.execution import next_proposer
from chain.vote import Vote

V1 = VALIDATORS[1]


def double_sign(vote_a: Vote, vote_b: Vote) -> dict[str, Any]:
    return {"evidence": {"kind": "double_sign", "vote_a": vote_a.model_dump(), "vote_b": vote_b.model_dump()}}


def test_double_sign_jails_and_burns(chain4: Chain) -> None:
    chain = chain4
    chain.advance(2)
    supply = supply_total(chain.state)
    payload = double_sign(make_vote(V1, 2, fake_hash("a")), make_vote(V1, 2, fake_hash("b")))
    chain.run(chain.tx(ALICE, "slash", payload))
    burn = STAKE * 500 // 10_000
    validator = chain.get("validator", V1.address)
    assert validator["jailed"] is True
    assert validator["self_bond"] == STAKE - burn and validator["power"] == STAKE - burn
    # Delegations are shares of the pool: the shares stay, the pool they share shrank.
    assert chain.get("delegation", f"{V1.address}/{V1.address}")["shares"] == STAKE
    assert validator["shares"] == STAKE and validator["tombstoned"] is True
    assert chain.get("evidence", f"double_sign/{V1.address}/2/0/precommit") == {
        "height": chain.state.height, "burned": burn}
    # The block that carried the evidence minted its reward; the burn left the supply.
    assert supply_total(chain.state) == supply + 2_000_000 - burn
    assert accounted_supply(chain.state) == supply_total(chain.state)
    # From the next height on the jailed validator neither votes nor proposes.
    signers = chain.state.get("meta", "signers")["set"]
    chain.step()
    assert V1.address not in chain.state.get("meta", "signers")["set"]
    assert V1.address in signers
    for _ in range(8):
        assert next_proposer(chain.state) != V1.address
        chain.step()


def test_double_sign_nil_versus_block(chain4: Chain) -> None:
    payload = double_sign(make_vote(V1, 1, None, vote_type="prevote"), make_vote(V1, 1, fake_hash("a"), vote_type="prevote"))
    chain4.run(chain4.tx(ALICE, "slash", payload))
    assert chain4.get("validator", V1.address)["jailed"]


def test_double_sign_same_block_hash_refused(chain4: Chain) -> None:
    vote = make_vote(V1, 2, fake_hash("a"))
    chain4.assert_rejected(chain4.tx(ALICE, "slash", double_sign(vote, vote)), InvalidPayload, "same block")


def test_double_sign_bad_signatures_refused(chain4: Chain) -> None:
    good = make_vote(V1, 2, fake_hash("a"))
    other = make_vote(V1, 2, fake_hash("b"))
    forged = Vote(body=other.body, pubkey=V1.pub.hex(),
                  signature=crypto.sign(VALIDATORS[2].seed, other.body.signing_bytes()).hex())
    chain4.assert_rejected(chain4.tx(ALICE, "slash", double_sign(good, forged)), InvalidPayload, "does not verify")
    by_other_key = Vote(body=other.body, pubkey=VALIDATORS[2].pub.hex(),
                        signature=crypto.sign(VALIDATORS[2].seed, other.body.signing_bytes()).hex())
    chain4.assert_rejected(chain4.tx(ALICE, "slash", double_sign(good, by_other_key)), InvalidPayload,
                           "not signed with the validator's key")


def test_double_sign_repeated_evidence_refused(chain4: Chain) -> None:
    chain4.advance(1)
    a, b = make_vote(V1, 2, fake_hash("a")), make_vote(V1, 2, fake_hash("b"))
    chain4.run(chain4.tx(ALICE, "slash", double_sign(a, b)))
    chain4.assert_rejected(chain4.tx(ALICE, "slash", double_sign(a, b)), DuplicateJob, "already slashed")
    chain4.assert_rejected(chain4.tx(ALICE, "slash", double_sign(b, a)), DuplicateJob)
    c = make_vote(V1, 2, fake_hash("c"))
    chain4.assert_rejected(chain4.tx(ALICE, "slash", double_sign(a, c)), DuplicateJob)


def test_double_sign_mismatched_votes_refused(chain4: Chain) -> None:
    a = make_vote(V1, 2, fake_hash("a"))
    for b in (make_vote(V1, 3, fake_hash("b")), make_vote(V1, 2, fake_hash("b"), round_=1),
              make_vote(V1, 2, fake_hash("b"), vote_type="prevote"), make_vote(VALIDATORS[2], 2, fake_hash("b"))):
        chain4.assert_rejected(chain4.tx(ALICE, "slash", double_sign(a, b)), InvalidPayload, "one validator")


def test_double_sign_other_chain_and_unknown_validator(chain4: Chain) -> None:
    a = make_vote(V1, 2, fake_hash("a"), chain_id="other-chain")
    b = make_vote(V1, 2, fake_hash("b"), chain_id="other-chain")
    chain4.assert_rejected(chain4.tx(ALICE, "slash", double_sign(a, b)), WrongChainId, "other-chain")
    a, b = make_vote(MINER, 2, fake_hash("a")), make_vote(MINER, 2, fake_hash("b"))
    chain4.assert_rejected(chain4.tx(ALICE, "slash", double_sign(a, b)), UnknownEntity, "not a validator")
