"""Tendermint rounds (chain.consensus) driven by an in-memory network of validators.

The network delivers messages in an order chosen by the test (or by hypothesis), drops the
messages of crashed validators, and fires timeouts only when nothing else can happen; that is
enough to exercise every rule of Algorithm 1: fresh proposals, nil prevotes on timeout,
locking, re-proposal of a valid block, round skipping and equivocation.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings, strategies as st

from chain import crypto
from chain.block import Block
from chain.consensus import (
    BroadcastProposal, BroadcastVote, Decide, Equivocation, FetchBlock, HeightConsensus, Proposal, ScheduleTimeout,
    Step,
)
from chain.errors import ChainError
from chain.execution import apply_block, build_block
from chain.genesis import genesis_state
from chain.ledger import Ledger
from chain.state import State
from chain.validators import active_set, proposer_for, verify_commit
from chain.tx import make_tx
from chain.vote import Vote, VoteBody, sign_vote
from chainkit import (
    ALICE, BOB, CHAIN_ID, FEE, GENESIS_MS, OUTSIDER, STAKE, VALIDATORS, Chain, make_genesis, make_vote,
)


def poisoned(block: Block) -> Block:
    """``block``'s header (so its hash) with another, genuinely signed transaction list: what a
    peer relaying a real proposal can attach to it."""
    other = make_tx(ALICE.seed, CHAIN_ID, "transfer", 0, FEE, {"to": BOB.address, "amount": 7})
    return Block(header=block.header, txs=[*block.txs, other], last_commit=block.last_commit)


class Network:
    def __init__(self, n: int, *, crashed: set[int] = frozenset(), poison: bool = False,
                 seed: int = 0, powers: list[int] | None = None) -> None:
        self.state: State = genesis_state(make_genesis(n, powers=powers))
        self.signers = active_set(Ledger(self.state))
        self.keys = VALIDATORS[:n]
        self.crashed = set(crashed)
        self.poison = poison
        """A peer relays every proposal, with a poisoned body, to every validator before the real one."""
        self.validated: list[Block] = []
        """Every body handed to a node's ``block_is_valid``."""
        self.rng = random.Random(seed)
        self.queue: deque[tuple[int, Any]] = deque()
        self.timeouts: list[tuple[int, ScheduleTimeout]] = []
        self.decisions: dict[int, Decide] = {}
        self.equivocations: list[Equivocation] = []
        self.nodes = [self._node(i) for i in range(n)]

    def _node(self, i: int, timely: Callable[[Block], bool] = lambda block: True) -> HeightConsensus:
        key = self.keys[i]

        def propose(round_: int) -> Block:
            # A node proposes with its own clock: different nodes make different blocks.
            return build_block(self.state, [], proposer=key.address, time_ms=GENESIS_MS + 1000 + i, round_=round_).block

        def valid(block: Block) -> bool:
            self.validated.append(block)
            try:
                apply_block(self.state, block)
            except ChainError:
                return False
            return True

        return HeightConsensus(CHAIN_ID, 1, self.signers, key.address, propose_block=propose, block_is_valid=valid,
                               sign=lambda message: crypto.sign(key.seed, message), block_is_timely=timely)

    def handle(self, i: int, actions: list[Any]) -> None:
        if i in self.crashed:
            return
        for action in actions:
            if isinstance(action, (BroadcastProposal, BroadcastVote)):
                for j in range(len(self.nodes)):
                    if j != i:
                        if self.poison and isinstance(action, BroadcastProposal):
                            self.queue.append((j, BroadcastProposal(action.proposal, poisoned(action.block))))
                        self.queue.append((j, action))
            elif isinstance(action, ScheduleTimeout):
                self.timeouts.append((i, action))
            elif isinstance(action, Decide):
                self.decisions[i] = action
            elif isinstance(action, Equivocation):
                self.equivocations.append(action)

    def deliver(self, j: int, action: Any) -> None:
        if j in self.crashed:
            return
        node = self.nodes[j]
        if isinstance(action, BroadcastProposal):
            self.handle(j, node.on_proposal(action.proposal, action.block))
        elif isinstance(action, BroadcastVote):
            self.handle(j, node.on_vote(action.vote))
        else:
            self.handle(j, action)

    def run(self, *, shuffle: bool = False, max_steps: int = 20_000) -> None:
        for i, node in enumerate(self.nodes):
            self.handle(i, node.start())
        for _ in range(max_steps):
            live = [i for i in range(len(self.nodes)) if i not in self.crashed]
            if all(i in self.decisions for i in live):
                return
            if self.queue:
                if shuffle:
                    index = self.rng.randrange(len(self.queue))
                    self.queue.rotate(-index)
                j, action = self.queue.popleft()
                self.deliver(j, action)
                continue
            if not self.timeouts:
                return
            # Nothing in flight: the earliest-scheduled timeout fires.
            i, timeout = self.timeouts.pop(0)
            if i not in self.crashed:
                self.handle(i, self.nodes[i].on_timeout(timeout.height, timeout.round, timeout.step))

    def decided_hashes(self) -> set[str]:
        return {d.block.hash for d in self.decisions.values()}


