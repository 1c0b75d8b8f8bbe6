"""Tail of the daemons' JSON-line logs in ``HOME/logs/*.log``.

Not a daemon connection: the logs are plain files the daemons append to, so this reads them
directly (new bytes only, tracked per file by inode and offset; rotation and truncation restart
the file). :meth:`LogTail.poll` does blocking file I/O and is meant for a worker thread.
"""

from __future__ import annotations

import json
import os
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

LEVELS: dict[str, int] = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
INITIAL_BYTES = 256 * 1024
"""How far back to start in a file seen for the first time."""
MAX_READ = 1024 * 1024
"""Most bytes read from one file per poll (a burst is caught up over a few polls)."""
_FIXED = {"ts", "level", "service", "logger", "module", "function", "line", "msg", "event", "pid"}


class LogLine(BaseModel):
    ts: str = ""
    level: str = "info"
    service: str = ""
    logger: str = ""
    msg: str = ""
    extra: dict[str, Any] = {}
    file: str = ""

    @property
    def severity(self) -> int:
        return LEVELS.get(self.level, 20)

    @property
    def clock(self) -> str:
        """``HH:MM:SS.mmm`` from the ISO timestamp (the logs are written in UTC)."""
        return self.ts[11:23] if len(self.ts) >= 23 else self.ts

    def matches(self, min_level: str, service: str | None, needle: str) -> bool:
        if self.severity < LEVELS.get(min_level, 0):
            return False
        if service and self.service != service:
            return False
        if needle:
            haystack = f"{self.msg} {self.logger} {self.extra}".lower()
            return needle.lower() in haystack
        return True


def parse_line(raw: str, file_name: str) -> LogLine | None:
    """One JSON log record (daemon log or audit log); a non-JSON line is kept as a raw message."""
    raw = raw.strip()
    if not raw:
        return None
    service = file_name.removesuffix(".log")
    try:
        record = json.loads(raw)
    except ValueError:
        return LogLine(msg=raw, service=service, file=file_name)
    if not isinstance(record, dict):
        return LogLine(msg=raw, service=service, file=file_name)
    msg = record.get("msg")
    if msg is None and "event" in record:  # the audit log names the event instead of a message
        msg = f"audit: {record['event']}"
    extra = {k: v for k, v in record.items() if k not in _FIXED}
    return LogLine(ts=str(record.get("ts", "")), level=str(record.get("level", "info")).lower(),
                   service=str(record.get("service", service)), logger=str(record.get("logger", "")),
                   msg=msg if isinstance(msg, str) else json.dumps(msg, default=str), extra=extra, file=file_name)


@dataclass
class _FileState:
    inode: int
    offset: int
    partial: bytes = b""


@dataclass
class LogTail:
    """Follows every ``*.log`` in a directory; keeps the newest ``max_lines`` records."""

    directory: Path
    max_lines: int = 5000
    lines: deque[LogLine] = field(init=False)
    _files: dict[str, _FileState] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.lines = deque(maxlen=self.max_lines)

    @property
    def services(self) -> list[str]:
        return sorted({line.service for line in self.lines if line.service})

    def poll(self) -> list[LogLine]:
        """Read what was appended since the last call; returns the new records (oldest first)."""
        try:
            names = sorted(p.name for p in self.directory.glob("*.log") if p.is_file())
        except OSError:
            return []
        fresh: list[LogLine] = []
        first_time = not self._files
        for name in names:
            fresh.extend(self._read(name))
        for gone in set(self._files) - set(names):
            del self._files[gone]
        if first_time or len(names) > 1:
            fresh.sort(key=lambda line: line.ts)
        self.lines.extend(fresh)
        return fresh

    def _read(self, name: str) -> list[LogLine]:
        path = self.directory / name
        try:
            with open(path, "rb") as handle:
                stat = os.fstat(handle.fileno())
                state = self._files.get(name)
                skip_partial = False
                if state is None or state.inode != stat.st_ino or stat.st_size < state.offset:
                    start = max(0, stat.st_size - INITIAL_BYTES) if state is None else 0
                    state = _FileState(inode=stat.st_ino, offset=start)
                    skip_partial = start > 0
                    self._files[name] = state
                if stat.st_size == state.offset:
                    return []
                handle.seek(state.offset)
                chunk = handle.read(MAX_READ)
        except OSError:
            return []
        state.offset += len(chunk)
        data = state.partial + chunk
        *complete, state.partial = data.split(b"\n")
        if skip_partial and complete:
            complete = complete[1:]
        out = []
        for raw in complete:
            line = parse_line(raw.decode("utf-8", errors="replace"), name)
            if line is not None:
                out.append(line)
        return out
