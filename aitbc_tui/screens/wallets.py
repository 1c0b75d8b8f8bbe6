"""Wallets: the wallet daemon's keys with balances, and create / import / unlock / lock / send.

Every action goes through the wallet daemon's typed client (the CLI's client), in a worker.
A new wallet's recovery phrase is shown once in a modal and never kept by the TUI. Sending
always passes through a confirmation that shows amount, fee, total and the balance after.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable

from daemons.common.errors import DaemonError

from aitbc_tui.format import ait, short_addr, short_hash
from aitbc_tui.models import HistoryRow, Store, WalletRow
from aitbc_tui.screens.base import ScreenKey
from aitbc_tui.screens.dialogs import (
    CreateWalletDialog,
    CreateWalletRequest,
    ImportWalletDialog,
    ImportWalletRequest,
    MnemonicDialog,
    TransferDialog,
    TransferRequest,
    UnlockDialog,
    UnlockRequest,
)
from aitbc_tui.screens.signing import SigningScreen
from aitbc_tui.widgets.panels import TextView, kv
from aitbc_tui.widgets.table import Column, Row, Table

if TYPE_CHECKING:
    from daemons.wallet.client import WalletClient
    from daemons.wallet.models import TxResult, WalletInfo

T = TypeVar("T")


def lock_state(wallet: WalletRow) -> Text:
    if not wallet.unlocked:
        return Text("locked", style="dim")
    if wallet.locks_in_s is None:
        return Text("unlocked", style="yellow")
    minutes, seconds = divmod(int(wallet.locks_in_s), 60)
    return Text(f"unlocked {minutes}:{seconds:02d}", style="yellow")


WALLET_COLUMNS: list[Column] = [
    ("Name", "name", 10), ("Address", "address", 13), ("Balance", "balance", 12), ("Staked", "staked", 8),
    ("Rewards", "rewards", 8), ("State", "state", 13)]
HISTORY_COLUMNS: list[Column] = [
    ("Height", "height", 7), ("Type", "type", 11), ("Dir", "dir", 4), ("Counterparty", "counterparty", 13),
    ("Amount", "amount", 12), ("Fee", "fee", 4), ("Hash", "hash", 10)]


def wallet_rows(store: Store) -> list[Row]:
    rows = []
    for wallet in store.wallet.wallets:
        account = store.node.accounts.get(wallet.address)
        balance = ait(account.balance, suffix=False) if account else "-"
        staked = ait(account.staked, suffix=False) if account and account.stakes else "-"
        rewards = ait(account.rewards, suffix=False) if account and account.stakes else "-"
        rows.append((wallet.address, (wallet.name, short_addr(wallet.address, 8, 4),
                                      Text(balance, justify="right"), Text(staked, justify="right"),
                                      Text(rewards, justify="right", style="green"), lock_state(wallet))))
    return rows


def signed_amount(row: HistoryRow, suffix: bool = True) -> str:
    """The entry's amount with ``-`` going out, ``+`` coming in (``-`` when it moves none)."""
    sign = {"out": "-", "in": "+"}.get(row.direction, "")
    return f"{sign}{ait(row.amount, suffix=suffix)}" if row.amount is not None else "-"


def history_rows(history: list[HistoryRow]) -> list[Row]:
    rows = []
    for row in history:
        amount = signed_amount(row, suffix=False)
        rows.append((row.hash, (Text(f"{row.height:,}", justify="right"), row.type, row.direction,
                                short_addr(row.counterparty, 8, 4), Text(amount, justify="right"),
                                Text(ait(row.fee, suffix=False), justify="right"), short_hash(row.hash, 9))))
    return rows


def history_detail(row: HistoryRow) -> Text:
    """One history entry whole (Enter on it): the hash and counterparty the table shortens."""
    return kv([("Hash", row.hash), ("Height", f"{row.height:,}"), ("Type", row.type), ("Direction", row.direction),
               ("From", row.sender), ("Counterparty", row.counterparty or "-"), ("Amount", signed_amount(row)),
               ("Fee", ait(row.fee)), ("Nonce", str(row.nonce))])