def test_four_honest_validators_decide_in_round_zero() -> None:
    net = Network(4)
    net.run()
    assert len(net.decisions) == 4
    assert len(net.decided_hashes()) == 1
    decision = next(iter(net.decisions.values()))
    assert decision.commit.round == 0
    assert decision.block.header.proposer == proposer_for(net.signers, 0)
    # The commit finalizes the block for the chain's own rules.
    state = apply_block(net.state, decision.block)
    follow = build_block(state, [], proposer=proposer_for(active_set(Ledger(state)), 0), time_ms=GENESIS_MS + 5000,
                         last_commit=decision.commit)
    apply_block(state, follow.block)


def test_crashed_proposer_costs_one_round() -> None:
    net0 = Network(4)
    first = proposer_for(net0.signers, 0)
    crashed = {i for i, key in enumerate(net0.keys) if key.address == first}
    net = Network(4, crashed=crashed)
    net.run()
    live = [i for i in range(4) if i not in crashed]
    assert sorted(net.decisions) == live
    assert len(net.decided_hashes()) == 1
    decision = net.decisions[live[0]]
    assert decision.commit.round >= 1
    assert decision.block.header.proposer != first


def test_one_third_crashed_blocks_progress_but_never_decides_wrongly() -> None:
    net = Network(3, crashed={1})  # 2 of 3 equal powers is not more than 2/3
    net.run(max_steps=3000)
    assert net.decisions == {}


def test_commit_carries_more_than_two_thirds_of_power() -> None:
    net = Network(4, crashed={3})
    net.run()
    for decision in net.decisions.values():
        signed = sum(net.signers[s.validator]["power"] for s in decision.commit.signatures)
        assert signed * 3 > sum(s["power"] for s in net.signers.values()) * 2


def test_equivocating_vote_is_reported_as_evidence() -> None:
    net = Network(4)
    node = net.nodes[0]
    cheater = net.keys[1]
    a = sign_vote(VoteBody(chain_id=CHAIN_ID, height=1, round=0, type="prevote", block_hash="ab" * 32,
                           validator=cheater.address), cheater.seed)
    b = sign_vote(VoteBody(chain_id=CHAIN_ID, height=1, round=0, type="prevote", block_hash=None,
                           validator=cheater.address), cheater.seed)
    assert node.on_vote(a) == []  # one quarter of the power triggers no rule
    evidence = [x for x in node.on_vote(b) if isinstance(x, Equivocation)]
    assert evidence and evidence[0].vote_a == a and evidence[0].vote_b == b


def test_forged_and_foreign_messages_are_ignored() -> None:
    net = Network(4)
    node = net.nodes[0]
    body = VoteBody(chain_id=CHAIN_ID, height=1, round=0, type="precommit", block_hash="cd" * 32,
                    validator=net.keys[2].address)
    # The validator's own public key, signed by someone else; and the outsider's key outright.
    forged = Vote(body=body, pubkey=net.keys[2].pub.hex(), signature=crypto.sign(OUTSIDER.seed, body.signing_bytes()).hex())
    assert node.on_vote(forged) == []
    forged = sign_vote(body, OUTSIDER.seed)
    assert node.on_vote(forged) == []
    wrong_height = sign_vote(VoteBody(chain_id=CHAIN_ID, height=7, round=0, type="precommit", block_hash="cd" * 32,
                                      validator=net.keys[2].address), net.keys[2].seed)
    assert node.on_vote(wrong_height) == []
    assert node._vote_set(0, "precommit").power == 0


