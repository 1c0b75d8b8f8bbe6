"""Receipts and their settlement on chain, and slashes: what the settler reads and records.

A receipt is ``pending`` until a broadcast ``job_receipt`` transaction carries it
(``settling``), then ``settled`` once that transaction is final, or back to ``pending`` when it
is dropped; ``rejected`` when the chain refuses it for good."""

from __future__ import annotations

import json
from typing import Any

import peewee

from daemons.coordinator.store.base import StoreBase
from daemons.coordinator.store.records import ReceiptRecord, SlashRecord
from daemons.coordinator.store.tables import ReceiptRow, SlashRow

UNSETTLED = ("pending", "settling")
"""Receipt statuses the chain has not settled yet: their price is still promised from the escrow."""


class Receipts(StoreBase):
    def get_receipt(self, receipt_id: str) -> ReceiptRecord | None:
        return self._maybe(self.Receipt.get_or_none(self.Receipt.receipt_id == receipt_id), self._receipt_record)

    def receipt_for_job(self, job_id: str) -> ReceiptRecord | None:
        return self._maybe(self.Receipt.get_or_none(self.Receipt.job_id == job_id), self._receipt_record)

    def list_receipts(self, client: str | None = None, job_id: str | None = None, limit: int = 50,
                      before: tuple[int, str] | None = None) -> list[ReceiptRecord]:
        """Newest first; ``before`` = (created_ms, receipt_id) of the last item of the previous page."""
        rows = self._page(self.Receipt.select(), "receipt_id", before, limit, client=client, job_id=job_id)
        return [self._receipt_record(r) for r in rows]

    def count_receipts(self) -> dict[str, int]:
        R = self.Receipt
        return {s: int(c) for s, c in R.select(R.status, peewee.fn.COUNT(R.receipt_id)).group_by(R.status).tuples()}

    def unsettled_receipts(self, limit: int) -> list[ReceiptRecord]:
        R = self.Receipt
        rows = R.select().where(R.status == "pending").order_by(R.created_ms, R.receipt_id).limit(limit)
        return [self._receipt_record(r) for r in rows]

    def begin_settlement(self, tx_hash: str, kind: str, nonce: int, receipt_ids: list[str], now_ms: int) -> None:
        """Record a broadcast transaction and mark its receipts as being settled by it."""
        R, S = self.Receipt, self.Settlement
        with self._db.atomic():
            S.insert(tx_hash=tx_hash, kind=kind, nonce=nonce, status="pending", count=len(receipt_ids),
                     created_ms=now_ms, updated_ms=now_ms).on_conflict_ignore().execute()
            for start in range(0, len(receipt_ids), 300):
                chunk = receipt_ids[start:start + 300]
                R.update(status="settling", settle_tx=tx_hash, updated_ms=now_ms).where(
                    R.receipt_id.in_(chunk) & (R.status == "pending")).execute()

    def pending_settlements(self) -> list[tuple[str, str, int]]:
        S = self.Settlement
        return list(S.select(S.tx_hash, S.kind, S.created_ms).where(S.status == "pending").order_by(S.created_ms).tuples())

    def settlement_committed(self, tx_hash: str, height: int, now_ms: int) -> list[ReceiptRecord]:
        """The transaction is final at ``height``: its receipts are settled. Returns them."""
        R, S = self.Receipt, self.Settlement
        with self._db.atomic():
            S.update(status="committed", height=height, updated_ms=now_ms).where(S.tx_hash == tx_hash).execute()
            R.update(status="settled", settled_height=height, error=None, updated_ms=now_ms).where(
                (R.settle_tx == tx_hash) & (R.status == "settling")).execute()
        return [self._receipt_record(r) for r in R.select().where(R.settle_tx == tx_hash)]

    def settlement_dropped(self, tx_hash: str, now_ms: int) -> None:
        """The transaction will never commit (evicted, lost): its receipts go back to the queue."""
        R, S = self.Receipt, self.Settlement
        with self._db.atomic():
            S.update(status="dropped", updated_ms=now_ms).where(S.tx_hash == tx_hash).execute()
            R.update(status="pending", settle_tx=None, updated_ms=now_ms).where(
                (R.settle_tx == tx_hash) & (R.status == "settling")).execute()

    def receipt_settled_elsewhere(self, receipt_id: str, tx_hash: str, height: int, now_ms: int) -> None:
        """The chain already holds this receipt (an earlier broadcast whose answer was lost)."""
        R = self.Receipt
        R.update(status="settled", settle_tx=tx_hash, settled_height=height, error=None, updated_ms=now_ms).where(
            (R.receipt_id == receipt_id) & R.status.in_(UNSETTLED)).execute()

    def reject_receipt(self, receipt_id: str, error: str, now_ms: int) -> None:
        """The chain refuses this receipt for good (e.g. the escrow was withdrawn): stop trying."""
        R, J = self.Receipt, self.Job
        with self._db.atomic():
            row = R.get_or_none(R.receipt_id == receipt_id)
            if row is None:
                return
            R.update(status="rejected", error=error, updated_ms=now_ms).where(R.receipt_id == receipt_id).execute()
            J.update(error=f"receipt not settled on chain: {error}", updated_ms=now_ms).where(
                J.job_id == row.job_id).execute()

    @staticmethod
    def _receipt_record(row: ReceiptRow) -> ReceiptRecord:
        return ReceiptRecord(receipt_id=row.receipt_id, job_id=row.job_id, client=row.client, miner=row.miner,
                             price=row.price, receipt=json.loads(row.data), status=row.status,
                             settle_tx=row.settle_tx, settled_height=row.settled_height, error=row.error,
                             created_ms=row.created_ms, updated_ms=row.updated_ms)

    # -- slashes ---------------------------------------------------------------------------------------

    def slashes_in(self, status: str, limit: int = 50) -> list[SlashRecord]:
        """Slashes in ``status`` (pending: to submit; submitted: broadcast, not known final)."""
        S = self.Slash
        return [self._slash_record(r) for r in
                S.select().where(S.status == status).order_by(S.created_ms).limit(limit)]

    def pending_slashes(self, limit: int = 50) -> list[SlashRecord]:
        return self.slashes_in("pending", limit)

    def list_slashes(self, miner: str | None = None) -> list[SlashRecord]:
        S = self.Slash
        query = S.select().order_by(S.created_ms)
        if miner is not None:
            query = query.where(S.miner == miner)
        return [self._slash_record(r) for r in query]

    def update_slash(self, job_id: str, miner: str, *, status: str, now_ms: int, tx_hash: str | None = None,
                     height: int | None = None, error: str | None = None) -> None:
        S = self.Slash
        fields: dict[str, Any] = {"status": status, "updated_ms": now_ms, "error": error}
        if tx_hash is not None:
            fields["tx_hash"] = tx_hash
        if height is not None:
            fields["height"] = height
        S.update(**fields).where((S.job_id == job_id) & (S.miner == miner)).execute()

    @staticmethod
    def _slash_record(row: SlashRow) -> SlashRecord:
        return SlashRecord(job_id=row.job_id, miner=row.miner, verifier=row.verifier,
                           evidence=json.loads(row.evidence), status=row.status, tx_hash=row.tx_hash,
                           height=row.height, error=row.error, created_ms=row.created_ms)
