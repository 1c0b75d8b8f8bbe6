"""Fixtures of the storage tests: one database factory per backend.

``reopen`` opens the same initially empty database again and again, as a restarting daemon
does. It runs on SQLite (a real file under tmp_path) and on PostgreSQL when
``AITBC_TEST_POSTGRES_URL`` is set (a server that does not answer then fails the test, see
``testkit.postgres_url``); each PostgreSQL test gets its own schema, dropped afterwards, so tests
never see each other's tables.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import peewee
import pytest
from store_testkit import Opener, open_sqlite
from testkit import postgres_schema

from storage.database import open_database


@pytest.fixture(params=["sqlite", "postgres"])
def reopen(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    opened: list[peewee.Database] = []
    if request.param == "sqlite":
        path = tmp_path / "node.db"

        def open_() -> peewee.Database:
            opened.append(open_sqlite(path))
            return opened[-1]

        yield open_
        for database in opened:
            database.close()
        return

    with postgres_schema(tmp_path) as scoped:

        def open_pg() -> peewee.Database:
            opened.append(open_database(scoped, tmp_path / "unused.db"))
            return opened[-1]

        try:
            yield open_pg
        finally:
            for database in opened:
                database.close()
