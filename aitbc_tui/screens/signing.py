"""The base of the screens whose actions sign transactions through the wallet daemon.

Staking, Jobs (escrow, cancel) and Wallets (send) all go the same way: pick the wallet that
signs, ask for the transfer, show every number that matters in a confirmation (with the
password field when the wallet is locked), sign, and report. Writing that way once keeps the
three screens from drifting apart in what they show before a signature and in how a refusal
by the daemon is reported.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from daemons.common.errors import DaemonError

from aitbc_tui.format import short_addr
from aitbc_tui.models import WalletRow
from aitbc_tui.screens.base import SectionScreen
from aitbc_tui.screens.dialogs import (
    ConfirmDialog,
    PickDialog,
    TransferDialog,
    TransferRequest,
    WalletChoice,
    transfer_summary,
)

T = TypeVar("T")

RECENT_RECIPIENTS = 5
"""How many recent recipients a send form offers."""


class SigningScreen(SectionScreen):
    """A section screen with actions signed by the wallet daemon."""

    @property
    def wallet_source(self) -> Any:
        return self.aitbc.sources.get("wallet")

    def notify_failure(self, exc: DaemonError, title: str) -> None:
        """A daemon's refusal, shown long enough to read (nothing was signed or changed)."""
        self.notify(exc.message, title=title, severity="error", timeout=8)

    async def attempt(self, call: Awaitable[T], error_title: str) -> T | None:
        """``call``'s answer, or None after showing the daemon's refusal."""
        try:
            return await call
        except DaemonError as exc:
            self.notify_failure(exc, error_title)
            return None

    def recent_recipients(self, address: str) -> list[str]:
        """Where wallet ``address`` last sent transfers, newest first, each once (from the history
        the wallet daemon gave for it; empty until that wallet's history was looked at)."""
        recent: list[str] = []
        for row in self.store.wallet.history.get(address, []):
            sent = row.type == "transfer" and row.direction == "out"
            if sent and row.counterparty and row.counterparty not in recent:
                recent.append(row.counterparty)
        return recent[:RECENT_RECIPIENTS]

    def wallet_choices(self) -> list[WalletChoice]:
        """Every wallet of the daemon as a transfer form's sender (with what it can spend and
        where it recently sent funds)."""
        choices = []
        for w in self.store.wallet.wallets:
            account = self.store.node.accounts.get(w.address)
            choices.append(WalletChoice(name=w.name, address=w.address, available=account.balance if account else None,
                                        recent=self.recent_recipients(w.address)))
        return choices

    async def pick_wallet(self, question: str, none_left: str, preferred: str | None = None) -> WalletRow | None:
        """The wallet that signs: ``preferred`` when the daemon holds it, the only one, or the
        operator's choice; None (after saying why) when there is none or the choice is cancelled."""
        wallets = self.store.wallet.wallets
        if preferred is not None:
            chosen = self.store.wallet.by_address(preferred)
            if chosen is not None:
                return chosen
        if not wallets:
            self.notify(none_left, severity="warning")
            return None
        if len(wallets) == 1:
            return wallets[0]
        address = await self.app.push_screen_wait(PickDialog(
            "Choose wallet", question, [(f"{w.name} {short_addr(w.address)}", w.address) for w in wallets]))
        return self.store.wallet.by_address(address) if isinstance(address, str) else None

    async def confirm_and_sign(self, dialog: ConfirmDialog, sign: Callable[[str | None], Awaitable[T]],
                               error_title: str) -> T | None:
        """Show ``dialog``; once confirmed, run ``sign`` with the password typed there (None when
        the wallet is unlocked) and return its result. None when cancelled or refused."""
        confirmation = await self.app.push_screen_wait(dialog)
        if confirmation is None:
            return None
        password = confirmation.password.get_secret_value() if confirmation.password else None
        return await self.attempt(sign(password), error_title)

    async def transfer(self, dialog: TransferDialog, wallet: WalletRow, balance: int | None, confirm_title: str,
                       confirm_label: str, sign: Callable[[TransferRequest, str | None], Awaitable[T]],
                       error_title: str, target_names: Mapping[str, str] | None = None,
                       ) -> tuple[TransferRequest, T] | None:
        """Ask for a transfer with ``dialog``, confirm it (amount, fee, total, balance after) and
        sign it; the request and the daemon's result, or None when cancelled or refused."""
        request = await self.app.push_screen_wait(dialog)
        if not isinstance(request, TransferRequest):
            return None
        if request.wallet != wallet.address:  # another sender was picked in the form
            wallet = self.store.wallet.by_address(request.wallet) or wallet
            account = self.store.node.accounts.get(wallet.address)
            balance = account.balance if account else None
        recent = self.recent_recipients(wallet.address) if request.kind == "send" else []
        names = {**{address: "sent before" for address in recent},
                 **{w.address: w.name for w in self.store.wallet.wallets}, **(target_names or {})}
        confirm = ConfirmDialog(confirm_title, transfer_summary(request, wallet.name, balance, names.get(request.target)),
                                needs_password=not wallet.unlocked, confirm_label=confirm_label)
        result = await self.confirm_and_sign(confirm, lambda password: sign(request, password), error_title)
        return None if result is None else (request, result)
