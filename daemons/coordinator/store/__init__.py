"""The coordinator's tables: API keys, miners, jobs, re-check tasks, receipts, settlements, slashes.

All coordinator state lives here, so that several coordinator processes on one PostgreSQL share
the work (ARCHITECTURE.md, "Where one machine is outgrown"). The rules that make that safe are
in this package, as database transactions:

- A job is **claimed** by a guarded ``UPDATE ... WHERE job_id = ? AND status = 'queued'``: of
  two processes racing for one job, exactly one updates a row. On PostgreSQL the matcher also
  takes the queued jobs it looks at with ``FOR UPDATE SKIP LOCKED`` (two matchers work on
  disjoint jobs instead of waiting for each other) and locks the miner rows it assigns to, so a
  miner's slot count is read and used under one lock. On SQLite every write transaction is
  ``BEGIN IMMEDIATE``: one writer at a time, the same guarantees.
- A job **reserves** its max price from the client's escrow in the transaction that inserts
  it, under a lock on the client's row, so two concurrent submissions cannot both spend the
  last unit.
- Queue order is **fair across clients**: each job gets a ``fair_key`` when it is submitted,
  one more than its client's previous job but never below the oldest queued key. Ordering by
  it serves backlogged clients round robin, oldest first, and a newcomer joins at the front of
  the current round instead of behind a flood.
- Every state change (re-queue after a lost miner, completion, cancellation) is a guarded
  update on the status it expects, so a stale decision by another process changes nothing.

Timestamps are passed in by the caller (milliseconds): the store has no clock of its own. Table
names start with ``coord_`` so a coordinator can share a PostgreSQL database with a node.

The store holds no market policy: which miner gets which task, when work is taken back and
with what reason is decided by the pure functions of :mod:`daemons.coordinator.market`; the store
reads under locks and applies their answers as guarded updates. One object, one module per area:
``tables`` and ``records``, ``base`` (database, locks, pages), ``keys`` (API keys and leases),
``miners``, ``jobs``, ``verification`` (re-checks), ``matching`` (assignment and expiry),
``receipts`` (receipts, settlement and slashes).
"""

from __future__ import annotations

from daemons.coordinator.store.base import MAX_PAGE, Conflict, InsufficientEscrow
from daemons.coordinator.store.keys import KeysAndLeases
from daemons.coordinator.store.matching import Matching
from daemons.coordinator.store.receipts import Receipts
from daemons.coordinator.store.records import (
    ApiKeyRecord, Expired, MinerRecord, ReceiptRecord, SlashRecord, VerifyRecord,
)
from daemons.coordinator.store.tables import TABLES

__all__ = [
    "MAX_PAGE", "TABLES", "ApiKeyRecord", "Conflict", "CoordinatorStore", "Expired", "InsufficientEscrow",
    "MinerRecord", "ReceiptRecord", "SlashRecord", "VerifyRecord",
]


class CoordinatorStore(Matching, Receipts, KeysAndLeases):
    """Coordinator state in one database (SQLite file or PostgreSQL)."""
