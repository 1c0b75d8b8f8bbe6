"""A rig's daemon logs, followed over SSH: the remote counterpart of :class:`LogTail`.

The rig and its ``ssh ... tail -F`` command line come from :mod:`daemons.ops.rigs`; this module
only reads the stream (on a thread, since ssh writes whenever the rig logs) and parses each line
the same way as local log files.
"""

from __future__ import annotations

import subprocess
import threading
from collections import deque

from daemons.common.home import Home
from daemons.ops.rigs import Rig
from daemons.ops.rigs_ssh import RigLink

from aitbc_tui.sources.logs import LogLine, parse_line


class RemoteLogTail:
    """The rig's JSON logs through ``ssh RIG tail -F``; same interface as ``LogTail``."""

    def __init__(self, rig: Rig, home: Home, max_lines: int = 5000) -> None:
        self.rig = rig
        self.link = RigLink(rig, home)
        self.directory = rig.remote_home / "logs"
        self.lines: deque[LogLine] = deque(maxlen=max_lines)
        self._fresh: list[LogLine] = []
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def services(self) -> list[str]:
        return sorted({line.service for line in self.lines if line.service})

    def poll(self) -> list[LogLine]:
        if self._proc is None or self._proc.poll() is not None:
            self._start()
        with self._lock:
            fresh, self._fresh = self._fresh, []
        self.lines.extend(fresh)
        return fresh

    def _start(self) -> None:
        self._proc = subprocess.Popen(self.link.command(self.rig.tail_argv()), stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        threading.Thread(target=self._read, args=(self._proc,), daemon=True).start()

    def _read(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = parse_line(raw.decode("utf-8", errors="replace"), "rig.log")
            if line is not None:
                with self._lock:
                    self._fresh.append(line)

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
