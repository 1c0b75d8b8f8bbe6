"""Opening databases from URLs, and binding table declarations to one database at run time.

Every daemon has one database, named by a peewee URL (``DATABASE_URL``) or, when none is given,
a SQLite file in the home's ``data/`` directory. SQLite is tuned once, here, so that every store
gets the same guarantees:

- ``journal_mode=WAL``: readers (RPC, the TUI's queries) never block the writer and vice versa.
- ``synchronous=NORMAL``: a committed transaction survives a crash of the *process* (SIGKILL,
  OOM, panic) - the guarantee the storage tests check by killing a writer mid-block. Only an OS
  crash or power loss can lose the last transactions (never corrupt the file). Operators who need
  power-loss durability pass ``synchronous="FULL"`` (or ``?synchronous=full`` in the URL) and pay
  an fsync per commit.
- ``foreign_keys=1``, and a busy timeout so that two processes briefly contending for the write
  lock wait instead of failing.
- one writer at a time **per process** queued on a lock (:class:`QueuedWriterSqlite`): threads of
  one process never meet SQLite's busy handler, which sleeps between tries.

A hot path that runs the same statements again and again compiles them once (:class:`Statement`):
peewee spends more time building a statement's SQL than SQLite spends running it.

Table declarations (subclasses of :class:`SchemaModel`) are bound to an uninitialised
``DatabaseProxy``: using one directly fails loudly. A store calls :func:`bind_model` to get its
own subclass bound to its database. Per-store copies, rather than ``bind_ctx`` or a global proxy,
are what lets several databases (two nodes, a node and a coordinator) live in one process and
be used from several threads without rebinding shared classes under each other's feet.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qsl, urlsplit

import peewee
from playhouse import db_url

from storage.errors import DatabaseUnavailable

Synchronous = Literal["NORMAL", "FULL"]
DEFAULT_BUSY_TIMEOUT_MS = 10_000
_SYNCHRONOUS_LEVELS = ("NORMAL", "FULL")
_SQLITE_OPTIONS = ("synchronous", "busy_timeout")


class SchemaModel(peewee.Model):
    """Base of every table declaration in ``storage``.

    Declarations describe tables; they never talk to a database themselves (their database is a
    proxy that is never initialised). Stores work with :func:`bind_model` copies.
    """

    class Meta:
        database = peewee.DatabaseProxy()
        legacy_table_names = False


M = TypeVar("M", bound=SchemaModel)


def bind_model(database: peewee.Database, model: type[M]) -> type[M]:
    """A subclass of ``model`` with the same table, columns and indexes, bound to ``database``.

    Fields and indexes are copied by peewee's model inheritance. A composite primary key object
    would be shared (and re-pointed at the newest subclass) by inheritance, so each copy gets its
    own.
    """
    meta_attrs: dict[str, object] = {"database": database, "table_name": model._meta.table_name}
    if model._meta.composite_key:
        meta_attrs["primary_key"] = peewee.CompositeKey(*model._meta.primary_key.field_names)
    meta = type("Meta", (), meta_attrs)
    return type(model.__name__, (model,), {"Meta": meta, "__module__": model.__module__})


def open_database(
    url: str | None,
    default_path: Path,
    *,
    synchronous: Synchronous = "NORMAL",
    busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
) -> peewee.Database:
    """Open (and connect to) the database named by ``url``, or SQLite at ``default_path``.

    Accepted: ``None`` or ``""`` (SQLite file at ``default_path``), ``sqlite:///relative.db``,
    ``sqlite:////absolute/path.db`` (options ``?synchronous=full&busy_timeout=MS``), and every
    other peewee URL (``postgresql://user:pass@host:5432/db`` and friends). The connection is
    made now, so that a wrong URL or an unreachable server is one clear error at start-up rather
    than a failure at the first block. Errors never repeat the URL's password.
    """
    if not url:
        return _open_sqlite(Path(default_path), synchronous, busy_timeout_ms)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        path_text = parts.path[1:] if parts.path.startswith("/") else parts.path
        if parts.netloc:
            raise DatabaseUnavailable(
                f"SQLite URL has a host part {parts.netloc!r}: use sqlite:///relative.db or sqlite:////absolute/path.db")
        if not path_text:
            raise DatabaseUnavailable("SQLite URL names no file: use sqlite:///relative.db or sqlite:////absolute/path.db")
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key == "synchronous":
                level = value.upper()
                if level not in _SYNCHRONOUS_LEVELS:
                    raise DatabaseUnavailable(f"SQLite option synchronous={value!r}: expected normal or full")
                synchronous = level  # type: ignore[assignment]
            elif key == "busy_timeout":
                if not value.isdigit():
                    raise DatabaseUnavailable(f"SQLite option busy_timeout={value!r}: expected milliseconds")
                busy_timeout_ms = int(value)
            else:
                raise DatabaseUnavailable(f"unknown SQLite URL option {key!r} (known: {', '.join(_SQLITE_OPTIONS)})")
        return _open_sqlite(Path(path_text), synchronous, busy_timeout_ms)
    if "sqlite" in scheme:
        raise DatabaseUnavailable(f"unsupported SQLite URL scheme {scheme!r}: use sqlite:///PATH")
    if scheme not in db_url.schemes:
        known = ", ".join(sorted(s for s in db_url.schemes if "sqlite" not in s))
        raise DatabaseUnavailable(f"unsupported database URL scheme {scheme!r}: use sqlite:///PATH or one of {known}")
    where = _redacted(parts.hostname, parts.port, parts.path)
    try:
        database = db_url.connect(url, unquote_password=True, unquote_user=True)
    except (ValueError, RuntimeError, peewee.ImproperlyConfigured) as exc:
        raise DatabaseUnavailable(f"cannot use database {where}: {_first_line(exc)}") from None
    try:
        database.connect(reuse_if_open=True)
    except peewee.PeeweeException as exc:
        raise DatabaseUnavailable(f"cannot connect to {scheme} database {where}: {_first_line(exc)}") from None
    return database


def _open_sqlite(path: Path, synchronous: Synchronous, busy_timeout_ms: int) -> peewee.SqliteDatabase:
    if synchronous not in _SYNCHRONOUS_LEVELS:
        raise DatabaseUnavailable(f"synchronous={synchronous!r}: expected NORMAL or FULL")
    if busy_timeout_ms < 0:
        raise DatabaseUnavailable(f"busy_timeout={busy_timeout_ms}: must not be negative")
    memory = str(path) == ":memory:"
    if not memory:
        _create_private_file(path)
    database = QueuedWriterSqlite(
        str(path),
        pragmas=[
            ("journal_mode", "wal"),
            ("synchronous", synchronous),
            ("foreign_keys", 1),
            ("busy_timeout", busy_timeout_ms),
        ],
        timeout=busy_timeout_ms / 1000,
        # Take the write lock when a transaction begins: a reader that later wants to write
        # would otherwise fail with SQLITE_BUSY instead of waiting its turn.
        lock_type="IMMEDIATE",
    )
    try:
        database.connect(reuse_if_open=True)
    except peewee.PeeweeException as exc:
        raise DatabaseUnavailable(f"cannot open SQLite database {path}: {_first_line(exc)}") from None
    return database


class QueuedWriterSqlite(peewee.SqliteDatabase):
    """SQLite whose writers in this process take turns on a lock before SQLite's own.

    Why: SQLite has one writer per file. A thread that finds the write lock taken waits in
    SQLite's busy handler, which sleeps 1, 2, 5, 10 ... up to 100 ms between tries, however soon
    the lock is free again: with a few threads writing short transactions (the coordinator's API
    workers, each submission one transaction) most of a request's time went to sleeping while
    nobody wrote. Threads of one process queue on a Python lock instead and go on the moment it is
    released; another process on the same file still meets the busy handler. A transaction holds
    the lock from ``BEGIN`` to its commit or rollback; a write statement outside a transaction
    (autocommit) holds it for that statement; reads never take it (WAL: they do not block).
    Waiting longer than the busy timeout fails as SQLite would ("database is locked").
    """

    _WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._writer = threading.Lock()
        self._writer_thread: int | None = None

    def _take_writer(self) -> None:
        if not self._writer.acquire(timeout=self._timeout if self._timeout is not None else -1):
            raise peewee.OperationalError(f"database is locked: no turn to write within {self._timeout} s")
        self._writer_thread = threading.get_ident()

    def _drop_writer(self) -> None:
        if self._writer_thread == threading.get_ident():
            self._writer_thread = None
            self._writer.release()

    def begin(self, lock_type: str | None = None) -> None:
        self._take_writer()
        try:
            super().begin(lock_type)
        except BaseException:
            self._drop_writer()
            raise

    def commit(self) -> None:
        super().commit()  # a failed commit is rolled back by peewee's transaction: the turn ends there
        self._drop_writer()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._drop_writer()

    def execute_sql(self, sql: str, params: Any = None) -> Any:
        if self._writer_thread == threading.get_ident() or not sql.lstrip()[:7].upper().startswith(self._WRITES):
            return super().execute_sql(sql, params)
        self._take_writer()  # an autocommit write: its own turn
        try:
            return super().execute_sql(sql, params)
        finally:
            self._drop_writer()


class _Arg:
    """A named placeholder in a :class:`Statement` (see :meth:`Statement.arg`)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


class Statement:
    """A peewee query compiled to SQL once and run again with new values.

    Why: peewee builds a statement's SQL anew on every run, some 100-200 us of Python, ten times
    what SQLite takes to run a small indexed statement; a job submission (six statements) spent
    most of its time there. The query is still written with peewee (the table declarations stay
    the one description of the columns), with its variable parts as :meth:`arg` placeholders;
    the SQL and the order of its parameters are kept, in the database's own dialect. Values are
    passed as the database stores them (no field conversion): ints and strings, JSON as text.
    """

    def __init__(self, database: peewee.Database, build: Callable[[Callable[[str], peewee.Node]], peewee.Node]) -> None:
        sql, params = database.get_sql_context().sql(build(self.arg)).query()
        self._database = database
        self._sql = sql
        self._params: Sequence[Any] = params
        self._names = frozenset(p.name for p in params if isinstance(p, _Arg))

    @staticmethod
    def arg(name: str) -> peewee.Node:
        """The placeholder for the value passed as ``name`` on each run."""
        return peewee.Value(_Arg(name), converter=False)

    def run(self, **values: Any) -> Any:
        """Execute with ``values`` (exactly the placeholders' names); the database cursor."""
        if values.keys() != self._names:
            raise TypeError(f"statement takes {sorted(self._names)}, got {sorted(values)}")
        params = [values[p.name] if isinstance(p, _Arg) else p for p in self._params]
        return self._database.execute_sql(self._sql, params)

    def run_many(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Execute once per row of values with one ``executemany`` (SQLite steps one prepared
        statement); the rows changed. Only inside a transaction, which holds the writer's turn."""
        if not self._database.in_transaction():
            raise RuntimeError("Statement.run_many runs inside a transaction")
        params = [[values[p.name] if isinstance(p, _Arg) else p for p in self._params] for values in rows]
        with peewee.__exception_wrapper__:
            cursor = self._database.cursor()
            cursor.executemany(self._sql, params)
        return max(cursor.rowcount, 0)

    def rows(self, **values: Any) -> list[tuple[Any, ...]]:
        """Every row of the answer (a statement with ``RETURNING`` is stepped to its end, so it is
        finished before the transaction goes on)."""
        return [tuple(row) for row in self.run(**values).fetchall()]

    def row(self, **values: Any) -> tuple[Any, ...] | None:
        """The first row of the answer, or None."""
        row = self.run(**values).fetchone()
        return None if row is None else tuple(row)

    def scalar(self, **values: Any) -> Any:
        """The first column of the first row, or None."""
        row = self.row(**values)
        return None if row is None else row[0]


def _create_private_file(path: Path) -> None:
    """Create the database file 0600 (its -wal and -shm files inherit the mode) in a 0700
    directory: a mempool or coordinator database is nobody else's business."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
    except OSError as exc:
        raise DatabaseUnavailable(f"cannot create SQLite database {path}: {exc.strerror}") from None


def _redacted(host: str | None, port: int | None, path: str) -> str:
    where = host or "localhost"
    if port:
        where += f":{port}"
    return where + (path or "")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
