"""gov_propose / gov_deposit / gov_vote / tally (chain.governance), and validator_update enacting a
passed proposal. The tally's properties (overrides, vote order, edges) are in
test_chain_governance_tally.py."""

from __future__ import annotations

from typing import Any

import pytest
from chainkit import (
    ALICE, BOB, CAROL, COORD, COORD2, CLIENT, FEE, STAKE, VALIDATORS, Chain, Key, accounted_supply, make_genesis,
    supply_total,
)

from chain.errors import FeeTooLow, InsufficientFunds, InvalidBlock, InvalidPayload, Unauthorized, UnknownEntity
from chain.execution import TREASURY, next_proposer
from chain.governance import GOV_DEPOSITS
from chain.params import ChainParams

V0, V1, V2, V3 = VALIDATORS
DEPOSIT = ChainParams().min_deposit


def propose(chain: Chain, action: dict[str, Any], proposer: Key = V0, deposit: int = DEPOSIT) -> int:
    """Submit a proposal with its deposit in its own block; returns its id."""
    seq = chain.state.get("meta", "proposal_seq")["next"]
    chain.run(chain.tx(proposer, "gov_propose", {"title": f"proposal {seq}", "action": action, "deposit": deposit}))
    return seq


def vote(chain: Chain, pid: int, votes: dict[Key, str]) -> None:
    chain.step([chain.tx(k, "gov_vote", {"proposal_id": pid, "option": option}) for k, option in votes.items()])


def finish(chain: Chain, pid: int) -> dict[str, Any]:
    """Run blocks until the proposal's voting period ends; returns the tallied proposal."""
    end = chain.get("proposal", str(pid))["end"]
    while chain.state.height < end:
        chain.step()
    return chain.get("proposal", str(pid))


def tally(yes: int = 0, no: int = 0, abstain: int = 0, veto: int = 0, bonded: int = 4 * STAKE,
          quorum: bool = True) -> dict[str, Any]:
    return {"yes": yes, "no": no, "abstain": abstain, "veto": veto, "bonded": bonded, "quorum_reached": quorum,
            "quorum_bps": 3340, "threshold_bps": 5000, "veto_threshold_bps": 3340}


def test_param_change_executes(chain4: Chain) -> None:
    pid = propose(chain4, {"kind": "param_change", "changes": {"min_fee": 200}})
    proposal = chain4.get("proposal", str(pid))
    assert proposal["status"] == "voting" and proposal["end"] == chain4.state.height + 3
    vote(chain4, pid, {V0: "yes", V1: "yes", V2: "yes", V3: "no"})
    assert chain4.get("proposal", str(pid))["status"] == "voting"
    done = finish(chain4, pid)
    assert done["status"] == "executed" and done["deposit_refunded"]
    assert done["tally"] == tally(yes=3 * STAKE, no=STAKE)
    assert chain4.params()["min_fee"] == 200
    chain4.assert_rejected(chain4.tx(ALICE, "transfer", {"to": CLIENT.address, "amount": 1}, fee=FEE), FeeTooLow,
                           "below the minimum 200")


