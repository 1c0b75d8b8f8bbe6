"""Relaying transactions to the peers, so one sent to any node reaches the validators.

A transaction is relayed once, by each node, when that node first admits it: a peer that has it
already refuses it as a duplicate and relays nothing, so a transaction crosses each link at most
once in each direction and no echo storm can start. Relays go out in JSON-RPC batches a few
times a second (one request per peer carries many transactions), and the queue is bounded:
under a flood the oldest waiting relays are dropped, never the node's memory.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from chain.tx import Transaction
from daemons.common.background import stop_tasks
from daemons.node.models import MAX_BATCH
from daemons.node.peers import PeerSet

log = logging.getLogger("aitbc.node.relay")
FLUSH_S = 0.05
MAX_QUEUED = 10_000


class TxRelay:
    def __init__(self, peers: PeerSet) -> None:
        self.peers = peers
        self._queue: deque[Transaction] = deque(maxlen=MAX_QUEUED)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def add(self, tx: Transaction) -> None:
        """Queue a newly admitted transaction for the peers (from the event loop)."""
        self._queue.append(tx)
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="tx-relay")

    async def stop(self) -> None:
        await stop_tasks(self._task)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(FLUSH_S)  # let a burst gather into one batch
            while self._queue:
                targets = self.peers.connected()
                if not targets:  # nobody to relay to (a lone validator): nothing to encode either
                    self._queue.clear()
                    break
                batch = [self._queue.popleft() for _ in range(min(MAX_BATCH, len(self._queue)))]
                requests = [{"jsonrpc": "2.0", "id": i, "method": "broadcast_tx", "params": {"tx": tx.to_dict()}}
                            for i, tx in enumerate(batch)]
                try:
                    await self.peers.post_all(targets, requests)
                except Exception:
                    log.exception("relaying transactions failed; continuing")
