"""Which version of its tables each database holds, and the one path that brings it to this code's.

Why: without a version, a release that changes a table strands every existing home; the next
start either fails on a missing column or, worse, misreads a renamed one. So every database
carries an ``aitbc_schema`` table with one row per component that keeps tables in it (the node's
chain and mempool, the coordinator's market), naming the version and the software that wrote it.

Opening a database goes through :func:`open_schema`, with these outcomes, in this order:

- **fresh** (none of the component's tables exist): the tables are created and stamped;
- **current**: nothing to do but add any index the tables declare that it lacks (indexes carry no
  version: they change no row);
- **newer** than this code: refused; a downgrade would misread data it does not know;
- **older** (or from before versioning, which is version 1 unless the component says how to read
  it): migrated step by step when the caller allows it, after a backup of the whole SQLite file
  (PostgreSQL runs each step in a transaction, DDL included, so a failed step leaves nothing);
  otherwise refused with the one command that migrates it.

A migration changes tables, never what a row means to the protocol: a node's blocks and state rows
are never rewritten, so no block hash or state root can change through this path.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import peewee
from playhouse.migrate import SchemaMigrator

from storage.database import SchemaModel, bind_model
from storage.errors import SchemaVersionMismatch

MIGRATE_HINT = "aitbc home migrate --home HOME"
"""The command that migrates a home's databases (the daemons also do it at start-up)."""


class SchemaRow(SchemaModel):
    component = peewee.CharField(max_length=32, primary_key=True)
    version = peewee.IntegerField()
    written_by = peewee.CharField(max_length=64)
    updated_ms = peewee.BigIntegerField()

    class Meta:
        table_name = "aitbc_schema"


@dataclass(frozen=True)
class Migration:
    """One step: from ``to_version - 1`` to ``to_version``."""

    to_version: int
    summary: str
    apply: Callable[[peewee.Database, SchemaMigrator], None]


@dataclass(frozen=True)
class Schema:
    """A component's tables and their history."""

    component: str
    version: int
    tables: Sequence[type[SchemaModel]]
    migrations: Sequence[Migration] = ()
    legacy_version: Callable[[peewee.Database], int] = field(default=lambda _db: 1)
    """The version of a database written before ``aitbc_schema`` existed (its tables present)."""

    def steps(self, from_version: int) -> list[Migration]:
        by_target = {m.to_version: m for m in self.migrations}
        missing = [v for v in range(from_version + 1, self.version + 1) if v not in by_target]
        if missing:
            raise SchemaVersionMismatch(
                f"{self.component} database has schema version {from_version}; this software reads version "
                f"{self.version} and has no migration to version {missing[0]}")
        return [by_target[v] for v in range(from_version + 1, self.version + 1)]


@dataclass(frozen=True)
class SchemaReport:
    component: str
    found: int | None
    """The version on disk before opening (``None``: a fresh database)."""
    version: int
    backup: Path | None = None
    applied: tuple[str, ...] = ()


def stored_version(database: peewee.Database, schema: Schema) -> int | None:
    """The version a database holds for ``schema``'s component; ``None`` when it has none of its tables."""
    row_model = bind_model(database, SchemaRow)
    if database.table_exists(row_model._meta.table_name):
        row = row_model.get_or_none(row_model.component == schema.component)
        if row is not None:
            return int(row.version)
    if any(database.table_exists(table._meta.table_name) for table in schema.tables):
        return schema.legacy_version(database)
    return None


def open_schema(database: peewee.Database, schema: Schema, *, written_by: str,
                backup_dir: Path | None = None) -> SchemaReport:
    """Bring ``database`` to ``schema.version`` (see the module's doc); ``backup_dir`` allows
    migrating an older database, a copy of which is written there first."""
    found = stored_version(database, schema)
    if found is not None and found > schema.version:
        raise SchemaVersionMismatch(
            f"{schema.component} database has schema version {found}, written by a newer release; this software "
            f"reads version {schema.version}: install that release again (a downgrade would misread the data)")
    if found is not None and found < schema.version and backup_dir is None:
        raise SchemaVersionMismatch(
            f"{schema.component} database has schema version {found}, this software reads version "
            f"{schema.version}: run `{MIGRATE_HINT}` (it keeps a backup)")
    steps = schema.steps(found) if found is not None else []
    backup = backup_database(database, backup_dir, f"{schema.component}-v{found}") if steps and backup_dir else None
    row_model = bind_model(database, SchemaRow)
    with database.atomic():
        database.create_tables([row_model], safe=True)
        if found is None:
            database.create_tables([bind_model(database, table) for table in schema.tables], safe=True)
        migrator = SchemaMigrator.from_database(database)
        for step in steps:
            step.apply(database, migrator)
        if found is not None:
            _add_missing_indexes(database, schema)
        if found != schema.version or row_model.get_or_none(row_model.component == schema.component) is None:
            _stamp(row_model, schema, written_by)
    return SchemaReport(component=schema.component, found=found, version=schema.version, backup=backup,
                        applied=tuple(step.summary for step in steps))


def _add_missing_indexes(database: peewee.Database, schema: Schema) -> None:
    """Create the indexes the tables declare that an existing database lacks (``CREATE INDEX IF
    NOT EXISTS``). Indexes carry no version: one changes no row and no answer, only how fast a
    query finds its rows, so a release may add one (a hot query that scanned a client's whole
    history) and every database, fresh or not, has it after opening; an older release reading
    the database ignores it."""
    for table in schema.tables:
        bind_model(database, table)._schema.create_indexes(safe=True)


def _stamp(row_model: type[SchemaRow], schema: Schema, written_by: str) -> None:
    (row_model.insert(component=schema.component, version=schema.version, written_by=written_by[:64],
                      updated_ms=int(time.time() * 1000))
     .on_conflict(conflict_target=[row_model.component],
                  update={row_model.version: schema.version, row_model.written_by: written_by[:64],
                          row_model.updated_ms: int(time.time() * 1000)})
     .execute())


def startup_backup_dir(database: peewee.Database, backups_dir: Path) -> Path | None:
    """Where a daemon starting on ``database`` may back it up before migrating it: SQLite files
    are copied and migrated at start-up; a server database waits for the migrate command, run by an
    operator who has backed it up with the server's own tools."""
    return backups_dir if isinstance(database, peewee.SqliteDatabase) else None


def backup_database(database: peewee.Database, backup_dir: Path, label: str) -> Path | None:
    """A consistent copy of a SQLite database (sqlite's online backup: safe while it is open)
    as ``backup_dir/<file>.<label>.<ms>.bak``; ``None`` for a server database, whose migration
    steps are transactional instead.

    The copy is read through a connection of its own, of what is committed: the caller's
    connection may hold the write lock (the coordinator's store opens its schema inside
    ``BEGIN IMMEDIATE``, so that nothing writes between this copy and the migration), and
    sqlite's backup from a connection in a write transaction never finishes. WAL lets the reader
    in beside that writer."""
    if not isinstance(database, peewee.SqliteDatabase) or database.database == ":memory:":
        return None
    source_path = Path(database.database)
    backup_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = backup_dir / f"{source_path.name}.{label}.{int(time.time() * 1000)}.bak"
    source = sqlite3.connect(f"{source_path.resolve().as_uri()}?mode=ro", uri=True)
    destination = sqlite3.connect(target)
    try:
        source.backup(destination)
    finally:
        destination.close()
        source.close()
    target.chmod(0o600)
    return target
