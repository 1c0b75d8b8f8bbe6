"""Fixtures of the node tests: temp homes initialized by ``aitbc node init`` with funded test
accounts, and the real node daemon started as a subprocess on free loopback ports.

``node`` is one running node per test module (block time 0.2 s) shared by that module's tests;
each test takes its own fresh funded accounts with ``node.take(n)``, so no test sees another's
nonces or balances. ``make_node`` starts extra nodes for tests that stop, kill or reconfigure
them. Every node is stopped with SIGTERM at teardown (SIGKILL if it does not exit in time).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from nodekit import UNIT, Account, accounts, init_home
from testkit import NodeDaemon, short_root, temp_root

FUNDED_ACCOUNTS = 48
START_BALANCE = 1_000 * UNIT


@dataclass
class RunningNode(NodeDaemon):
    """A node plus the funded accounts of its genesis and what ``aitbc node init`` reported."""

    init: dict[str, Any] = field(default_factory=dict)
    funded: list[Account] = field(default_factory=list)
    _next: int = 0

    def take(self, count: int = 1) -> list[Account]:
        """``count`` funded accounts no other test of this node has used (balance START_BALANCE, nonce 0)."""
        if self._next + count > len(self.funded):
            raise AssertionError("out of funded test accounts: raise FUNDED_ACCOUNTS")
        chosen = self.funded[self._next:self._next + count]
        self._next += count
        return chosen


def start_node(root: Path, *, block_time: float = 0.2, start: bool = True, extra: tuple[str, ...] = (),
               funded: int = FUNDED_ACCOUNTS) -> RunningNode:
    test_accounts = accounts(funded)
    home = root / "h"
    info = init_home(home, {a.address: START_BALANCE for a in test_accounts}, block_time=block_time)
    node = RunningNode(home=home, extra=extra, init=info, funded=test_accounts)
    if start:
        node.start()
    return node


@pytest.fixture(scope="module")
def node() -> Iterator[RunningNode]:
    """One running node for the whole module (block time 0.2 s, FUNDED_ACCOUNTS funded accounts)."""
    with temp_root("aitbc-node-") as root:
        running = start_node(root)
        try:
            yield running
        finally:
            running.stop()


@pytest.fixture
def make_node() -> Iterator[Callable[..., RunningNode]]:
    """Factory for nodes a test owns (to stop, kill or restart); all are stopped at the end."""
    roots: list[Path] = []
    made: list[RunningNode] = []

    def make(**kwargs: Any) -> RunningNode:
        roots.append(short_root("aitbc-node-"))
        made.append(start_node(roots[-1], **kwargs))
        return made[-1]

    yield make
    for running in made:
        running.stop()
    for root in roots:
        shutil.rmtree(root, ignore_errors=True)
