"""The node daemon: settings -> storage -> core -> servers, and the block-time loop.

``aitbc node start`` runs :func:`main`. :class:`NodeRuntime` owns what lives as long as the
process: the core, the event hub, the callers waiting for a commit and the block producer (or the
bft driver). Its app (:func:`daemons.node.api.build_app`) is served on the operator socket and on
the public RPC and WebSocket ports through the shared spine (:mod:`daemons.common.server`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from typing import Any

from chain.block import Block
from chain.consensus import Timeouts
from chain.errors import ChainError
from chain.tx import JobReceiptPayload, Transaction
from daemons.common.background import stop_tasks
from daemons.common.daemon_key import unlock_daemon_key
from daemons.common.events import EventHub
from daemons.common.logging import setup_logging
from daemons.common.server import run_daemon
from daemons.common.version import VERSION
from daemons.node.api import NodeApi, RpcError, build_app
from daemons.node.bft import BftDriver
from daemons.node.core import CommittedBlock, NodeCore
from daemons.node.identity import NodeIdentity
from daemons.node.init import VALIDATOR_KEY, read_genesis
from daemons.node.limits import PublicLimits
from daemons.node.models import COMMIT_TIMEOUT
from daemons.node.peers import PeerSet
from daemons.node.relay import TxRelay
from daemons.node.settings import NodeSettings
from daemons.node.signguard import SignGuard
from storage.chain_store import ChainStore
from storage.database import open_database
from storage.schema import startup_backup_dir
from storage.mempool_store import MempoolStore

log = logging.getLogger("aitbc.node")


def _unlock_validator(settings: NodeSettings) -> bytes | None:
    if not settings.validator_address:
        return None
    _, seed = unlock_daemon_key(settings.home, VALIDATOR_KEY, settings.validator_address,
                                settings.validator_password_file)
    return seed


def block_summary(block: Block) -> dict[str, Any]:
    return {
        "height": block.height, "hash": block.hash, "time_ms": block.header.time_ms,
        "proposer": block.header.proposer, "num_txs": len(block.txs), "state_root": block.header.state_root,
        "tx_hashes": [tx.hash for tx in block.txs][:1000],
    }


class NodeRuntime:
    """Owns the core, the event hub, commit waiters and the producer task."""

    core: NodeCore
    api: NodeApi

    def __init__(self, settings: NodeSettings) -> None:
        self.settings = settings
        self.hub = EventHub(max_subscribers=settings.ws_max_subscribers)
        self.limits = PublicLimits(settings.rpc_rate_limit, settings.rpc_burst, settings.rpc_max_in_flight)
        self._waiters: dict[str, list[asyncio.Future[dict[str, Any]]]] = {}
        self._producer: asyncio.Task[None] | None = None
        self.bft: BftDriver | None = None
        self.peers: PeerSet | None = None
        self.relay: TxRelay | None = None
        self.block_time_s = 1.0

    async def start(self) -> None:
        """Open storage and unlock the key only once the pid lock is held (no second writer)."""
        self.core = await asyncio.to_thread(open_node, self.settings)
        self.block_time_s = self.core.block_time_ms / 1000
        self.api = NodeApi(self.core, self.wait_commit)
        self.core.on_block(self._stop_if_halted)
        loop = asyncio.get_running_loop()
        # Admission runs on worker threads; the hub and the waiters belong to the loop.
        self.core.mempool.on_displaced = lambda tx, error: loop.call_soon_threadsafe(self._evicted, tx, error)
        if self.settings.consensus_mode == "bft":
            await self._start_bft()
        else:
            self._producer = asyncio.create_task(self._produce_forever(), name="block-producer")
        log.info("node started", extra={"chain_id": self.core.chain_id, "height": self.core.state.height,
                                        "validator": self.core.validator_address})

    async def _start_bft(self) -> None:
        """The peer layer, the consensus driver over it, and the transaction relay."""
        settings, core = self.settings, self.core
        identity = await asyncio.to_thread(NodeIdentity.load_or_create, settings.home)
        self.peers = PeerSet(identity, chain_id=core.chain_id, genesis_hash=core.genesis.hash, seeds=settings.peers,
                             listen_url=settings.external_url, max_peers=settings.max_peers,
                             book_file=settings.home.data_dir / "peers.json",
                             height=lambda: core.snapshot().height, validator=core.validator_address or "")
        vote_ms, propose_ms = settings.timeout_vote_ms, settings.timeout_propose_ms
        self.bft = BftDriver(
            core, self.peers,
            sign=SignGuard(settings.home.data_dir / "sign_state.json", core.sign_message).sign
            if core.validator_address else None,
            timeouts=Timeouts(propose_ms=propose_ms, propose_delta_ms=propose_ms // 2,
                              prevote_ms=vote_ms, prevote_delta_ms=vote_ms // 2,
                              precommit_ms=vote_ms, precommit_delta_ms=vote_ms // 2),
            block_time_s=self.block_time_s, on_commit=self._announce)
        self.relay = TxRelay(self.peers)
        self.api.enable_consensus(self.bft.receive, self.peers, self.bft.describe, self.bft.catch_up.progress)
        self.api.on_admitted = self.bft.on_own_tx = self.relay.add
        await self.peers.start(on_change=self.bft.peers_changed)
        await self.relay.start()
        await self.bft.start()

    def _stop_if_halted(self, committed: CommittedBlock) -> None:
        """A scheduled upgrade this software is too old for reached the next height: say so
        where the operator looks (stderr and the log) and shut down cleanly. A restart with the
        old software is refused at start-up with the same message."""
        if self.core.halted:
            print(f"aitbc node: {self.core.halted}", file=sys.stderr, flush=True)
            os.kill(os.getpid(), signal.SIGTERM)

    async def stop(self) -> None:
        if self.bft is not None:
            await self.bft.stop()
        if self.relay is not None:
            await self.relay.stop()
        if self.peers is not None:
            await self.peers.stop()
        await stop_tasks(self._producer)
        await self.release_waiters()
        await asyncio.to_thread(self.api.close)
        await asyncio.to_thread(self.core.store.database.close)
        log.info("node stopped", extra={"height": self.core.state.height})

    async def release_waiters(self) -> None:
        """Answer every commit-mode caller now rather than after the shutdown drain."""
        for futures in self._waiters.values():
            for future in futures:
                if not future.done():
                    future.set_exception(RpcError(COMMIT_TIMEOUT, "node is shutting down; the transaction "
                                                                  "stays in the mempool"))

    async def _produce_forever(self) -> None:
        next_at = time.monotonic()
        while True:
            next_at += self.block_time_s
            delay = next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                next_at = time.monotonic()
            if not self.settings.create_empty_blocks and len(self.core.mempool) == 0:
                continue
            try:
                committed = await asyncio.to_thread(self.core.produce, int(time.time() * 1000))
            except Exception:
                log.exception("block production failed; retrying next interval")
                continue
            if committed is not None:
                self._announce(committed)

    def _announce(self, committed: CommittedBlock) -> None:
        block = committed.block
        summary = block_summary(block)
        self.hub.publish("new_block", summary)
        for index, tx in enumerate(block.txs):
            result = {"hash": tx.hash, "status": "committed", "height": block.height, "index": index,
                      "type": tx.type, "sender": tx.sender}
            self.hub.publish(f"tx:{tx.hash}", result)
            self.hub.publish(f"tx:{tx.sender}", result)
            recipient = tx.payload.get("to")
            if isinstance(recipient, str) and recipient != tx.sender:
                self.hub.publish(f"tx:{recipient}", result)
            for future in self._waiters.pop(tx.hash, []):
                if not future.done():
                    future.set_result(result)
            if isinstance(tx.body, JobReceiptPayload):
                for receipt in tx.body.receipts:
                    data = {"receipt_id": receipt.receipt_id, "job_id": receipt.job_id, "height": block.height,
                            "tx_hash": tx.hash, "miner": receipt.body.proof.body.miner,
                            "client": receipt.body.client, "price": receipt.body.price}
                    self.hub.publish("receipt", data)
                    self.hub.publish(f"receipt:{receipt.job_id}", data)
        for tx, error in committed.evicted:
            self._evicted(tx, error)

    def _evicted(self, tx: Transaction, error: ChainError) -> None:
        """A pending transaction left the mempool unincluded: tell its watchers and waiters."""
        data = {"hash": tx.hash, "status": "evicted", "reason": error.message}
        self.hub.publish(f"tx:{tx.hash}", data)
        for future in self._waiters.pop(tx.hash, []):
            if not future.done():
                future.set_exception(RpcError(error.code, f"transaction was evicted: {error.message}"))

    async def wait_commit(self, tx_hash: str, timeout_s: float) -> dict[str, Any]:
        stored = self.core.store.get_tx(tx_hash)
        if stored is not None:
            return {"hash": tx_hash, "status": "committed", "height": stored.height, "index": stored.index}
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(tx_hash, []).append(future)
        stored = self.core.store.get_tx(tx_hash)  # it may have committed between the check and the wait
        if stored is not None:
            self._waiters[tx_hash].remove(future)
            return {"hash": tx_hash, "status": "committed", "height": stored.height, "index": stored.index}
        try:
            return await asyncio.wait_for(future, timeout_s)
        except asyncio.TimeoutError:
            raise RpcError(COMMIT_TIMEOUT, f"transaction {tx_hash} was accepted but not committed within "
                                           f"{timeout_s:g}s; it is still pending") from None
        finally:
            waiters = self._waiters.get(tx_hash)
            if waiters and future in waiters:
                waiters.remove(future)
                if not waiters:
                    del self._waiters[tx_hash]


def open_node(settings: NodeSettings) -> NodeCore:
    home = settings.home
    home.ensure()
    genesis = read_genesis(home)
    db = open_database(settings.database_url, home.database_file("node"),
                       synchronous="FULL" if settings.sqlite_synchronous == "full" else "NORMAL")
    seed = _unlock_validator(settings)
    chain_store = ChainStore(db, written_by=f"aitbc {VERSION}", backup_dir=startup_backup_dir(db, home.backups_dir))
    if chain_store.schema.backup is not None:
        log.info("node database migrated", extra={"from": chain_store.schema.found, "to": chain_store.schema.version,
                                                  "backup": str(chain_store.schema.backup)})
    return NodeCore(genesis, chain_store, MempoolStore(db), seed, max_mempool_txs=settings.max_mempool_txs,
                    block_time_ms=int(settings.block_time * 1000) if settings.block_time else None)


def main(settings: NodeSettings) -> int:
    """Run the node until SIGTERM/SIGINT; the process exit code."""
    setup_logging("node", settings.home, settings.log_level)
    read_genesis(settings.home)  # fail fast, before binding anything, on a home that was never initialized
    runtime = NodeRuntime(settings)
    app = build_app(runtime)
    listeners = settings.tcp_listeners()
    if settings.tcp_enabled and settings.ws_port != settings.api_port:
        listeners.append((settings.api_host, settings.ws_port))
    return run_daemon(app, settings, tcp=listeners, on_startup=[runtime.start], on_shutdown=[runtime.stop],
                      on_stopping=[runtime.release_waiters])
