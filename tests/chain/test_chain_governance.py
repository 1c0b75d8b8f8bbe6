"""gov_propose / gov_vote / tally, and validator_update enacting a passed proposal."""

from __future__ import annotations

from typing import Any

import pytest
from chainkit import ALICE, COORD, COORD2, CLIENT, FEE, STAKE, VALIDATORS, Chain, Key, accounted_supply, make_genesis, supply_total

from chain.errors import FeeTooLow, InvalidPayload, Unauthorized, UnknownEntity
from chain.execution import TREASURY, next_proposer

V0, V1, V2, V3 = VALIDATORS


def propose(chain: Chain, action: dict[str, Any], proposer: Key = V0) -> int:
    """Submit a proposal in its own block; returns its id."""
    seq = chain.state.get("meta", "proposal_seq")["next"]
    chain.run(chain.tx(proposer, "gov_propose", {"title": f"proposal {seq}", "action": action}))
    return seq


def vote(chain: Chain, pid: int, votes: dict[Key, str]) -> None:
    chain.step([chain.tx(k, "gov_vote", {"proposal_id": pid, "option": option}) for k, option in votes.items()])


def finish(chain: Chain, pid: int) -> dict[str, Any]:
    """Run blocks until the proposal's voting period ends; returns the tallied proposal."""
    end = chain.get("proposal", str(pid))["end"]
    while chain.state.height < end:
        chain.step()
    return chain.get("proposal", str(pid))


def test_param_change_executes(chain4: Chain) -> None:
    pid = propose(chain4, {"kind": "param_change", "changes": {"min_fee": 200}})
    proposal = chain4.get("proposal", str(pid))
    assert proposal["status"] == "voting" and proposal["end"] == chain4.state.height + 3
    vote(chain4, pid, {V0: "yes", V1: "yes", V2: "yes", V3: "no"})
    assert chain4.get("proposal", str(pid))["status"] == "voting"
    done = finish(chain4, pid)
    assert done["status"] == "executed"
    assert done["tally"] == {"yes": 3 * STAKE, "no": STAKE, "abstain": 0, "total": 4 * STAKE}
    assert chain4.params()["min_fee"] == 200
    chain4.assert_rejected(chain4.tx(ALICE, "transfer", {"to": CLIENT.address, "amount": 1}, fee=FEE), FeeTooLow,
                           "below the minimum 200")


def test_rejected_without_two_thirds(chain4: Chain) -> None:
    pid = propose(chain4, {"kind": "param_change", "changes": {"min_fee": 200}})
    vote(chain4, pid, {V0: "yes", V1: "yes", V2: "abstain"})
    done = finish(chain4, pid)
    assert done["status"] == "rejected"
    assert done["tally"] == {"yes": 2 * STAKE, "no": 0, "abstain": STAKE, "total": 4 * STAKE}
    assert chain4.params()["min_fee"] == 10
    # Exactly 2/3 is not more than 2/3.
    chain3 = Chain(make_genesis(3))
    pid = propose(chain3, {"kind": "text"})
    vote(chain3, pid, {V0: "yes", V1: "yes", V2: "no"})
    assert finish(chain3, pid)["status"] == "rejected"
    pid = propose(chain3, {"kind": "text"})
    vote(chain3, pid, {V0: "yes", V1: "yes", V2: "yes"})
    assert finish(chain3, pid)["status"] == "passed"


def test_two_thirds_boundary_with_unequal_power() -> None:
    chain = Chain(make_genesis(3, powers=[2 * STAKE, STAKE, 3 * STAKE]))
    pid = propose(chain, {"kind": "text"})
    vote(chain, pid, {V0: "yes", V1: "yes"})  # 3 of 6: rejected
    assert finish(chain, pid)["status"] == "rejected"
    pid = propose(chain, {"kind": "text"})
    vote(chain, pid, {V0: "yes", V2: "yes"})  # 5 of 6: passed
    assert finish(chain, pid)["status"] == "passed"
    pid = propose(chain, {"kind": "text"})
    vote(chain, pid, {V2: "yes", V1: "yes"})  # 4 of 6: exactly 2/3, rejected
    assert finish(chain, pid)["status"] == "rejected"


def test_votes_can_change_until_the_end(chain4: Chain) -> None:
    pid = propose(chain4, {"kind": "text"})
    vote(chain4, pid, {V0: "no", V1: "no", V2: "no"})
    vote(chain4, pid, {V0: "yes", V1: "yes", V2: "yes"})
    assert finish(chain4, pid)["status"] == "passed"