def test_locked_validator_refuses_a_different_fresh_block() -> None:
    """Lines 22-27: a validator locked on B prevotes nil for a fresh proposal B' != B."""
    net = Network(4)
    proposer = proposer_for(net.signers, 0)
    proposer1 = proposer_for(net.signers, 1)
    me = next(i for i, k in enumerate(net.keys) if k.address not in (proposer, proposer1))
    node = net.nodes[me]
    node.start()
    p_index = next(i for i, k in enumerate(net.keys) if k.address == proposer)
    block = build_block(net.state, [], proposer=proposer, time_ms=GENESIS_MS + 10, round_=0).block
    proposal = net.nodes[p_index]._signed_proposal(0, block, -1)
    node.on_proposal(proposal, block)
    for k in [k for i, k in enumerate(net.keys) if i != me][:2]:
        node.on_vote(sign_vote(VoteBody(chain_id=CHAIN_ID, height=1, round=0, type="prevote", block_hash=block.hash,
                                        validator=k.address), k.seed))
    assert node.locked_round == 0 and node.locked_block is not None and node.locked_block.hash == block.hash
    # Round 1 proposes a different, fresh block: the locked node must prevote nil.
    node.on_timeout(1, 0, Step.PRECOMMIT)
    assert node.round == 1
    p1 = next(i for i, k in enumerate(net.keys) if k.address == proposer1)
    other = build_block(net.state, [], proposer=proposer1, time_ms=GENESIS_MS + 20, round_=1).block
    actions = node.on_proposal(net.nodes[p1]._signed_proposal(1, other, -1), other)
    prevotes = [a.vote for a in actions if isinstance(a, BroadcastVote) and a.vote.body.type == "prevote"]
    assert prevotes and prevotes[0].body.block_hash is None


# -- proposer priority of a newcomer ----------------------------------------------------------------


