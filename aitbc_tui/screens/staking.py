"""Staking: the validator set (power, commission, state) and the stakes and rewards of the
accounts this installation holds keys for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable

from aitbc_tui.format import ait, percent_bps, short_addr, short_hash
from aitbc_tui.models import AccountView, StakeRow, Store, WalletRow
from aitbc_tui.screens.base import ScreenKey
from aitbc_tui.screens.dialogs import ConfirmDialog, TransferDialog, TransferRequest
from aitbc_tui.screens.signing import SigningScreen
from aitbc_tui.widgets.panels import TextView
from aitbc_tui.widgets.table import Column, Row, Table

if TYPE_CHECKING:
    from daemons.wallet.models import TxResult


def share(power: int, total: int) -> str:
    if total <= 0:
        return "-"
    bps = power * 10_000 // total
    return percent_bps(bps)


VALIDATOR_COLUMNS: list[Column] = [
    ("Name", "name", 14), ("Power (AIT)", "power", 12), ("Share", "share", 7), ("Comm.", "commission", 6),
    ("State", "state", 8), ("Self bond", "self", 12), ("Address", "address", 42)]
STAKE_COLUMNS: list[Column] = [
    ("Account", "account", 12), ("Validator", "validator", 13), ("Amount (AIT)", "amount", 13),
    ("Rewards (AIT)", "rewards", 14), ("State", "state", 18)]


def validator_rows(store: Store) -> list[Row]:
    node = store.node
    rows = []
    for v in sorted(node.validators, key=lambda v: (-v.power, v.address)):
        state = "jailed" if v.jailed else "removed" if v.removed else "active" if v.active else "inactive"
        style = {"active": "green", "jailed": "red", "removed": "red"}.get(state, "yellow")
        mine = " ★" if v.address == node.validator_address else ""
        rows.append((v.address, (
            (v.name or "-") + mine,
            Text(ait(v.power, suffix=False), justify="right"),
            Text(share(v.power, node.total_power), justify="right"),
            Text(percent_bps(v.commission_bps), justify="right"),
            Text(state, style=style),
            Text(ait(v.self_bond, suffix=False), justify="right"),
            v.address)))
    return rows


def stake_rows(store: Store) -> list[Row]:
    rows = []
    names = {v.address: v.name for v in store.node.validators}
    for account in store.node.accounts.values():
        label = account.label or short_addr(account.address)
        for stake in account.stakes:
            rows.append((f"{account.address}/{stake.validator}", (
                label, names.get(stake.validator) or short_addr(stake.validator),
                Text(ait(stake.amount, suffix=False), justify="right"),
                Text(ait(stake.rewards, suffix=False), justify="right", style="green"), "bonded")))
        for index, entry in enumerate(account.unbonding):
            rows.append((f"{account.address}/unbonding/{index}", (
                label, entry.kind or "unbonding",
                Text(ait(entry.amount, suffix=False), justify="right"), Text("-", justify="right"),
                f"released at {entry.release_height}" if entry.release_height is not None else "unbonding")))
    return rows


@dataclass(frozen=True)
class StakeChoice:
    """The highlighted stake row resolved: the wallet that holds it, its validator, the account
    (None until the node has answered) and the stake (None once the chain no longer has it)."""

    wallet: WalletRow
    validator: str
    account: AccountView | None
    stake: StakeRow | None

    @property
    def bonded(self) -> int:
        return self.stake.amount if self.stake else 0

    @property
    def rewards(self) -> int:
        return self.stake.rewards if self.stake else 0

    @property
    def balance(self) -> int | None:
        return self.account.balance if self.account else None


class StakingScreen(SigningScreen):
    SECTION = "staking"
    AUTO_FOCUS = "#validators"
    KEYS = (
        ScreenKey("v", "focus_validators", "Validators"),
        ScreenKey("r", "focus_stakes", "Stakes"),
        ScreenKey("d", "delegate", "Delegate", ("wallet",),
                  ("Staking: delegate", "Bond stake to a validator (with confirmation)")),
        ScreenKey("u", "unbond", "Unbond", ("wallet",), ("Staking: unbond", "Unbond the highlighted stake")),
        ScreenKey("c", "claim", "Claim rewards", ("wallet",),
                  ("Staking: claim rewards", "Claim rewards of the highlighted stake")),
    )

    def compose_body(self) -> ComposeResult:
        with Vertical(id="staking"):
            yield Table(VALIDATOR_COLUMNS, id="validators", title="Validators", drop=("address",), opens=True)
            yield Table(STAKE_COLUMNS, id="stakes", title="Your stakes & rewards")
            yield TextView(id="staking-note", classes="note")

    def update_body(self, changed: frozenset[str]) -> None:
        if not changed & {"node", "wallet"}:
            return
        store = self.store
        self.query_one("#validators", Table).refill(validator_rows(store))
        stake_keys = self.query_one("#stakes", Table).refill(stake_rows(store))
        node = store.node
        mine = "★ this node's validator" if any(v.address == node.validator_address for v in node.validators) else ""
        power = f"total power {ait(node.total_power)}" if node.total_power else ""
        self.query_one("#validators", Table).border_subtitle = " · ".join(part for part in (mine, power) if part)
        note = self.unavailable_text("node", "Validators")
        if note is None and not stake_keys:
            note = "no stakes held by this installation's accounts"
        self.query_one("#staking-note", TextView).show_note(note)

    # -- selection -----------------------------------------------------------------------------------

    def selected_validator(self) -> str | None:
        return self.query_one("#validators", Table).selected_key()

    def selected_stake(self) -> tuple[str, str] | None:
        """(account address, validator) of the highlighted stake row, if it is a bonded stake."""
        key = self.query_one("#stakes", Table).selected_key()
        if key is None:
            return None
        account, _, validator = key.partition("/")
        return None if validator.startswith("unbonding/") else (account, validator)

    # -- actions (through the wallet daemon) -------------------------------------------------------

    def _validator_options(self) -> list[tuple[str, str]]:
        return [(f"{v.name or short_addr(v.address)} · {percent_bps(v.commission_bps)} commission", v.address)
                for v in self.store.node.validators if v.active and not v.jailed]

    def _stake_to_act_on(self) -> StakeChoice | None:
        """The highlighted stake row, or None (after saying why)."""
        selected = self.selected_stake()
        if selected is None:
            self.notify("highlight one of your stakes first (r)", severity="warning")
            return None
        wallet = self.store.wallet.by_address(selected[0])
        if wallet is None:
            self.notify("that stake belongs to a key the wallet daemon does not hold", severity="warning")
            return None
        validator = selected[1]
        account = self.store.node.accounts.get(wallet.address)
        stake = next((s for s in account.stakes if s.validator == validator), None) if account else None
        return StakeChoice(wallet, validator, account, stake)

    @work(exclusive=True, group="stake-action")
    async def action_delegate(self) -> None:
        stake = self.selected_stake()
        wallets = self.store.wallet.wallets
        if not wallets:
            self.notify("no wallet to sign with: create or import one on the Wallets screen", severity="warning")
            return
        # the form picks the wallet (preselected: the highlighted stake's), not a dialog before it
        wallet = (self.store.wallet.by_address(stake[0]) if stake else None) or wallets[0]
        account = self.store.node.accounts.get(wallet.address)
        balance = account.balance if account else None
        await self._transfer("delegate", wallet, balance, balance, self.selected_validator(), None)

    @work(exclusive=True, group="stake-action")
    async def action_unbond(self) -> None:
        found = self._stake_to_act_on()
        if found is None:
            return
        await self._transfer("unbond", found.wallet, found.bonded, found.balance, found.validator, found.bonded)

    async def _transfer(self, kind: Literal["delegate", "unbond"], wallet: WalletRow, available: int | None,
                        balance: int | None, validator: str | None, amount: int | None) -> None:
        async def sign(request: TransferRequest, password: str | None) -> TxResult:
            client = self.wallet_source.client
            call = client.delegate if kind == "delegate" else client.unbond
            return await call(request.target, request.amount, wallet=request.wallet, fee=request.fee, mode="commit",
                              password=password)

        done = await self.transfer(
            TransferDialog(kind, wallet.name, wallet.address, available, self.store.wallet.default_fee,
                           targets=self._validator_options(), target=validator, amount=amount,
                           wallets=self.wallet_choices() if kind == "delegate" else ()),
            wallet, balance, "Confirm " + ("delegation" if kind == "delegate" else "unbonding"), kind.capitalize(),
            sign, kind.capitalize(), target_names={v.address: v.name for v in self.store.node.validators})
        if done is not None:
            request, result = done
            where = f"block {result.height}" if result.height is not None else result.status
            self.notify(f"{kind} {ait(request.amount, full=True)}: {where} (tx {short_hash(result.hash)})", title="Staking")

    @work(exclusive=True, group="stake-action")
    async def action_claim(self) -> None:
        found = self._stake_to_act_on()
        if found is None:
            return
        wallet, validator, fee = found.wallet, found.validator, self.store.wallet.default_fee
        rows = [("Wallet", f"{wallet.name} {wallet.address}"), ("Validator", validator),
                ("Rewards", Text(ait(found.rewards, full=True), style="bold green")), ("Fee", f"{ait(fee, full=True)}")]
        result = await self.confirm_and_sign(
            ConfirmDialog("Claim rewards", rows, needs_password=not wallet.unlocked, confirm_label="Claim"),
            lambda password: self.wallet_source.client.claim_rewards(validator, wallet=wallet.address, fee=fee,
                                                                     mode="commit", password=password),
            "Claim")
        if result is not None:
            self.notify(f"rewards claimed in block {result.height} (tx {short_hash(result.hash)})", title="Staking")

    def action_focus_validators(self) -> None:
        self.query_one("#validators", DataTable).focus()

    def action_focus_stakes(self) -> None:
        self.query_one("#stakes", DataTable).focus()
