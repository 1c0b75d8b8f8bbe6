"""Multi-validator consensus for the node daemon: drives ``chain.consensus.HeightConsensus``.

The pure state machine decides; this driver does the I/O around it: it sends our proposals and
votes to every connected peer (JSON-RPC ``consensus_message`` on their public port), feeds
theirs in, turns ``ScheduleTimeout`` into timers, stores decided blocks, and catches up by
fetching final blocks from peers when they are ahead (:mod:`daemons.node.sync`).

Messages are relayed: every authentic message seen for the first time is passed on to the
connected peers (but the one whose validator signed it), so a validator needs one path to each
other validator, through full nodes or other validators, not a direct link. A message is
identified by its signature; ``SEEN`` of them are remembered with when they were last relayed.
A message seen before is relayed again at most once per half rebroadcast period: its signer
rebroadcasts its latest messages while a height stalls, for peers that restarted and missed
them, and a relay that dropped every repeat would keep them from a restarted validator reachable
only through relays (a stalled height could then never gather its quorum again).
A full node (no validator key) runs the same driver: it follows and relays without voting.

The state machine is stepped on a worker thread, one step at a time (under the driver's lock):
a step may build or apply a whole block and signs through the sign guard, which fsyncs before
a signature leaves, and none of that may hold up the event loop that admits transactions,
answers queries and passes messages on meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from chain.block import Block, Commit, body_matches_header
from chain.errors import ChainError
from chain.consensus import (
    BroadcastProposal, BroadcastVote, Decide, Equivocation, FetchBlock, HeightConsensus, Proposal, ScheduleTimeout,
    Step, Timeouts,
)
from chain.ledger import Ledger
from chain.validators import active_set
from chain.vote import Vote
from daemons.common.background import stop_tasks
from daemons.node.core import CommittedBlock, NodeCore
from daemons.node.peers import PeerSet
from daemons.node.signguard import DoubleSignRefused
from daemons.node.sync import CatchUp

log = logging.getLogger("aitbc.node.bft")
FUTURE_HEIGHTS = 2
"""How many heights ahead of ours a message is kept for: a peer one or two heights ahead is the
normal jitter of a live network; anything further is caught up by fetching final blocks, not by
replaying its messages."""
FUTURE_QUOTA = 32
"""Messages kept per validator for the heights ahead: a few rounds of its proposal, prevote and
precommit. With the window this bounds what the consensus door can be made to hold to
(validators x quota) messages, all signed by a validator of the set."""
SEEN = 20_000
"""Signatures of relayed messages remembered, so that none is relayed more than once per half
rebroadcast period."""


class BftDriver:
    def __init__(self, core: NodeCore, peers: PeerSet, *, sign: Callable[[bytes], bytes] | None,
                 timeouts: Timeouts, block_time_s: float, on_commit: Callable[[CommittedBlock], None]) -> None:
        self.core = core
        self.peers = peers
        self.catch_up = CatchUp(core, peers, on_commit)
        self._seen: OrderedDict[str, float] = OrderedDict()
        """Signature -> monotonic time it was last relayed (or sent, for our own)."""
        self._sending: set[asyncio.Task[None]] = set()
        self.on_own_tx: Callable[[Any], None] | None = None
        """Told of transactions this node made itself (evidence), to relay them like any other."""
        self._sign = sign
        self.timeouts = timeouts
        self.block_time_s = block_time_s
        self.rebroadcast_s = max(1.0, block_time_s * 3)
        """How long a height may go without news before we resend our latest messages."""
        self._on_commit = on_commit
        self._height: HeightConsensus | None = None
        self._future: dict[str, list[tuple[int, str, dict[str, Any]]]] = {}
        """Authenticated messages for heights ahead, per validator: (height, signature, message)."""
        self._timers: list[asyncio.TimerHandle] = []
        self._own: list[dict[str, Any]] = []
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    # -- life cycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="bft")

    async def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        await stop_tasks(self._task, *self._sending)

    async def _run(self) -> None:
        """Start each height once the previous one is final (decided here or synced from a peer).

        The loop re-reads the chain height on every wake-up instead of trusting the wake-up
        itself, so a decision that lands while a height is being set up is never missed.
        """
        started: float | None = None
        while True:
            try:
                if self._height is None or self.core.snapshot().height >= self._height.height:
                    if started is not None:
                        # Heights start a block time apart, counted from when the last one
                        # started, not from when it was decided: blocks come every block time
                        # (the next one at once when consensus took longer), and a transaction
                        # waits for the next slot, not for a whole block time after the decision
                        # on top of the time consensus took.
                        delay = started + self.block_time_s - time.monotonic()
                        if delay > 0:
                            await asyncio.sleep(delay)
                    started = time.monotonic()
                    await self._start_height()
                    continue
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self.rebroadcast_s)
                except asyncio.TimeoutError:
                    # Peers that restarted missed our messages; and we may have missed theirs.
                    # Only the last two rounds' matter for progress: resending every round of a
                    # long height would grow the traffic with the very delay it should cure.
                    current = self._height.round if self._height is not None else 0
                    for message in list(self._own):
                        if _round_of(message) >= current - 1:
                            await self._broadcast(message)
                    await self._maybe_sync()
                self._wake.clear()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("consensus loop error; continuing")
                await asyncio.sleep(0.5)

    async def _start_height(self) -> None:
        async with self._lock:
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()
            self._own.clear()
            state = self.core.snapshot()
            ledger = Ledger(state)
            signers = active_set(ledger)
            me = self.core.validator_address
            self._height = HeightConsensus(
                state.chain_id, state.height + 1, signers, me,
                propose_block=lambda round_: self.core.build_candidate(round_, int(time.time() * 1000)),
                block_is_valid=self.core.validate_block,
                block_is_timely=self.core.block_is_timely,
                max_block_txs=ledger.params.max_block_txs,
                sign=self._sign_unless_refused if self._sign is not None else None,
                timeouts=self.timeouts,
            )
            actions = await asyncio.to_thread(self._height.start)
            pending = [message for kept in self._future.values() for _, _, message in kept]
            self._future = {}
        await self._carry_out(actions)
        for message in pending:
            await self.receive(message, replay=True)

    def describe(self) -> dict[str, Any]:
        """Where consensus stands, for ``status``: an operator's first question when blocks stop.
        Read while a worker thread may be stepping the height: the proposals are copied at once."""
        height = self._height
        if height is None:
            return {"height": None}
        return {"height": height.height, "round": height.round, "step": height.step.name.lower(),
                "locked_round": height.locked_round, "valid_round": height.valid_round,
                "proposals": sorted(height._proposals.copy()), "buffered_future_messages": sum(len(kept) for kept in self._future.values())}

    # -- messages --------------------------------------------------------------------------------

    async def receive(self, message: dict[str, Any], *, replay: bool = False) -> None:
        """A consensus message from a peer (already parsed JSON).

        Anyone can reach this door, so nothing is kept before it is known to come from a
        validator of the set: a message for a later height is buffered only when its signer is
        a validator with that public key and the signature verifies, only for ``FUTURE_HEIGHTS``
        ahead, and only ``FUTURE_QUOTA`` per validator. Current-height messages go to the state
        machine, which checks them the same way before counting them.
        """
        kind = message.get("kind")
        height = self._height
        if height is None:
            return
        if kind == "proposal":
            proposal = Proposal.model_validate(message["proposal"])
            signed: Proposal | Vote = proposal
            msg_height = proposal.body.height
        elif kind == "vote":
            vote = Vote.model_validate(message["vote"])
            signed = vote
            msg_height = vote.body.height
        else:
            raise ValueError(f"unknown consensus message kind {kind!r}")
        if msg_height < height.height:
            return
        repeat = signed.signature in self._seen and not replay
        if repeat and time.monotonic() - self._seen[signed.signature] < self.rebroadcast_s / 2:
            return  # counted already, and not yet due to be passed on: its block is not even parsed
        block = self._parse_block(message["block"]) if kind == "proposal" else None
        if repeat:
            # Counted already: a repeat is its signer's rebroadcast, passed on (see the module's
            # doc) only when it is the genuine message under that signature.
            if self._authentic(signed, height, block):
                self._relay(signed, message)
            return
        if msg_height > height.height:
            if self._authentic(signed, height, block):
                if msg_height <= height.height + FUTURE_HEIGHTS:
                    self._buffer(signed, msg_height, message)
                    if not replay:
                        self._relay(signed, message)
                if msg_height > height.height + 1:
                    asyncio.create_task(self._maybe_sync())
            return
        if not replay and self._authentic(signed, height, block):
            self._relay(signed, message)
        async with self._lock:
            if self._height is not height:
                return
            if kind == "proposal":
                assert block is not None
                actions = await asyncio.to_thread(height.on_proposal, proposal, block)
            else:
                actions = await asyncio.to_thread(height.on_vote, vote)
        await self._carry_out(actions)

    def _parse_block(self, raw: Any) -> Block:
        """A proposed block from its JSON form. Its transactions this node holds pending are
        taken from the mempool instead of parsed again (``Mempool.copy_of`` confirms each is the
        same transaction field for field): parsing and hashing them was most of the cost of a
        proposal, and the block built is the same."""
        if isinstance(raw, dict) and isinstance(raw.get("txs"), list):
            known = self.core.mempool.copy_of
            raw = {**raw, "txs": [pending if (pending := known(tx)) is not None else tx for tx in raw["txs"]]}
        return Block.model_validate(raw)

    def _sign_unless_refused(self, message: bytes) -> bytes | None:
        """Sign, or None when the sign guard refuses (a restarted validator meeting a step it
        already signed otherwise): the state machine stays silent for that step and still runs
        its timeouts, so this node moves on with the rounds instead of waiting for good."""
        assert self._sign is not None
        try:
            return self._sign(message)
        except DoubleSignRefused as exc:
            log.warning("not signing: %s", exc)
            return None

    def _authentic(self, signed: Proposal | Vote, height: HeightConsensus, block: Block | None = None) -> bool:
        """Signed for our chain by a validator of the current set, with its own key, and for a
        proposal, carrying the one body that matches its signed header (a genuine proposal
        with a poisoned body is neither kept nor relayed, and cannot shadow the real one). The
        set of a later height may differ by the blocks in between; a validator that joins
        there is heard from once that height starts (messages are rebroadcast until decided)."""
        body = signed.body
        signer = height.signers.get(getattr(body, body.SIGNER))
        if body.chain_id != height.chain_id or signer is None or signer["pubkey"] != signed.pubkey:
            return False
        if block is not None and (block.hash != signed.body.block_hash or not body_matches_header(block)):
            return False
        return signed.is_valid()

    def _mark_seen(self, signature: str) -> None:
        self._seen[signature] = time.monotonic()
        self._seen.move_to_end(signature)
        while len(self._seen) > SEEN:
            self._seen.popitem(last=False)

    def _relay(self, signed: Proposal | Vote, message: dict[str, Any]) -> None:
        """Pass an authentic message on to the peers that have no link to its signer."""
        self._mark_seen(signed.signature)
        if self.peers.connected():
            signer = getattr(signed.body, signed.body.SIGNER)
            self._spawn(self.peers.send_all("consensus_message", {"message": message}, relayed_from=signer))

    def _buffer(self, signed: Proposal | Vote, msg_height: int, message: dict[str, Any]) -> None:
        validator = getattr(signed.body, signed.body.SIGNER)
        kept = self._future.setdefault(validator, [])
        if len(kept) >= FUTURE_QUOTA or any(sig == signed.signature for _, sig, _ in kept):
            return
        kept.append((msg_height, signed.signature, message))

    async def _carry_out(self, actions: list[Any]) -> None:
        for action in actions:
            if isinstance(action, BroadcastProposal):
                message = {"kind": "proposal", "proposal": action.proposal.model_dump(), "block": action.block.to_dict()}
                self._mark_seen(action.proposal.signature)
                self._own.append(message)
                await self._broadcast(message)
            elif isinstance(action, BroadcastVote):
                message = {"kind": "vote", "vote": action.vote.model_dump()}
                self._mark_seen(action.vote.signature)
                self._own.append(message)
                await self._broadcast(message)
            elif isinstance(action, ScheduleTimeout):
                loop = asyncio.get_running_loop()
                self._timers.append(loop.call_later(action.delay_ms / 1000, self._fire, action))
            elif isinstance(action, Decide):
                await self._decide(action.block, action.commit)
            elif isinstance(action, FetchBlock):
                # More than 2/3 precommitted a block whose body we lack: the validators that
                # decided it store it as final, and catching up fetches it from them (the idle
                # loop retries if none has stored it yet). A matching body that arrives in a
                # proposal meanwhile decides it here directly.
                log.info("fetching a precommitted block", extra={"height": action.height})
                asyncio.create_task(self._maybe_sync())
            elif isinstance(action, Equivocation):
                log.warning("validator double-signed", extra={"validator": action.vote_a.body.validator,
                                                             "height": action.vote_a.body.height})
                self._spawn(self._report(action))

    async def _report(self, action: Equivocation) -> None:
        """Evidence of double signing goes into a block: a validator reports it in a ``slash``
        transaction (relayed like any other); a full node has relayed both votes, so the
        validators that receive them report it."""
        try:
            tx = await asyncio.to_thread(self.core.report_double_sign, action.vote_a, action.vote_b)
        except ChainError as exc:
            log.info("double-sign evidence not reported: %s", exc.message)
            return
        if tx is not None and self.on_own_tx is not None:
            self.on_own_tx(tx)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    def _fire(self, timeout: ScheduleTimeout) -> None:
        asyncio.create_task(self._on_timeout(timeout.height, timeout.round, timeout.step))

    async def _on_timeout(self, height_: int, round_: int, step: Step) -> None:
        async with self._lock:
            height = self._height
            if height is None:
                return
            actions = await asyncio.to_thread(height.on_timeout, height_, round_, step)
        await self._carry_out(actions)

    async def _decide(self, block: Block, commit: Commit) -> None:
        committed = await asyncio.to_thread(self.core.commit_decided, block, commit)
        if committed is not None:
            self._on_commit(committed)
        self._wake.set()

    async def _broadcast(self, message: dict[str, Any]) -> None:
        """Send without waiting for the answers: one slow peer must not hold up this node's
        next step (each post is bounded by the peer client's timeout)."""
        self._spawn(self.peers.send_all("consensus_message", {"message": message}))

    # -- catching up -----------------------------------------------------------------------------

    async def _maybe_sync(self) -> None:
        """Fetch final blocks we lack from the peers that are ahead; wake the loop if any came."""
        if await self.catch_up.run():
            self._wake.set()

    async def peers_changed(self) -> None:
        """A peer connected or reported a new height: catch up if it is ahead of us."""
        if self.peers.best_height() > self.core.snapshot().height:
            await self._maybe_sync()


def _round_of(message: dict[str, Any]) -> int:
    """The round of one of our own messages (as built in ``_carry_out``)."""
    signed = message.get("proposal") or message.get("vote") or {}
    return int(signed.get("body", {}).get("round", 0))
