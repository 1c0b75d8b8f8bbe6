"""open_database: URLs, SQLite tuning, clear errors, and several databases in one process."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import peewee
import pytest
from testkit import one_line_error, postgres_url

from storage.database import SchemaModel, Statement, bind_model, open_database
from storage.errors import DatabaseUnavailable


def pragma(db: peewee.Database, name: str) -> object:
    return db.execute_sql(f"PRAGMA {name}").fetchone()[0]


def test_default_is_a_private_wal_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "data" / "node.db"
    db = open_database(None, path)
    assert isinstance(db, peewee.SqliteDatabase) and path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert pragma(db, "journal_mode") == "wal"
    assert pragma(db, "synchronous") == 1  # NORMAL
    assert pragma(db, "foreign_keys") == 1
    assert pragma(db, "busy_timeout") == 10_000
    db.close()
    assert open_database("", path).database == str(path)


def test_sqlite_urls_and_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    absolute = tmp_path / "abs.db"
    db = open_database(f"sqlite:///{absolute}?synchronous=full&busy_timeout=250", tmp_path / "unused.db")
    assert db.database == str(absolute)
    assert pragma(db, "synchronous") == 2  # FULL
    assert pragma(db, "busy_timeout") == 250
    db.close()
    assert open_database(None, tmp_path / "kw.db", synchronous="FULL").execute_sql("PRAGMA synchronous").fetchone()[0] == 2
    monkeypatch.chdir(tmp_path)
    relative = open_database("sqlite:///rel.db", tmp_path / "unused.db")
    assert relative.database == "rel.db" and (tmp_path / "rel.db").is_file()
    assert not (tmp_path / "unused.db").exists()


@pytest.mark.parametrize(("url", "message"), [
    ("sqlite:///x.db?synchronous=sometimes", "synchronous"),
    ("sqlite:///x.db?journal_mode=delete", "unknown SQLite URL option 'journal_mode'"),
    ("sqlite:///x.db?busy_timeout=soon", "busy_timeout"),
    ("sqlite://host/x.db", "host part"),
    ("sqlite:///", "names no file"),
    ("sqlite+pool:///x.db", "use sqlite:///PATH"),
    ("oracle://u:pw@h/db", "unsupported database URL scheme 'oracle'"),
])
def test_bad_urls_are_one_clear_error(tmp_path: Path, url: str, message: str) -> None:
    with one_line_error(DatabaseUnavailable, message):
        open_database(url, tmp_path / "unused.db")


def test_unreachable_server_error_hides_the_password(tmp_path: Path) -> None:
    # Port 1 on loopback: nothing listens there, the connection is refused at once.
    with pytest.raises(DatabaseUnavailable, match="cannot connect to postgresql database 127.0.0.1:1/aitbc") as info:
        open_database("postgresql://aitbc:s3cr3t-pw@127.0.0.1:1/aitbc", tmp_path / "unused.db")
    assert "s3cr3t-pw" not in str(info.value)


def test_unwritable_location_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(DatabaseUnavailable, match="cannot create SQLite database"):
        open_database(None, blocker / "node.db")


class Note(SchemaModel):
    text = peewee.TextField()

    class Meta:
        table_name = "notes"


def test_bound_copies_keep_databases_apart(tmp_path: Path) -> None:
    first, second = open_database(None, tmp_path / "a.db"), open_database(None, tmp_path / "b.db")
    notes_a, notes_b = bind_model(first, Note), bind_model(second, Note)
    first.create_tables([notes_a])
    second.create_tables([notes_b])
    notes_a.create(text="in a")
    notes_b.create(text="in b")
    notes_b.create(text="also in b")
    assert [n.text for n in notes_a.select()] == ["in a"]
    assert notes_b.select().count() == 2
    assert notes_a._meta.table_name == notes_b._meta.table_name == "notes"
    with pytest.raises(AttributeError, match="uninitialized Proxy"):
        Note.select().count()  # the declaration itself is never bound


def test_postgres_url_opens_a_connection(tmp_path: Path) -> None:
    url = postgres_url(tmp_path)
    db = open_database(url, tmp_path / "unused.db")
    assert isinstance(db, peewee.PostgresqlDatabase)
    assert db.execute_sql("SELECT 1").fetchone()[0] == 1
    db.close()


def test_writer_threads_of_one_process_take_turns(tmp_path: Path) -> None:
    """Threads writing one SQLite file queue on the process's writer lock (not SQLite's sleeping
    busy handler): every transaction and every autocommit write lands, none is lost or refused,
    and a transaction that fails hands the turn on (the writers after it are not stuck)."""
    db = open_database(None, tmp_path / "w.db")
    notes = bind_model(db, Note)
    db.create_tables([notes])
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for i in range(40):
                if i % 4 == 0:
                    notes.create(text=f"{worker}-{i}")  # autocommit
                    continue
                try:
                    with db.atomic():
                        notes.create(text=f"{worker}-{i}")
                        if i % 10 == 5:
                            raise LookupError("rolled back on purpose")
                except LookupError:
                    pass
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert {n.text for n in notes.select()} == {f"{w}-{i}" for w in range(6) for i in range(40) if i % 10 != 5}
    assert not db._writer.locked(), "the last writer handed its turn back"


def test_a_statement_is_compiled_once_and_run_with_new_values(tmp_path: Path) -> None:
    db = open_database(None, tmp_path / "s.db")
    notes = bind_model(db, Note)
    db.create_tables([notes])
    insert = Statement(db, lambda arg: notes.insert(text=arg("text")))
    count = Statement(db, lambda arg: notes.select(peewee.fn.COUNT(notes.id)).where(
        notes.text.startswith("a") & (notes.text != arg("but"))))
    for text in ("apple", "avocado", "banana", "apricot"):
        insert.run(text=text)
    assert sorted(n.text for n in notes.select()) == ["apple", "apricot", "avocado", "banana"]
    assert count.scalar(but="apple") == 2 and count.scalar(but="pear") == 3
    assert count.row(but="x") == (3,)
    with pytest.raises(TypeError, match="takes \\['text'\\], got \\['txt'\\]"):
        insert.run(txt="cherry")
    assert notes.select().count() == 4, "a refused run writes nothing"


def test_a_statement_runs_for_many_rows_in_order_inside_a_transaction_only(tmp_path: Path) -> None:
    db = open_database(None, tmp_path / "m.db")
    notes = bind_model(db, Note)
    db.create_tables([notes])
    insert = Statement(db, lambda arg: notes.insert(text=arg("text")))
    with pytest.raises(RuntimeError, match="inside a transaction"):
        insert.run_many([{"text": "outside"}])
    with db.atomic():
        assert insert.run_many([{"text": t} for t in ("c", "a", "b")]) == 3
    assert [n.text for n in notes.select().order_by(notes.id)] == ["c", "a", "b"]