def test_joining_validator_starts_at_minus_one_and_one_eighth_of_total_power() -> None:
    """Tendermint's rule: a validator entering the set (new, or back from jail) starts at
    -1.125 x total power, so it waits its turn instead of proposing at once."""
    chain = Chain(make_genesis(3))
    chain.advance(2)
    previous = chain.state.get("meta", "signers")["set"]
    newcomer = VALIDATORS[3]
    ledger = Ledger(chain.state)
    ledger.put("validator", newcomer.address, {
        "pubkey": newcomer.pub.hex(), "name": newcomer.name, "commission_bps": 1000, "power": STAKE,
        "self_bond": STAKE, "jailed": False, "removed": False})
    signers = active_set(ledger)
    assert signers[newcomer.address]["priority"] == -(4 * STAKE * 9 // 8)
    assert {a: s["priority"] for a, s in signers.items() if a != newcomer.address} == {
        a: s["priority"] for a, s in previous.items()}
    assert newcomer.address not in {proposer_for(signers, round_) for round_ in range(3)}
    # Jailed and back: a newcomer again, whatever priority it had built up.
    jailed = VALIDATORS[0].address
    ledger.put("validator", jailed, {**ledger.get("validator", jailed), "jailed": True})
    ledger.put("meta", "signers", {"height": chain.state.height, "set": active_set(ledger)})
    ledger.put("validator", jailed, {**ledger.get("validator", jailed), "jailed": False})
    assert active_set(ledger)[jailed]["priority"] == -(4 * STAKE * 9 // 8)


# -- poisoned proposals and clocks (issue 22, item 4) ------------------------------------------------


def _index(net: Network, address: str) -> int:
    return next(i for i, k in enumerate(net.keys) if k.address == address)


def _round0(net: Network) -> tuple[int, Proposal, Block]:
    """The round-0 proposer's index, its genuinely signed proposal and its block (one transfer)."""
    proposer = _index(net, proposer_for(net.signers, 0))
    tx = make_tx(BOB.seed, CHAIN_ID, "transfer", 0, FEE, {"to": ALICE.address, "amount": 5})
    block = build_block(net.state, [tx], proposer=net.keys[proposer].address, time_ms=GENESIS_MS + 1000).block
    assert block.txs == [tx]
    return proposer, net.nodes[proposer]._signed_proposal(0, block, -1), block


def _votes(net: Network, block_hash: str | None, vote_type: str, without: int) -> list[Vote]:
    """That vote from three of the four validators (all but ``without``)."""
    return [make_vote(k, 1, block_hash, vote_type=vote_type) for i, k in enumerate(net.keys) if i != without]


def test_poisoned_proposals_do_not_stop_the_honest_block() -> None:
    """Every proposal reaches every validator first with a poisoned body (same signed header,
    another transaction list): they all still decide the honest block, in round 0."""
    net = Network(4, poison=True)
    net.run()
    assert sorted(net.decisions) == [0, 1, 2, 3]
    assert len(net.decided_hashes()) == 1
    decision = net.decisions[0]
    assert decision.commit.round == 0
    assert decision.block.header.proposer == proposer_for(net.signers, 0)
    apply_block(net.state, decision.block)
    # No poisoned body was ever validated (each would fail on tx_root, under the honest hash).
    assert net.validated and all(block.txs == [] for block in net.validated)


def test_poisoned_body_is_dropped_and_the_real_one_still_counts() -> None:
    net = Network(4)
    proposer, proposal, block = _round0(net)
    me = (proposer + 1) % 4
    node = net.nodes[me]
    node.start()
    assert poisoned(block).hash == block.hash
    assert node.on_proposal(proposal, poisoned(block)) == []  # no prevote, nothing kept
    assert node.step == Step.PROPOSE
    actions = node.on_proposal(proposal, block)
    prevotes = [a.vote.body for a in actions if isinstance(a, BroadcastVote)]
    assert [(v.type, v.block_hash) for v in prevotes] == [("prevote", block.hash)]


def test_precommitted_block_is_decided_from_a_fetched_body() -> None:
    """A validator that never got the proposal asks for the block once 2/3 precommitted it, and
    decides as soon as a matching body comes, whatever poisoned bodies come first."""
    net = Network(4)
    proposer, proposal, block = _round0(net)
    me = (proposer + 1) % 4
    node = net.nodes[me]
    node.start()
    actions: list[Any] = []
    for vote in _votes(net, block.hash, "precommit", without=me):
        actions += node.on_vote(vote)
    assert [a for a in actions if isinstance(a, FetchBlock)] == [FetchBlock(1, block.hash)]
    assert not [a for a in actions if isinstance(a, Decide)]
    unrelated = build_block(net.state, [], proposer=net.keys[proposer].address, time_ms=GENESIS_MS + 5).block
    assert node.on_block(unrelated) == []
    assert node.on_block(poisoned(block)) == []
    # A relayed copy of the real proposal with a poisoned body is no better.
    assert node.on_proposal(proposal, poisoned(block)) == []
    assert node.decision is None
    decided = [a for a in node.on_block(block) if isinstance(a, Decide)]
    assert decided and decided[0].block == block
    commit = decided[0].commit
    assert commit.block_hash == block.hash and len(commit.signatures) == 3
    verify_commit(commit, net.signers, CHAIN_ID, 1, block.hash)


def test_untimely_proposal_costs_only_our_prevote() -> None:
    """A block this node's clock finds too far ahead gets its nil prevote; that verdict is not
    cached as invalidity: once 2/3 prevote the block it locks and precommits it, and 2/3
    precommits decide it."""
    net = Network(4)
    proposer, proposal, block = _round0(net)
    me = (proposer + 1) % 4
    asked: list[str] = []

    def timely(candidate: Block) -> bool:
        asked.append(candidate.hash)
        return False

    node = net._node(me, timely)
    node.start()
    prevotes = [a.vote.body for a in node.on_proposal(proposal, block) if isinstance(a, BroadcastVote)]
    assert asked == [block.hash]
    assert [(v.type, v.block_hash) for v in prevotes] == [("prevote", None)]
    actions: list[Any] = []
    for vote in _votes(net, block.hash, "prevote", without=me):
        actions += node.on_vote(vote)
    precommits = [a.vote.body for a in actions if isinstance(a, BroadcastVote)]
    assert [(v.type, v.block_hash) for v in precommits] == [("precommit", block.hash)]
    assert node.locked_block == block
    for vote in _votes(net, block.hash, "precommit", without=me)[:2]:
        actions = node.on_vote(vote)
    assert node.decision is not None and node.decision.block == block


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(min_value=0, max_value=10_000), n=st.sampled_from([1, 2, 3, 4]),
       crash=st.booleans(), poison=st.booleans())
def test_safety_and_liveness_under_random_delivery(seed: int, n: int, crash: bool, poison: bool) -> None:
    """Whatever the delivery order, no two validators decide different blocks; with fewer than
    1/3 of power crashed, every live validator decides, even when every proposal also arrives
    with a poisoned body."""
    crashed = {seed % n} if crash and n >= 4 else set()
    net = Network(n, crashed=crashed, seed=seed, poison=poison)
    net.run(shuffle=True)
    live = [i for i in range(n) if i not in crashed]
    assert len(net.decided_hashes()) <= 1
    assert sorted(net.decisions) == live


def test_a_refused_signature_leaves_the_step_silent_and_its_timeout_running() -> None:
    """A restarted validator's guard refuses what it signed otherwise before the crash: as the
    round's proposer it proposes nothing but still waits out the proposal timeout, then moves to
    prevote without a vote, as a validator that missed the proposal does; the round goes on."""
    net = Network(4)
    me = proposer_for(net.signers, 0)
    node = HeightConsensus(CHAIN_ID, 1, net.signers, me, block_is_valid=lambda block: True, sign=lambda message: None,
                           propose_block=lambda round_: build_block(net.state, [], proposer=me, time_ms=GENESIS_MS + 1000,
                                                                    round_=round_).block)
    actions = node.start()
    assert not [a for a in actions if isinstance(a, BroadcastProposal)]
    assert [(a.round, a.step) for a in actions if isinstance(a, ScheduleTimeout)] == [(0, Step.PROPOSE)]
    actions = node.on_timeout(1, 0, Step.PROPOSE)
    assert node.step == Step.PREVOTE and not [a for a in actions if isinstance(a, BroadcastVote)]
