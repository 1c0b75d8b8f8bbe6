"""The coordinator's tables: API keys, miners, jobs, re-check tasks, receipts, settlements, slashes.

All coordinator state lives here, so that several coordinator processes on one PostgreSQL share
the work (ARCHITECTURE.md, "Where one machine is outgrown"). The rules that make that safe are
in this module, as database transactions:

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

Timestamps are passed in by the caller (milliseconds): storage has no clock of its own. Table
names start with ``coord_`` so a coordinator can share a PostgreSQL database with a node.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import peewee
from pydantic import BaseModel, ConfigDict

from storage.database import SchemaModel, bind_model
from storage.errors import StorageError

JobStatus = Literal["queued", "assigned", "running", "completed", "failed", "cancelled"]
ACTIVE = ("queued", "assigned", "running")
"""Job statuses that hold a reservation on the client's escrow."""
BUSY = ("assigned", "running")
"""Task statuses that occupy a miner slot."""
ReceiptStatus = Literal["pending", "settling", "settled", "rejected"]
MAX_PAGE = 500


class InsufficientEscrow(StorageError):
    """The client's escrow, minus what its unsettled jobs reserve, does not cover the new job."""

    def __init__(self, message: str, available: int) -> None:
        super().__init__(message)
        self.available = available


class Conflict(StorageError):
    """The row is not in a state that allows the change (e.g. cancelling a completed job)."""


# -- tables ---------------------------------------------------------------------------------------


class ApiKeyRow(SchemaModel):
    key_id = peewee.CharField(max_length=32, primary_key=True)
    key_hash = peewee.CharField(max_length=64, unique=True)
    """SHA-256 of the whole key: keys are 256-bit random, so a fast hash is enough to make a
    stolen database useless for authenticating."""
    role = peewee.CharField(max_length=16)
    address = peewee.CharField(max_length=42, index=True)
    label = peewee.CharField(max_length=128, default="")
    created_ms = peewee.BigIntegerField()
    revoked_ms = peewee.BigIntegerField(null=True)

    class Meta:
        table_name = "coord_api_keys"


class ClientRow(SchemaModel):
    """One row per client: the lock that serializes its reservations, and its fairness counter."""

    address = peewee.CharField(max_length=42, primary_key=True)
    last_fair_key = peewee.BigIntegerField(default=0)

    class Meta:
        table_name = "coord_clients"


class MinerRow(SchemaModel):
    address = peewee.CharField(max_length=42, primary_key=True)
    pubkey = peewee.CharField(max_length=64)
    capacity = peewee.IntegerField()
    price_per_1k = peewee.BigIntegerField()
    gpus = peewee.TextField(default="[]")
    free_gpu_mem_mb = peewee.BigIntegerField(default=0)
    free_slots = peewee.IntegerField(default=0)
    """Slots the miner last said it can use for this coordinator's tasks: the heartbeat's free
    slots plus the tasks it reports running (see :func:`open_slots`). 0 while it cannot take
    work (a model still loading, a drain). Registration resets it to the capacity."""
    telemetry = peewee.TextField(default="{}")
    bond = peewee.BigIntegerField(default=0)
    """The miner's bond on chain when last checked."""
    bond_checked_ms = peewee.BigIntegerField(default=0)
    registered_ms = peewee.BigIntegerField()
    last_seen_ms = peewee.BigIntegerField()
    """Last heartbeat or poll: a miner is live while this is within the heartbeat timeout."""
    completed = peewee.BigIntegerField(default=0)
    failed = peewee.BigIntegerField(default=0)
    slashed = peewee.BigIntegerField(default=0)

    class Meta:
        table_name = "coord_miners"


class MinerModelRow(SchemaModel):
    miner = peewee.CharField(max_length=42)
    name = peewee.CharField(max_length=128, index=True)
    model_id = peewee.CharField(max_length=64)

    class Meta:
        table_name = "coord_miner_models"
        primary_key = peewee.CompositeKey("miner", "name")


class JobRow(SchemaModel):
    job_id = peewee.CharField(max_length=64, primary_key=True)
    client = peewee.CharField(max_length=42)
    model = peewee.CharField(max_length=128)
    prompt = peewee.TextField()
    params = peewee.TextField()
    max_price = peewee.BigIntegerField()
    status = peewee.CharField(max_length=16)
    fair_key = peewee.BigIntegerField()
    miner = peewee.CharField(max_length=42, null=True)
    attempts = peewee.IntegerField(default=0)
    excluded = peewee.TextField(default="[]")
    """Miners that lost, failed or cheated on this job: it is not given to them again."""
    assigned_ms = peewee.BigIntegerField(null=True)
    deadline_ms = peewee.BigIntegerField(null=True)
    result_ms = peewee.BigIntegerField(null=True)
    """Set when the miner's result arrived; with status ``running`` it means "being re-checked"."""
    output = peewee.TextField(null=True)
    prompt_tokens = peewee.IntegerField(null=True)
    completion_tokens = peewee.IntegerField(null=True)
    proof = peewee.TextField(null=True)
    price = peewee.BigIntegerField(null=True)
    receipt_id = peewee.CharField(max_length=64, null=True)
    error = peewee.TextField(null=True)
    created_ms = peewee.BigIntegerField()
    updated_ms = peewee.BigIntegerField()

    class Meta:
        table_name = "coord_jobs"
        indexes = (
            (("status", "fair_key"), False),
            (("client", "created_ms"), False),
            (("miner", "status"), False),
            (("created_ms",), False),
        )


