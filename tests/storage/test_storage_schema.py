"""Every database carries its schema version; an older one is migrated after a backup, a newer
one refused, and nothing is changed by a refusal (``storage.schema``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import peewee
import pytest

from storage.chain_store import CHAIN_SCHEMA, SCHEMA_VERSION, ChainStore
from storage.database import SchemaModel, bind_model, open_database
from storage.errors import SchemaVersionMismatch
from storage.schema import Migration, Schema, open_schema, stored_version


class Thing(SchemaModel):
    name = peewee.CharField(primary_key=True)

    class Meta:
        table_name = "test_things"


V1 = Schema(component="things", version=1, tables=(Thing,))


def _add_colour(database: peewee.Database, migrator) -> None:  # type: ignore[no-untyped-def]
    from playhouse.migrate import migrate

    migrate(migrator.add_column("test_things", "colour", peewee.CharField(default="red")))


V2 = Schema(component="things", version=2, tables=(Thing,),
            migrations=(Migration(to_version=2, summary="things get a colour", apply=_add_colour),))


def _rows(path: Path) -> list[tuple]:  # type: ignore[type-arg]
    with sqlite3.connect(path) as db:
        return db.execute("SELECT * FROM test_things ORDER BY name").fetchall()


def _version_row(path: Path) -> tuple | None:  # type: ignore[type-arg]
    with sqlite3.connect(path) as db:
        return db.execute("SELECT version, written_by FROM aitbc_schema WHERE component = 'things'").fetchone()


def _written(tmp_path: Path, schema: Schema, *names: str, written_by: str = "aitbc") -> peewee.Database:
    """A test database opened by ``schema`` (so at its version) holding a ``Thing`` per name."""
    db = open_database(None, tmp_path / "t.db")
    open_schema(db, schema, written_by=written_by)
    for name in names:
        bind_model(db, Thing).create(name=name)
    return db


def test_fresh_database_is_created_and_stamped(tmp_path: Path) -> None:
    db = open_database(None, tmp_path / "t.db")
    report = open_schema(db, V1, written_by="aitbc 9.9")
    assert (report.found, report.version, report.backup) == (None, 1, None)
    assert db.table_exists("test_things")
    db.close()
    assert _version_row(tmp_path / "t.db") == (1, "aitbc 9.9")


def test_database_from_before_versioning_is_version_one_and_kept(tmp_path: Path) -> None:
    db = open_database(None, tmp_path / "t.db")
    bound = bind_model(db, Thing)
    db.create_tables([bound])
    bound.create(name="kept")
    assert stored_version(db, V1) == 1
    report = open_schema(db, V1, written_by="aitbc")
    assert report.found == 1 and report.applied == ()
    db.close()
    assert _rows(tmp_path / "t.db") == [("kept",)] and _version_row(tmp_path / "t.db")[0] == 1  # type: ignore[index]


def test_older_database_is_refused_without_a_backup_place_and_left_alone(tmp_path: Path) -> None:
    db = _written(tmp_path, V1, "a")
    with pytest.raises(SchemaVersionMismatch, match=r"schema version 1, this software reads version 2: run `aitbc home migrate"):
        open_schema(db, V2, written_by="aitbc")
    db.close()
    assert _rows(tmp_path / "t.db") == [("a",)] and _version_row(tmp_path / "t.db")[0] == 1  # type: ignore[index]


def test_older_database_is_backed_up_then_migrated(tmp_path: Path) -> None:
    db = _written(tmp_path, V1, "a")
    report = open_schema(db, V2, written_by="aitbc 2", backup_dir=tmp_path / "backups")
    assert (report.found, report.version, report.applied) == (1, 2, ("things get a colour",))
    db.close()
    assert _rows(tmp_path / "t.db") == [("a", "red")] and _version_row(tmp_path / "t.db") == (2, "aitbc 2")
    assert report.backup is not None and report.backup.parent == tmp_path / "backups"
    assert report.backup.stat().st_mode & 0o777 == 0o600
    with sqlite3.connect(report.backup) as old:  # the copy is the database as it was before
        assert old.execute("SELECT * FROM test_things").fetchall() == [("a",)]
        assert old.execute("SELECT version FROM aitbc_schema").fetchone() == (1,)


class IndexedThing(Thing):
    """``Thing`` as a later release declares it: the same table with an index on its name."""

    class Meta:
        table_name = "test_things"
        indexes = ((("name",), False),)


def test_an_index_a_release_adds_is_created_at_open_without_a_version(tmp_path: Path) -> None:
    """Indexes carry no version (they change no row): an existing database of the current version
    gets the indexes its tables now declare when it is opened, and keeps its rows and version."""
    db = _written(tmp_path, V1, "a", "b")
    indexed = Schema(component="things", version=1, tables=(IndexedThing,))
    assert "test_things_name" not in {i.name for i in db.get_indexes("test_things")}
    report = open_schema(db, indexed, written_by="aitbc 1.1")
    assert (report.found, report.version, report.applied, report.backup) == (1, 1, (), None)
    assert "test_things_name" in {i.name for i in db.get_indexes("test_things")}
    open_schema(db, indexed, written_by="aitbc 1.1")  # again: nothing to add, no error
    db.close()
    assert _rows(tmp_path / "t.db") == [("a",), ("b",)] and _version_row(tmp_path / "t.db")[0] == 1  # type: ignore[index]


def test_newer_database_is_refused_even_with_a_backup_place(tmp_path: Path) -> None:
    db = _written(tmp_path, V2, written_by="aitbc 2")
    with pytest.raises(SchemaVersionMismatch, match="written by a newer release"):
        open_schema(db, V1, written_by="aitbc 1", backup_dir=tmp_path / "backups")
    assert not (tmp_path / "backups").exists()


def test_a_gap_in_the_migrations_is_refused_before_any_change(tmp_path: Path) -> None:
    db = _written(tmp_path, V1)
    v3 = Schema(component="things", version=3, tables=(Thing,), migrations=V2.migrations)
    with pytest.raises(SchemaVersionMismatch, match="no migration to version 3"):
        open_schema(db, v3, written_by="aitbc", backup_dir=tmp_path / "backups")
    assert stored_version(db, V1) == 1 and not (tmp_path / "backups").exists()


def test_chain_database_reads_its_version_from_the_head_row_before_versioning(tmp_path: Path) -> None:
    db = open_database(None, tmp_path / "node.db")
    ChainStore(db)
    db.execute_sql("DROP TABLE aitbc_schema")  # as a database written before aitbc_schema existed
    assert stored_version(db, CHAIN_SCHEMA) == SCHEMA_VERSION  # no head row yet: this code's
    db.close()
