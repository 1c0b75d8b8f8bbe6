"""Fixtures for the daemon-spine tests (helpers live in ``daemonkit``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from daemonkit import ExampleDaemon, run_example
from testkit import temp_root

from daemons.common.home import Home


@pytest.fixture
def home() -> Iterator[Home]:
    """A fresh home under /tmp: short, because AF_UNIX socket paths are limited to 107 bytes."""
    with temp_root() as root:
        yield Home(root=root / "h")


@pytest.fixture
def start_daemon(home: Home) -> Iterator[Callable[..., ExampleDaemon]]:
    """Factory: start example daemons; all are stopped at the end of the test."""
    started: list[ExampleDaemon] = []

    def start(*args: str, env: dict[str, str] | None = None, wait: bool = True,
              on: Home | None = None) -> ExampleDaemon:
        daemon = run_example(on or home, *args, env=env, wait=wait)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.stop()
