"""What every part of the coordinator store shares: the database, its tables bound to it, row
locks, keyset pages, and the errors callers handle."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import peewee

from daemons.coordinator.store.tables import COORDINATOR_SCHEMA, TABLES
from storage.database import bind_model
from storage.group_commit import GroupCommit
from storage.errors import StorageError
from storage.schema import open_schema

MAX_PAGE = 500
Row = TypeVar("Row")
Rec = TypeVar("Rec")


class InsufficientEscrow(StorageError):
    """The client's escrow, minus what its unsettled jobs reserve, does not cover the new job."""

    def __init__(self, message: str, available: int) -> None:
        super().__init__(message)
        self.available = available


class Conflict(StorageError):
    """The row is not in a state that allows the change (e.g. cancelling a completed job)."""


def text(value: Any) -> str:
    """Canonical JSON for a text column (sorted keys: equal values are equal strings)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class StoreBase:
    """The database and the coordinator's tables bound to it; creates the tables if missing."""

    def __init__(self, database: peewee.Database, *, written_by: str = "aitbc",
                 backup_dir: Path | None = None) -> None:
        self._db = database
        self._pg = isinstance(database, peewee.PostgresqlDatabase)
        # SQLite writers queue one at a time anyway: the submissions waiting meanwhile commit
        # together (storage/group_commit.py). PostgreSQL groups the commits of concurrent
        # connections itself, and one transaction over several clients' rows would take their
        # locks in an order other processes could cross.
        self._grouped = None if self._pg else GroupCommit(database)
        bound = [bind_model(database, table) for table in TABLES]  # in the order of TABLES:
        (self.Key, self.Client, self.Miner, self.MinerModel, self.Job, self.Verify, self.Receipt, self.Settlement,
         self.Slash, self.Lease) = bound
        with self._create_lock():
            self.schema = open_schema(database, COORDINATOR_SCHEMA, written_by=written_by, backup_dir=backup_dir)

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
        """The rows of ``query`` locked until the transaction ends (PostgreSQL; on SQLite the
        ``BEGIN IMMEDIATE`` transaction already excludes other writers)."""
        if self._pg:
            return query.for_update(skip_locked=skip_locked or None)
        return query

    @staticmethod
    def _page(query: peewee.ModelSelect, id_field: str, before: tuple[int, str] | None, limit: int,
              **equal: Any) -> peewee.ModelSelect:
        """Rows whose columns equal the given values (None: any), newest first, at most
        ``limit`` (capped at :data:`MAX_PAGE`); ``before`` is the (created_ms, id) of the last
        item of the previous page."""
        model = query.model
        for name, value in equal.items():
            if value is not None:
                query = query.where(getattr(model, name) == value)
        created, ident = model.created_ms, getattr(model, id_field)
        if before is not None:
            created_ms, last_id = before
            query = query.where((created < created_ms) | ((created == created_ms) & (ident < last_id)))
        return query.order_by(created.desc(), ident.desc()).limit(max(1, min(limit, MAX_PAGE)))

    @staticmethod
    def _maybe(row: Row | None, record: Callable[[Row], Rec]) -> Rec | None:
        """The record of ``row``, or None when there is no row."""
        return None if row is None else record(row)
