"""Group commit (storage/group_commit.py) on a real SQLite file: units that queue while another
commits share one transaction; each unit's answer comes only once it is committed; a unit that
fails leaves nothing and spoils nothing; a commit that fails fails every unit in it."""

from __future__ import annotations

import threading
from pathlib import Path

import peewee
import pytest
from testkit import wait_for

from storage.database import open_database
from storage.group_commit import GroupCommit


def rows(path: Path) -> list[str]:
    """The committed rows, read on a connection of its own (what another process would see)."""
    other = open_database(None, path)
    try:
        return sorted(r[0] for r in other.execute_sql("SELECT name FROM item").fetchall())
    finally:
        other.close()


@pytest.fixture
def db(tmp_path: Path) -> peewee.Database:
    database = open_database(None, tmp_path / "g.db")
    database.execute_sql("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    database.execute_sql("CREATE TABLE item (name TEXT PRIMARY KEY, parent INTEGER "
                         "REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)")
    return database


def test_units_queued_meanwhile_commit_together_and_answer_once_committed(db: peewee.Database,
                                                                          tmp_path: Path) -> None:
    group = GroupCommit(db)
    path = tmp_path / "g.db"
    ran_in: dict[str, int] = {}
    answers: dict[str, object] = {}
    seen_after: dict[str, bool] = {}

    def unit(name: str) -> str:
        ran_in[name] = threading.get_ident()
        db.execute_sql("INSERT INTO item (name) VALUES (?)", (name,))
        if name == "refused":
            raise ValueError("refused")
        return name.upper()

    def call(name: str) -> None:
        try:
            answers[name] = group.run(lambda: unit(name))
        except ValueError as exc:
            answers[name] = exc
        seen_after[name] = name in rows(path)  # committed before run() answered?

    with db.atomic():  # another writer of this process holds the turn while the units queue
        first = threading.Thread(target=call, args=("first",))
        first.start()
        wait_for(lambda: len(group._pending) == 0 and group._leading, "the first unit to lead", 10, 0.01)
        names = ["a", "b", "refused", "c"]
        threads = [threading.Thread(target=call, args=(n,)) for n in names]
        for t in threads:
            t.start()
        wait_for(lambda: len(group._pending) == len(names), "the other units to queue", 10, 0.01)
        assert rows(path) == [], "nothing is visible while the other writer holds the turn"
    for t in [first, *threads]:
        t.join(10)
    assert answers["first"] == "FIRST" and [answers[n] for n in ("a", "b", "c")] == ["A", "B", "C"]
    assert isinstance(answers["refused"], ValueError), "a unit's error is its caller's only"
    assert rows(path) == ["a", "b", "c", "first"], "the refused unit's insert was rolled back, nobody else's"
    assert len({ran_in[n] for n in names}) == 1, "the units queued meanwhile ran in one transaction"
    assert all(seen_after[n] for n in ("first", "a", "b", "c")), "an answer means committed"


def test_a_failed_commit_fails_every_unit_in_it(db: peewee.Database, tmp_path: Path) -> None:
    group = GroupCommit(db)
    answers: dict[str, object] = {}

    def call(name: str, parent: int | None) -> None:
        try:
            answers[name] = group.run(lambda: db.execute_sql(
                "INSERT INTO item (name, parent) VALUES (?, ?)", (name, parent)).rowcount)
        except peewee.IntegrityError as exc:
            answers[name] = exc

    with db.atomic():
        threads = [threading.Thread(target=call, args=("lead", None))]
        threads[0].start()
        wait_for(lambda: group._leading, "the first unit to lead", 10, 0.01)
        # The deferred foreign key is checked at COMMIT: the savepoints pass, the commit fails.
        threads += [threading.Thread(target=call, args=("ok", None)), threading.Thread(target=call, args=("bad", 42))]
        for t in threads[1:]:
            t.start()
        wait_for(lambda: len(group._pending) == 2, "both units to queue", 10, 0.01)
    for t in threads:
        t.join(10)
    assert answers["lead"] == 1
    assert isinstance(answers["ok"], peewee.IntegrityError) and isinstance(answers["bad"], peewee.IntegrityError)
    assert rows(tmp_path / "g.db") == ["lead"], "nothing of the failed transaction is kept"
    assert group.run(lambda: db.execute_sql("INSERT INTO item (name) VALUES ('after')").rowcount) == 1
    assert rows(tmp_path / "g.db") == ["after", "lead"], "the turn was handed back after the failure"


def test_a_unit_inside_the_callers_own_transaction_is_part_of_it(db: peewee.Database, tmp_path: Path) -> None:
    """A caller already in a transaction holds the write turn: queueing behind a leader that waits
    for that turn would hang both, so its unit runs inside the caller's transaction at once."""
    group = GroupCommit(db)
    answers: list[int] = []
    with db.atomic() as outer:
        leader = threading.Thread(target=lambda: answers.append(group.run(lambda: db.execute_sql(
            "INSERT INTO item (name) VALUES ('other')").rowcount)))
        leader.start()
        wait_for(lambda: group._leading, "another thread to lead (waiting for the write turn)", 10, 0.01)
        assert group.run(lambda: db.execute_sql("INSERT INTO item (name) VALUES ('inner')").rowcount) == 1
        outer.rollback()
    leader.join(10)
    assert answers == [1]
    assert rows(tmp_path / "g.db") == ["other"], "the inner unit went with the caller's rolled-back transaction"
