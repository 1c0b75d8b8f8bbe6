"""Tendermint BFT consensus for one height, as a pure state machine.

This follows "The latest gossip on BFT consensus" (Buchman, Kwon, Milosevic 2018), Algorithm 1,
line for line; comments name the paper's line numbers. Inputs are proposals, votes and timeouts;
outputs are actions (broadcast, schedule a timeout, decide). The state machine never reads a clock,
never does I/O and never signs with a key it holds: the node feeds it messages and a signing
function, and carries out what it returns. That keeps every consensus rule testable by replaying
message sequences.

Thresholds are by voting power, not by head count: "2f+1" is more than 2/3 of total power, "f+1"
is more than 1/3.

Two departures from the paper close attacks it leaves to the implementation:

* A block's hash covers only its header, so a proposal's body is matched against the header
  (``chain.block.check_body``) before the proposal is kept; a mismatching body is dropped as if
  never received, and the real body can still arrive. Validity is then cached by hash, which
  names exactly one body.
* A block precommitted by more than 2/3 is decided as soon as any matching body is at hand, from
  whichever round's proposal or from a peer (``FetchBlock`` / ``on_block``), as CometBFT's commit
  step does; the paper's line 49 would wait for that round's proposal.

Checks that read a clock (``block_is_timely``) only decide this node's prevote for a fresh
proposal, as in CometBFT's proposer-based timestamps; they are asked anew each time and never
cached, and they never stop a block that others found timely from being locked or decided.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import ClassVar

from pydantic import Field, StrictInt

from chain.block import Block, Commit, CommitSig, body_matches_header
from chain.signed import Signed
from chain.types import Address, Hash
from chain.validators import Signers, proposer_for, total_power
from chain.vote import RoundBody, Vote, VoteBody, VoteType


class Step(IntEnum):
    PROPOSE = 0
    PREVOTE = 1
    PRECOMMIT = 2
    DECIDED = 3


class ProposalBody(RoundBody):
    DOMAIN: ClassVar[str] = "aitbc/proposal/v1"
    SIGNER: ClassVar[str] = "proposer"

    block_hash: Hash
    valid_round: StrictInt = Field(ge=-1, le=10_000)
    """-1 for a fresh block; else the round in which this block gathered a 2/3 prevote quorum."""
    proposer: Address


class Proposal(Signed[ProposalBody]):
    """Signed by the body's ``proposer``."""


# -- actions --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BroadcastProposal:
    proposal: Proposal
    block: Block


@dataclass(frozen=True)
class BroadcastVote:
    vote: Vote


@dataclass(frozen=True)
class ScheduleTimeout:
    height: int
    round: int
    step: Step
    delay_ms: int


@dataclass(frozen=True)
class Decide:
    block: Block
    commit: Commit


@dataclass(frozen=True)
class FetchBlock:
    """More than 2/3 of power precommitted ``block_hash``, but no body matching it is at hand:
    get it from peers (they decide and store it) and hand it to ``on_block``, or sync it."""

    height: int
    block_hash: str


@dataclass(frozen=True)
class Equivocation:
    """Two conflicting votes by one validator: evidence for a ``slash`` transaction."""

    vote_a: Vote
    vote_b: Vote


Action = BroadcastProposal | BroadcastVote | ScheduleTimeout | Decide | FetchBlock | Equivocation


@dataclass(frozen=True)
class Timeouts:
    """Milliseconds; each grows by ``*_delta_ms`` per round so that a slow network eventually
    gets enough time (the paper's partial-synchrony assumption)."""

    propose_ms: int = 1000
    propose_delta_ms: int = 500
    prevote_ms: int = 500
    prevote_delta_ms: int = 250
    precommit_ms: int = 500
    precommit_delta_ms: int = 250

    def for_step(self, step: Step, round_: int) -> int:
        if step == Step.PROPOSE:
            return self.propose_ms + self.propose_delta_ms * round_
        if step == Step.PREVOTE:
            return self.prevote_ms + self.prevote_delta_ms * round_
        return self.precommit_ms + self.precommit_delta_ms * round_


@dataclass
class _VoteSet:
    votes: dict[str, Vote] = field(default_factory=dict)
    power_for: dict[str | None, int] = field(default_factory=dict)
    power: int = 0


