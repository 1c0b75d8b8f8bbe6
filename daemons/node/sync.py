"""Catching up: fetching final blocks from several peers at once and applying them in order.

A node behind its peers (new, restarted, or back from a partition) asks every connected peer that
is ahead for a slice of the missing heights at once (JSON-RPC batches of ``get_block``), then
applies the blocks strictly in height order while the next window is being fetched (the signatures
of a run of blocks checked on several threads first); each block's commit is verified against the
validator set of its height (``NodeCore.apply_synced``), so a peer can slow us down but never make
us accept a block the validators did not finalize. A height whose block is missing or refused is
asked of another peer in the next pass.

Progress (height, target, blocks/s, ETA) is kept for ``status``, ``aitbc node status`` and the
TUI's Chain screen: an operator starting a node on a long chain wants to know when it will be
ready.
"""

from __future__ import annotations

import asyncio
import logging
import time
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
WINDOW = 256
"""Heights fetched per pass, spread over the peers that are ahead."""
PER_REQUEST = 32
"""Blocks asked of one peer in one batch request."""
PRECHECKED_TXS = VERIFIED_KEPT // 4
"""Transactions whose signatures are checked ahead of applying their blocks: well within what
``chain.crypto`` remembers, so that none is forgotten before its block is applied."""


class CatchUp:
    """Catching up with the peers; one pass at a time."""

    def __init__(self, core: NodeCore, peers: PeerSet, on_commit: Callable[[CommittedBlock], None]) -> None:
        self.core = core
        self.peers = peers
        self._on_commit = on_commit
        self._running = False
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

        The next window is fetched while the current one is applied, so the network round trips
        hide behind the verification instead of adding to it; every batch also asks the peer its
        height, so a chain that grows while we catch up is followed without waiting for the next
        ping. A window that stops short (a block missing or refused) drops what was fetched
        beyond it and asks again from where we are; one that applies nothing ends the run.
        """
        if self._running:
            return False
        self._running = True
        applied_any = False
        fetching = self._next_window(self.core.snapshot().height)
        try:
            while fetching is not None:
                started = time.monotonic()
                fetched, top = await fetching
                height = self.core.snapshot().height
                fetching = self._next_window(top) if fetched else None
                applied = await self._apply(fetched, height, top)
                if applied == 0:
                    return applied_any
                applied_any = True
                rate = applied / max(time.monotonic() - started, 1e-6)
                self.rate = rate if self.rate == 0 else 0.7 * self.rate + 0.3 * rate
                if height + applied < top:
                    if fetching is not None:
                        fetching.cancel()
                    fetching = self._next_window(self.core.snapshot().height)
            return applied_any
        finally:
            if fetching is not None:
                fetching.cancel()
            self._running = False

    def _next_window(self, height: int) -> asyncio.Task[tuple[dict[int, tuple[Block, Commit]], int]] | None:
        """Start fetching the window after ``height`` from the peers ahead of it; None if none is."""
        ahead = [p for p in self.peers.connected() if p.height > height]
        self.target = max([self.target, *(p.height for p in ahead)])
        if not ahead:
            return None
        return asyncio.create_task(self._fetch_window(height, ahead))

    async def _fetch_window(self, height: int, ahead: list[Peer]) -> tuple[dict[int, tuple[Block, Commit]], int]:
        """Up to ``WINDOW`` heights after ``height``, in batches spread over the peers ahead:
        the blocks found, and the top height asked for."""
        top = min(height + WINDOW, max(p.height for p in ahead))
        wanted = list(range(height + 1, top + 1))
        chunks = [wanted[i:i + PER_REQUEST] for i in range(0, len(wanted), PER_REQUEST)]
        asks = []
        for index, chunk in enumerate(chunks):
            able = [p for p in ahead if p.height >= chunk[-1]] or ahead
            asks.append(self._fetch(able[index % len(able)], chunk))
        fetched: dict[int, tuple[Block, Commit]] = {}
        for found in await asyncio.gather(*asks):
            fetched.update(found)
        return fetched, top

    async def _apply(self, fetched: dict[int, tuple[Block, Commit]], height: int, top: int) -> int:
        """Apply the fetched blocks after ``height`` in order, up to the first missing or refused one.

        Applying is one block after another, but the transactions' signatures are checked first,
        a run of blocks at a time, on several threads at once (``precheck_in_threads``): the
        checks are most of what a block full of transfers costs, and a valid signature is
        remembered (``chain.crypto.verify``), so applying the block finds it checked. A block
        with a bad signature is still refused by the apply, as any other."""
        applied = 0
        checked_to = height
        for h in range(height + 1, top + 1):
            got = fetched.get(h)
            if got is None:
                break
            if h > checked_to:
                checked_to = await self._precheck_from(fetched, h, top)
            try:
                committed = await asyncio.to_thread(self.core.apply_synced, *got)
            except Exception as exc:  # a block or commit that does not verify: ask elsewhere next pass
                log.warning("refused a fetched block", extra={"height": h, "reason": str(exc)})
                break
            if committed is None:
                break
            self._on_commit(committed)
            applied += 1
        return applied

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
