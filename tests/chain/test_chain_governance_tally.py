"""Properties of the governance tally (``chain.governance.count_votes`` and ``outcome``).

The stake-weighted count is checked against a reference that reads every delegation of the
state (which the chain itself must never do): each delegation's units follow its owner's vote
if the owner voted, else its validator's vote, else count for nothing. Votes are real
transactions in real blocks; vote changes, delegator overrides and the order of votes are drawn.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest
from chainkit import ALICE, BOB, CAROL, STAKE, VALIDATORS, Chain, Key, make_genesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chain.governance import count_votes, outcome
from chain.ledger import Ledger
from chain.params import BPS, ChainParams
from chain.staking import tokens
from chain.validators import active_set

DELEGATORS = [ALICE, BOB, CAROL]
VOTERS: list[Key] = [*VALIDATORS, *DELEGATORS]
OPTIONS = ["yes", "no", "abstain", "veto"]
DEPOSIT = ChainParams().min_deposit
VOTING = 3
"""Blocks a proposal is open: its votes go in the block after the proposal's, inside the period."""


def _chain(powers: list[int], delegations: list[tuple[int, int, int]]) -> tuple[Chain, int]:
    """Four validators, the drawn delegations, and one proposal open for voting (id returned)."""
    # a short vote: the proposal's block, the votes' block, and the end that tallies them are all
    # the drawn examples need, and each example steps the chain to that end twice
    chain = Chain(make_genesis(4, powers=powers, params={"voting_period": VOTING}))
    stakes: dict[Key, int] = {}
    txs = []
    for delegator, validator, units in delegations:
        key = DELEGATORS[delegator]
        txs.append(chain.tx(key, "stake", {"validator": VALIDATORS[validator].address, "amount": units},
                            offset=stakes.get(key, 0)))
        stakes[key] = stakes.get(key, 0) + 1
    chain.step(txs)
    chain.run(chain.tx(CAROL, "gov_propose", {"title": "t", "action": {"kind": "text"}, "deposit": DEPOSIT}))
    return chain, 1


def _cast(chain: Chain, pid: int, votes: list[tuple[int, str]]) -> None:
    """All ``votes`` in one block, in order (a voter's later vote replaces its earlier one);
    votes of voters without bonded stake are left out."""
    ledger = Ledger(chain.state)
    signers = active_set(ledger)
    sent: dict[Key, int] = {}
    txs = []
    for index, option in votes:
        key = VOTERS[index]
        if not any(chain.get("delegation", f"{key.address}/{v}") for v in signers):
            continue
        txs.append(chain.tx(key, "gov_vote", {"proposal_id": pid, "option": option}, offset=sent.get(key, 0)))
        sent[key] = sent.get(key, 0) + 1
    chain.step(txs)


def _reference(chain: Chain, pid: int) -> dict[str, int]:
    signers = active_set(Ledger(chain.state))
    final = {voter: vote["option"] for key, vote in chain.state.items("vote")
             for proposal, voter in [key.split("/")] if proposal == str(pid)}
    totals = dict.fromkeys(OPTIONS, 0)
    for key, delegation in chain.state.items("delegation"):
        delegator, validator = key.split("/")
        if validator not in signers:
            continue
        option = final.get(delegator) or final.get(validator)
        if option is not None:
            totals[option] += tokens(chain.get("validator", validator), delegation["shares"])
    return totals


powers = st.lists(st.integers(1, 5).map(lambda n: n * STAKE), min_size=4, max_size=4)
delegations = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 3), st.integers(1, 3 * STAKE)), max_size=5)
votes = st.lists(st.tuples(st.integers(0, len(VOTERS) - 1), st.sampled_from(OPTIONS)), max_size=12)
SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(powers=powers, delegations=delegations, votes=votes)
def test_count_matches_the_reference(powers: list[int], delegations: list[tuple[int, int, int]],
                                     votes: list[tuple[int, str]]) -> None:
    """Delegators who vote override their validator for their share; the rest follows the
    validator; each voter's last vote counts; nothing is counted twice."""
    chain, pid = _chain(powers, delegations)
    _cast(chain, pid, votes)
    ledger = Ledger(chain.state)
    counted = count_votes(ledger, pid, active_set(ledger))
    assert counted == _reference(chain, pid)
    assert sum(counted.values()) <= sum(int(s["power"]) for s in active_set(ledger).values())


