"""What the coordinator's working parts (the core and the settler) share."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from daemons.coordinator.chain_view import ChainView
from daemons.coordinator.settings import CoordinatorSettings
from daemons.coordinator.store import CoordinatorStore

Publish = Callable[[str, dict[str, Any]], None]


def publish_nowhere(topic: str, data: dict[str, Any]) -> None:
    """Default event sink: a part without a server publishes nowhere."""


@dataclass(eq=False)
class Part:
    """A working part of a running coordinator: its settings, store and view of the chain, its
    chain identity (the address, and the seed that signs receipts and settlement transactions),
    where its events go, and its clock (given, so that tests can set the time)."""

    settings: CoordinatorSettings
    store: CoordinatorStore
    chain: ChainView
    address: str
    seed: bytes = field(repr=False)
    publish: Publish = field(default=publish_nowhere, kw_only=True)
    clock: Callable[[], float] = field(default=time.time, kw_only=True)

    def now_ms(self) -> int:
        return int(self.clock() * 1000)
