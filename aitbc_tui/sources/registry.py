"""Which daemon sources this build has.

A daemon whose typed client module is not installed is marked ``absent``: its screens say so
and offer no actions. Each source module imports its daemon's client, and nothing else of the
daemon, so the TUI keeps to the client API like the CLI.
"""

from __future__ import annotations

import importlib
import importlib.util

from daemons.common.home import Home

from aitbc_tui.models import DAEMONS, SourceStatus, Store
from aitbc_tui.sources.base import Changed, DaemonSource

SOURCE_MODULES: dict[str, tuple[str, str, str]] = {
    # daemon: (client module it needs, source module, source class)
    "node": ("daemons.node.client", "aitbc_tui.sources.node", "NodeSource"),
    "coordinator": ("daemons.coordinator.client", "aitbc_tui.sources.coordinator", "CoordinatorSource"),
    "miner": ("daemons.miner.client", "aitbc_tui.sources.miner", "MinerSource"),
    "wallet": ("daemons.wallet.client", "aitbc_tui.sources.wallet", "WalletSource"),
}


def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def available(daemon: str) -> bool:
    """True when both the daemon's client and the TUI's source for it exist in this build."""
    client, source, _ = SOURCE_MODULES[daemon]
    return _has_module(client) and _has_module(source)


def absent_message(daemon: str) -> str:
    return f"this build has no {daemon} client ({SOURCE_MODULES[daemon][0]})"


def build_sources(home: Home, store: Store, changed: Changed) -> dict[str, DaemonSource]:
    """One source per available daemon; absent daemons are marked as such in the store."""
    sources: dict[str, DaemonSource] = {}
    for daemon in DAEMONS:
        if not available(daemon):
            store.status[daemon] = SourceStatus(name=daemon, state="absent", message=absent_message(daemon))
            continue
        _, module_name, class_name = SOURCE_MODULES[daemon]
        cls = getattr(importlib.import_module(module_name), class_name)
        sources[daemon] = cls(home, store, changed)
    return sources