def test_treasury_spend(chain4: Chain) -> None:
    chain = Chain(make_genesis(4, treasury=50_000_000))
    balance = chain.balance(ALICE)
    pid = propose(chain, {"kind": "treasury_spend", "to": ALICE.address, "amount": 40_000_000})
    vote(chain, pid, {V0: "yes", V1: "yes", V2: "yes", V3: "yes"})
    assert finish(chain, pid)["status"] == "executed"
    assert chain.balance(ALICE) == balance + 40_000_000
    # More than the treasury holds: passes but fails to execute, nothing moves.
    pid = propose(chain, {"kind": "treasury_spend", "to": ALICE.address, "amount": 10**12})
    vote(chain, pid, {V0: "yes", V1: "yes", V2: "yes"})
    treasury = chain.balance(TREASURY)
    assert finish(chain, pid)["status"] == "failed"
    assert chain.balance(ALICE) == balance + 40_000_000
    assert chain.balance(TREASURY) > treasury  # only block rewards came in
    assert accounted_supply(chain.state) == supply_total(chain.state)


def test_coordinator_update(chain4: Chain) -> None:
    pid = propose(chain4, {"kind": "coordinator_update", "add": [COORD2.address], "remove": [COORD.address]})
    vote(chain4, pid, {V0: "yes", V1: "yes", V2: "yes"})
    assert finish(chain4, pid)["status"] == "executed"
    assert chain4.state.get("meta", "coordinators") == {"list": [COORD2.address]}
    chain4.run(chain4.tx(CLIENT, "escrow_deposit", {"coordinator": COORD2.address, "amount": 5}))
    chain4.assert_rejected(chain4.tx(CLIENT, "escrow_deposit", {"coordinator": COORD.address, "amount": 5}),
                           UnknownEntity, "not a registered coordinator")


def test_propose_rejects(chain4: Chain) -> None:
    def tx(action: dict[str, Any], sender: Key = V0):
        return chain4.tx(sender, "gov_propose", {"title": "t", "action": action})

    chain4.assert_rejected(tx({"kind": "text"}, ALICE), Unauthorized, "only active validators")
    chain4.assert_rejected(tx({"kind": "param_change", "changes": {"max_tx_bytes": 1000}}), InvalidPayload,
                           "cannot be changed by governance: max_tx_bytes")
    chain4.assert_rejected(tx({"kind": "param_change", "changes": {"no_such": 1}}), InvalidPayload, "no_such")
    chain4.assert_rejected(tx({"kind": "param_change", "changes": {"treasury_share_bps": 9000}}), InvalidPayload,
                           "proposed parameters are invalid")
    chain4.assert_rejected(tx({"kind": "param_change", "changes": {"min_fee": -1}}), InvalidPayload)


def test_vote_rejects(chain4: Chain) -> None:
    chain4.assert_rejected(chain4.tx(V0, "gov_vote", {"proposal_id": 1, "option": "yes"}), UnknownEntity,
                           "no proposal 1")
    pid = propose(chain4, {"kind": "text"})
    chain4.assert_rejected(chain4.tx(ALICE, "gov_vote", {"proposal_id": pid, "option": "yes"}), Unauthorized,
                           "only active validators may vote")
    finish(chain4, pid)
    chain4.assert_rejected(chain4.tx(V0, "gov_vote", {"proposal_id": pid, "option": "yes"}), Unauthorized,
                           "voting is closed")


def test_conflicting_param_changes_do_not_halt_the_chain(chain4: Chain) -> None:
    """Two proposals each valid on their own, invalid together (shares over 100%). The second
    to be tallied used to raise a pydantic ValidationError out of ``end_block``, so no block
    could be built or applied any more."""
    a = propose(chain4, {"kind": "param_change", "changes": {"treasury_share_bps": 5000}})
    b = propose(chain4, {"kind": "param_change", "changes": {"miner_share_bps": 6000}})
    vote(chain4, a, {V0: "yes", V1: "yes", V2: "yes"})
    vote(chain4, b, {V0: "yes", V1: "yes", V2: "yes"})
    assert finish(chain4, a)["status"] == "executed"
    assert finish(chain4, b)["status"] == "failed"
    params = chain4.params()
    assert (params["treasury_share_bps"], params["miner_share_bps"]) == (5000, 3000)
    chain4.advance(2)


# -- validator_update ---------------------------------------------------------------------------------------


NEW = Key.named("val-new")


def add_action(key: Key = NEW) -> dict[str, Any]:
    return {"kind": "validator_update",
            "add": [{"address": key.address, "pubkey": key.pub.hex(), "commission_bps": 500, "name": "new"}],
            "remove": []}


