"""Group commit: small write transactions from several threads committed together as one.

Why: on SQLite a job submission's statements are cheap and its ``COMMIT`` is not. Each commit
appends every page the transaction touched (the jobs table and each of its indexes) to the WAL,
and that was the larger part of a submission's database time. Writers of one process already
take turns (:class:`storage.database.QueuedWriterSqlite`), so while one submission commits the
others wait anyway; with group commit the next thread to write takes every unit queued
meanwhile and commits them in one transaction, the pages they share written once.

The guarantees stay those of one transaction per unit:

- a unit's answer (value or error) is handed back only after the transaction holding it has
  committed, so nothing acknowledged can be lost: a failed commit fails every unit in it;
- each unit runs in its own savepoint when it shares the transaction, so a unit that raises
  (a refused reservation) leaves nothing behind and the others are kept;
- units run one after the other, in the order they arrived, each seeing what those before it
  wrote: a rule checked in a unit (escrow minus reservations) holds as it would alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

import peewee

T = TypeVar("T")


class _Unit(Generic[T]):
    __slots__ = ("work", "done", "value", "error")

    def __init__(self, work: Callable[[], T]) -> None:
        self.work = work
        self.done = False
        self.value: T | None = None
        self.error: BaseException | None = None


class GroupCommit:
    """Runs units of work from any thread in shared transactions on ``database`` (see module)."""

    def __init__(self, database: peewee.Database) -> None:
        self._db = database
        self._changed = threading.Condition()
        self._pending: list[_Unit] = []  # type: ignore[type-arg]
        self._leading = False

    def run(self, work: Callable[[], T]) -> T:
        """``work()`` inside a transaction, committed before this returns; its value, or the
        exception it raised (then nothing it wrote is kept), or the commit's."""
        if self._db.in_transaction():  # inside this thread's own transaction: part of it (waiting
            with self._db.atomic():    # for a leader that needs this thread's write turn would hang)
                return work()
        unit: _Unit[T] = _Unit(work)
        batch: list[_Unit] = []  # type: ignore[type-arg]
        with self._changed:
            self._pending.append(unit)
            while self._leading and not unit.done:
                self._changed.wait()
            if not unit.done:  # nobody is committing: this thread commits what is queued
                self._leading = True
                batch, self._pending = self._pending, []
        if batch:
            try:
                self._commit(batch)
            finally:
                with self._changed:
                    self._leading = False
                    self._changed.notify_all()
        if unit.error is not None:
            raise unit.error
        return unit.value  # type: ignore[return-value]

    def _commit(self, batch: list[_Unit]) -> None:  # type: ignore[type-arg]
        try:
            with self._db.atomic():
                if len(batch) == 1:  # alone: its own transaction, no savepoint needed
                    batch[0].value = batch[0].work()
                else:
                    for unit in batch:
                        try:
                            with self._db.atomic():  # a savepoint
                                unit.value = unit.work()
                        except Exception as exc:  # noqa: BLE001 - the unit's own answer
                            unit.error = exc
        except BaseException as exc:  # the transaction failed: no unit in it is committed
            for unit in batch:
                if unit.error is None:
                    unit.error = exc
                    unit.value = None
        finally:
            for unit in batch:
                unit.done = True
