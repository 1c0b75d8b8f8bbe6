"""The wallet source: the keystore's wallets and their lock state.

The wallet daemon publishes no events, so the list is re-read every few seconds (lock state
changes on its own when the idle timer fires). Balances and stakes are *not* polled here: the
node source watches the wallets' addresses and re-reads them when a transaction touches one,
which is both cheaper and quicker.
"""

from __future__ import annotations

from typing import Any

from daemons.common.home import Home
from daemons.wallet.client import AsyncWalletClient, WalletClient

from aitbc_tui.models import HistoryRow, Store
from aitbc_tui.sources.base import Changed, DaemonSource, every

POLL_S = 3.0


class WalletSource(DaemonSource[AsyncWalletClient]):
    service = "wallet"

    def __init__(self, home: Home, store: Store, changed: Changed) -> None:
        super().__init__(home, store, changed)
        self._peers: dict[str, Any] = {}

    def attach(self, sources: dict[str, Any]) -> None:
        self._peers = sources

    def blocking_client(self) -> WalletClient:
        """The blocking client for the calls the async one lacks (create, import); use in a thread."""
        return WalletClient(self.socket, timeout=60.0)

    def open_client(self) -> AsyncWalletClient:
        return AsyncWalletClient(self.socket, timeout=60.0)

    async def session(self) -> None:
        await self.refresh()
        self.mark_up()
        await every(POLL_S, self.refresh)

    async def refresh(self) -> None:
        """Re-read status and wallet list now (also called right after an action)."""
        status = await self.client.status()
        wallets = await self.client.list()
        model = self.store.wallet
        model.default_fee = status.default_fee
        model.idle_lock_s = status.idle_lock_s
        model.node_reachable = status.node_reachable
        model.chain_id = status.chain_id
        rows = list(wallets)
        if rows != model.wallets:
            model.wallets = rows
        node = self._peers.get("node")
        if node is not None:
            node.watch({w.address: w.name for w in rows})
        self.changed()

    async def load_history(self, address: str, limit: int = 50) -> list[HistoryRow]:
        history = await self.client.history(address, limit=limit)
        rows = list(history.txs)
        self.store.wallet.history[address] = rows
        self.changed()
        return rows
