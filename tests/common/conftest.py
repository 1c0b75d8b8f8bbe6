"""Fixtures for the daemon-spine tests (helpers live in ``daemonkit``)."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# Put this directory on sys.path so test modules can import ``daemonkit`` in any import mode.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from daemonkit import BARE_ENV, Daemon, run_example  # noqa: E402

from daemons.common.home import Home  # noqa: E402


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No AITBC_* or documented bare variable from the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("AITBC_") or name in BARE_ENV:
            monkeypatch.delenv(name)


@pytest.fixture
def home() -> Iterator[Home]:
    """A fresh home under /tmp: short, because AF_UNIX socket paths are limited to 107 bytes."""
    root = tempfile.mkdtemp(prefix="aitbc-", dir="/tmp")
    yield Home(root=Path(root) / "h")
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def start_daemon(home: Home) -> Iterator[Callable[..., Daemon]]:
    """Factory: start example daemons; all are stopped at the end of the test."""
    started: list[Daemon] = []

    def start(*args: str, env: dict[str, str] | None = None, wait: bool = True,
              on: Home | None = None) -> Daemon:
        daemon = run_example(on or home, *args, env=env, wait=wait)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.stop()
