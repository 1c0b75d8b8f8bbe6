"""The persistent mempool: accepted transactions survive a node restart.

Only persistence lives here. Which transactions are admitted, and in what order they are offered
to the proposer (fee, nonce), is the node's in-memory mempool's business; on start it reloads
``all()`` in the order the transactions were received and re-checks them against the current
state.

Rows are removed in the same database transaction that stores the block including them (see
``ChainStore.commit_block``), so a crash can never leave a transaction both final and pending.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import peewee
from pydantic import BaseModel, ConfigDict

from chain.errors import ChainError
from chain.tx import Transaction, parse_transaction
from storage.database import SchemaModel, Statement, bind_model
from storage.errors import StorageError

_CHUNK = 500
"""Rows per statement: far below SQLite's bound-variable limit, large enough to amortise."""
_COLUMNS = ("hash", "sender", "nonce", "fee", "data", "received_ms")


class MempoolRow(SchemaModel):
    """One pending transaction. ``seq`` is the received order (ties in ``received_ms`` are
    common under load); ``hash`` is unique and indexed, so lookups by hash are direct."""

    seq = peewee.BigAutoField()
    hash = peewee.CharField(max_length=64, unique=True)
    sender = peewee.CharField(max_length=42, index=True)
    nonce = peewee.BigIntegerField()
    fee = peewee.BigIntegerField()
    data = peewee.TextField()
    """The canonical JSON of the signed transaction: exactly the bytes that were hashed."""
    received_ms = peewee.BigIntegerField()

    class Meta:
        table_name = "mempool"


class MempoolEntry(BaseModel):
    """A stored pending transaction and when this node first received it."""

    model_config = ConfigDict(frozen=True)

    tx: Transaction
    received_ms: int


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class MempoolStore:
    """Pending transactions of one node, in the node's database."""

    def __init__(self, database: peewee.Database) -> None:
        self._db = database
        self._row = bind_model(database, MempoolRow)
        database.create_tables([self._row], safe=True)
        self._insert_one = Statement(database, lambda arg: self._row.insert(
            {getattr(self._row, name): arg(name) for name in _COLUMNS}).on_conflict_ignore())

    @property
    def database(self) -> peewee.Database:
        return self._db

    def add(self, tx: Transaction, received_ms: int | None = None) -> bool:
        """Persist one admitted transaction (one small database transaction).

        Returns False when it was already stored: gossip delivers the same transaction many
        times, and storing it again must be harmless.
        """
        return self.add_many([tx], received_ms) == 1

    def add_many(self, txs: Iterable[Transaction], received_ms: int | None = None) -> int:
        """Persist several transactions at once, in the given order; returns how many were new."""
        when = _now_ms() if received_ms is None else received_ms
        rows = [
            {"hash": tx.hash, "sender": tx.sender, "nonce": tx.nonce, "fee": tx.fee,
             "data": tx.encoded.decode("utf-8"), "received_ms": when}
            for tx in txs
        ]
        added = 0
        with self._db.atomic():
            if isinstance(self._db, peewee.SqliteDatabase):
                # One prepared statement stepped per row: peewee building a multi-row INSERT's SQL
                # was most of admission's write (about 60 us of 63 per transaction, in groups of
                # 100); SQLite steps the rows in the given order, so ``seq`` keeps it.
                return self._insert_one.run_many(rows)
            # Multi-row INSERTs (a third of the per-row cost, which dominated admission): SQLite
            # and PostgreSQL both number the rows of one VALUES list in list order, so the
            # received order stays the given order.
            for start in range(0, len(rows), _CHUNK):
                added += self._row.insert_many(rows[start:start + _CHUNK]).on_conflict_ignore().as_rowcount().execute()
        return added

    def remove(self, hashes: Iterable[str]) -> int:
        """Forget transactions (dropped by the node, or expired); returns how many were stored."""
        wanted = list(dict.fromkeys(hashes))
        removed = 0
        with self._db.atomic():
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start:start + _CHUNK]
                removed += self._row.delete().where(self._row.hash.in_(chunk)).execute()
        return removed

    def contains(self, tx_hash: str) -> bool:
        return self._row.select().where(self._row.hash == tx_hash).exists()

    def count(self) -> int:
        return self._row.select().count()

    def all(self) -> list[MempoolEntry]:
        """Every stored transaction, oldest received first."""
        entries: list[MempoolEntry] = []
        query = self._row.select(self._row.hash, self._row.data, self._row.received_ms).order_by(self._row.seq)
        for tx_hash, data, received_ms in query.tuples().iterator():
            try:
                tx = parse_transaction(data)
            except ChainError as exc:
                raise StorageError(f"mempool row {tx_hash[:16]} does not parse: {exc.message}") from None
            entries.append(MempoolEntry(tx=tx, received_ms=received_ms))
        return entries