def test_delegator_proposes_others_deposit_and_are_refunded(chain4: Chain) -> None:
    """Any account proposes; voting opens only once the deposits reach min_deposit; every
    depositor gets its deposit back when the proposal passes."""
    alice, bob = chain4.balance(ALICE), chain4.balance(BOB)
    pid = propose(chain4, {"kind": "text"}, proposer=ALICE, deposit=DEPOSIT // 4)
    proposal = chain4.get("proposal", str(pid))
    assert proposal["status"] == "deposit" and proposal["end"] is None and proposal["total_deposit"] == DEPOSIT // 4
    assert chain4.balance(GOV_DEPOSITS) == DEPOSIT // 4
    chain4.assert_rejected(chain4.tx(V0, "gov_vote", {"proposal_id": pid, "option": "yes"}), Unauthorized,
                           "is deposit, voting is not open")
    chain4.run(chain4.tx(BOB, "gov_deposit", {"proposal_id": pid, "amount": DEPOSIT}))
    proposal = chain4.get("proposal", str(pid))
    assert proposal["status"] == "voting" and proposal["start"] == chain4.state.height
    assert proposal["total_deposit"] == DEPOSIT + DEPOSIT // 4
    chain4.run(chain4.tx(CAROL, "gov_deposit", {"proposal_id": pid, "amount": 7}))  # deposits during voting too
    vote(chain4, pid, {V0: "yes", V1: "yes", V2: "no"})
    assert finish(chain4, pid)["status"] == "passed"
    assert chain4.balance(ALICE) == alice - FEE
    assert chain4.balance(BOB) == bob - FEE
    assert chain4.balance(GOV_DEPOSITS) == 0
    assert accounted_supply(chain4.state) == supply_total(chain4.state)


def test_proposal_without_deposit_is_dropped_and_burned() -> None:
    chain = Chain(make_genesis(4, params={"deposit_period": 2}))
    supply = supply_total(chain.state)
    pid = propose(chain, {"kind": "text"}, proposer=ALICE, deposit=DEPOSIT - 1)
    end = chain.get("proposal", str(pid))["deposit_end"]
    while chain.state.height < end:
        chain.step()
    proposal = chain.get("proposal", str(pid))
    assert proposal["status"] == "dropped" and proposal["deposit_burned"] == DEPOSIT - 1
    assert chain.balance(GOV_DEPOSITS) == 0
    minted = chain.state.height * chain.params()["block_reward"]
    assert supply_total(chain.state) == supply + minted - (DEPOSIT - 1)
    assert accounted_supply(chain.state) == supply_total(chain.state)
    chain.assert_rejected(chain.tx(BOB, "gov_deposit", {"proposal_id": pid, "amount": DEPOSIT}), Unauthorized,
                          "is dropped; it takes no more deposits")


def test_no_quorum_and_veto_send_the_deposit_to_the_treasury(chain4: Chain) -> None:
    pid = propose(chain4, {"kind": "text"}, proposer=ALICE)
    vote(chain4, pid, {V0: "yes"})  # 1/4 of bonded stake: below the 33.4% quorum
    treasury = chain4.balance(TREASURY)
    done = finish(chain4, pid)
    assert done["status"] == "rejected" and done["tally"] == tally(yes=STAKE, quorum=False)
    assert not done["deposit_refunded"]
    rewards_in = chain4.params()["block_reward"] * chain4.params()["treasury_share_bps"] // 10_000
    blocks = 1  # only the final block falls between the reading and the tally
    assert chain4.balance(TREASURY) >= treasury + DEPOSIT
    assert chain4.balance(TREASURY) <= treasury + DEPOSIT + blocks * rewards_in + chain4.params()["block_reward"]
    pid = propose(chain4, {"kind": "text"}, proposer=ALICE)
    vote(chain4, pid, {V0: "yes", V1: "yes", V2: "veto"})  # veto 1/3 of the votes: > 33.4%? no
    assert finish(chain4, pid)["status"] == "passed"
    pid = propose(chain4, {"kind": "text"}, proposer=ALICE)
    vote(chain4, pid, {V0: "yes", V1: "veto", V2: "veto"})
    alice = chain4.balance(ALICE)
    done = finish(chain4, pid)
    assert done["status"] == "vetoed" and not done["deposit_refunded"]
    assert chain4.balance(ALICE) == alice
    assert chain4.balance(GOV_DEPOSITS) == 0
    assert accounted_supply(chain4.state) == supply_total(chain4.state)


def test_thresholds_count_non_abstain_votes(chain4: Chain) -> None:
    pid = propose(chain4, {"kind": "param_change", "changes": {"min_stake": 2}})
    vote(chain4, pid, {V0: "yes", V1: "abstain", V2: "abstain"})  # 1 yes of 1 deciding
    assert finish(chain4, pid)["status"] == "executed" and chain4.params()["min_stake"] == 2
    pid = propose(chain4, {"kind": "text"})
    vote(chain4, pid, {V0: "yes", V1: "no"})  # exactly half is not more than half
    assert finish(chain4, pid)["status"] == "rejected"
    pid = propose(chain4, {"kind": "text"})
    vote(chain4, pid, {V0: "abstain", V1: "abstain"})  # quorum, but nobody decided
    done = finish(chain4, pid)
    assert done["status"] == "rejected" and done["deposit_refunded"]


def test_delegators_override_their_validator(chain4: Chain) -> None:
    """ALICE and BOB delegate to V0; V0 votes yes, ALICE votes no: ALICE's stake leaves V0's
    vote; BOB did not vote, so his stake follows V0."""
    chain4.step([chain4.tx(ALICE, "stake", {"validator": V0.address, "amount": 2 * STAKE}),
                 chain4.tx(BOB, "stake", {"validator": V0.address, "amount": STAKE})])
    pid = propose(chain4, {"kind": "text"}, proposer=CAROL)
    vote(chain4, pid, {V0: "yes", ALICE: "no", V1: "no"})
    chain4.assert_rejected(chain4.tx(CAROL, "gov_vote", {"proposal_id": pid, "option": "yes"}), Unauthorized,
                           "no bonded stake")
    done = finish(chain4, pid)
    assert done["tally"] == tally(yes=2 * STAKE, no=3 * STAKE, bonded=7 * STAKE)
    assert done["status"] == "rejected"


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


def test_text_proposal_only_records_the_decision(chain4: Chain) -> None:
    params = chain4.params()
    pid = propose(chain4, {"kind": "text"})
    vote(chain4, pid, {V0: "yes", V1: "yes"})
    assert finish(chain4, pid)["status"] == "passed"
    assert chain4.params() == params


def test_software_upgrade_schedules_a_plan_and_its_protocol_version(chain4: Chain) -> None:
    height = chain4.state.height + 10
    pid = propose(chain4, {"kind": "software_upgrade", "name": "v3", "version": "0.2.0", "height": height,
                           "protocol_version": 3})
    vote(chain4, pid, {V0: "yes", V1: "yes", V2: "yes"})
    assert finish(chain4, pid)["status"] == "executed"
    plan = chain4.get("meta", "upgrade")
    assert plan == {"name": "v3", "version": "0.2.0", "height": height, "protocol_version": 3, "proposal_id": pid}
    while chain4.state.height < height - 1:
        chain4.step()
    assert chain4.params()["protocol_version"] == 2
    # At the height the chain demands protocol 3, which this code does not implement.
    with pytest.raises(InvalidBlock, match="protocol version 3"):
        chain4.build()


def test_software_upgrade_without_protocol_change_lets_the_chain_go_on(chain4: Chain) -> None:
    height = chain4.state.height + 6
    pid = propose(chain4, {"kind": "software_upgrade", "name": "patch", "version": "0.1.1", "height": height})
    vote(chain4, pid, {V0: "yes", V1: "yes", V2: "yes"})
    assert finish(chain4, pid)["status"] == "executed"
    chain4.advance(height + 2 - chain4.state.height)
    assert chain4.params()["protocol_version"] == 2
    assert chain4.get("meta", "upgrade")["version"] == "0.1.1"


def test_propose_rejects(chain4: Chain) -> None:
    def tx(action: dict[str, Any], sender: Key = V0, deposit: int = DEPOSIT):
        return chain4.tx(sender, "gov_propose", {"title": "t", "action": action, "deposit": deposit})

    chain4.assert_rejected(tx({"kind": "param_change", "changes": {"max_tx_bytes": 1000}}), InvalidPayload,
                           "cannot be changed by governance: max_tx_bytes")
    chain4.assert_rejected(tx({"kind": "param_change", "changes": {"no_such": 1}}), InvalidPayload, "no_such")
    chain4.assert_rejected(tx({"kind": "param_change", "changes": {"treasury_share_bps": 9000}}), InvalidPayload,
                           "proposed parameters are invalid")
    chain4.assert_rejected(tx({"kind": "param_change", "changes": {"min_fee": -1}}), InvalidPayload)
    chain4.assert_rejected(tx({"kind": "param_change", "changes": {"protocol_version": 3}}), InvalidPayload,
                           "protocol_version")
    chain4.assert_rejected(tx({"kind": "text"}, deposit=10**15), InsufficientFunds, "deposit needs")
    upgrade = {"kind": "software_upgrade", "name": "u", "version": "1.0.0"}
    chain4.assert_rejected(tx({**upgrade, "height": chain4.state.height + 2}), InvalidPayload,
                           "before the vote could end")
    chain4.assert_rejected(tx({**upgrade, "height": 100, "protocol_version": 2}), InvalidPayload,
                           "not above the chain's 2")


def test_vote_and_deposit_reject(chain4: Chain) -> None:
    chain4.assert_rejected(chain4.tx(V0, "gov_vote", {"proposal_id": 1, "option": "yes"}), UnknownEntity,
                           "no proposal 1")
    chain4.assert_rejected(chain4.tx(V0, "gov_deposit", {"proposal_id": 1, "amount": 5}), UnknownEntity,
                           "no proposal 1")
    pid = propose(chain4, {"kind": "text"})
    chain4.assert_rejected(chain4.tx(ALICE, "gov_vote", {"proposal_id": pid, "option": "yes"}), Unauthorized,
                           "only stakers vote")
    chain4.assert_rejected(chain4.tx(ALICE, "gov_deposit", {"proposal_id": pid, "amount": 10**15}),
                           InsufficientFunds, "deposit needs")
    finish(chain4, pid)
    chain4.assert_rejected(chain4.tx(V0, "gov_vote", {"proposal_id": pid, "option": "yes"}), Unauthorized,
                           "voting is not open")
    chain4.assert_rejected(chain4.tx(V0, "gov_deposit", {"proposal_id": pid, "amount": 5}), Unauthorized,
                           "takes no more deposits")


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
    vote(chain, pid, {V0: "yes", V1: "no", V2: "no"})
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


def test_proposals_from_before_deposits_still_take_votes_deposits_and_a_tally(chain4: Chain) -> None:
    """A chain upgraded with a proposal open under the old rules (no deposit fields): it takes
    a vote and a deposit without an exception out of the rules, and is tallied normally."""
    end = chain4.state.height + 3
    old = {"id": 1, "proposer": V0.address, "title": "old", "description": "", "action": {"kind": "text"},
           "start": chain4.state.height, "end": end, "status": "voting", "tally": None}
    chain4.state = chain4.state.apply_writes({("proposal", "1"): old, ("meta", "proposal_seq"): {"next": 2},
                                              ("index", f"proposals_ending/{end:012d}"): {"items": [1]}})
    chain4.step([chain4.tx(V0, "gov_vote", {"proposal_id": 1, "option": "yes"}),
                 chain4.tx(V1, "gov_vote", {"proposal_id": 1, "option": "yes"}),
                 chain4.tx(ALICE, "gov_deposit", {"proposal_id": 1, "amount": 5})])
    alice = chain4.balance(ALICE)
    done = finish(chain4, 1)
    assert done["status"] == "passed" and done["total_deposit"] == 5 and chain4.balance(GOV_DEPOSITS) == 0
    assert chain4.balance(ALICE) == alice + 5  # refunded
