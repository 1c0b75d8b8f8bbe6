"""Fixtures of the storage tests: one database factory per backend.

``reopen`` opens the same initially empty database again and again, as a restarting daemon
does. It runs on SQLite (a real file under tmp_path) and on PostgreSQL when
``AITBC_TEST_POSTGRES_URL`` names a reachable server; each PostgreSQL test gets its own schema,
dropped afterwards, so tests never see each other's tables.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import peewee
import pytest

# pytest runs with --import-mode=importlib, which puts no test directory on sys.path; the test
# modules (and the crash writer subprocess) import ``store_testkit`` as a plain module from here.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from store_testkit import Opener, open_sqlite, postgres_url_or_skip  # noqa: E402

from storage.database import open_database  # noqa: E402


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

    url = postgres_url_or_skip(tmp_path)
    schema = f"aitbc_test_{uuid.uuid4().hex[:12]}"
    admin = open_database(url, tmp_path / "unused.db")
    admin.execute_sql(f'CREATE SCHEMA "{schema}"')
    scoped = url + ("&" if "?" in url else "?") + "options=" + quote(f"-c search_path={schema}")

    def open_pg() -> peewee.Database:
        opened.append(open_database(scoped, tmp_path / "unused.db"))
        return opened[-1]

    try:
        yield open_pg
    finally:
        for database in opened:
            database.close()
        admin.execute_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()