class HeightConsensus:
    """Consensus on one height. Create one per height; feed it messages; carry out its actions.

    ``propose_block(round)`` builds a new block when this node proposes and has no valid value;
    ``block_is_valid(block)`` applies the block to the current state: deterministic, so its
    verdict is cached per block. ``block_is_timely(block)`` is this node's clock check, asked
    again whenever a fresh proposal is prevoted. ``sign(message) -> signature`` signs with this
    validator's key; None for a non-validator. ``sign`` may answer None to refuse one message (a
    restarted validator's guard against signing a step twice): the node is then silent for that
    step, but the step still ends and its timeouts still run, so the height goes on; an
    exception instead would lose the timeout of the step and could leave the node waiting for
    good. ``max_block_txs`` bounds a body before it is hashed.
    """

    def __init__(
        self,
        chain_id: str,
        height: int,
        signers: Signers,
        me: str | None,
        *,
        propose_block: Callable[[int], Block],
        block_is_valid: Callable[[Block], bool],
        sign: Callable[[bytes], bytes | None] | None,
        timeouts: Timeouts = Timeouts(),
        block_is_timely: Callable[[Block], bool] = lambda block: True,
        max_block_txs: int | None = None,
    ) -> None:
        self.chain_id = chain_id
        self.height = height
        self.signers = signers
        self.total = total_power(signers)
        self.me = me if me in signers else None
        self._propose_block = propose_block
        self._block_is_valid = block_is_valid
        self._block_is_timely = block_is_timely
        self._max_block_txs = max_block_txs
        self._sign = sign
        self.timeouts = timeouts
        # Algorithm 1, lines 2-8.
        self.round = 0
        self.step = Step.PROPOSE
        self.locked_block: Block | None = None
        self.locked_round = -1
        self.valid_block: Block | None = None
        self.valid_round = -1
        self.decision: Decide | None = None
        self._proposals: dict[int, tuple[Proposal, Block]] = {}
        self._votes: dict[tuple[int, str], _VoteSet] = {}
        self._fired: set[tuple[str, int]] = set()
        self._validity: dict[str, bool] = {}
        """Verdicts of ``block_is_valid`` by block hash; only blocks whose body matched their
        header get here, so a hash names one body and no relayed body can poison a verdict."""
        self._fetched: dict[str, Block] = {}
        """Bodies of blocks more than 2/3 precommitted that arrived outside a kept proposal."""

    # -- thresholds -----------------------------------------------------------------------------

    def _two_thirds(self, power: int) -> bool:
        return power * 3 > self.total * 2

    def _one_third(self, power: int) -> bool:
        return power * 3 > self.total

    def _valid(self, block: Block) -> bool:
        """Callers pass only bodies that matched their header (kept proposals, fetched bodies,
        blocks this node built), which is what makes the hash a safe cache key."""
        if block.hash not in self._validity:
            self._validity[block.hash] = block.height == self.height and self._block_is_valid(block)
        return self._validity[block.hash]

    def _vote_set(self, round_: int, vote_type: str) -> _VoteSet:
        return self._votes.setdefault((round_, vote_type), _VoteSet())

    # -- inputs ---------------------------------------------------------------------------------

    def start(self) -> list[Action]:
        return self._start_round(0)

    def on_proposal(self, proposal: Proposal, block: Block) -> list[Action]:
        body = proposal.body
        if self.decision is not None or body.chain_id != self.chain_id or body.height != self.height:
            return []
        kept = self._proposals.get(body.round)
        if kept is not None and kept[1].hash == block.hash:
            return []  # a rebroadcast of the proposal already kept
        if block.hash != body.block_hash or not body_matches_header(block, max_txs=self._max_block_txs):
            # Dropped as if never received: keeping it would stand in for the real body, which
            # may still come from the proposer or another peer.
            return []
        signed = body.proposer == proposer_for(self.signers, body.round) and proposal.is_valid()
        if not signed or body.valid_round >= body.round or kept is not None:
            # Not a proposal to act on (the first one signed for a round is kept), but its body
            # is the real one of its hash, and may be the block 2/3 precommitted.
            return self._accept_body(block)
        self._proposals[body.round] = (proposal, block)
        return self._process()

    def on_block(self, block: Block) -> list[Action]:
        """A block body from outside a kept proposal, such as one fetched after ``FetchBlock``.

        It is kept only when more than 2/3 of power precommitted its hash in some round (so what
        is held stays bounded by what consensus waits for) and its body matches its header.
        """
        if self.decision is not None or block.height != self.height:
            return []
        if not body_matches_header(block, max_txs=self._max_block_txs):
            return []
        return self._accept_body(block)

    def _accept_body(self, block: Block) -> list[Action]:
        """Keep a body already matched to its header if 2/3 precommitted it and none is held."""
        if self.decision is not None or self._body_for(block.hash) is not None:
            return []
        if block.hash not in {block_hash for _, block_hash in self._precommitted()}:
            return []
        self._fetched[block.hash] = block
        return self._process()

    def on_vote(self, vote: Vote) -> list[Action]:
        body = vote.body
        if body.chain_id != self.chain_id or body.height != self.height:
            return []
        signer = self.signers.get(body.validator)
        if signer is None or signer["pubkey"] != vote.pubkey or not vote.is_valid():
            return []
        votes = self._vote_set(body.round, body.type)
        previous = votes.votes.get(body.validator)
        if previous is not None:
            if previous.body.block_hash != body.block_hash:
                return [Equivocation(previous, vote)]
            return []
        votes.votes[body.validator] = vote
        votes.power += int(signer["power"])
        votes.power_for[body.block_hash] = votes.power_for.get(body.block_hash, 0) + int(signer["power"])
        if self.decision is not None:
            return []
        return self._process()

    def on_timeout(self, height: int, round_: int, step: Step) -> list[Action]:
        if height != self.height or round_ != self.round or self.decision is not None:
            return []
        actions: list[Action] = []
        if step == Step.PROPOSE and self.step == Step.PROPOSE:  # lines 57-60
            actions += self._vote("prevote", None)
            self.step = Step.PREVOTE
        elif step == Step.PREVOTE and self.step == Step.PREVOTE:  # lines 61-64
            actions += self._vote("precommit", None)
            self.step = Step.PRECOMMIT
        elif step == Step.PRECOMMIT:  # lines 65-67
            return actions + self._start_round(self.round + 1)
        return actions + self._process()

    # -- the algorithm --------------------------------------------------------------------------

    def _start_round(self, round_: int) -> list[Action]:
        """Lines 11-21."""
        self.round = round_
        self.step = Step.PROPOSE
        actions: list[Action] = []
        signed: tuple[Proposal, Block] | None = None
        if self.me is not None and proposer_for(self.signers, round_) == self.me:
            block = self.valid_block if self.valid_block is not None else self._propose_block(round_)
            proposal = self._signed_proposal(round_, block, self.valid_round)
            signed = (proposal, block) if proposal is not None else None
        if signed is not None:
            self._proposals.setdefault(round_, signed)
            actions.append(BroadcastProposal(*signed))
        else:  # not ours to propose, or our signer refused: wait for a proposal like the others
            actions.append(ScheduleTimeout(self.height, round_, Step.PROPOSE, self.timeouts.for_step(Step.PROPOSE, round_)))
        return actions + self._process()

    def _process(self) -> list[Action]:
        """Apply every rule whose condition now holds, until none does."""
        actions: list[Action] = []
        while True:
            before = (self.round, self.step, self.decision is not None, len(actions))
            actions += self._rules()
            if (self.round, self.step, self.decision is not None, len(actions)) == before:
                return actions

    def _rules(self) -> list[Action]:
        if self.decision is not None:
            return []
        actions: list[Action] = []
        r = self.round
        current = self._proposals.get(r)
        # Lines 49-54: 2/3 precommits in any round decide their block, with any body matching
        # it (CometBFT's commit step): waiting for that round's own proposal would let a lost
        # or poisoned proposal stall a block the network already committed.
        for round_, block_hash in self._precommitted():
            committed = self._body_for(block_hash)
            if committed is None:
                if self._once(f"fetch/{block_hash}", round_):
                    actions.append(FetchBlock(self.height, block_hash))
                continue
            if self._valid(committed):
                self.decision = Decide(committed, self._commit(round_, block_hash))
                self.step = Step.DECIDED
                return [*actions, self.decision]
        if current is not None and self.step == Step.PROPOSE:
            proposal, block = current
            vr = proposal.body.valid_round
            if vr == -1:  # lines 22-27; the clock is read here only, and anew each time
                if (self._valid(block) and self._block_is_timely(block)
                        and (self.locked_round == -1 or self._locked_is(block))):
                    actions += self._vote("prevote", block.hash)
                else:
                    actions += self._vote("prevote", None)
                self.step = Step.PREVOTE
                return actions
            if 0 <= vr < r and self._two_thirds(self._vote_set(vr, "prevote").power_for.get(block.hash, 0)):
                # Lines 28-33.
                if self._valid(block) and (self.locked_round <= vr or self._locked_is(block)):
                    actions += self._vote("prevote", block.hash)
                else:
                    actions += self._vote("prevote", None)
                self.step = Step.PREVOTE
                return actions
        prevotes = self._vote_set(r, "prevote")
        if self.step == Step.PREVOTE and self._two_thirds(prevotes.power) and self._once("prevote_timeout", r):
            # Lines 34-35.
            actions.append(ScheduleTimeout(self.height, r, Step.PREVOTE, self.timeouts.for_step(Step.PREVOTE, r)))
        if current is not None and self.step >= Step.PREVOTE:
            proposal, block = current
            if self._two_thirds(prevotes.power_for.get(block.hash, 0)) and self._valid(block) and self._once("lock", r):
                # Lines 36-43.
                if self.step == Step.PREVOTE:
                    self.locked_block, self.locked_round = block, r
                    actions += self._vote("precommit", block.hash)
                    self.step = Step.PRECOMMIT
                self.valid_block, self.valid_round = block, r
                return actions
        if self.step == Step.PREVOTE and self._two_thirds(prevotes.power_for.get(None, 0)):
            # Lines 44-46.
            actions += self._vote("precommit", None)
            self.step = Step.PRECOMMIT
            return actions
        precommits = self._vote_set(r, "precommit")
        if self._two_thirds(precommits.power) and self._once("precommit_timeout", r):
            # Lines 47-48.
            actions.append(ScheduleTimeout(self.height, r, Step.PRECOMMIT, self.timeouts.for_step(Step.PRECOMMIT, r)))
        # Lines 55-56: f+1 of power is already in a later round: catch up to it.
        for later in sorted({rr for rr, _ in self._votes if rr > r}):
            power = self._round_power(later)
            if self._one_third(power):
                return actions + self._start_round(later)
        return actions

    def _precommitted(self) -> list[tuple[int, str]]:
        """(round, block hash) pairs that more than 2/3 of power precommitted, oldest first."""
        return sorted((round_, block_hash)
                      for (round_, vote_type), votes in self._votes.items() if vote_type == "precommit"
                      for block_hash, power in votes.power_for.items()
                      if block_hash is not None and self._two_thirds(power))

    def _body_for(self, block_hash: str) -> Block | None:
        for _, block in self._proposals.values():
            if block.hash == block_hash:
                return block
        return self._fetched.get(block_hash)

    def _round_power(self, round_: int) -> int:
        seen: set[str] = set()
        power = 0
        for vote_type in ("prevote", "precommit"):
            for validator in self._vote_set(round_, vote_type).votes:
                if validator not in seen:
                    seen.add(validator)
                    power += int(self.signers[validator]["power"])
        proposal = self._proposals.get(round_)
        if proposal is not None and proposal[0].body.proposer not in seen:
            power += int(self.signers[proposal[0].body.proposer]["power"])
        return power

    def _once(self, what: str, round_: int) -> bool:
        key = (what, round_)
        if key in self._fired:
            return False
        self._fired.add(key)
        return True

    def _locked_is(self, block: Block) -> bool:
        return self.locked_block is not None and self.locked_block.hash == block.hash

    # -- signing --------------------------------------------------------------------------------

    def _vote(self, vote_type: VoteType, block_hash: str | None) -> list[Action]:
        if self.me is None or self._sign is None:
            return []
        body = VoteBody(chain_id=self.chain_id, height=self.height, round=self.round, type=vote_type,
                        block_hash=block_hash, validator=self.me)
        signature = self._sign(body.signing_bytes())
        if signature is None:  # refused: silent for this step, which still ends (see ``sign``)
            return []
        vote = Vote(body=body, pubkey=self.signers[self.me]["pubkey"], signature=signature.hex())
        own = self.on_vote_local(vote)
        return [BroadcastVote(vote), *own]

    def on_vote_local(self, vote: Vote) -> list[Action]:
        """Count our own vote without re-verifying it or re-entering the rules."""
        body = vote.body
        votes = self._vote_set(body.round, body.type)
        if body.validator not in votes.votes:
            power = int(self.signers[body.validator]["power"])
            votes.votes[body.validator] = vote
            votes.power += power
            votes.power_for[body.block_hash] = votes.power_for.get(body.block_hash, 0) + power
        return []

    def _signed_proposal(self, round_: int, block: Block, valid_round: int) -> Proposal | None:
        assert self.me is not None and self._sign is not None
        body = ProposalBody(chain_id=self.chain_id, height=self.height, round=round_, block_hash=block.hash,
                            valid_round=valid_round, proposer=self.me)
        signature = self._sign(body.signing_bytes())
        return None if signature is None else Proposal(body=body, pubkey=self.signers[self.me]["pubkey"],
                                                       signature=signature.hex())

    def _commit(self, round_: int, block_hash: str) -> Commit:
        votes = self._vote_set(round_, "precommit").votes
        signatures = [CommitSig(validator=v, signature=vote.signature)
                      for v, vote in sorted(votes.items()) if vote.body.block_hash == block_hash]
        return Commit(height=self.height, round=round_, block_hash=block_hash, signatures=signatures)
