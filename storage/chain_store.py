"""The chain store: final blocks, their transactions, the world state, and the indexes RPC needs.

One rule governs the design: **a block is stored whole or not at all.** ``commit_block`` writes
the block, its transactions, the address and receipt indexes, the state diff, the new head and
the removal of its transactions from the mempool in a single database transaction. After any
crash the database holds the chain up to some height ``h`` and exactly the state after ``h``;
``verify_head`` proves it on start-up by rebuilding the state root from the rows.

Tables:

``blocks``          height -> hash, time, proposer, tx count, state root and the canonical block
                    JSON (exactly the bytes peers sync and the hash covers)
``transactions``    hash -> height, position, sender, type, nonce, fee, canonical JSON
``address_txs``     (address, height, position) -> tx hash: the sender and every address named
                    in the payload, for "history of this address" newest first
``receipts``        receipt id -> job id, height, tx hash, position in the tx
``state_entries``   (namespace, key) -> canonical JSON value: the state after the head block
``chain_head``      one row: chain id, genesis hash and root, head height and hash, the commit
                    that finalized the head block, schema version

All integers (heights, nonces, fees) are 64-bit columns: protocol amounts are bounded by 2^63-1
for exactly this reason. JSON is stored as canonical text so that what is read back hashes to
what was hashed.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import peewee
from pydantic import BaseModel, ConfigDict

from chain.block import GENESIS_PREV_HASH, Block, Commit
from chain.crypto import is_address
from chain.encoding import canonical_json
from chain.receipt import Receipt
from chain.state import State
from chain.tx import JobReceiptPayload, Transaction
from storage.database import SchemaModel, Statement, bind_model
from storage.errors import (
    BlockOutOfOrder, GenesisMismatch, NotInitialized, StateMismatch, StorageError,
)
from storage.mempool_store import MempoolRow
from storage.schema import Schema, open_schema

SCHEMA_VERSION = 2
"""Bumped whenever a table changes shape, with the step that migrates to it in ``CHAIN_SCHEMA``
(``storage.schema``); a database of another version is migrated or refused, never guessed at."""

MAX_PAGE = 1000
_CHUNK = 300
"""Rows per multi-row statement: at most a few thousand bound variables, under every backend's limit."""
_HEAD_ID = 1
_TX_FIELDS = ("hash", "height", "position", "sender", "type", "nonce", "fee", "data")
_ADDR_FIELDS = ("address", "height", "position", "tx_hash")
_RECEIPT_FIELDS = ("receipt_id", "job_id", "height", "tx_hash", "position")
_STATE_FIELDS = ("namespace", "key", "value")


# -- tables ---------------------------------------------------------------------------------------


class BlockRow(SchemaModel):
    height = peewee.BigIntegerField(primary_key=True)
    hash = peewee.CharField(max_length=64, unique=True)
    time_ms = peewee.BigIntegerField()
    proposer = peewee.CharField(max_length=42, index=True)
    tx_count = peewee.IntegerField()
    state_root = peewee.CharField(max_length=64)
    data = peewee.TextField()
    signers = peewee.TextField(null=True)
    """The validator set that voted on this block ({address: {pubkey, power}}): what its commit
    is checked against. Kept per block because stake and governance change the set over time."""

    class Meta:
        table_name = "blocks"


class TxRow(SchemaModel):
    hash = peewee.CharField(max_length=64, primary_key=True)
    height = peewee.BigIntegerField()
    position = peewee.IntegerField()
    sender = peewee.CharField(max_length=42)
    type = peewee.CharField(max_length=32)
    nonce = peewee.BigIntegerField()
    fee = peewee.BigIntegerField()
    data = peewee.TextField()

    class Meta:
        table_name = "transactions"
        indexes = (
            (("height", "position"), True),
            # Nonces are strictly sequential per account, so this is unique and also serves
            # "transactions sent by X" lookups.
            (("sender", "nonce"), True),
        )


