"""The coordinator's tables. Names start with ``coord_`` so that a coordinator can share a
PostgreSQL database with a node. Timestamps are milliseconds given by the caller."""

from __future__ import annotations

import peewee
from playhouse.migrate import SchemaMigrator, migrate

from storage.database import SchemaModel
from storage.schema import Migration, Schema


class _Tracked(SchemaModel):
    """The columns of a row with a life cycle, one declaration for every such table: its status
    (the values are the table's own), when it was made and when it last changed. Not a table."""

    status = peewee.CharField(max_length=16)
    created_ms = peewee.BigIntegerField()
    updated_ms = peewee.BigIntegerField()


class _Failable(_Tracked):
    """A tracked row that can end in failure: ``error`` says why, for the operator and the client."""

    error = peewee.TextField(null=True)


class _Assignable(_Tracked):
    """A task handed to one miner at a time (a job, or the re-check of one): how often it was
    handed out, the miners it must not go to again (JSON list), and when the current holder's
    time runs out."""

    attempts = peewee.IntegerField(default=0)
    excluded = peewee.TextField(default="[]")
    deadline_ms = peewee.BigIntegerField(null=True)


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
    default_max_price = peewee.BigIntegerField(null=True)
    """Units a job of this key may cost when its request names no max price (``None``: the
    coordinator's ``default_max_price``). Schema version 2."""

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
    slots plus the tasks it reports running (see :func:`daemons.coordinator.market.open_slots`).
    0 while it cannot take work (a model still loading, a drain). Registration resets it to the capacity."""
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


class JobRow(_Assignable, _Failable):
    """A :class:`~daemons.coordinator.models.JobRecord` (params, excluded and proof as JSON text);
    its status is a :class:`~daemons.coordinator.models.JobStatus` value."""

    job_id = peewee.CharField(max_length=64, primary_key=True)
    client = peewee.CharField(max_length=42)
    model = peewee.CharField(max_length=128)
    prompt = peewee.TextField()
    params = peewee.TextField()
    max_price = peewee.BigIntegerField()
    fair_key = peewee.BigIntegerField()
    miner = peewee.CharField(max_length=42, null=True)
    assigned_ms = peewee.BigIntegerField(null=True)
    result_ms = peewee.BigIntegerField(null=True)
    output = peewee.TextField(null=True)
    prompt_tokens = peewee.IntegerField(null=True)
    completion_tokens = peewee.IntegerField(null=True)
    proof = peewee.TextField(null=True)
    price = peewee.BigIntegerField(null=True)
    receipt_id = peewee.CharField(max_length=64, null=True)

    class Meta:
        table_name = "coord_jobs"
        indexes = (
            (("status", "fair_key"), False),
            (("client", "created_ms"), False),
            (("client", "status", "max_price"), False),  # what unfinished jobs reserve (index only): every submission
            (("miner", "status"), False),
            (("created_ms",), False),
        )


class VerifyRow(_Assignable):
    """The re-check of one job's result by another miner (task id ``<job_id>:verify``); status:
    queued, assigned, running, done."""

    job_id = peewee.CharField(max_length=64, primary_key=True)
    model = peewee.CharField(max_length=128)
    model_id = peewee.CharField(max_length=64)
    runner = peewee.CharField(max_length=42)
    verifier = peewee.CharField(max_length=42, null=True)
    accepted = peewee.BooleanField(null=True)
    reason = peewee.TextField(null=True)

    class Meta:
        table_name = "coord_verify_tasks"
        indexes = ((("status", "created_ms"), False), (("verifier", "status"), False))


class ReceiptRow(_Failable):
    receipt_id = peewee.CharField(max_length=64, primary_key=True)
    job_id = peewee.CharField(max_length=64, unique=True)
    client = peewee.CharField(max_length=42)
    miner = peewee.CharField(max_length=42)
    price = peewee.BigIntegerField()
    data = peewee.TextField()
    """Canonical JSON of the signed receipt: exactly what is settled on chain."""
    settle_tx = peewee.CharField(max_length=64, null=True)
    settled_height = peewee.BigIntegerField(null=True)

    class Meta:
        table_name = "coord_receipts"
        indexes = ((("status", "created_ms"), False), (("client", "created_ms"), False), (("settle_tx",), False),
                   # what a client's receipts still reserve (unsettled, or settled above a height): every submission
                   (("client", "status", "settled_height", "price"), False))


class SettlementRow(_Tracked):
    """One broadcast ``job_receipt`` (or ``slash``) transaction and what became of it; status:
    pending, committed, dropped."""

    tx_hash = peewee.CharField(max_length=64, primary_key=True)
    kind = peewee.CharField(max_length=16)
    nonce = peewee.BigIntegerField()
    height = peewee.BigIntegerField(null=True)
    count = peewee.IntegerField()

    class Meta:
        table_name = "coord_settlements"
        indexes = ((("status", "created_ms"), False),)


class SlashRow(_Failable):
    """An accusation of a wrong result, to be sent on chain; status: pending, submitted, done, failed."""

    job_id = peewee.CharField(max_length=64)
    miner = peewee.CharField(max_length=42)
    verifier = peewee.CharField(max_length=42)
    evidence = peewee.TextField()
    """Canonical JSON of the ``WrongResultEvidence``."""
    tx_hash = peewee.CharField(max_length=64, null=True)
    height = peewee.BigIntegerField(null=True)

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



def _key_default_max_price(database: peewee.Database, migrator: SchemaMigrator) -> None:
    """Version 2: ``coord_api_keys.default_max_price``, nullable, so every existing key keeps
    the coordinator's default until an operator gives it one."""
    migrate(migrator.add_column(ApiKeyRow._meta.table_name, "default_max_price", peewee.BigIntegerField(null=True)))


COORDINATOR_SCHEMA = Schema(
    component="coordinator", version=2, tables=TABLES,
    migrations=(Migration(to_version=2, summary="API keys get a default max price (coord_api_keys.default_max_price)",
                          apply=_key_default_max_price),))
"""Version 1 is the shape these tables had in the first release (unversioned databases are
version 1). A change to any table bumps the version and adds its ``Migration`` here."""