class WalletsScreen(SigningScreen):
    SECTION = "wallets"
    AUTO_FOCUS = "#wallet-table"
    KEYS = (
        ScreenKey("c", "create_wallet", "Create", ("wallet",),
                  ("Wallet: create", "New wallet; its recovery phrase is shown once")),
        ScreenKey("i", "import_wallet", "Import", ("wallet",),
                  ("Wallet: import", "Restore from a recovery phrase or private key")),
        ScreenKey("u", "unlock_wallet", "Unlock", ("wallet",), ("Wallet: unlock", "Unlock the selected wallet for signing")),
        ScreenKey("l", "lock_wallet", "Lock", ("wallet",), ("Wallet: lock", "Lock the selected wallet")),
        ScreenKey("s", "send", "Send", ("wallet",),
                  ("Wallet: send", "Send funds from the selected wallet (with confirmation)")),
    )

    def __init__(self) -> None:
        super().__init__()
        self._history_for: str | None = None

    def compose_body(self) -> ComposeResult:
        with Vertical(id="wallets-body"):
            yield Table(WALLET_COLUMNS, id="wallet-table", title="Wallets", detail=self._wallet_detail)
            yield Table(HISTORY_COLUMNS, id="history", title="History", drop=("dir",), detail=self._history_detail)
            yield TextView(id="wallets-note", classes="note")

    # -- data --------------------------------------------------------------------------------------

    def update_body(self, changed: frozenset[str]) -> None:
        store = self.store
        note = self.unavailable_text("wallet", "Wallets")
        if note is None and not store.wallet.wallets:
            note = "no wallets yet: press c to create one or i to import one"
        if note is None and store.status["node"].state != "up":
            note = "balances come from the node, which is not connected"
        self.query_one("#wallets-note", TextView).show_note(note)
        if changed & {"wallet", "node"}:
            self.query_one("#wallet-table", Table).refill(wallet_rows(store))
        self._show_history()

    def selected_wallet(self) -> WalletRow | None:
        address = self.query_one("#wallet-table", Table).selected_key()
        return self.store.wallet.by_address(address) if address is not None else None

    def _wallet_to_act_on(self) -> WalletRow | None:
        """The highlighted wallet, or None after asking the operator to select one."""
        wallet = self.selected_wallet()
        if wallet is None:
            self.notify("select a wallet first", severity="warning")
        return wallet

    @on(DataTable.RowHighlighted, "#wallet-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        address = event.row_key.value
        if address and address != self._history_for:
            self._history_for = address
            self._show_history()
            if self.wallet_source is not None and self.store.up("wallet"):
                self.load_history(address)

    @work(exclusive=True, group="wallet-history")
    async def load_history(self, address: str) -> None:
        try:
            await self.wallet_source.load_history(address)
        except DaemonError as exc:
            self.notify(exc.message, title="History", severity="error")

    def _show_history(self) -> None:
        history = self.query_one("#history", Table)
        address = self._history_for
        wallet = self.store.wallet.by_address(address) if address else None
        history.border_title = f"History · {wallet.name}" if wallet else "History"
        history.refill(history_rows(self.store.wallet.history.get(address, []) if address else []))

    def _wallet_detail(self, address: str) -> Text:
        """One wallet whole (Enter on it): the address the table shortens, and its figures."""
        row = next((cells for key, cells in wallet_rows(self.store) if key == address), None)
        wallet = self.store.wallet.by_address(address)
        if row is None or wallet is None:
            return Text(address)
        return kv([("Name", wallet.name), ("Address", address), ("Balance", row[2]), ("Staked", row[3]),
                   ("Rewards", row[4]), ("State", row[5])])

    def _history_detail(self, hash: str) -> Text:
        history = self.store.wallet.history.get(self._history_for or "", [])
        row = next((row for row in history if row.hash == hash), None)
        return history_detail(row) if row is not None else Text(hash)

    # -- actions -----------------------------------------------------------------------------------

    @work(exclusive=True, group="wallet-action")
    async def action_create_wallet(self) -> None:
        request = await self.app.push_screen_wait(CreateWalletDialog())
        if not isinstance(request, CreateWalletRequest):
            return
        with self.progress("creating the wallet (deriving the key file's encryption key)…", "Wallet"):
            created = await self._blocking(lambda client: client.create(
                request.password.get_secret_value(), name=request.name, words=request.words), "Create wallet")
        if created is None:
            return
        await self.app.push_screen_wait(MnemonicDialog(created.wallet.name, created.wallet.address,
                                                       created.mnemonic, created.warning))
        del created
        await self._refresh_wallets("wallet created")

    @work(exclusive=True, group="wallet-action")
    async def action_import_wallet(self) -> None:
        request = await self.app.push_screen_wait(ImportWalletDialog())
        if not isinstance(request, ImportWalletRequest):
            return
        def restore(client: WalletClient) -> WalletInfo:
            secret, password = request.secret.get_secret_value(), request.password.get_secret_value()
            if request.kind == "mnemonic":
                return client.import_mnemonic(secret, password, name=request.name)
            return client.import_private_key(secret, password, name=request.name)

        info = await self._blocking(restore, "Import wallet")
        if info is None:
            return
        await self._refresh_wallets(f"imported {info.name} ({info.address})")

    @work(exclusive=True, group="wallet-action")
    async def action_unlock_wallet(self) -> None:
        wallet = self._wallet_to_act_on()
        if wallet is None:
            return
        request = await self.app.push_screen_wait(UnlockDialog(wallet.name, self.store.wallet.idle_lock_s))
        if not isinstance(request, UnlockRequest):
            return
        with self.progress(f"unlocking {wallet.name}…", "Wallet"):
            unlocked = await self.attempt(self.wallet_source.client.unlock(
                request.password.get_secret_value(), wallet=wallet.address, timeout_s=request.timeout_s), "Unlock")
        if unlocked is None:
            return
        await self._refresh_wallets(f"{wallet.name} unlocked")

    @work(exclusive=True, group="wallet-action")
    async def action_lock_wallet(self) -> None:
        wallet = self._wallet_to_act_on()
        if wallet is None:
            return
        if await self.attempt(self.wallet_source.client.lock(wallet=wallet.address), "Lock") is None:
            return
        await self._refresh_wallets(f"{wallet.name} locked")

    @work(exclusive=True, group="wallet-action")
    async def action_send(self) -> None:
        wallet = self._wallet_to_act_on()
        if wallet is None:
            return
        account = self.store.node.accounts.get(wallet.address)
        balance = account.balance if account else None

        async def sign(request: TransferRequest, password: str | None) -> TxResult:
            with self.progress(f"sending {ait(request.amount, full=True)} to {short_addr(request.target)}…", "Send"):
                return await self.wallet_source.client.send(request.target, request.amount, wallet=request.wallet,
                                                     fee=request.fee, mode="commit", timeout_s=60, password=password)

        done = await self.transfer(
            TransferDialog("send", wallet.name, wallet.address, balance, self.store.wallet.default_fee,
                           wallets=self.wallet_choices()),
            wallet, balance, "Confirm transfer", "Send", sign, "Send")
        if done is None:
            return
        request, result = done
        where = f"committed in block {result.height}" if result.height is not None else result.status
        self.notify(f"{ait(request.amount, full=True)} sent, {where} (tx {short_hash(result.hash)})", title="Send")
        await self._refresh_wallets()
        self.load_history(request.wallet)

    async def _blocking(self, call: Callable[[WalletClient], T], what: str) -> T | None:
        """``call`` with a blocking wallet client, in a thread: creating or importing derives the
        key file's encryption key (seconds of scrypt), which must not freeze the console. None
        after showing the daemon's refusal."""
        source = self.wallet_source

        def run() -> T:
            with source.blocking_client() as client:
                return call(client)

        return await self.attempt(asyncio.to_thread(run), what)

    async def _refresh_wallets(self, done: str | None = None) -> None:
        """Read the wallet list again (names, lock state) after an action, then say ``done``."""
        await self.attempt(self.wallet_source.refresh(), "Wallet")
        if done is not None:
            self.notify(done, title="Wallet")