class AddressTxRow(SchemaModel):
    address = peewee.CharField(max_length=42)
    height = peewee.BigIntegerField()
    position = peewee.IntegerField()
    tx_hash = peewee.CharField(max_length=64)

    class Meta:
        table_name = "address_txs"
        primary_key = peewee.CompositeKey("address", "height", "position")


class ReceiptRow(SchemaModel):
    receipt_id = peewee.CharField(max_length=64, primary_key=True)
    job_id = peewee.CharField(max_length=128, index=True)
    height = peewee.BigIntegerField()
    tx_hash = peewee.CharField(max_length=64)
    position = peewee.IntegerField()
    """Index of the receipt inside its ``job_receipt`` transaction's ``receipts`` list."""

    class Meta:
        table_name = "receipts"


class StateRow(SchemaModel):
    namespace = peewee.CharField(max_length=32)
    key = peewee.TextField()
    value = peewee.TextField()

    class Meta:
        table_name = "state_entries"
        primary_key = peewee.CompositeKey("namespace", "key")


class HeadRow(SchemaModel):
    id = peewee.IntegerField(primary_key=True)
    schema_version = peewee.IntegerField()
    chain_id = peewee.CharField(max_length=64)
    genesis_hash = peewee.CharField(max_length=64)
    genesis_root = peewee.CharField(max_length=64)
    height = peewee.BigIntegerField()
    block_hash = peewee.CharField(max_length=64)
    """Empty at height 0: genesis is a state, not a block."""
    commit = peewee.TextField(null=True)
    """Canonical JSON of the commit that finalized the head block, when the node had one."""

    class Meta:
        table_name = "chain_head"


# -- values returned to callers ---------------------------------------------------------------


class StoredTx(NamedTuple):
    """A final transaction and where it sits: ``tx, height, index = store.get_tx(h)``."""

    tx: Transaction
    height: int
    index: int


class StoredReceipt(BaseModel):
    """A settled receipt, located: enough to fetch its block and prove inclusion."""

    model_config = ConfigDict(frozen=True)

    receipt_id: str
    job_id: str
    height: int
    tx_hash: str
    index: int
    receipt: Receipt


class ChainHead(BaseModel):
    """What the store's head row says: which chain, and how far it has been stored."""

    model_config = ConfigDict(frozen=True)

    chain_id: str
    genesis_hash: str
    genesis_root: str
    height: int
    block_hash: str
    commit: Commit | None


# -- helpers ----------------------------------------------------------------------------------------


def _addresses_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        if is_address(value):
            yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _addresses_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from _addresses_in(item)


def addresses_of(tx: Transaction) -> set[str]:
    """Every address a transaction concerns: its sender and every address its payload names.

    Walking the payload (rather than listing fields per type) means a recipient, validator,
    coordinator, receipt client or miner, evidence subject or governance target is indexed
    without this module knowing each type - and a new type is covered the day it is added.
    Public keys and hashes carry no ``0x`` prefix, so they are never mistaken for addresses.
    """
    return {tx.sender, *_addresses_in(tx.payload)}


def _text(value: Any) -> str:
    return canonical_json(value).decode("utf-8")


_DECODER = json.JSONDecoder()
_BLOCK_START, _COMMIT_KEY = '{"header":', ',"last_commit":'


def _last_commit_in(data: str) -> Any:
    """The ``last_commit`` of a stored block's canonical JSON, parsed alone: in canonical order
    the header comes first and the commit after it, so the decoder reads the header, finds the
    key, and reads the commit, leaving the transactions that follow unparsed. Any other layout
    is parsed whole."""
    if data.startswith(_BLOCK_START):
        _, end = _DECODER.raw_decode(data, len(_BLOCK_START))
        if data.startswith(_COMMIT_KEY, end):
            return _DECODER.raw_decode(data, end + len(_COMMIT_KEY))[0]
    return json.loads(data)["last_commit"]


def _chunks(rows: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(rows), _CHUNK):
        yield rows[start:start + _CHUNK]


