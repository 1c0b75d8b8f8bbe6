"""Catching up: fetching final blocks from several peers at once and applying them in order.

A node behind its peers (new, restarted, or back from a partition) streams the missing heights:
it keeps ``AHEAD`` requests of ``PER_REQUEST`` blocks in flight (JSON-RPC batches of
``get_block``, spread over the peers that are ahead) and applies each block, strictly in height
order, as soon as its request is answered, so the network's round trips hide behind the apply.
Before a run of blocks is applied, its transactions' signatures are checked on several threads
at once (``precheck_in_threads``). Not beside the apply: a thread coming back from libsodium
waits for the GIL until the 5 ms switch interval makes a thread running Python let go, so checks
overlapping the apply ran at a few thousand a second and the pass was slower, not faster (two
runs each on two cores: 3,100-3,700 transfers a second caught up with the overlap, 3,600-4,700
without). Each block's commit is verified against the validator set of its height
(``NodeCore.apply_synced``), so a peer can slow us down but never make us accept a block the
validators did not finalize. A height whose block is missing or refused ends the pass, and the
next pass asks it of another peer. What is held at once is bounded by the requests in flight,
not by how far behind the node is.

Progress (height, target, blocks/s, ETA) is kept for ``status``, ``aitbc node status`` and the
TUI's Chain screen: an operator starting a node on a long chain wants to know when it will be
ready.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import httpx

from chain.block import Block, Commit
from chain.crypto import VERIFIED_KEPT
from chain.errors import ChainError
from chain.ledger import Ledger
from chain.tx import Transaction
from chain.validators import Signers, active_set, verify_commit
from daemons.node.admission import precheck_in_threads
from daemons.node.core import CommittedBlock, NodeCore
from daemons.node.peers import Peer, PeerSet

log = logging.getLogger("aitbc.node.sync")
PER_REQUEST = 16
"""Blocks asked of one peer in one batch request."""
AHEAD = 4
"""Requests in flight ahead of the blocks being applied: enough to hide a round trip behind the
apply, few enough that a chain of full blocks (some 768 KiB each) is not held by the hundred."""
PRECHECKED_TXS = VERIFIED_KEPT // 4
"""Transactions in one run whose signatures are checked ahead of applying its blocks: well
within what ``chain.crypto`` remembers, so that none is forgotten before its block is applied."""


class CatchUp:
    """Catching up with the peers; one pass at a time."""

    def __init__(self, core: NodeCore, peers: PeerSet, on_commit: Callable[[CommittedBlock], None]) -> None:
        self.core = core
        self.peers = peers
        self._on_commit = on_commit
        self._running = False
        self._asked = 0
        """Requests made: the peers ahead take turns by it."""
        self._failed: Peer | None = None
        """The peer that could not serve (or forged) the height the last pass ended at: the
        next pass asks that height of another peer, when there is one."""
        self.target = 0
        self.rate = 0.0
        """Blocks per second applied, smoothed; 0 until the first pass applied something."""

    @property
    def catching_up(self) -> bool:
        return self.core.snapshot().height < self.target - 1

    def progress(self) -> dict[str, Any]:
        height = self.core.snapshot().height
        target = max(self.target, height)
        left = target - height
        return {"catching_up": self.catching_up, "height": height, "target": target,
                "blocks_per_s": round(self.rate, 1),
                "eta_s": round(left / self.rate, 1) if left > 0 and self.rate > 0 else (0.0 if left == 0 else None)}

    async def run(self) -> bool:
        """Fetch and apply what the peers have beyond our height; True if anything was applied.

        Passes go on while one applies something: a pass ends at a missing or refused block, and
        the next one asks that height again, of another peer.
        """
        if self._running:
            return False
        self._running = True
        applied_any = False
        misses = 0
        try:
            while True:
                height = self.core.snapshot().height
                ahead = [p for p in self.peers.connected() if p.height > height]
                self.target = max([self.target, *(p.height for p in ahead)])
                if not ahead:
                    return applied_any
                if await self._stream(height, ahead) > 0:
                    applied_any, misses = True, 0
                    continue
                misses += 1  # nothing applied: worth another pass only if another peer may serve it
                if self._failed is None or misses >= len(ahead):
                    return applied_any
        finally:
            self._running = False

    async def _stream(self, height: int, ahead: list[Peer]) -> int:
        """One pass: request the heights after ``height`` (``AHEAD`` requests at a time) and apply
        them in order as they arrive, each run's signatures checked on threads just before it;
        the blocks applied. Every answer also tells a peer's height, so a chain that grows while we
        catch up is followed to its new top in the same pass."""
        requests: deque[tuple[list[int], asyncio.Task[dict[int, tuple[Block, Commit]]]]] = deque()
        fetched: dict[int, tuple[Block, Commit]] = {}
        asked_of: dict[int, Peer] = {}
        asked_to = height
        failed, self._failed = self._failed, None

        def ask() -> None:
            nonlocal asked_to
            top = max(p.height for p in ahead)
            self.target = max(self.target, top)
            while len(requests) < AHEAD and asked_to < top:
                chunk = list(range(asked_to + 1, min(asked_to + PER_REQUEST, top) + 1))
                able = [p for p in ahead if p.height >= chunk[-1]] or ahead
                if asked_to == height and len(able) > 1:  # the height the last pass ended at: another peer
                    able = [p for p in able if p is not failed] or able
                self._asked += 1
                peer = able[self._asked % len(able)]
                requests.append((chunk, asyncio.create_task(self._fetch(peer, chunk))))
                asked_of.update(dict.fromkeys(chunk, peer))
                asked_to = chunk[-1]

        applied = 0
        checked_to = height
        started, since = time.monotonic(), 0
        ask()
        try:
            h = height + 1
            while True:
                while h not in fetched and requests and requests[0][0][0] <= h:  # ``h``'s request: wait for it
                    chunk, request = requests.popleft()
                    fetched.update((k, v) for k, v in (await request).items() if chunk[0] <= k <= chunk[-1])
                    ask()
                if h not in fetched:  # asked and not served, or nothing left to ask
                    self._failed = asked_of.get(h)
                    return applied
                if h > checked_to:
                    # A block not finalized for the set in force is checked as it applies.
                    checked_to = max(await self._precheck_from(fetched, h, asked_to), h)
                block, commit = fetched.pop(h)
                source = asked_of.pop(h)
                try:
                    committed = await asyncio.to_thread(self.core.apply_synced, block, commit)
                except Exception as exc:  # a block or commit that does not verify: ask elsewhere next pass
                    log.warning("refused a fetched block", extra={"height": h, "reason": str(exc)})
                    self._failed = source
                    return applied
                if committed is None:
                    return applied
                self._on_commit(committed)
                applied += 1
                h += 1
                if time.monotonic() - started >= 1.0:
                    self._measure(applied - since, started)
                    started, since = time.monotonic(), applied
        finally:
            for _, request in requests:
                request.cancel()
            if since == 0 and applied:  # a pass shorter than a second
                self._measure(applied, started)

    def _measure(self, applied: int, since: float) -> None:
        """Fold blocks applied since ``since`` into the smoothed rate."""
        rate = applied / max(time.monotonic() - since, 1e-6)
        self.rate = rate if self.rate == 0 else 0.7 * self.rate + 0.3 * rate

    async def _precheck_from(self, fetched: dict[int, tuple[Block, Commit]], start: int, top: int) -> int:
        """Check the signatures of the fetched blocks from ``start`` on, as many blocks as hold
        ``PRECHECKED_TXS`` transactions (at least one); the last height checked."""
        txs: list[Transaction] = []
        signers = active_set(Ledger(self.core.snapshot()))
        end = start
        while end <= top and end in fetched and (end == start or len(txs) + len(fetched[end][0].txs) <= PRECHECKED_TXS):
            block, commit = fetched[end]
            if not self._finalized(block, commit, signers):
                break
            txs.extend(block.txs)
            end += 1
        if txs:
            await precheck_in_threads(self.core, txs)
        return end - 1

    def _finalized(self, block: Block, commit: Commit, signers: Signers) -> bool:
        """Whether ``commit`` finalizes ``block`` for the validators in force now: a block is worth
        checking ahead only then, so that a peer serving made-up blocks full of transactions costs
        us a few commit signatures, as it did before checks ran ahead, not thousands. (A block
        after a change of the set fails here and is checked as it is applied.)"""
        try:
            verify_commit(commit, signers, self.core.chain_id, block.height, block.hash)
        except ChainError:
            return False
        return True

    async def _fetch(self, peer: Peer, heights: list[int]) -> dict[int, tuple[Block, Commit]]:
        request = [{"jsonrpc": "2.0", "id": h, "method": "get_block", "params": {"height": h}} for h in heights]
        request.append({"jsonrpc": "2.0", "id": "status", "method": "status", "params": {}})
        try:
            response = await self.peers.http.post(peer.url + "/", json=request, timeout=10.0)
            answers = response.json()
        except (httpx.HTTPError, ValueError):
            return {}
        found: dict[int, tuple[Block, Commit]] = {}
        if not isinstance(answers, list):
            return found
        for answer in answers:
            result = answer.get("result") if isinstance(answer, dict) else None
            if not isinstance(result, dict):
                continue
            if answer.get("id") == "status":
                height = result.get("height")
                if isinstance(height, int) and height > peer.height:
                    peer.height = height  # what the peer says of itself, as its ping would
                continue
            if not result.get("commit"):
                continue
            try:
                block = Block.model_validate({k: result[k] for k in ("header", "txs", "last_commit")})
                found[block.height] = (block, Commit.model_validate(result["commit"]))
            except (ValueError, KeyError):
                continue
        return found