@SETTINGS
@given(powers=powers, delegations=delegations, votes=votes, data=st.data())
def test_result_does_not_depend_on_vote_order(powers: list[int], delegations: list[tuple[int, int, int]],
                                             votes: list[tuple[int, str]], data: st.DataObject) -> None:
    """The drawn sequence (with changes) and the final votes alone, shuffled, tally the same,
    and the tally stored at the end of voting is that count with its outcome."""
    final = list({index: (index, option) for index, option in votes}.values())
    shuffled = data.draw(st.permutations(final))
    tallies: list[dict[str, Any]] = []
    for sequence in (votes, shuffled):
        chain, pid = _chain(powers, delegations)
        _cast(chain, pid, sequence)
        end = chain.get("proposal", str(pid))["end"]
        while chain.state.height < end:
            chain.step()
        tallies.append(chain.get("proposal", str(pid)))
    first, second = tallies
    assert first["tally"] == second["tally"] and first["status"] == second["status"]
    expected, _ = outcome({k: first["tally"][k] for k in OPTIONS}, first["tally"]["bonded"], ChainParams())
    assert first["status"] == expected


def _votes(yes: int = 0, no: int = 0, abstain: int = 0, veto: int = 0) -> dict[str, int]:
    return {"yes": yes, "no": no, "abstain": abstain, "veto": veto}


PARAMS = ChainParams()  # quorum 33.4%, threshold 50%, veto 33.4%


@pytest.mark.parametrize(("votes", "bonded", "expected"), [
    (_votes(yes=3340), 10_000, ("passed", True)),          # exactly the quorum counts
    (_votes(yes=3339), 10_000, ("rejected", False)),       # one unit short
    (_votes(abstain=3340), 10_000, ("rejected", True)),    # quorum by abstention, nobody decided
    (_votes(yes=501, no=500), 2_000, ("passed", True)),    # strictly above half
    (_votes(yes=2000, no=2000), 10_000, ("rejected", True)),  # exactly half is not enough
    (_votes(yes=1998, veto=1002), 3_000, ("passed", True)),    # veto exactly 33.4%: not vetoed
    (_votes(yes=1997, veto=1003), 3_000, ("vetoed", True)),     # above it: vetoed despite the yes majority
    (_votes(yes=5), 0, ("rejected", False)),               # nothing bonded: no quorum
])
def test_quorum_threshold_and_veto_edges(votes: dict[str, int], bonded: int, expected: tuple[str, bool]) -> None:
    assert outcome(votes, bonded, PARAMS) == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 10**6), min_size=4, max_size=4), st.integers(0, 5 * 10**6),
       st.integers(1, BPS), st.integers(1, BPS - 1), st.integers(1, BPS))
def test_outcome_is_x_gov_rule(counts: list[int], extra: int, quorum: int, threshold: int, veto: int) -> None:
    """The integer rule equals x/gov's rational one: quorum (>=), then veto (>), then yes over
    non-abstain votes (>)."""
    votes = dict(zip(OPTIONS, counts))
    bonded = sum(counts) + extra
    params = ChainParams(quorum_bps=quorum, threshold_bps=threshold, veto_threshold_bps=veto)
    voted = sum(counts)
    if bonded == 0 or Fraction(voted, bonded) < Fraction(quorum, BPS):
        expected = ("rejected", False)
    elif Fraction(votes["veto"], voted) > Fraction(veto, BPS):
        expected = ("vetoed", True)
    elif voted - votes["abstain"] > 0 and Fraction(votes["yes"], voted - votes["abstain"]) > Fraction(threshold, BPS):
        expected = ("passed", True)
    else:
        expected = ("rejected", True)
    assert outcome(votes, bonded, params) == expected