def test_validator_update_enacts_passed_proposal(chain4: Chain) -> None:
    chain = chain4
    chain.keys[NEW.address] = NEW
    pid = propose(chain, add_action())
    vote(chain, pid, {V0: "yes", V1: "yes", V2: "yes"})
    assert finish(chain, pid)["status"] == "passed"
    chain.run(chain.tx(ALICE, "validator_update", {"proposal_id": pid}))
    assert chain.get("proposal", str(pid))["status"] == "executed"
    validator = chain.get("validator", NEW.address)
    assert validator["power"] == 0 and not validator["jailed"] and not validator["removed"]
    # With no stake it does not vote; delegating gives it power from the next height on.
    assert NEW.address not in chain.state.get("meta", "signers")["set"]
    chain.run(chain.tx(ALICE, "stake", {"validator": NEW.address, "amount": STAKE}))
    chain.step()
    assert NEW.address in chain.state.get("meta", "signers")["set"]
    proposers = set()
    for _ in range(10):
        proposers.add(next_proposer(chain.state))
        chain.step()
    assert NEW.address in proposers
    # Enacting twice is refused.
    chain.assert_rejected(chain.tx(ALICE, "validator_update", {"proposal_id": pid}), Unauthorized, "is executed")


def test_validator_removal(chain4: Chain) -> None:
    chain = chain4
    pid = propose(chain, {"kind": "validator_update", "add": [], "remove": [V3.address]})
    vote(chain, pid, {V0: "yes", V1: "yes", V2: "yes"})
    finish(chain, pid)
    chain.run(chain.tx(V0, "validator_update", {"proposal_id": pid}))
    assert chain.get("validator", V3.address)["removed"]
    chain.step()
    assert V3.address not in chain.state.get("meta", "signers")["set"]
    chain.assert_rejected(chain.tx(ALICE, "stake", {"validator": V3.address, "amount": 5}), Unauthorized,
                          "removed by governance")
    # Its delegators can still leave.
    chain.run(chain.tx(V3, "unstake", {"validator": V3.address, "amount": STAKE}))


def test_validator_update_refused_when_not_passed(chain4: Chain) -> None:
    chain = chain4
    chain.assert_rejected(chain.tx(ALICE, "validator_update", {"proposal_id": 1}), UnknownEntity,
                          "no validator_update proposal 1")
    pid = propose(chain, add_action())
    chain.assert_rejected(chain.tx(ALICE, "validator_update", {"proposal_id": pid}), Unauthorized,
                          "is voting; only a passed proposal")
    vote(chain, pid, {V0: "yes", V1: "yes"})
    assert finish(chain, pid)["status"] == "rejected"
    chain.assert_rejected(chain.tx(ALICE, "validator_update", {"proposal_id": pid}), Unauthorized, "is rejected")
    text = propose(chain, {"kind": "text"})
    chain.assert_rejected(chain.tx(ALICE, "validator_update", {"proposal_id": text}), UnknownEntity)


def test_validator_update_refuses_bad_changes() -> None:
    chain = Chain(make_genesis(1))
    pid = propose(chain, {"kind": "validator_update", "add": [], "remove": [V0.address]})
    vote(chain, pid, {V0: "yes"})
    assert finish(chain, pid)["status"] == "passed"
    chain.assert_rejected(chain.tx(ALICE, "validator_update", {"proposal_id": pid}), InvalidPayload,
                          "no active validator")
    mismatched = add_action()
    mismatched["add"][0]["pubkey"] = ALICE.pub.hex()
    pid = propose(chain, mismatched)
    vote(chain, pid, {V0: "yes"})
    finish(chain, pid)
    chain.assert_rejected(chain.tx(ALICE, "validator_update", {"proposal_id": pid}), InvalidPayload,
                          "does not match its public key")
    rekey = {"kind": "validator_update", "add": [{"address": V0.address, "pubkey": ALICE.pub.hex(),
                                                  "commission_bps": 0, "name": ""}], "remove": []}
    pid = propose(chain, rekey)
    vote(chain, pid, {V0: "yes"})
    finish(chain, pid)
    chain.assert_rejected(chain.tx(ALICE, "validator_update", {"proposal_id": pid}), InvalidPayload,
                          "already exists with another key")


@pytest.mark.parametrize("payload", [
    {"title": "", "action": {"kind": "text"}},
    {"title": "t", "action": {"kind": "nope"}},
    {"title": "t", "action": {"kind": "treasury_spend", "to": ALICE.address, "amount": 0}},
    {"title": "t", "action": {"kind": "param_change", "changes": {}}},
    {"title": "t", "action": {"kind": "param_change", "changes": {"min_fee": 1.5}}},
])
def test_malformed_proposals(chain: Chain, payload: dict[str, Any]) -> None:
    from chain.tx import parse_transaction

    data = {**chain.tx(V0, "gov_propose", {"title": "t", "action": {"kind": "text"}}).to_dict(), "payload": payload}
    with pytest.raises(InvalidPayload):
        parse_transaction(data)
