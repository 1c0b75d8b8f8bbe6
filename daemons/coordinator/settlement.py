"""Settling signed receipts on chain in batches, and submitting slash evidence.

One process at a time settles (a lease in the database), because the coordinator's key has one
nonce sequence. Each round:

1. Settlements broadcast earlier whose answer was lost (timeout, crash) are looked up: final ->
   their receipts are settled at that height; unknown to the node -> the receipts go back to the
   queue.
2. Pending receipts, oldest first, fill ``job_receipt`` transactions (up to the chain's
   receipts-per-transaction and size limits), several per round, which are then awaited. The settlement is recorded *before* it is
   broadcast, so a crash in between is resolved by step 1, never forgotten. The node admits a
   transaction only if every receipt in it applies, so a refused batch is split in halves until
   the receipts the chain refuses are found; those are marked rejected (their jobs say why) and
   the rest settle.
3. Pending slashes (a miner's signed wrong result and the verifier's signed verdict) are
   submitted, one ``slash`` each; one whose answer was lost is looked up like a settlement
   (final: done; unknown to the node: again).
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable

from chain.encoding import canonical_json
from chain.errors import BadNonce, DuplicateJob, FeeTooLow, FeeUnaffordable, Unauthorized
from chain.tx import make_tx
from daemons.common.errors import DaemonError, DaemonUnavailable
from daemons.coordinator.chain_view import ChainView
from daemons.coordinator.part import Part, Publish
from daemons.coordinator.settings import CoordinatorSettings
from daemons.coordinator.store import CoordinatorStore, ReceiptRecord
from daemons.node.client import NodeRpcError

log = logging.getLogger("aitbc.coordinator.settle")
LEASE = "settler"
NOT_FOUND = -32004
COMMIT_TIMEOUT = -32005
MEMPOOL_FULL = -32037
DUPLICATE_TX = -32038
_RETRY_LATER = {BadNonce.code, FeeTooLow.code, MEMPOOL_FULL, DUPLICATE_TX, COMMIT_TIMEOUT}
_TX_OVERHEAD = 1024
"""Bytes kept free in a settlement transaction for everything but the receipts."""
MAX_TXS_PER_ROUND = 32
"""Settlement transactions broadcast per round before waiting for them: several per block, so
settlement keeps up with far more receipts than fit one transaction."""
COMMIT_POLL_S = 0.05


class Settler(Part):
    def __init__(self, settings: CoordinatorSettings, store: CoordinatorStore, chain: ChainView, address: str,
                 seed: bytes, *, publish: Publish, clock: Callable[[], float] = time.time) -> None:
        super().__init__(settings, store, chain, address, seed, publish=publish, clock=clock)
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.leader = False

    @property
    def lease_ms(self) -> int:
        return int(max(30.0, 3 * self.settings.settle_interval, self.settings.commit_timeout + 10) * 1000)

    def tick(self) -> None:
        """One settlement round (a no-op unless this process holds the lease)."""
        self.leader = self.store.hold_lease(LEASE, self.holder, self.now_ms(), self.lease_ms)
        if not self.leader:
            return
        try:
            self._resolve_pending()
            for _ in range(MAX_TXS_PER_ROUND):
                if not self._settle_batch():
                    break
            self._await_commits()
            self._submit_slashes()
        except DaemonUnavailable as exc:
            log.warning("node unavailable; settlement retries next round", extra={"error": exc.message})

    def release(self) -> None:
        if self.leader:
            self.store.release_lease(LEASE, self.holder)
            self.leader = False

    # -- step 1 ---------------------------------------------------------------------------------

    def _resolve_pending(self) -> None:
        for tx_hash, kind, _created in self.store.pending_settlements():
            try:
                found = self.chain.get_tx(tx_hash)
            except NodeRpcError as exc:
                if exc.code == NOT_FOUND:
                    log.warning("settlement transaction vanished; its receipts are re-queued",
                                extra={"tx_hash": tx_hash})
                    self.store.settlement_dropped(tx_hash, self.now_ms())
                continue
            if found.get("status") == "committed":
                self._committed(tx_hash, int(found["height"]))

    def _committed(self, tx_hash: str, height: int) -> None:
        receipts = self.store.settlement_committed(tx_hash, height, self.now_ms())
        clients = {r.client for r in receipts}
        for client in clients:
            self.chain.forget_escrow(client, self.address)
        log.info("receipts settled", extra={"tx_hash": tx_hash, "height": height, "count": len(receipts)})
        for r in receipts:
            data = {"job_id": r.job_id, "receipt_id": r.receipt_id, "status": r.status, "settled_height": height,
                    "tx_hash": tx_hash}
            self.publish(f"receipt:{r.job_id}", data)
            self.publish(f"job:{r.job_id}", {"job_id": r.job_id, "status": "completed", "settled_height": height,
                                             "receipt_id": r.receipt_id})

    # -- step 2 ---------------------------------------------------------------------------------

    def _batch_limit(self) -> int:
        chain_limit = self.chain.params.max_receipts_per_tx
        own = self.settings.max_receipts_per_tx
        return min(chain_limit, own) if own else chain_limit

    def _settle_batch(self) -> bool:
        """Broadcast one batch of the oldest pending receipts; False when there was nothing to send
        or the node refused for now (the round ends; the next one tries again)."""
        receipts = self.store.unsettled_receipts(self._batch_limit())
        if not receipts:
            return False
        batch: list[ReceiptRecord] = []
        size = _TX_OVERHEAD
        for receipt in receipts:
            grow = len(canonical_json(receipt.receipt)) + 1
            if batch and size + grow > self.chain.params.max_tx_bytes:
                break
            batch.append(receipt)
            size += grow
        return self._broadcast(batch)

    def _broadcast(self, batch: list[ReceiptRecord]) -> bool:
        """Broadcast ``batch`` (admitted to the node's mempool, not yet final); on a refusal, find
        the bad receipts by halving. True if it went out."""
        nonce = self.chain.pending_nonce(self.address)
        tx = make_tx(self.seed, self.chain.chain_id, "job_receipt", nonce, self.chain.params.min_fee,
                     {"receipts": [r.receipt for r in batch]})
        self.store.begin_settlement(tx.hash, "receipts", nonce, [r.receipt_id for r in batch], self.now_ms())
        try:
            self.chain.broadcast_sync(tx)
        except NodeRpcError as exc:
            self.store.settlement_dropped(tx.hash, self.now_ms())
            return self._refused(batch, exc)
        except DaemonUnavailable:
            # The node may or may not have it; the next round's look-up decides.
            raise
        except DaemonError as exc:
            log.warning("settlement broadcast failed", extra={"tx_hash": tx.hash, "error": exc.message})
            self.store.settlement_dropped(tx.hash, self.now_ms())
            return False
        return True

    def _await_commits(self) -> None:
        """Wait (up to ``commit_timeout``) until this round's settlements are final, so receipts
        show their height promptly; what is still pending then is looked up next round."""
        deadline = time.monotonic() + self.settings.commit_timeout
        while self.store.pending_settlements() and time.monotonic() < deadline:
            time.sleep(COMMIT_POLL_S)
            self._resolve_pending()

    def _refused(self, batch: list[ReceiptRecord], exc: NodeRpcError) -> bool:
        """Handle the node's refusal of ``batch``; True when the round may go on."""
        if exc.code in _RETRY_LATER:
            log.warning("settlement refused for now; retrying next round",
                        extra={"code": exc.code, "error": exc.message})
            return False
        if exc.code == Unauthorized.code and exc.message.startswith(f"{self.address} is not a registered coordinator"):
            log.error("the chain does not know this coordinator: register its address in genesis "
                      "(aitbc node init --coordinator ADDR) or by governance", extra={"address": self.address})
            return False
        if exc.code == FeeUnaffordable.code:
            log.error("the coordinator cannot pay transaction fees: fund its address", extra={"address": self.address})
            return False
        if len(batch) > 1:
            log.info("settlement batch refused; splitting it to find the receipts the chain refuses",
                     extra={"count": len(batch), "error": exc.message})
            half = len(batch) // 2
            return all([self._broadcast(part) for part in (batch[:half], batch[half:])])
        receipt = batch[0]
        if exc.code == DuplicateJob.code:
            self._reconcile(receipt)
            return True
        log.warning("receipt refused by the chain", extra={"receipt_id": receipt.receipt_id, "job_id": receipt.job_id,
                                                           "error": exc.message})
        self.store.reject_receipt(receipt.receipt_id, exc.message, self.now_ms())
        self.publish(f"receipt:{receipt.job_id}", {"job_id": receipt.job_id, "receipt_id": receipt.receipt_id,
                                                   "status": "rejected", "error": exc.message})
        return True

    def _reconcile(self, receipt: ReceiptRecord) -> None:
        """The chain already settled this job of ours: with this receipt (an earlier answer was
        lost) or another one. Job ids are scoped to their coordinator, so only our own settlement
        can collide; a rival's receipt for the same id is another job."""
        try:
            found = self.chain.get_receipt(job_id=receipt.job_id, coordinator=self.address)
        except NodeRpcError as exc:
            log.warning("cannot look up settled job", extra={"job_id": receipt.job_id, "error": exc.message})
            return
        if found.get("receipt_id") == receipt.receipt_id:
            self.store.receipt_settled_elsewhere(receipt.receipt_id, str(found["tx_hash"]), int(found["height"]),
                                                 self.now_ms())
        else:
            self.store.reject_receipt(receipt.receipt_id, "the chain settled this job with another receipt", self.now_ms())

    # -- step 3 ---------------------------------------------------------------------------------

    def _submit_slashes(self) -> None:
        for slash in self.store.slashes_in("submitted"):
            assert slash.tx_hash is not None
            try:
                found = self.chain.get_tx(slash.tx_hash)
            except NodeRpcError as exc:
                if exc.code == NOT_FOUND:  # lost before it committed: submit it again
                    self.store.update_slash(slash.job_id, slash.miner, status="pending", now_ms=self.now_ms())
                continue
            if found.get("status") == "committed":
                self.store.update_slash(slash.job_id, slash.miner, status="done", height=int(found["height"]),
                                        now_ms=self.now_ms())
        for slash in self.store.pending_slashes():
            nonce = self.chain.pending_nonce(self.address)
            tx = make_tx(self.seed, self.chain.chain_id, "slash", nonce, self.chain.params.min_fee,
                         {"evidence": slash.evidence})
            now = self.now_ms()
            try:
                result = self.chain.broadcast_commit(tx, self.settings.commit_timeout)
            except NodeRpcError as exc:
                if exc.code == DuplicateJob.code:
                    self.store.update_slash(slash.job_id, slash.miner, status="done", now_ms=now,
                                            error="already slashed for this job")
                elif exc.code == COMMIT_TIMEOUT:
                    self.store.update_slash(slash.job_id, slash.miner, status="submitted", tx_hash=tx.hash, now_ms=now)
                elif exc.code in _RETRY_LATER:
                    continue
                else:
                    log.warning("slash refused by the chain", extra={"miner": slash.miner, "error": exc.message})
                    self.store.update_slash(slash.job_id, slash.miner, status="failed", now_ms=now, error=exc.message)
                continue
            height = int(result["height"])
            self.store.update_slash(slash.job_id, slash.miner, status="done", tx_hash=tx.hash, height=height, now_ms=now)
            log.warning("miner slashed on chain", extra={"miner": slash.miner, "job_id": slash.job_id,
                                                         "tx_hash": tx.hash, "height": height})
            self.publish("miner", {"address": slash.miner, "event": "slashed", "job_id": slash.job_id,
                                   "height": height})
