"""Helpers for the daemon-spine tests: the example daemon as a real subprocess.

Imported as a plain module (the root ``conftest.py`` puts this directory on ``sys.path``); the
process plumbing (hermetic env, start, wait, stop) is ``testkit``'s.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

from testkit import Daemon, free_port, hermetic_env

from daemons.common.client import DaemonClient
from daemons.common.home import Home

EXAMPLE = Path(__file__).with_name("example_daemon.py")


@dataclass(kw_only=True)
class ExampleDaemon(Daemon):
    """One example daemon subprocess on its own home; ``layout`` is that home's ``Home``."""

    layout: Home
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def operator(self) -> DaemonClient:
        return DaemonClient(self.layout.socket("example"), timeout=10)

    def public(self, api_key: str | None = None) -> DaemonClient:
        return DaemonClient(self.url, api_key=api_key, timeout=10, name="example")


def run_example(home: Home, *args: str, env: dict[str, str] | None = None,
                wait: bool = True) -> ExampleDaemon:
    """Start tests/common/example_daemon.py as a real subprocess on ``home``; its output goes to a
    file of its own beside the home (several daemons may share one home)."""
    full_env = hermetic_env(**{"API_PORT": str(free_port()), **(env or {})})
    daemon = ExampleDaemon(
        name="example", command=[sys.executable, str(EXAMPLE), "--home", str(home.root), *args], env=full_env,
        output_file=home.root.parent / f"example-{time.monotonic_ns()}.txt", home=home.root,
        socket=home.socket("example"), layout=home, port=int(full_env["API_PORT"]))
    return daemon.start(wait=wait)