class VerifyRow(SchemaModel):
    """The re-check of one job's result by another miner (task id ``<job_id>:verify``)."""

    job_id = peewee.CharField(max_length=64, primary_key=True)
    model = peewee.CharField(max_length=128)
    model_id = peewee.CharField(max_length=64)
    runner = peewee.CharField(max_length=42)
    verifier = peewee.CharField(max_length=42, null=True)
    status = peewee.CharField(max_length=16)
    """queued, assigned, running, done"""
    attempts = peewee.IntegerField(default=0)
    excluded = peewee.TextField(default="[]")
    deadline_ms = peewee.BigIntegerField(null=True)
    accepted = peewee.BooleanField(null=True)
    reason = peewee.TextField(null=True)
    created_ms = peewee.BigIntegerField()
    updated_ms = peewee.BigIntegerField()

    class Meta:
        table_name = "coord_verify_tasks"
        indexes = ((("status", "created_ms"), False), (("verifier", "status"), False))


class ReceiptRow(SchemaModel):
    receipt_id = peewee.CharField(max_length=64, primary_key=True)
    job_id = peewee.CharField(max_length=64, unique=True)
    client = peewee.CharField(max_length=42)
    miner = peewee.CharField(max_length=42)
    price = peewee.BigIntegerField()
    data = peewee.TextField()
    """Canonical JSON of the signed receipt: exactly what is settled on chain."""
    status = peewee.CharField(max_length=16)
    settle_tx = peewee.CharField(max_length=64, null=True)
    settled_height = peewee.BigIntegerField(null=True)
    error = peewee.TextField(null=True)
    created_ms = peewee.BigIntegerField()
    updated_ms = peewee.BigIntegerField()

    class Meta:
        table_name = "coord_receipts"
        indexes = ((("status", "created_ms"), False), (("client", "created_ms"), False), (("settle_tx",), False))


class SettlementRow(SchemaModel):
    """One broadcast ``job_receipt`` (or ``slash``) transaction and what became of it."""

    tx_hash = peewee.CharField(max_length=64, primary_key=True)
    kind = peewee.CharField(max_length=16)
    nonce = peewee.BigIntegerField()
    status = peewee.CharField(max_length=16)
    """pending, committed, dropped"""
    height = peewee.BigIntegerField(null=True)
    count = peewee.IntegerField()
    created_ms = peewee.BigIntegerField()
    updated_ms = peewee.BigIntegerField()

    class Meta:
        table_name = "coord_settlements"
        indexes = ((("status", "created_ms"), False),)


class SlashRow(SchemaModel):
    job_id = peewee.CharField(max_length=64)
    miner = peewee.CharField(max_length=42)
    verifier = peewee.CharField(max_length=42)
    evidence = peewee.TextField()
    """Canonical JSON of the ``WrongResultEvidence``."""
    status = peewee.CharField(max_length=16)
    """pending, submitted, done, failed"""
    tx_hash = peewee.CharField(max_length=64, null=True)
    height = peewee.BigIntegerField(null=True)
    error = peewee.TextField(null=True)
    created_ms = peewee.BigIntegerField()
    updated_ms = peewee.BigIntegerField()

    class Meta:
        table_name = "coord_slashes"
        primary_key = peewee.CompositeKey("job_id", "miner")


class LeaseRow(SchemaModel):
    """Named leases: exactly one process at a time settles receipts (one nonce sequence)."""

    name = peewee.CharField(max_length=32, primary_key=True)
    holder = peewee.CharField(max_length=64)
    expires_ms = peewee.BigIntegerField()

    class Meta:
        table_name = "coord_leases"


TABLES: tuple[type[SchemaModel], ...] = (
    ApiKeyRow, ClientRow, MinerRow, MinerModelRow, JobRow, VerifyRow, ReceiptRow, SettlementRow, SlashRow, LeaseRow)


# -- records returned to callers ------------------------------------------------------------------


class ApiKeyRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    key_id: str
    role: str
    address: str
    label: str
    created_ms: int
    revoked_ms: int | None


class MinerRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    address: str
    pubkey: str
    models: dict[str, str]
    """name -> model_id"""
    capacity: int
    price_per_1k: int
    gpus: list[dict[str, Any]]
    free_gpu_mem_mb: int
    free_slots: int
    telemetry: dict[str, Any]
    bond: int
    bond_checked_ms: int
    registered_ms: int
    last_seen_ms: int
    completed: int
    failed: int
    slashed: int
    active: int = 0
    """Tasks assigned to it and not finished (filled in by listings)."""

    @property
    def open_slots(self) -> int:
        return open_slots(self.capacity, self.free_slots, self.active)


def open_slots(capacity: int, usable: int, active: int) -> int:
    """Tasks a miner may be given now: what its capacity and its own last report (``usable``,
    the ``free_slots`` column) allow, less the tasks it holds. The report is counted with the
    tasks the miner was running when it sent it, so a finished task frees its slot at once,
    without waiting for the next heartbeat; a miner that reports no room gets no new work."""
    return min(capacity, usable) - active


class JobRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    job_id: str
    client: str
    model: str
    prompt: str
    params: dict[str, Any]
    max_price: int
    status: str
    fair_key: int
    miner: str | None
    attempts: int
    excluded: list[str]
    assigned_ms: int | None
    deadline_ms: int | None
    result_ms: int | None
    output: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    proof: dict[str, Any] | None
    price: int | None
    receipt_id: str | None
    error: str | None
    created_ms: int
    updated_ms: int
    settled_height: int | None = None
    receipt_status: str | None = None


class VerifyRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    job_id: str
    model: str
    model_id: str
    runner: str
    verifier: str | None
    status: str
    attempts: int
    excluded: list[str]
    deadline_ms: int | None
    accepted: bool | None
    reason: str | None
    created_ms: int
    updated_ms: int


class ReceiptRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    receipt_id: str
    job_id: str
    client: str
    miner: str
    price: int
    receipt: dict[str, Any]
    status: str
    settle_tx: str | None
    settled_height: int | None
    error: str | None
    created_ms: int
    updated_ms: int


class SlashRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    job_id: str
    miner: str
    verifier: str
    evidence: dict[str, Any]
    status: str
    tx_hash: str | None
    height: int | None
    error: str | None
    created_ms: int


@dataclass
class Candidate:
    """A miner the matcher may give work to, with what ranking needs."""

    address: str
    price_per_1k: int
    free_gpu_mem_mb: int
    completed: int
    failed: int
    slashed: int
    models: dict[str, str]
    free: int


@dataclass
class Assignment:
    kind: Literal["run", "verify"]
    job_id: str
    miner: str


@dataclass
class Expired:
    """What the reaper changed: jobs re-queued or failed, re-checks re-queued or given up."""

    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    verify_requeued: list[str] = field(default_factory=list)
    verify_unavailable: list[str] = field(default_factory=list)
    """Re-checks nobody took in time: the caller accepts the result without one."""


Ranking = Callable[[Candidate], Any]


def _text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# -- the store ------------------------------------------------------------------------------------


class CoordinatorStore:
    """Coordinator state in one database (SQLite file or PostgreSQL)."""

    def __init__(self, database: peewee.Database) -> None:
        self._db = database
        self._pg = isinstance(database, peewee.PostgresqlDatabase)
        self.Key = bind_model(database, ApiKeyRow)
        self.Client = bind_model(database, ClientRow)
        self.Miner = bind_model(database, MinerRow)
        self.MinerModel = bind_model(database, MinerModelRow)
        self.Job = bind_model(database, JobRow)
        self.Verify = bind_model(database, VerifyRow)
        self.Receipt = bind_model(database, ReceiptRow)
        self.Settlement = bind_model(database, SettlementRow)
        self.Slash = bind_model(database, SlashRow)
        self.Lease = bind_model(database, LeaseRow)
        models = [self.Key, self.Client, self.Miner, self.MinerModel, self.Job, self.Verify, self.Receipt,
                  self.Settlement, self.Slash, self.Lease]
        with self._create_lock():
            database.create_tables(models, safe=True)

    @contextmanager
    def _create_lock(self) -> Iterator[None]:
        """Two processes starting at once on one PostgreSQL must not both create the tables:
        ``CREATE TABLE IF NOT EXISTS`` races on the catalog. An advisory lock serializes them."""
        if not self._pg:
            with self._db.atomic():
                yield
            return
        with self._db.atomic():
            self._db.execute_sql("SELECT pg_advisory_xact_lock(7001)")
            yield

    @property
    def database(self) -> peewee.Database:
        return self._db

    def close(self) -> None:
        self._db.close()

    def _locked(self, query: peewee.ModelSelect, skip_locked: bool = False) -> peewee.ModelSelect:
        if self._pg:
            return query.for_update(skip_locked=skip_locked or None)
        return query

    # -- API keys --------------------------------------------------------------------------------

    def add_key(self, key_id: str, key_hash: str, role: str, address: str, label: str, now_ms: int) -> ApiKeyRecord:
        self.Key.insert(key_id=key_id, key_hash=key_hash, role=role, address=address, label=label,
                        created_ms=now_ms, revoked_ms=None).execute()
        return self._key_record(self.Key.get_by_id(key_id))

    def key_by_hash(self, key_hash: str) -> ApiKeyRecord | None:
        row = self.Key.get_or_none(self.Key.key_hash == key_hash)
        return None if row is None else self._key_record(row)

    def get_key(self, key_id: str) -> ApiKeyRecord | None:
        row = self.Key.get_or_none(self.Key.key_id == key_id)
        return None if row is None else self._key_record(row)

    def list_keys(self) -> list[ApiKeyRecord]:
        return [self._key_record(r) for r in self.Key.select().order_by(self.Key.created_ms, self.Key.key_id)]

    def revoke_key(self, key_id: str, now_ms: int) -> bool:
        """True when the key existed and was active; revoking twice is a no-op."""
        updated = (self.Key.update(revoked_ms=now_ms)
                   .where((self.Key.key_id == key_id) & (self.Key.revoked_ms.is_null())).execute())
        return updated == 1

    @staticmethod
    def _key_record(row: ApiKeyRow) -> ApiKeyRecord:
        return ApiKeyRecord(key_id=row.key_id, role=row.role, address=row.address, label=row.label,
                            created_ms=row.created_ms, revoked_ms=row.revoked_ms)

    # -- miners ------------------------------------------------------------------------------------

    def register_miner(self, address: str, pubkey: str, models: dict[str, str], capacity: int, price_per_1k: int,
                       gpus: list[dict[str, Any]], free_gpu_mem_mb: int, now_ms: int) -> MinerRecord:
        """Insert or update a miner; its reputation counters and bond survive re-registration."""
        M, MM = self.Miner, self.MinerModel
        with self._db.atomic():
            updated = (M.update(pubkey=pubkey, capacity=capacity, price_per_1k=price_per_1k, gpus=_text(gpus),
                                free_gpu_mem_mb=free_gpu_mem_mb, free_slots=capacity, last_seen_ms=now_ms)
                       .where(M.address == address).execute())
            if not updated:
                M.insert(address=address, pubkey=pubkey, capacity=capacity, price_per_1k=price_per_1k,
                         gpus=_text(gpus), free_gpu_mem_mb=free_gpu_mem_mb, free_slots=capacity,
                         registered_ms=now_ms, last_seen_ms=now_ms).on_conflict_ignore().execute()
            MM.delete().where(MM.miner == address).execute()
            if models:
                MM.insert_many([{"miner": address, "name": n, "model_id": i} for n, i in models.items()]).execute()
        record = self.get_miner(address)
        assert record is not None
        return record

    def touch_miner(self, address: str, now_ms: int, *, free_slots: int | None = None,
                    free_gpu_mem_mb: int | None = None, telemetry: dict[str, Any] | None = None) -> bool:
        """Record a sign of life (heartbeat or poll); False when the miner is not registered."""
        fields: dict[str, Any] = {"last_seen_ms": now_ms}
        if free_slots is not None:
            fields["free_slots"] = free_slots
        if free_gpu_mem_mb is not None:
            fields["free_gpu_mem_mb"] = free_gpu_mem_mb
        if telemetry is not None:
            fields["telemetry"] = _text(telemetry)
        return self.Miner.update(**fields).where(self.Miner.address == address).execute() == 1

    def set_bond(self, address: str, bond: int, now_ms: int) -> None:
        self.Miner.update(bond=bond, bond_checked_ms=now_ms).where(self.Miner.address == address).execute()

    def get_miner(self, address: str) -> MinerRecord | None:
        row = self.Miner.get_or_none(self.Miner.address == address)
        if row is None:
            return None
        return self._miner_record(row, self._models_of([address]).get(address, {}), self._active([address]))

    def list_miners(self, live_since_ms: int | None = None) -> list[MinerRecord]:
        query = self.Miner.select().order_by(self.Miner.address)
        if live_since_ms is not None:
            query = query.where(self.Miner.last_seen_ms >= live_since_ms)
        rows = list(query)
        addresses = [r.address for r in rows]
        models = self._models_of(addresses)
        active = self._active(addresses)
        return [self._miner_record(r, models.get(r.address, {}), active) for r in rows]

    def miners_needing_bond_check(self, live_since_ms: int, checked_before_ms: int) -> list[str]:
        M = self.Miner
        return [r.address for r in M.select(M.address).where(
            (M.last_seen_ms >= live_since_ms) & (M.bond_checked_ms < checked_before_ms))]

    def _models_of(self, addresses: list[str]) -> dict[str, dict[str, str]]:
        result: dict[str, dict[str, str]] = {}
        MM = self.MinerModel
        for start in range(0, len(addresses), 300):
            chunk = addresses[start:start + 300]
            for miner, name, model_id in MM.select(MM.miner, MM.name, MM.model_id).where(MM.miner.in_(chunk)).tuples():
                result.setdefault(miner, {})[name] = model_id
        return result

    def _active(self, addresses: list[str]) -> dict[str, int]:
        """Busy task count per miner: assigned/running jobs (not yet answered) plus re-checks."""
        counts: dict[str, int] = {a: 0 for a in addresses}
        if not addresses:
            return counts
        J, V = self.Job, self.Verify
        for start in range(0, len(addresses), 300):
            chunk = addresses[start:start + 300]
            jobs = (J.select(J.miner, peewee.fn.COUNT(J.job_id))
                    .where(J.miner.in_(chunk) & J.status.in_(BUSY) & J.result_ms.is_null())
                    .group_by(J.miner).tuples())
            for miner, count in jobs:
                counts[miner] += int(count)
            checks = (V.select(V.verifier, peewee.fn.COUNT(V.job_id))
                      .where(V.verifier.in_(chunk) & V.status.in_(BUSY)).group_by(V.verifier).tuples())
            for miner, count in checks:
                counts[miner] += int(count)
        return counts

    @staticmethod
    def _miner_record(row: MinerRow, models: dict[str, str], active: dict[str, int]) -> MinerRecord:
        return MinerRecord(
            address=row.address, pubkey=row.pubkey, models=models, capacity=row.capacity,
            price_per_1k=row.price_per_1k, gpus=json.loads(row.gpus), free_gpu_mem_mb=row.free_gpu_mem_mb,
            free_slots=row.free_slots, telemetry=json.loads(row.telemetry), bond=row.bond,
            bond_checked_ms=row.bond_checked_ms, registered_ms=row.registered_ms, last_seen_ms=row.last_seen_ms,
            completed=row.completed, failed=row.failed, slashed=row.slashed, active=active.get(row.address, 0))

    def is_served(self, model: str, live_since_ms: int, min_bond: int) -> bool:
        """Does a live, bonded miner serve ``model``? (One indexed query: asked on every submission.)"""
        M, MM = self.Miner, self.MinerModel
        return (MM.select().join(M, on=(MM.miner == M.address))
                .where((MM.name == model) & (M.last_seen_ms >= live_since_ms) & (M.bond >= min_bond)).exists())

    def served_models(self, live_since_ms: int, min_bond: int) -> dict[str, list[MinerRecord]]:
        """Model name -> live, bonded miners serving it."""
        served: dict[str, list[MinerRecord]] = {}
        for miner in self.list_miners(live_since_ms):
            if miner.bond < min_bond:
                continue
            for name in miner.models:
                served.setdefault(name, []).append(miner)
        return served

    # -- jobs: submission, reading, cancelling ------------------------------------------------------

    def reserved(self, client: str, escrow_height: int) -> int:
        """Units of the client's escrow already promised: max price of every unfinished job, plus
        the price of every receipt the chain had not settled at ``escrow_height`` (the height the
        escrow balance was read at), so a stale balance can never be spent twice."""
        J, R = self.Job, self.Receipt
        jobs = J.select(peewee.fn.COALESCE(peewee.fn.SUM(J.max_price), 0)).where(
            (J.client == client) & J.status.in_(ACTIVE)).scalar()
        receipts = R.select(peewee.fn.COALESCE(peewee.fn.SUM(R.price), 0)).where(
            (R.client == client) & (R.status.in_(("pending", "settling"))
                                    | ((R.status == "settled") & (R.settled_height > escrow_height)))).scalar()
        return int(jobs or 0) + int(receipts or 0)

    def submit_job(self, *, job_id: str, client: str, model: str, prompt: str, params: dict[str, Any],
                   max_price: int, escrow: int, escrow_height: int, now_ms: int) -> JobRecord:
        """Insert a queued job if ``escrow`` minus reservations covers ``max_price``.

        Raises :class:`InsufficientEscrow` (nothing written) otherwise.
        """
        J, C = self.Job, self.Client
        with self._db.atomic():
            C.insert(address=client, last_fair_key=0).on_conflict_ignore().execute()
            row = self._locked(C.select().where(C.address == client)).get()
            available = escrow - self.reserved(client, escrow_height)
            if available < max_price:
                raise InsufficientEscrow(
                    f"escrow available for jobs is {available} units (escrow {escrow} minus reservations), "
                    f"the job's max price is {max_price}", max(available, 0))
            frontier = J.select(peewee.fn.MIN(J.fair_key)).where(J.status == "queued").scalar()
            fair_key = max(int(row.last_fair_key) + 1, int(frontier or 0))
            C.update(last_fair_key=fair_key).where(C.address == client).execute()
            J.insert(job_id=job_id, client=client, model=model, prompt=prompt, params=_text(params),
                     max_price=max_price, status="queued", fair_key=fair_key, created_ms=now_ms,
                     updated_ms=now_ms).execute()
        job = self.get_job(job_id)
        assert job is not None
        return job

    def get_job(self, job_id: str) -> JobRecord | None:
        row = self.Job.get_or_none(self.Job.job_id == job_id)
        if row is None:
            return None
        return self._job_record(row, self._receipt_states([row.receipt_id]))

    def list_jobs(self, client: str | None = None, status: str | None = None, limit: int = 50,
                  before: tuple[int, str] | None = None) -> list[JobRecord]:
        """Newest first; ``before`` = (created_ms, job_id) of the last item of the previous page."""
        J = self.Job
        query = J.select()
        if client is not None:
            query = query.where(J.client == client)
        if status is not None:
            query = query.where(J.status == status)
        if before is not None:
            created, job_id = before
            query = query.where((J.created_ms < created) | ((J.created_ms == created) & (J.job_id < job_id)))
        rows = list(query.order_by(J.created_ms.desc(), J.job_id.desc()).limit(max(1, min(limit, MAX_PAGE))))
        states = self._receipt_states([r.receipt_id for r in rows])
        return [self._job_record(r, states) for r in rows]

    def count_jobs(self) -> dict[str, int]:
        J = self.Job
        return {s: int(c) for s, c in J.select(J.status, peewee.fn.COUNT(J.job_id)).group_by(J.status).tuples()}

    def cancel_job(self, job_id: str, client: str | None, now_ms: int) -> JobRecord:
        """Cancel an unfinished job whose result has not arrived; releases its reservation.

        ``client`` None: the operator may cancel any job. Raises ``KeyError`` for an unknown job
        (or another client's), :class:`Conflict` when it is too late.
        """
        J = self.Job
        job = self.get_job(job_id)
        if job is None or (client is not None and job.client != client):
            raise KeyError(job_id)
        updated = (J.update(status="cancelled", error="cancelled by the client", updated_ms=now_ms)
                   .where((J.job_id == job_id) & J.status.in_(ACTIVE) & J.result_ms.is_null()).execute())
        if not updated:
            current = self.get_job(job_id)
            assert current is not None
            if current.status in ACTIVE:
                raise Conflict(f"job {job_id} already has a result that is being checked; it can no longer be cancelled")
            raise Conflict(f"job {job_id} is {current.status}; only queued, assigned or running jobs can be cancelled")
        job = self.get_job(job_id)
        assert job is not None
        return job

    def _receipt_states(self, receipt_ids: Iterable[str | None]) -> dict[str, tuple[str, int | None]]:
        ids = [r for r in receipt_ids if r]
        if not ids:
            return {}
        R = self.Receipt
        return {rid: (status, height) for rid, status, height in
                R.select(R.receipt_id, R.status, R.settled_height).where(R.receipt_id.in_(ids)).tuples()}

    @staticmethod
    def _job_record(row: JobRow, receipts: dict[str, tuple[str, int | None]]) -> JobRecord:
        state = receipts.get(row.receipt_id or "")
        return JobRecord(
            job_id=row.job_id, client=row.client, model=row.model, prompt=row.prompt, params=json.loads(row.params),
            max_price=row.max_price, status=row.status, fair_key=row.fair_key, miner=row.miner,
            attempts=row.attempts, excluded=json.loads(row.excluded), assigned_ms=row.assigned_ms,
            deadline_ms=row.deadline_ms, result_ms=row.result_ms, output=row.output,
            prompt_tokens=row.prompt_tokens, completion_tokens=row.completion_tokens,
            proof=json.loads(row.proof) if row.proof else None, price=row.price, receipt_id=row.receipt_id,
            error=row.error, created_ms=row.created_ms, updated_ms=row.updated_ms,
            settled_height=state[1] if state else None, receipt_status=state[0] if state else None)

    # -- matching --------------------------------------------------------------------------------------

    def assign(self, *, now_ms: int, live_since_ms: int, min_bond: int, deadline_ms: int, rank: Ranking,
               limit: int = 200) -> list[Assignment]:
        """Give queued re-checks and jobs to the best live, bonded miners with free slots
        (:func:`open_slots`: a miner that reported no free slot gets nothing).

        One transaction: re-checks first (they hold up payment for finished work), then jobs in
        fair order. Each job goes to the first miner by ``rank`` that serves its model, has a
        free slot and is not excluded from it; each re-check to the first one serving the same
        model id that is not the miner being checked and has never been caught cheating.
        """
        M, J, V = self.Miner, self.Job, self.Verify
        if not (J.select().where(J.status == "queued").exists() or V.select().where(V.status == "queued").exists()):
            return []  # the common case for a polling miner: no write transaction at all
        with self._db.atomic():
            miner_query = (M.select().where((M.last_seen_ms >= live_since_ms) & (M.bond >= min_bond))
                           .order_by(M.address))
            miners = list(self._locked(miner_query, skip_locked=True))
            if not miners:
                return []
            addresses = [m.address for m in miners]
            models = self._models_of(addresses)
            active = self._active(addresses)
            candidates = [
                Candidate(address=m.address, price_per_1k=m.price_per_1k, free_gpu_mem_mb=m.free_gpu_mem_mb,
                          completed=m.completed, failed=m.failed, slashed=m.slashed,
                          models=models.get(m.address, {}),
                          free=open_slots(m.capacity, m.free_slots, active.get(m.address, 0)))
                for m in miners]
            candidates = sorted((c for c in candidates if c.free > 0 and c.models), key=rank)
            if not candidates:
                return []
            served = sorted({name for c in candidates for name in c.models})
            assignments: list[Assignment] = []

            checks = list(self._locked(
                V.select().where((V.status == "queued") & V.model.in_(served)).order_by(V.created_ms).limit(limit),
                skip_locked=True))
            for check in checks:
                excluded = set(json.loads(check.excluded)) | {check.runner}
                chosen = next((c for c in candidates if c.free > 0 and c.slashed == 0 and c.address not in excluded
                               and c.models.get(check.model) == check.model_id), None)
                if chosen is None:
                    continue
                updated = (V.update(status="assigned", verifier=chosen.address, attempts=V.attempts + 1,
                                    deadline_ms=deadline_ms, updated_ms=now_ms)
                           .where((V.job_id == check.job_id) & (V.status == "queued")).execute())
                if updated:
                    chosen.free -= 1
                    assignments.append(Assignment("verify", check.job_id, chosen.address))

            if any(c.free > 0 for c in candidates):
                jobs = list(self._locked(
                    J.select(J.job_id, J.model, J.excluded).where((J.status == "queued") & J.model.in_(served))
                    .order_by(J.fair_key, J.created_ms, J.job_id).limit(limit), skip_locked=True))
                for job in jobs:
                    excluded = set(json.loads(job.excluded))
                    chosen = next((c for c in candidates if c.free > 0 and c.address not in excluded
                                   and job.model in c.models), None)
                    if chosen is None:
                        if not any(c.free > 0 for c in candidates):
                            break
                        continue
                    updated = (J.update(status="assigned", miner=chosen.address, attempts=J.attempts + 1,
                                        assigned_ms=now_ms, deadline_ms=deadline_ms, updated_ms=now_ms)
                               .where((J.job_id == job.job_id) & (J.status == "queued")).execute())
                    if updated:
                        chosen.free -= 1
                        assignments.append(Assignment("run", job.job_id, chosen.address))
        return assignments

    def take_tasks(self, miner: str, limit: int, now_ms: int) -> tuple[list[JobRecord], list[tuple[VerifyRecord, JobRecord]]]:
        """Hand the miner what was assigned to it: each task moves assigned -> running exactly once,
        so a task is delivered to one poll only."""
        J, V = self.Job, self.Verify
        runs: list[JobRecord] = []
        checks: list[tuple[VerifyRecord, JobRecord]] = []
        with self._db.atomic():
            vrows = list(V.select().where((V.verifier == miner) & (V.status == "assigned"))
                         .order_by(V.updated_ms).limit(limit))
            for vrow in vrows:
                if V.update(status="running", updated_ms=now_ms).where(
                        (V.job_id == vrow.job_id) & (V.status == "assigned") & (V.verifier == miner)).execute():
                    job = self.get_job(vrow.job_id)
                    if job is not None:
                        checks.append((self._verify_record(V.get_by_id(vrow.job_id)), job))
            room = limit - len(checks)
            if room > 0:
                jrows = list(J.select(J.job_id).where((J.miner == miner) & (J.status == "assigned"))
                             .order_by(J.assigned_ms).limit(room))
                for jrow in jrows:
                    if J.update(status="running", updated_ms=now_ms).where(
                            (J.job_id == jrow.job_id) & (J.status == "assigned") & (J.miner == miner)).execute():
                        job = self.get_job(jrow.job_id)
                        assert job is not None
                        runs.append(job)
        return runs, checks

    def assigned_to(self, miner: str) -> set[str]:
        """Task ids the miner should be working on (for the heartbeat's cancel list)."""
        J, V = self.Job, self.Verify
        ids = {r for (r,) in J.select(J.job_id).where(
            (J.miner == miner) & J.status.in_(BUSY) & J.result_ms.is_null()).tuples()}
        ids |= {f"{r}:verify" for (r,) in V.select(V.job_id).where(
            (V.verifier == miner) & V.status.in_(BUSY)).tuples()}
        return ids

    def has_pending_tasks(self, miner: str) -> bool:
        J, V = self.Job, self.Verify
        return (J.select().where((J.miner == miner) & (J.status == "assigned")).exists()
                or V.select().where((V.verifier == miner) & (V.status == "assigned")).exists())

    # -- results -----------------------------------------------------------------------------------

    def record_result(self, job_id: str, miner: str, *, output: str, prompt_tokens: int, completion_tokens: int,
                      proof: dict[str, Any], now_ms: int, verify: tuple[str, str] | None = None) -> bool:
        """Store a proven result. With ``verify`` = (model, model_id) a re-check is queued and
        the job stays ``running`` until it is answered. False when the task is no longer this
        miner's (re-assigned, cancelled): the result is then ignored."""
        J, V = self.Job, self.Verify
        with self._db.atomic():
            updated = (J.update(output=output, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                                proof=_text(proof), result_ms=now_ms, updated_ms=now_ms)
                       .where((J.job_id == job_id) & (J.miner == miner) & J.status.in_(BUSY) & J.result_ms.is_null())
                       .execute())
            if not updated:
                return False
            J.update(status="running").where(J.job_id == job_id).execute()
            if verify is not None:
                model, model_id = verify
                V.delete().where(V.job_id == job_id).execute()
                V.insert(job_id=job_id, model=model, model_id=model_id, runner=miner, status="queued",
                         created_ms=now_ms, updated_ms=now_ms).execute()
        return True

    def complete_job(self, job_id: str, miner: str, *, receipt_id: str, receipt: dict[str, Any], price: int,
                     now_ms: int) -> bool:
        """Mark a job completed with its signed receipt (queued for settlement); counts the
        miner's success. Guarded: False if the job is not running with this miner's result."""
        J, R, M, V = self.Job, self.Receipt, self.Miner, self.Verify
        with self._db.atomic():
            updated = (J.update(status="completed", price=price, receipt_id=receipt_id, error=None, updated_ms=now_ms)
                       .where((J.job_id == job_id) & (J.miner == miner) & (J.status == "running")
                              & J.result_ms.is_null(False)).execute())
            if not updated:
                return False
            job = J.get_by_id(job_id)
            R.insert(receipt_id=receipt_id, job_id=job_id, client=job.client, miner=miner, price=price,
                     data=_text(receipt), status="pending", created_ms=now_ms, updated_ms=now_ms).execute()
            M.update(completed=M.completed + 1).where(M.address == miner).execute()
            V.update(status="done", updated_ms=now_ms).where((V.job_id == job_id) & (V.status != "done")).execute()
        return True

    def requeue_job(self, job_id: str, miner: str, *, error: str, max_attempts: int, now_ms: int,
                    penalize: bool = True) -> str | None:
        """Give the job back to the queue (not to ``miner`` again), or fail it after
        ``max_attempts``. Returns the new status, or None if the job had moved on already."""
        J, M = self.Job, self.Miner
        with self._db.atomic():
            row = self._locked(J.select().where((J.job_id == job_id) & (J.miner == miner) & J.status.in_(BUSY))).first()
            if row is None:
                return None
            status = self._requeue_row(row, error, max_attempts, now_ms)
            if penalize:
                M.update(failed=M.failed + 1).where(M.address == miner).execute()
        return status

    def release_job(self, job_id: str, miner: str, now_ms: int) -> bool:
        """The miner hands an unanswered job back (a graceful drain): straight back to the queue,
        with no failure counted, the attempt not used up and the miner not excluded (a miner
        restarting may well take it again). Until its next heartbeat the miner counts as having
        no free slot, so the job is not handed straight back to it. False if it is not the miner's."""
        J, M = self.Job, self.Miner
        with self._db.atomic():
            row = self._locked(J.select().where((J.job_id == job_id) & (J.miner == miner) & J.status.in_(BUSY)
                                                & J.result_ms.is_null())).first()
            if row is None:
                return False
            J.update(status="queued", miner=None, attempts=max(0, row.attempts - 1), assigned_ms=None,
                     deadline_ms=None, updated_ms=now_ms).where(J.job_id == job_id).execute()
            M.update(free_slots=0).where(M.address == miner).execute()
        return True

    def _requeue_row(self, row: JobRow, error: str, max_attempts: int, now_ms: int) -> str:
        J = self.Job
        excluded = sorted(set(json.loads(row.excluded)) | ({row.miner} if row.miner else set()))
        status = "failed" if row.attempts >= max_attempts else "queued"
        fields: dict[str, Any] = {
            "status": status, "excluded": _text(excluded), "updated_ms": now_ms,
            "error": (f"{error}; gave up after {row.attempts} attempt(s)" if status == "failed" else error),
            "output": None, "prompt_tokens": None, "completion_tokens": None, "proof": None, "result_ms": None,
            "assigned_ms": None, "deadline_ms": None,
        }
        if status == "queued":
            fields["miner"] = None
        J.update(**fields).where(J.job_id == row.job_id).execute()
        return status

    def reject_result(self, job_id: str, runner: str, verifier: str, *, evidence: dict[str, Any] | None,
                      reason: str, max_attempts: int, now_ms: int) -> str | None:
        """A re-check refuted the runner's result: record the slash (when there is evidence to
        submit), count it against the runner, re-queue the job elsewhere (or fail it)."""
        J, V, M, S = self.Job, self.Verify, self.Miner, self.Slash
        with self._db.atomic():
            row = self._locked(J.select().where((J.job_id == job_id) & (J.miner == runner) & (J.status == "running")
                                                & J.result_ms.is_null(False))).first()
            if row is None:
                return None
            V.update(status="done", accepted=False, reason=reason, updated_ms=now_ms).where(V.job_id == job_id).execute()
            M.update(slashed=M.slashed + 1).where(M.address == runner).execute()
            if evidence is not None:
                S.insert(job_id=job_id, miner=runner, verifier=verifier, evidence=_text(evidence), status="pending",
                         created_ms=now_ms, updated_ms=now_ms).on_conflict_ignore().execute()
            return self._requeue_row(row, f"result rejected by re-check: {reason}", max_attempts, now_ms)

    # -- re-checks -----------------------------------------------------------------------------------

    def get_verify(self, job_id: str) -> VerifyRecord | None:
        row = self.Verify.get_or_none(self.Verify.job_id == job_id)
        return None if row is None else self._verify_record(row)

    def accept_verify(self, job_id: str, verifier: str, reason: str, now_ms: int) -> bool:
        V = self.Verify
        return (V.update(status="done", accepted=True, reason=reason, updated_ms=now_ms)
                .where((V.job_id == job_id) & (V.verifier == verifier) & V.status.in_(BUSY)).execute()) == 1

    def requeue_verify(self, job_id: str, verifier: str, now_ms: int) -> bool:
        """The verifier failed or vanished: another miner takes the re-check."""
        V, M = self.Verify, self.Miner
        with self._db.atomic():
            row = self._locked(V.select().where((V.job_id == job_id) & (V.verifier == verifier)
                                                & V.status.in_(BUSY))).first()
            if row is None:
                return False
            excluded = sorted(set(json.loads(row.excluded)) | {verifier})
            V.update(status="queued", verifier=None, excluded=_text(excluded), deadline_ms=None,
                     updated_ms=now_ms).where(V.job_id == job_id).execute()
            M.update(failed=M.failed + 1).where(M.address == verifier).execute()
        return True

    def release_verify(self, job_id: str, verifier: str, now_ms: int) -> bool:
        """The verifier hands a re-check back unanswered: re-queued, no failure counted, the
        verifier not excluded (see :meth:`release_job`)."""
        V, M = self.Verify, self.Miner
        with self._db.atomic():
            updated = (V.update(status="queued", verifier=None, deadline_ms=None, updated_ms=now_ms)
                       .where((V.job_id == job_id) & (V.verifier == verifier) & V.status.in_(BUSY)).execute())
            if not updated:
                return False
            M.update(free_slots=0).where(M.address == verifier).execute()
        return True

    def drop_verify(self, job_id: str, now_ms: int, reason: str) -> bool:
        """Give up on a re-check nobody could take (the result then stands unchecked)."""
        V = self.Verify
        return (V.update(status="done", accepted=None, reason=reason, updated_ms=now_ms)
                .where((V.job_id == job_id) & (V.status == "queued")).execute()) == 1

    @staticmethod
    def _verify_record(row: VerifyRow) -> VerifyRecord:
        return VerifyRecord(job_id=row.job_id, model=row.model, model_id=row.model_id, runner=row.runner,
                            verifier=row.verifier, status=row.status, attempts=row.attempts,
                            excluded=json.loads(row.excluded), deadline_ms=row.deadline_ms, accepted=row.accepted,
                            reason=row.reason, created_ms=row.created_ms, updated_ms=row.updated_ms)

    # -- expiry (lost miners, missed deadlines) ---------------------------------------------------------

    def expire(self, *, now_ms: int, live_since_ms: int, max_attempts: int, queue_timeout_ms: int,
               verify_wait_ms: int) -> Expired:
        """Re-queue work of miners that stopped heart-beating or missed a deadline; fail jobs
        queued too long; give up re-checks that waited too long for a verifier."""
        J, V, M = self.Job, self.Verify, self.Miner
        out = Expired()
        dead = {a for (a,) in M.select(M.address).where(M.last_seen_ms < live_since_ms).tuples()}
        busy = list(J.select(J.job_id, J.miner, J.deadline_ms).where(J.status.in_(BUSY) & J.result_ms.is_null()).tuples())
        for job_id, miner, deadline in busy:
            lost = miner in dead or miner is None
            late = deadline is not None and deadline < now_ms
            if not (lost or late):
                continue
            why = "miner stopped heart-beating" if lost else "miner missed the job deadline"
            status = self.requeue_job(job_id, miner, error=why, max_attempts=max_attempts, now_ms=now_ms)
            if status == "queued":
                out.requeued.append(job_id)
            elif status == "failed":
                out.failed.append(job_id)
        stale = [r for (r,) in J.select(J.job_id).where(
            (J.status == "queued") & (J.created_ms < now_ms - queue_timeout_ms)).tuples()]
        for job_id in stale:
            if J.update(status="failed", error="no miner took the job in time", updated_ms=now_ms).where(
                    (J.job_id == job_id) & (J.status == "queued")).execute():
                out.failed.append(job_id)
        checks = list(V.select(V.job_id, V.verifier, V.deadline_ms).where(V.status.in_(BUSY)).tuples())
        for job_id, verifier, deadline in checks:
            if verifier in dead or (deadline is not None and deadline < now_ms):
                if self.requeue_verify(job_id, verifier, now_ms):
                    out.verify_requeued.append(job_id)
        waiting = [r for (r,) in V.select(V.job_id).where(
            (V.status == "queued") & (V.created_ms < now_ms - verify_wait_ms)).tuples()]
        out.verify_unavailable += waiting
        return out

    # -- receipts and settlement -------------------------------------------------------------------------

    def get_receipt(self, receipt_id: str) -> ReceiptRecord | None:
        row = self.Receipt.get_or_none(self.Receipt.receipt_id == receipt_id)
        return None if row is None else self._receipt_record(row)

    def receipt_for_job(self, job_id: str) -> ReceiptRecord | None:
        row = self.Receipt.get_or_none(self.Receipt.job_id == job_id)
        return None if row is None else self._receipt_record(row)

    def list_receipts(self, client: str | None = None, job_id: str | None = None, limit: int = 50,
                      before: tuple[int, str] | None = None) -> list[ReceiptRecord]:
        R = self.Receipt
        query = R.select()
        if client is not None:
            query = query.where(R.client == client)
        if job_id is not None:
            query = query.where(R.job_id == job_id)
        if before is not None:
            created, rid = before
            query = query.where((R.created_ms < created) | ((R.created_ms == created) & (R.receipt_id < rid)))
        rows = query.order_by(R.created_ms.desc(), R.receipt_id.desc()).limit(max(1, min(limit, MAX_PAGE)))
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
            (R.receipt_id == receipt_id) & R.status.in_(("pending", "settling"))).execute()

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

    # -- leases -----------------------------------------------------------------------------------------

    def hold_lease(self, name: str, holder: str, now_ms: int, ttl_ms: int) -> bool:
        """Take or renew the named lease; True while ``holder`` has it. A crashed holder's lease
        lapses after ``ttl_ms``, and another process takes over."""
        L = self.Lease
        with self._db.atomic():
            L.insert(name=name, holder=holder, expires_ms=now_ms + ttl_ms).on_conflict_ignore().execute()
            updated = (L.update(holder=holder, expires_ms=now_ms + ttl_ms)
                       .where((L.name == name) & ((L.holder == holder) | (L.expires_ms < now_ms))).execute())
        return updated == 1

    def release_lease(self, name: str, holder: str) -> None:
        L = self.Lease
        L.delete().where((L.name == name) & (L.holder == holder)).execute()
