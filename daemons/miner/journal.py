"""The in-flight task journal: what the miner has taken from the coordinator and not yet answered.

A task the miner accepted is owed an answer (its output and proof, a verdict, or a hand-back),
even across a crash or a restart: otherwise the coordinator waits for the task's deadline and
the client waits with it. So every change of a task's state is written here before the miner
acts on it, and a restarted miner finds its tasks again: results computed but not acknowledged
are delivered, tasks not finished are run again (greedy and seeded decoding give the same
output) or handed back.

The journal is one small JSON file, replaced atomically (temp file, fsync, rename, directory
fsync) on every change: there are at most ``capacity`` entries, so a database would add a
dependency and buy nothing. A file that cannot be parsed is moved aside (never deleted: it may
hold results worth delivering by hand) and the miner starts with an empty journal.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from keys.atomic import atomic_write, ensure_private_dir

log = logging.getLogger("aitbc.miner")
TaskState = Literal["queued", "running", "done"]
_VERSION = 1


class JournalEntry(BaseModel):
    """One task the miner owes an answer for.

    ``task`` is the coordinator's task exactly as received (the proof must hash the job's own
    parameters and prompt). ``result`` is the body to POST as the task's result once computed:
    an output with its proof, a verdict, or a failure/hand-back report.
    """

    model_config = ConfigDict(extra="ignore")

    task: dict[str, Any]
    state: TaskState = "queued"
    received_ms: int
    started_ms: int | None = None
    finished_ms: int | None = None
    result: dict[str, Any] | None = None
    outcome: str | None = None
    delivery_attempts: int = Field(0, ge=0)
    restarts: int = Field(0, ge=0)

    @property
    def task_id(self) -> str:
        return str(self.task["task_id"])


class _File(BaseModel):
    version: int
    entries: list[JournalEntry]


class TaskJournal:
    """Entries by task id, persisted on every change. Used from the event loop's thread only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._entries: dict[str, JournalEntry] = {}

    def load(self) -> list[JournalEntry]:
        """Read the file left by the previous run; entries that were running are queued again."""
        ensure_private_dir(self.path.parent)
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        try:
            data = _File.model_validate(json.loads(raw))
        except (ValueError, ValidationError) as exc:
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            self.path.rename(aside)
            log.error("task journal unreadable; moved aside, starting empty",
                      extra={"path": str(self.path), "moved_to": str(aside), "error": str(exc)[:200]})
            return []
        for entry in data.entries:
            if entry.state == "running":
                entry.state, entry.started_ms = "queued", None
            entry.restarts += 1
            self._entries[entry.task_id] = entry
        self._flush()
        return list(self._entries.values())

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[JournalEntry]:
        return iter(list(self._entries.values()))

    def get(self, task_id: str) -> JournalEntry | None:
        return self._entries.get(task_id)

    def put(self, entry: JournalEntry) -> None:
        """Insert or replace ``entry`` and make it durable before returning."""
        self._entries[entry.task_id] = entry
        self._flush()

    def remove(self, task_id: str) -> JournalEntry | None:
        entry = self._entries.pop(task_id, None)
        if entry is not None:
            self._flush()
        return entry

    def in_state(self, *states: TaskState) -> list[JournalEntry]:
        """Entries in ``states``, oldest first (the order they were received)."""
        return sorted((e for e in self._entries.values() if e.state in states), key=lambda e: e.received_ms)

    def _flush(self) -> None:
        body = _File(version=_VERSION, entries=list(self._entries.values()))
        atomic_write(self.path, body.model_dump_json().encode("utf-8"))
