"""The typed wallet client used by the CLI, the TUI and the tests.

``WalletClient.for_home(home)`` talks to the operator socket (every operation);
``WalletClient(url, api_key=...)`` talks to the public door (create, import, balance, send).
Every answer is decoded into the models of :mod:`daemons.wallet.models`; every failure is a
``DaemonError`` with the daemon's code and one-line message (``e.code == "locked"``...).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Generic, Self, TypeVar

from pydantic import SecretStr

from daemons.common.client import AsyncClosesOnExit, AsyncDaemonClient, ClosesOnExit, DaemonClient, target_for
from daemons.common.home import Home
from daemons.wallet.models import (
    Balance,
    CreateResponse,
    DeleteResponse,
    ExportResponse,
    History,
    LockResponse,
    Mode,
    Rewards,
    TxResult,
    Validators,
    WalletInfo,
    WalletList,
    WalletStatus,
)

DEFAULT_TIMEOUT = 60.0  # an unlock after wrong passwords waits out the brute-force delay
H = TypeVar("H", DaemonClient, AsyncDaemonClient)


def wallet_target(home: Home | str | Path | None = None) -> Path:
    resolved = home if isinstance(home, Home) else Home.resolve(home)
    return target_for(resolved, "wallet")


def _clean(body: dict[str, Any]) -> dict[str, Any]:
    """Drop unset options and reveal ``SecretStr`` values at the last moment (the wire needs them)."""
    return {k: (v.get_secret_value() if isinstance(v, SecretStr) else v) for k, v in body.items() if v is not None}


def _tx(wallet: str | None, fee: int | None, mode: Mode, timeout_s: float | None, password: str | None,
        **payload: Any) -> dict[str, Any]:
    return _clean({"wallet": wallet, "fee": fee, "mode": mode, "timeout_s": timeout_s, "password": password,
                   **payload})


class _Connects(Generic[H]):
    """What both wallet clients are made from: a target (socket or URL), an API key for the public
    door, or a HOME; ``_HTTP`` is the blocking or asyncio daemon client underneath."""

    _HTTP: ClassVar[type[DaemonClient] | type[AsyncDaemonClient]]

    def __init__(self, target: str | os.PathLike[str], api_key: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        self.http: H = self._HTTP(target, api_key=api_key, timeout=timeout, name="wallet")  # type: ignore[assignment]

    @classmethod
    def for_home(cls, home: Home | str | Path | None = None, timeout: float = DEFAULT_TIMEOUT) -> Self:
        return cls(wallet_target(home), timeout=timeout)


class WalletClient(ClosesOnExit, _Connects[DaemonClient]):
    """Blocking client. Use as a context manager or call :meth:`close`."""

    _HTTP = DaemonClient

    def close(self) -> None:
        self.http.close()

    # -- wallets ---------------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return self.http.get("/health")

    def status(self) -> WalletStatus:
        return self.http.get("/v1/wallet/status", model=WalletStatus)

    def create(self, password: str, name: str | None = None, words: int = 24) -> CreateResponse:
        return self.http.post("/v1/wallet/create", _clean({"password": password, "name": name, "words": words}),
                              model=CreateResponse)

    def import_mnemonic(self, mnemonic: str, password: str, name: str | None = None,
                        bip39_passphrase: str | None = None, path: str | None = None) -> WalletInfo:
        body = {"mnemonic": mnemonic, "password": password, "name": name, "bip39_passphrase": bip39_passphrase,
                "path": path}
        return self.http.post("/v1/wallet/import", _clean(body), model=WalletInfo)

    def import_private_key(self, private_key: str, password: str, name: str | None = None) -> WalletInfo:
        body = {"private_key": private_key, "password": password, "name": name}
        return self.http.post("/v1/wallet/import", _clean(body), model=WalletInfo)

    def import_backup(self, backup: str, password: str, name: str | None = None) -> WalletInfo:
        body = {"backup": backup, "password": password, "name": name}
        return self.http.post("/v1/wallet/import-backup", _clean(body), model=WalletInfo)

    def list(self) -> list[WalletInfo]:
        return self.http.get("/v1/wallet/list", model=WalletList).wallets

    def balance(self, wallet: str | None = None) -> Balance:
        return self.http.get("/v1/wallet/balance", _clean({"wallet": wallet}), model=Balance)

    def history(self, wallet: str | None = None, limit: int = 50, before_height: int | None = None) -> History:
        params = _clean({"wallet": wallet, "limit": limit, "before_height": before_height})
        return self.http.get("/v1/wallet/history", params, model=History)

    def export(self, wallet: str | None = None) -> ExportResponse:
        return self.http.post("/v1/wallet/export", _clean({"wallet": wallet}), model=ExportResponse)

    def unlock(self, password: str, wallet: str | None = None, timeout_s: float | None = None) -> WalletInfo:
        body = {"wallet": wallet, "password": password, "timeout_s": timeout_s}
        return self.http.post("/v1/wallet/unlock", _clean(body), model=WalletInfo)

    def lock(self, wallet: str | None = None, all: bool = False) -> list[str]:
        return self.http.post("/v1/wallet/lock", _clean({"wallet": wallet, "all": all}), model=LockResponse).locked

    def rename(self, wallet: str, new_name: str) -> WalletInfo:
        return self.http.post("/v1/wallet/rename", {"wallet": wallet, "new_name": new_name}, model=WalletInfo)

    def delete(self, wallet: str, confirm: str, password: str) -> DeleteResponse:
        body = {"wallet": wallet, "confirm": confirm, "password": password}
        return self.http.post("/v1/wallet/delete", body, model=DeleteResponse)

    # -- signing ---------------------------------------------------------------------------------------

    def send(self, to: str, amount: int, wallet: str | None = None, fee: int | None = None, mode: Mode = "sync",
             timeout_s: float | None = None, password: str | None = None) -> TxResult:
        body = _tx(wallet, fee, mode, timeout_s, password, to=to, amount=amount)
        return self.http.post("/v1/wallet/send", body, model=TxResult)

    def delegate(self, validator: str, amount: int, wallet: str | None = None, fee: int | None = None,
                 mode: Mode = "sync", timeout_s: float | None = None, password: str | None = None) -> TxResult:
        body = _tx(wallet, fee, mode, timeout_s, password, validator=validator, amount=amount)
        return self.http.post("/v1/stake/delegate", body, model=TxResult)

    def gov_propose(self, proposal: dict[str, Any], wallet: str | None = None, fee: int | None = None,
                    mode: Mode = "sync", timeout_s: float | None = None, password: str | None = None) -> TxResult:
        body = _tx(wallet, fee, mode, timeout_s, password, proposal=proposal)
        return self.http.post("/v1/gov/propose", body, model=TxResult)

    def gov_deposit(self, proposal_id: int, amount: int, wallet: str | None = None, fee: int | None = None,
                    mode: Mode = "sync", timeout_s: float | None = None, password: str | None = None) -> TxResult:
        body = _tx(wallet, fee, mode, timeout_s, password, proposal_id=proposal_id, amount=amount)
        return self.http.post("/v1/gov/deposit", body, model=TxResult)

    def gov_vote(self, proposal_id: int, option: str, wallet: str | None = None, fee: int | None = None,
                 mode: Mode = "sync", timeout_s: float | None = None, password: str | None = None) -> TxResult:
        body = _tx(wallet, fee, mode, timeout_s, password, proposal_id=proposal_id, option=option)
        return self.http.post("/v1/gov/vote", body, model=TxResult)

    def gov_enact(self, proposal_id: int, wallet: str | None = None, fee: int | None = None,
                  mode: Mode = "sync", timeout_s: float | None = None, password: str | None = None) -> TxResult:
        body = _tx(wallet, fee, mode, timeout_s, password, proposal_id=proposal_id)
        return self.http.post("/v1/gov/enact", body, model=TxResult)

    def unbond(self, validator: str, amount: int, wallet: str | None = None, fee: int | None = None,
               mode: Mode = "sync", timeout_s: float | None = None, password: str | None = None) -> TxResult:
        body = _tx(wallet, fee, mode, timeout_s, password, validator=validator, amount=amount)
        return self.http.post("/v1/stake/unbond", body, model=TxResult)

    def claim_rewards(self, validator: str, wallet: str | None = None, fee: int | None = None,
                      mode: Mode = "sync", timeout_s: float | None = None, password: str | None = None) -> TxResult:
        body = _tx(wallet, fee, mode, timeout_s, password, validator=validator)
        return self.http.post("/v1/stake/claim", body, model=TxResult)

    def rewards(self, wallet: str | None = None) -> Rewards:
        return self.http.get("/v1/stake/rewards", _clean({"wallet": wallet}), model=Rewards)

    def validators(self) -> Validators:
        return self.http.get("/v1/stake/validators", model=Validators)

    def escrow_deposit(self, coordinator: str, amount: int, wallet: str | None = None, fee: int | None = None,
                       mode: Mode = "sync", timeout_s: float | None = None, password: str | None = None) -> TxResult:
        body = _tx(wallet, fee, mode, timeout_s, password, coordinator=coordinator, amount=amount)
        return self.http.post("/v1/escrow/deposit", body, model=TxResult)

    def escrow_withdraw(self, coordinator: str, amount: int, wallet: str | None = None, fee: int | None = None,
                        mode: Mode = "sync", timeout_s: float | None = None, password: str | None = None) -> TxResult:
        body = _tx(wallet, fee, mode, timeout_s, password, coordinator=coordinator, amount=amount)
        return self.http.post("/v1/escrow/withdraw", body, model=TxResult)

    def miner_bond(self, amount: int, wallet: str | None = None, fee: int | None = None, mode: Mode = "sync",
                   timeout_s: float | None = None, password: str | None = None) -> TxResult:
        body = _tx(wallet, fee, mode, timeout_s, password, amount=amount)
        return self.http.post("/v1/miner/bond", body, model=TxResult)

    def miner_unbond(self, amount: int, wallet: str | None = None, fee: int | None = None, mode: Mode = "sync",
                     timeout_s: float | None = None, password: str | None = None) -> TxResult:
        body = _tx(wallet, fee, mode, timeout_s, password, amount=amount)
        return self.http.post("/v1/miner/unbond", body, model=TxResult)


class AsyncWalletClient(AsyncClosesOnExit, _Connects[AsyncDaemonClient]):
    """Asyncio client for the TUI: the read-side and signing calls a screen needs."""

    _HTTP = AsyncDaemonClient

    async def aclose(self) -> None:
        await self.http.aclose()

    async def status(self) -> WalletStatus:
        return await self.http.get("/v1/wallet/status", model=WalletStatus)

    async def list(self) -> list[WalletInfo]:
        return (await self.http.get("/v1/wallet/list", model=WalletList)).wallets

    async def balance(self, wallet: str | None = None) -> Balance:
        return await self.http.get("/v1/wallet/balance", _clean({"wallet": wallet}), model=Balance)

    async def history(self, wallet: str | None = None, limit: int = 50,
                      before_height: int | None = None) -> History:
        params = _clean({"wallet": wallet, "limit": limit, "before_height": before_height})
        return await self.http.get("/v1/wallet/history", params, model=History)

    async def rewards(self, wallet: str | None = None) -> Rewards:
        return await self.http.get("/v1/stake/rewards", _clean({"wallet": wallet}), model=Rewards)

    async def validators(self) -> Validators:
        return await self.http.get("/v1/stake/validators", model=Validators)

    async def unlock(self, password: str, wallet: str | None = None, timeout_s: float | None = None) -> WalletInfo:
        body = {"wallet": wallet, "password": password, "timeout_s": timeout_s}
        return await self.http.post("/v1/wallet/unlock", _clean(body), model=WalletInfo)

    async def lock(self, wallet: str | None = None, all: bool = False) -> list[str]:
        body = _clean({"wallet": wallet, "all": all})
        return (await self.http.post("/v1/wallet/lock", body, model=LockResponse)).locked

    async def send(self, to: str, amount: int, wallet: str | None = None, fee: int | None = None,
                   mode: Mode = "sync", timeout_s: float | None = None, password: str | None = None) -> TxResult:
        body = _tx(wallet, fee, mode, timeout_s, password, to=to, amount=amount)
        return await self.http.post("/v1/wallet/send", body, model=TxResult)

    async def delegate(self, validator: str, amount: int, wallet: str | None = None, fee: int | None = None,
                       mode: Mode = "sync", password: str | None = None) -> TxResult:
        body = _tx(wallet, fee, mode, None, password, validator=validator, amount=amount)
        return await self.http.post("/v1/stake/delegate", body, model=TxResult)

    async def gov_vote(self, proposal_id: int, option: str, wallet: str | None = None, fee: int | None = None,
                       mode: Mode = "sync", password: str | None = None) -> TxResult:
        body = _tx(wallet, fee, mode, None, password, proposal_id=proposal_id, option=option)
        return await self.http.post("/v1/gov/vote", body, model=TxResult)

    async def gov_deposit(self, proposal_id: int, amount: int, wallet: str | None = None, fee: int | None = None,
                          mode: Mode = "sync", password: str | None = None) -> TxResult:
        body = _tx(wallet, fee, mode, None, password, proposal_id=proposal_id, amount=amount)
        return await self.http.post("/v1/gov/deposit", body, model=TxResult)

    async def gov_propose(self, proposal: dict[str, Any], wallet: str | None = None, fee: int | None = None,
                          mode: Mode = "sync", password: str | None = None) -> TxResult:
        body = _tx(wallet, fee, mode, None, password, proposal=proposal)
        return await self.http.post("/v1/gov/propose", body, model=TxResult)

    async def unbond(self, validator: str, amount: int, wallet: str | None = None, fee: int | None = None,
                     mode: Mode = "sync", password: str | None = None) -> TxResult:
        body = _tx(wallet, fee, mode, None, password, validator=validator, amount=amount)
        return await self.http.post("/v1/stake/unbond", body, model=TxResult)

    async def claim_rewards(self, validator: str, wallet: str | None = None, fee: int | None = None,
                            mode: Mode = "sync", password: str | None = None) -> TxResult:
        body = _tx(wallet, fee, mode, None, password, validator=validator)
        return await self.http.post("/v1/stake/claim", body, model=TxResult)

    async def escrow_deposit(self, coordinator: str, amount: int, wallet: str | None = None,
                             fee: int | None = None, mode: Mode = "sync", password: str | None = None) -> TxResult:
        body = _tx(wallet, fee, mode, None, password, coordinator=coordinator, amount=amount)
        return await self.http.post("/v1/escrow/deposit", body, model=TxResult)
