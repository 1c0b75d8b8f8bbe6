"""Relaying transactions to the peers, so one sent to any node reaches the validators.

A transaction is relayed once, by each node, when that node first admits it: a peer that has it
already refuses it as a duplicate and relays nothing, so no echo storm can start. A relay names
the relaying node (``relayed_by``), and its receiver passes the transaction on only to peers that
node does not relay to itself (``PeerSet.relay_targets``): in a full mesh the node a client
reached is the only one that relays, and a transaction crosses each needed link once. Relays go
out a few times a second (one ``relay_txs`` request per peer carries up to ``MAX_BATCH``
transactions and ``MAX_PEER_TX_BYTES`` of them, answered once the peer has queued them for
admission, so a slow link or a busy peer paces the relay by its round trip, not by its admission
time), and the queue is bounded: under a flood the oldest waiting relays are dropped, never the
node's memory.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from chain.tx import Transaction
from daemons.common.background import stop_tasks
from daemons.node.models import MAX_BATCH, MAX_PEER_TX_BYTES
from daemons.node.peers import PeerSet

log = logging.getLogger("aitbc.node.relay")
FLUSH_S = 0.05
MAX_QUEUED = 10_000


class TxRelay:
    def __init__(self, peers: PeerSet) -> None:
        self.peers = peers
        self._queue: deque[tuple[Transaction, str | None]] = deque(maxlen=MAX_QUEUED)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def add(self, tx: Transaction, relayed_by: str | None = None) -> None:
        """Queue a newly admitted transaction for the peers (from the event loop); ``relayed_by``:
        the node id of the peer it came from, None for a client's or our own."""
        self._queue.append((tx, relayed_by))
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
                if not self.peers.connected():  # nobody to relay to (a lone validator): nothing to encode either
                    self._queue.clear()
                    break
                batch = self._next_batch()
                try:
                    await self._send(batch)
                except Exception:
                    log.exception("relaying transactions failed; continuing")

    def _next_batch(self) -> list[tuple[Transaction, str | None]]:
        """The queue's head: at most ``MAX_BATCH`` transactions and ``MAX_PEER_TX_BYTES`` of them
        (at least one), what a peer's request body limit takes."""
        batch = [self._queue.popleft()]
        size = len(batch[0][0].encoded)
        while self._queue and len(batch) < MAX_BATCH and size + len(self._queue[0][0].encoded) <= MAX_PEER_TX_BYTES:
            size += len(self._queue[0][0].encoded)
            batch.append(self._queue.popleft())
        return batch

    async def _send(self, batch: list[tuple[Transaction, str | None]]) -> None:
        """One ``relay_txs`` request per group of transactions with the same targets, encoded
        once; the peer answers as soon as it has queued them."""
        groups: dict[str | None, list[Transaction]] = {}
        for tx, via in batch:
            groups.setdefault(via, []).append(tx)
        me = self.peers.identity.node_id
        for via, txs in groups.items():
            targets = self.peers.relay_targets(via)
            if targets:
                await self.peers.post_all(targets, {"jsonrpc": "2.0", "id": 0, "method": "relay_txs",
                                                    "params": {"txs": [tx.to_dict() for tx in txs], "relayed_by": me}})
