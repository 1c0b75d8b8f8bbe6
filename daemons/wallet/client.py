"""The typed wallet client used by the CLI, the TUI and the tests.

``WalletClient.for_home(home)`` talks to the operator socket (every operation);
``WalletClient(url, api_key=...)`` talks to the public door (create, import, balance, send).
Every answer is decoded into the models of :mod:`daemons.wallet.models`; every failure is a
``DaemonError`` with the daemon's code and one-line message (``e.code == "locked"``...).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, ClassVar, Generic, Self, TypedDict, TypeVar, Unpack

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
R = TypeVar("R")


def wallet_target(home: Home | str | Path | None = None) -> Path:
    resolved = home if isinstance(home, Home) else Home.resolve(home)
    return target_for(resolved, "wallet")


def _clean(body: dict[str, Any]) -> dict[str, Any]:
    """Drop unset options and reveal ``SecretStr`` values at the last moment (the wire needs them)."""
    return {k: (v.get_secret_value() if isinstance(v, SecretStr) else v) for k, v in body.items() if v is not None}


class TxOptions(TypedDict, total=False):
    """The options every signing call takes, after its own payload: the wallet that signs (default:
    the daemon's default wallet), the fee (default: the daemon's), ``mode`` (``"sync"``, the default:
    answer once the mempool took it; ``"commit"``: once a block holding it is final), how long a
    commit may be waited for, and a password to sign this one transaction with a locked wallet."""

    wallet: str | None
    fee: int | None
    mode: Mode
    timeout_s: float | None
    password: str | None


def _tx_body(options: TxOptions, payload: dict[str, Any]) -> dict[str, Any]:
    """The request body of a signing call. ``**options`` is not checked by Python at run time, so a
    misspelt option is refused here with the ``TypeError`` a wrong keyword argument would give."""
    unknown = options.keys() - TxOptions.__optional_keys__
    if unknown:
        raise TypeError(f"unexpected signing option(s): {', '.join(sorted(unknown))}")
    return _clean({"mode": "sync", **options, **payload})


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


class _Signs(ABC, Generic[R]):
    """The signing calls, written once for both clients: each names its route and payload, and
    ``_sign`` (blocking, or returning a coroutine) adds the :class:`TxOptions` and posts it."""

    @abstractmethod
    def _sign(self, path: str, options: TxOptions, **payload: Any) -> R:
        """Post one signing request to ``path`` (the blocking client answers, the async one
        returns the coroutine that will)."""

    def send(self, to: str, amount: int, **options: Unpack[TxOptions]) -> R:
        return self._sign("/v1/wallet/send", options, to=to, amount=amount)

    def delegate(self, validator: str, amount: int, **options: Unpack[TxOptions]) -> R:
        return self._sign("/v1/stake/delegate", options, validator=validator, amount=amount)

    def unbond(self, validator: str, amount: int, **options: Unpack[TxOptions]) -> R:
        return self._sign("/v1/stake/unbond", options, validator=validator, amount=amount)

    def claim_rewards(self, validator: str, **options: Unpack[TxOptions]) -> R:
        return self._sign("/v1/stake/claim", options, validator=validator)

    def gov_propose(self, proposal: dict[str, Any], **options: Unpack[TxOptions]) -> R:
        return self._sign("/v1/gov/propose", options, proposal=proposal)

    def gov_deposit(self, proposal_id: int, amount: int, **options: Unpack[TxOptions]) -> R:
        return self._sign("/v1/gov/deposit", options, proposal_id=proposal_id, amount=amount)

    def gov_vote(self, proposal_id: int, option: str, **options: Unpack[TxOptions]) -> R:
        return self._sign("/v1/gov/vote", options, proposal_id=proposal_id, option=option)

    def gov_enact(self, proposal_id: int, **options: Unpack[TxOptions]) -> R:
        return self._sign("/v1/gov/enact", options, proposal_id=proposal_id)

    def escrow_deposit(self, coordinator: str, amount: int, **options: Unpack[TxOptions]) -> R:
        return self._sign("/v1/escrow/deposit", options, coordinator=coordinator, amount=amount)

    def escrow_withdraw(self, coordinator: str, amount: int, **options: Unpack[TxOptions]) -> R:
        return self._sign("/v1/escrow/withdraw", options, coordinator=coordinator, amount=amount)

    def miner_bond(self, amount: int, **options: Unpack[TxOptions]) -> R:
        return self._sign("/v1/miner/bond", options, amount=amount)

    def miner_unbond(self, amount: int, **options: Unpack[TxOptions]) -> R:
        return self._sign("/v1/miner/unbond", options, amount=amount)


class WalletClient(ClosesOnExit, _Connects[DaemonClient], _Signs[TxResult]):
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

    def rewards(self, wallet: str | None = None) -> Rewards:
        return self.http.get("/v1/stake/rewards", _clean({"wallet": wallet}), model=Rewards)

    def validators(self) -> Validators:
        return self.http.get("/v1/stake/validators", model=Validators)

    def _sign(self, path: str, options: TxOptions, **payload: Any) -> TxResult:
        return self.http.post(path, _tx_body(options, payload), model=TxResult)


class AsyncWalletClient(AsyncClosesOnExit, _Connects[AsyncDaemonClient],
                        _Signs[Coroutine[Any, Any, TxResult]]):
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

    def _sign(self, path: str, options: TxOptions, **payload: Any) -> Coroutine[Any, Any, TxResult]:
        return self.http.post(path, _tx_body(options, payload), model=TxResult)