def _version_before_versioning(database: peewee.Database) -> int:
    """Chain databases carried their version in the head row before ``aitbc_schema`` existed."""
    head = bind_model(database, HeadRow)
    if not database.table_exists(head._meta.table_name):
        return 1
    row = head.get_or_none(head.id == _HEAD_ID)
    return SCHEMA_VERSION if row is None else int(row.schema_version)


CHAIN_SCHEMA = Schema(
    component="chain", version=SCHEMA_VERSION,
    tables=(BlockRow, TxRow, AddressTxRow, ReceiptRow, StateRow, HeadRow, MempoolRow),
    legacy_version=_version_before_versioning,
)
"""The node's tables (its mempool's included: one database, one version)."""


# -- the store ------------------------------------------------------------------------------------


class ChainStore:
    """Final blocks and the state after the newest one, in one database."""

    def __init__(self, database: peewee.Database, *, written_by: str = "aitbc",
                 backup_dir: Path | None = None) -> None:
        """Open the node's tables, migrating an older database when ``backup_dir`` allows it
        (``storage.schema``); a database of another version is refused before anything is read."""
        self._db = database
        self.schema = open_schema(database, CHAIN_SCHEMA, written_by=written_by, backup_dir=backup_dir)
        self._block = bind_model(database, BlockRow)
        self._tx = bind_model(database, TxRow)
        self._addr = bind_model(database, AddressTxRow)
        self._receipt = bind_model(database, ReceiptRow)
        self._state = bind_model(database, StateRow)
        self._head = bind_model(database, HeadRow)
        self._mempool = bind_model(database, MempoolRow)

    @property
    def database(self) -> peewee.Database:
        return self._db

    # -- genesis and head ---------------------------------------------------------------------

    def is_initialized(self) -> bool:
        return self._head.select().where(self._head.id == _HEAD_ID).exists()

    def initialize(self, genesis_state: State, genesis_hash: str) -> None:
        """Store the height-0 state once.

        Calling it again with the same genesis does nothing (a node runs it on every start);
        with another genesis it is a ``GenesisMismatch``, because mixing two chains in one
        database would be silent corruption.
        """
        if genesis_state.height != 0 or genesis_state.last_block_hash:
            raise StorageError(f"initialize needs the genesis state (height 0), got height {genesis_state.height}")
        declared = (genesis_state.get("meta", "genesis") or {}).get("hash")
        if declared is not None and declared != genesis_hash:
            raise GenesisMismatch(f"genesis hash {genesis_hash[:16]} is not the one recorded in the genesis state "
                                  f"({str(declared)[:16]})")
        rows = [(ns, key, _text(value)) for ns, key, value in genesis_state.entries()]
        with self._db.atomic():
            head = self._head.get_or_none(self._head.id == _HEAD_ID)
            if head is not None:
                if head.chain_id != genesis_state.chain_id or head.genesis_hash != genesis_hash:
                    raise GenesisMismatch(
                        f"database holds chain {head.chain_id!r} with genesis {head.genesis_hash[:16]}, "
                        f"not chain {genesis_state.chain_id!r} with genesis {genesis_hash[:16]}")
                return
            self._insert_rows(self._state, _STATE_FIELDS, rows)
            self._head.insert(
                id=_HEAD_ID, schema_version=SCHEMA_VERSION, chain_id=genesis_state.chain_id,
                genesis_hash=genesis_hash, genesis_root=genesis_state.root, height=0, block_hash="", commit=None,
            ).execute()

    def head(self) -> ChainHead | None:
        """The head row, or None before ``initialize``."""
        row = self._head.get_or_none(self._head.id == _HEAD_ID)
        return None if row is None else self._head_model(row)

    def latest_height(self) -> int:
        """Height of the newest stored block (0: only genesis)."""
        return self._require_head().height

    # -- writing blocks ---------------------------------------------------------------------------

    def commit_block(self, block: Block, new_state: State, commit: Commit | None = None,
                     signers: dict[str, dict[str, Any]] | None = None) -> None:
        """Store a final block and the state after it, atomically.

        ``new_state`` must be the state ``apply_block``/``build_block`` returned for ``block``:
        its ``touched`` keys are the diff written. ``commit`` is the commit that finalized
        ``block``, kept in the head until the next block carries it as ``last_commit``.
        Raises ``BlockOutOfOrder`` (nothing written) when the block does not extend the head.
        """
        height = block.height
        header = block.header
        if new_state.root != header.state_root:
            raise BlockOutOfOrder(f"state root {new_state.root[:16]} does not match block {height}'s "
                                  f"{header.state_root[:16]}: not the state after this block")
        if new_state.height != height:
            raise BlockOutOfOrder(f"state is at height {new_state.height}, the block is {height}")
        if new_state.last_block_hash != block.hash:
            raise BlockOutOfOrder(f"state's last block hash {new_state.last_block_hash[:16]} is not block {height}'s "
                                  f"{block.hash[:16]}")
        if commit is not None and (commit.height != height or commit.block_hash != block.hash):
            raise BlockOutOfOrder(f"commit is for block {commit.block_hash[:16]} at height {commit.height}, "
                                  f"not block {block.hash[:16]} at height {height}")

        block_row = {
            "height": height, "hash": block.hash, "time_ms": header.time_ms, "proposer": header.proposer,
            "tx_count": len(block.txs), "state_root": header.state_root, "data": block.encoded().decode("utf-8"),
            "signers": _text(signers) if signers is not None else None,
        }
        tx_rows: list[tuple[Any, ...]] = []
        addr_rows: list[tuple[Any, ...]] = []
        receipt_rows: list[tuple[Any, ...]] = []
        for position, tx in enumerate(block.txs):
            tx_rows.append((tx.hash, height, position, tx.sender, tx.type, tx.nonce, tx.fee, tx.encoded.decode("utf-8")))
            for address in sorted(addresses_of(tx)):
                addr_rows.append((address, height, position, tx.hash))
            if isinstance(tx.body, JobReceiptPayload):
                for index, receipt in enumerate(tx.body.receipts):
                    receipt_rows.append((receipt.receipt_id, receipt.job_id, height, tx.hash, index))
        upserts: list[tuple[Any, ...]] = []
        deletes: dict[str, list[str]] = defaultdict(list)
        for ns, key in sorted(new_state.touched):
            value = new_state.get(ns, key)
            if value is None:
                deletes[ns].append(key)
            else:
                upserts.append((ns, key, _text(value)))
        commit_text = _text(commit.model_dump()) if commit is not None else None
        tx_hashes = [tx.hash for tx in block.txs]

        try:
            with self._db.atomic():
                head = self._locked_head()
                if head.chain_id != header.chain_id:
                    raise BlockOutOfOrder(f"block is for chain {header.chain_id!r}, the database holds {head.chain_id!r}")
                if height != head.height + 1:
                    raise BlockOutOfOrder(f"block height {height} does not follow the stored head {head.height}")
                expected_prev = head.block_hash or GENESIS_PREV_HASH
                if header.prev_hash != expected_prev:
                    raise BlockOutOfOrder(f"block {height}'s previous hash {header.prev_hash[:16]} is not the stored "
                                          f"head {expected_prev[:16]}")
                self._block.insert(block_row).as_rowcount().execute()
                self._insert_rows(self._tx, _TX_FIELDS, tx_rows)
                self._insert_rows(self._addr, _ADDR_FIELDS, addr_rows)
                self._insert_rows(self._receipt, _RECEIPT_FIELDS, receipt_rows)
                self._insert_rows(self._state, _STATE_FIELDS, upserts, upsert=True)
                for ns, keys in deletes.items():
                    self._delete_rows(self._state.key, keys, self._state.namespace == ns)
                self._delete_rows(self._mempool.hash, tx_hashes)
                updated = (self._head.update(height=height, block_hash=block.hash, commit=commit_text)
                           .where((self._head.id == _HEAD_ID) & (self._head.height == height - 1)).execute())
                if updated != 1:
                    raise BlockOutOfOrder(f"the head moved while block {height} was being stored")
        except peewee.IntegrityError as exc:
            raise BlockOutOfOrder(f"block {height} or one of its transactions is already stored "
                                  f"({str(exc).splitlines()[0] if str(exc) else 'constraint'})") from None

    # -- state ---------------------------------------------------------------------------------------

    def load_state(self, chain_id: str) -> State | None:
        """The state after the head block, rebuilt from the rows; None before ``initialize``.

        The caller (or ``verify_head``) compares its ``root`` with the head block's
        ``state_root`` before trusting it.
        """
        with self._read_snapshot():
            head = self._head.get_or_none(self._head.id == _HEAD_ID)
            if head is None:
                return None
            if head.chain_id != chain_id:
                raise GenesisMismatch(f"database holds chain {head.chain_id!r}, not {chain_id!r}")
            query = self._state.select(self._state.namespace, self._state.key, self._state.value).tuples()
            entries = [(ns, key, json.loads(value)) for ns, key, value in query.iterator()]
            block_hash = head.block_hash
        return State.from_entries(chain_id, entries, last_block_hash=block_hash)

    def verify_head(self) -> State:
        """Load the state and prove it is the state the head block committed to.

        Returns the verified state. Raises ``NotInitialized`` before genesis, ``StateMismatch``
        when the rows do not hash to the head block's ``state_root`` (or the head names a block
        that is not stored) - the one check that catches a database edited or damaged outside
        this store.
        """
        with self._read_snapshot():
            head = self._require_head()
            state = self.load_state(head.chain_id)
            assert state is not None
            if head.height == 0:
                expected = head.genesis_root
                what = "the genesis state"
            else:
                row = self._block.get_or_none(self._block.height == head.height)
                if row is None or row.hash != head.block_hash:
                    raise StateMismatch(f"head names block {head.height} ({head.block_hash[:16]}), which is not stored")
                expected = row.state_root
                what = f"block {head.height}"
        if state.height != head.height:
            raise StateMismatch(f"stored state is at height {state.height}, the head at {head.height}")
        if state.root != expected:
            raise StateMismatch(f"stored state has root {state.root[:16]}, but {what} commits to {expected[:16]}: "
                                f"the database was changed outside the node or is damaged")
        return state

    def get_entry(self, ns: str, key: str) -> dict[str, Any] | None:
        """One state entry after the head block, without loading the whole state."""
        row = self._state.get_or_none((self._state.namespace == ns) & (self._state.key == key))
        return None if row is None else json.loads(row.value)

    # -- blocks and commits ---------------------------------------------------------------------

    def get_block_json(self, height: int) -> bytes | None:
        """The canonical JSON of block ``height``, as stored: what a syncing peer is sent."""
        row = self._block.select(self._block.data).where(self._block.height == height).first()
        return None if row is None else row.data.encode("utf-8")

    def get_block(self, height: int) -> Block | None:
        data = self.get_block_json(height)
        return None if data is None else Block.model_validate_json(data)

    def get_block_answer(self, height: int | None = None, block_hash: str | None = None) -> dict[str, Any] | None:
        """Block ``height`` (or the one of ``block_hash``) as RPC's ``get_block`` answers it: its
        hash, header, transactions and carried commit, and the commit that finalized it.

        Read straight from the stored JSON, not through ``Block``: a syncing peer asks for
        blocks by the dozen, and validating a full block's two thousand transactions into models
        only to dump them again cost some 40 ms a block (what is stored was validated before it
        was committed). The finalizing commit is read from the next block without parsing that
        block's transactions.
        """
        where = self._block.height == height if block_hash is None else self._block.hash == block_hash
        row = self._block.select(self._block.height, self._block.hash, self._block.data).where(where).first()
        if row is None:
            return None
        commit = self.get_commit(row.height)
        return {"hash": row.hash, **json.loads(row.data), "commit": commit.model_dump() if commit else None}

    def get_block_by_hash(self, block_hash: str) -> Block | None:
        row = self._block.select(self._block.data).where(self._block.hash == block_hash).first()
        return None if row is None else Block.model_validate_json(row.data)

    def get_commit(self, height: int) -> Commit | None:
        """The commit that finalized block ``height``.

        Block ``h+1`` carries it as ``last_commit``; for the head block it is the one passed to
        ``commit_block``. None for heights not stored (and for the head when none was given).
        """
        head = self._require_head()
        if height < 1 or height > head.height:
            return None
        if height == head.height:
            return head.commit
        row = self._block.select(self._block.data).where(self._block.height == height + 1).first()
        if row is None:
            return None
        last_commit = _last_commit_in(row.data)
        return None if last_commit is None else Commit.model_validate(last_commit)

    def get_signers(self, height: int) -> dict[str, dict[str, Any]] | None:
        """The validator set that voted on block ``height``, when the node recorded it."""
        row = self._block.select(self._block.signers).where(self._block.height == height).first()
        return None if row is None or row.signers is None else json.loads(row.signers)

    # -- transactions and receipts -------------------------------------------------------------

    def get_tx(self, tx_hash: str) -> StoredTx | None:
        row = (self._tx.select(self._tx.data, self._tx.height, self._tx.position)
               .where(self._tx.hash == tx_hash).first())
        if row is None:
            return None
        return StoredTx(Transaction.model_validate_json(row.data), row.height, row.position)

    def txs_by_address(
        self, address: str, limit: int = 50, before_height: int | None = None, before_index: int | None = None,
    ) -> list[StoredTx]:
        """Transactions sent by or naming ``address``, newest first.

        Pages: pass the last item's ``height`` and ``index`` as ``before_height`` and
        ``before_index`` to continue exactly after it (``before_height`` alone skips to blocks
        below that height).
        """
        if not 1 <= limit <= MAX_PAGE:
            raise ValueError(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
        if before_index is not None and before_height is None:
            raise ValueError("before_index needs before_height")
        a, t = self._addr, self._tx
        query = (t.select(t.data, t.height, t.position)
                 .join(a, on=((a.height == t.height) & (a.position == t.position)))
                 .where(a.address == address))
        if before_height is not None:
            if before_index is None:
                query = query.where(a.height < before_height)
            else:
                query = query.where((a.height < before_height) | ((a.height == before_height) & (a.position < before_index)))
        query = query.order_by(a.height.desc(), a.position.desc()).limit(limit)
        return [StoredTx(Transaction.model_validate_json(data), height, position)
                for data, height, position in query.tuples()]

    def get_receipt(self, receipt_id: str) -> StoredReceipt | None:
        row = self._receipt.get_or_none(self._receipt.receipt_id == receipt_id)
        return None if row is None else self._stored_receipt(row)

    def receipts_for_job(self, job_id: str, coordinator: str | None = None) -> list[StoredReceipt]:
        """Receipts settled for ``job_id``, oldest first, only ``coordinator``'s when given. Job ids
        are scoped to their coordinator: the chain settles one per coordinator, so the list is
        as long as the number of coordinators that used this id (and, per coordinator, at most 1)."""
        rows = self._receipt.select().where(self._receipt.job_id == job_id).order_by(self._receipt.height)
        found = [self._stored_receipt(row) for row in rows]
        return [r for r in found if coordinator is None or r.receipt.body.coordinator == coordinator]

    # -- internals ------------------------------------------------------------------------------

    def _stored_receipt(self, row: ReceiptRow) -> StoredReceipt:
        tx_row = self._tx.select(self._tx.data).where(self._tx.hash == row.tx_hash).first()
        if tx_row is None:
            raise StorageError(f"receipt {row.receipt_id[:16]} points at missing transaction {row.tx_hash[:16]}")
        receipt = Receipt.model_validate(json.loads(tx_row.data)["payload"]["receipts"][row.position])
        return StoredReceipt(receipt_id=row.receipt_id, job_id=row.job_id, height=row.height,
                             tx_hash=row.tx_hash, index=row.position, receipt=receipt)

    def _insert_rows(
        self, model: type[SchemaModel], fields: tuple[str, ...], rows: list[tuple[Any, ...]], *, upsert: bool = False,
    ) -> None:
        """Insert many rows (``upsert``: replacing the value of an existing key).

        SQLite runs one prepared statement for all rows (``executemany``): peewee's SQL
        generation for a multi-row INSERT would cost several times the write itself on a block
        of a thousand transactions. Other backends get multi-row INSERTs, one round trip per
        chunk. All columns here are text or 64-bit integers, stored as given.
        """
        if not rows:
            return
        columns = [model._meta.fields[name] for name in fields]

        def on_conflict(query: peewee.Insert) -> peewee.Insert:
            if not upsert:
                return query
            return query.on_conflict(conflict_target=[columns[0], columns[1]], preserve=[columns[2]])

        if isinstance(self._db, peewee.SqliteDatabase):
            sql, _ = on_conflict(model.insert({column: None for column in columns})).sql()
            with peewee.__exception_wrapper__:
                self._db.cursor().executemany(sql, rows)
            return
        for chunk in _chunks(rows):
            on_conflict(model.insert_many(chunk, fields=columns)).as_rowcount().execute()

    def _delete_rows(self, column: peewee.Field, keys: list[str], scope: peewee.Expression | None = None) -> None:
        """Delete the rows whose ``column`` is one of ``keys`` (and that match ``scope``).

        SQLite runs one prepared statement per key (``executemany``, an index look-up each):
        peewee's SQL for ``IN`` lists of a block's two thousand transaction hashes cost more
        than the deletes. Other backends get ``IN`` lists, one round trip per chunk."""
        if not keys:
            return
        model = column.model
        if isinstance(self._db, peewee.SqliteDatabase):
            def build(arg: Callable[[str], peewee.Node]) -> peewee.Node:
                where = column == arg("key")
                return model.delete().where(where if scope is None else (scope & where))

            Statement(self._db, build).run_many({"key": key} for key in keys)
            return
        for chunk in _chunks(keys):
            condition = column.in_(chunk)
            model.delete().where(condition if scope is None else (scope & condition)).execute()

    def _read_snapshot(self) -> peewee._atomic:
        """A read transaction in which every query sees the same committed database, so that
        the head and the state rows read for it belong together even while a block is being
        committed by another thread or process. On SQLite it takes no write lock (a deferred
        transaction's WAL snapshot); on PostgreSQL it needs REPEATABLE READ (READ COMMITTED
        would let each query see a newer commit)."""
        if isinstance(self._db, peewee.SqliteDatabase):
            return self._db.atomic(lock_type="DEFERRED")
        if isinstance(self._db, peewee.PostgresqlDatabase):
            return self._db.atomic(isolation_level="REPEATABLE READ")
        return self._db.atomic()

    def _require_head(self) -> ChainHead:
        head = self.head()
        if head is None:
            raise NotInitialized("the chain database holds no genesis yet; initialize it first")
        return head

    def _locked_head(self) -> HeadRow:
        """The head row, locked until the transaction ends where the backend supports it
        (PostgreSQL); SQLite's IMMEDIATE transactions already hold the only write lock."""
        query = self._head.select().where(self._head.id == _HEAD_ID)
        if self._db.for_update:
            query = query.for_update()
        row = query.first()
        if row is None:
            raise NotInitialized("the chain database holds no genesis yet; initialize it first")
        return row

    @staticmethod
    def _head_model(row: HeadRow) -> ChainHead:
        commit = Commit.model_validate(json.loads(row.commit)) if row.commit else None
        return ChainHead(chain_id=row.chain_id, genesis_hash=row.genesis_hash, genesis_root=row.genesis_root,
                         height=row.height, block_hash=row.block_hash, commit=commit)
