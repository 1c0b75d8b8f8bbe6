"""The wallet's HTTP API, described once and served on both doors.

Operator socket: every route. Public TCP door (only when configured): an ``X-Api-Key`` from
``api_keys`` is required (401 otherwise, audited) and only the seed's REST paths are served:
``/v1/wallet/create``, ``/v1/wallet/import``, ``/v1/wallet/balance``, ``/v1/wallet/send``
(403 for anything else), so a leaked key cannot export, delete or unlock wallets. There,
``/send`` also needs the wallet's password (checked even when the wallet is unlocked) unless the
key is scoped to that wallet (``api_key_wallets``), and wallet creation/import and password checks
are rate-limited per key (429 with Retry-After, audited): a leaked key can neither spend nor
guess passwords nor fill the keystore at speed.

Errors keep the shared shape ``{"error": {"code", "message"}}``; messages never carry a
password, phrase or key (request bodies are never logged, and validation messages name the
field, not its value).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse

from chain.errors import ChainError
from daemons.common.api import ApiError, create_app, door, error_responses
from daemons.common.errors import DaemonError, DaemonUnavailable
from daemons.common.logging import audit
from daemons.common.ratelimit import RateLimiter
from daemons.node.client import NodeRpcError
from daemons.wallet.core import NODE_NOT_FOUND, WalletCore, WalletError
from daemons.wallet.models import (
    Balance,
    BondRequest,
    ClaimRequest,
    CreateRequest,
    CreateResponse,
    DeleteRequest,
    DeleteResponse,
    EscrowRequest,
    ExportRequest,
    ExportResponse,
    GovDepositRequest,
    GovEnactRequest,
    GovProposeRequest,
    GovVoteRequest,
    History,
    ImportBackupRequest,
    ImportRequest,
    LockRequest,
    LockResponse,
    RenameRequest,
    Rewards,
    SendRequest,
    StakeRequest,
    TxOptions,
    TxResult,
    UnlockRequest,
    Validators,
    WalletInfo,
    WalletList,
    WalletStatus,
)
from daemons.wallet.settings import api_key_digest
from daemons.common.version import VERSION
from keys import errors as key_errors

PUBLIC_PATHS = frozenset({"/v1/wallet/create", "/v1/wallet/import", "/v1/wallet/balance", "/v1/wallet/send"})
_KEY_ERRORS: list[tuple[type[key_errors.KeysError], int, str]] = [
    (key_errors.WrongPassword, 403, "wrong_password"),
    (key_errors.KeyNotFound, 404, "wallet_not_found"),
    (key_errors.KeyExists, 409, "wallet_exists"),
    (key_errors.AmbiguousKeyName, 409, "ambiguous_name"),
    (key_errors.KeyWiped, 423, "locked"),
    (key_errors.InvalidMnemonic, 422, "invalid_mnemonic"),
    (key_errors.InvalidKey, 422, "invalid_key"),
    (key_errors.InvalidKeyName, 422, "invalid_name"),
    (key_errors.InvalidPassword, 422, "invalid_password"),
    (key_errors.InvalidPath, 422, "invalid_path"),
    (key_errors.CorruptKeystore, 422, "corrupt_wallet_file"),
    (key_errors.WeakKeystore, 422, "weak_wallet_file"),
]

_REFUSALS = error_responses(401, 403, 404, 409, 423, 429, 502, 503, 504)
"""What any wallet route can answer besides success: the public door's key (401, 403 for an operator
route) and rate (429), a wallet that is not there, named twice or locked (404, 409, 423), a wrong
password (403), and the node behind it refusing, down or slow to commit (502, 503, 504)."""


def _access(digests: frozenset[str]) -> Any:
    """Dependency on every wallet route: the operator door passes; the public door needs a
    valid key and one of the public paths."""

    def check(request: Request) -> None:
        if door(request) == "operator":
            return
        given = request.headers.get("x-api-key", "")
        digest = api_key_digest(given) if given else ""
        if not any(hmac.compare_digest(digest, known) for known in digests):
            client = request.client.host if request.client else None
            audit("api_key_refused", path=request.url.path, client=client, reason="missing" if not given else "unknown")
            raise ApiError(401, "unauthorized", "a valid X-Api-Key header is required", {"WWW-Authenticate": "ApiKey"})
        if request.url.path not in PUBLIC_PATHS:
            raise ApiError(403, "operator_only", "only available on the operator socket (run this on the wallet's host)")
        request.state.api_key_digest = digest

    return check


def _metered(request: Request, limiter: RateLimiter, what: str, rate: float, burst: int) -> None:
    """On the public door, take one of the calling key's ``what`` tokens or answer 429."""
    if door(request) == "operator":
        return
    digest = request.state.api_key_digest
    wait = limiter.retry_after(f"{what}:{digest}", rate, burst)
    if wait is not None:
        audit("wallet_rate_limited", what=what, key=digest[:19], path=request.url.path)
        raise ApiError(429, "rate_limited", f"too many {what} requests for this API key; retry in {wait:.1f}s",
                       {"Retry-After": str(max(1, int(wait + 0.999)))})


def _error(status: int, code: int | str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _install_error_handlers(app: FastAPI) -> None:
    async def wallet_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, WalletError)
        return _error(exc.status, exc.code, exc.message)

    async def chain_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ChainError)
        for kind, status, code in _KEY_ERRORS:
            if isinstance(exc, kind):
                return _error(status, code, exc.message)
        return _error(422, exc.code, exc.message)  # a transaction the chain's own rules refuse

    async def node_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DaemonError)
        if isinstance(exc, NodeRpcError):
            if exc.code == NODE_NOT_FOUND:
                return _error(404, exc.code, exc.message)
            return _error(422, exc.code, f"node refused: {exc.message}")
        if isinstance(exc, DaemonUnavailable):
            return _error(503, "node_unavailable", exc.message)
        return _error(502, "node_error", f"node: {exc.message}")

    app.add_exception_handler(WalletError, wallet_error)
    app.add_exception_handler(ChainError, chain_error)
    app.add_exception_handler(DaemonError, node_error)


def _signing_route(core: WalletCore, tx_type: str, model: type[TxOptions]) -> Callable[..., Awaitable[TxResult]]:
    """The endpoint that signs a ``tx_type`` transaction of the request's wallet."""

    async def sign(req: TxOptions) -> TxResult:
        return await core.submit(req.wallet, tx_type, req.payload(), req)

    sign.__annotations__["req"] = model  # FastAPI reads the request body's model from the annotation
    return sign


def build_app(core: WalletCore) -> FastAPI:
    """The wallet API over ``core`` (see the module docstring for the doors)."""
    settings = core.settings
    app = create_app("wallet", VERSION, max_body_bytes=settings.max_body_bytes,
                     description="AITBC wallet: encrypted keys, signing, balances and staking")
    _install_error_handlers(app)
    guarded = [Depends(_access(settings.api_key_digests()))]
    limiter, scopes = RateLimiter(), settings.wallet_scopes()

    def creating(request: Request) -> None:
        _metered(request, limiter, "wallet creation", settings.key_create_rate, settings.key_create_burst)

    def password_needed(request: Request, req: SendRequest) -> bool:
        """Public door: whether this /send must prove the wallet's password (and take a token for it)."""
        if door(request) == "operator":
            return False
        key = core.resolve(req.wallet)
        if {key.name, key.address} & scopes.get(request.state.api_key_digest, frozenset()):
            return False
        if req.password is not None:
            _metered(request, limiter, "password", settings.key_password_rate, settings.key_password_burst)
        return True
    wallet = APIRouter(prefix="/v1/wallet", tags=["wallet"], dependencies=guarded, responses=_REFUSALS)
    stake = APIRouter(prefix="/v1/stake", tags=["stake"], dependencies=guarded, responses=_REFUSALS)
    escrow = APIRouter(prefix="/v1/escrow", tags=["escrow"], dependencies=guarded, responses=_REFUSALS)
    miner = APIRouter(prefix="/v1/miner", tags=["miner"], dependencies=guarded, responses=_REFUSALS)
    gov = APIRouter(prefix="/v1/gov", tags=["gov"], dependencies=guarded, responses=_REFUSALS)

    # -- wallets ---------------------------------------------------------------------------------------

    @wallet.get("/status", response_model=WalletStatus)
    async def status() -> WalletStatus:
        """Wallet counts, the node this daemon uses and whether it answers."""
        return await core.status()

    @wallet.post("/create", response_model=CreateResponse)
    async def create(req: CreateRequest, request: Request) -> CreateResponse:
        """A new wallet from a fresh recovery phrase, returned once in this answer only."""
        creating(request)
        return await core.create(req)

    @wallet.post("/import", response_model=WalletInfo)
    async def import_key(req: ImportRequest, request: Request) -> WalletInfo:
        """Restore a wallet from its recovery phrase or its private key."""
        creating(request)
        return await core.import_key(req)

    @wallet.post("/import-backup", response_model=WalletInfo)
    async def import_backup(req: ImportBackupRequest) -> WalletInfo:
        """Add an exported (encrypted) wallet file, after checking its password opens it."""
        return await core.import_backup(req)

    @wallet.get("/list", response_model=WalletList)
    async def list_wallets() -> WalletList:
        return WalletList(wallets=core.list())

    @wallet.get("/balance", response_model=Balance)
    async def balance(wallet: str | None = Query(None, max_length=64)) -> Balance:
        """Balance, stakes, rewards, unbonding and escrows of a wallet, from the node."""
        return await core.balance(wallet)

    @wallet.get("/history", response_model=History)
    async def history(wallet: str | None = Query(None, max_length=64), limit: int = Query(50, ge=1, le=1000),
                      before_height: int | None = Query(None, ge=1)) -> History:
        """The wallet's transactions, newest first, from the node's address index."""
        return await core.history(wallet, limit, before_height)

    @wallet.post("/export", response_model=ExportResponse)
    async def export(req: ExportRequest) -> ExportResponse:
        """The wallet's encrypted file, byte for byte, as a backup."""
        return await core.export(req.wallet)

    @wallet.post("/unlock", response_model=WalletInfo)
    async def unlock(req: UnlockRequest) -> WalletInfo:
        """Decrypt the wallet's key into memory until locked, idle past the timeout, or exit."""
        return await core.unlock(req.wallet, req.password, req.timeout_s)

    @wallet.post("/lock", response_model=LockResponse)
    async def lock(req: LockRequest) -> LockResponse:
        """Wipe the key of one wallet (or all) from memory."""
        return LockResponse(locked=core.lock(req.wallet, req.all))

    @wallet.post("/rename", response_model=WalletInfo)
    async def rename(req: RenameRequest) -> WalletInfo:
        return await core.rename(req.wallet, req.new_name)

    @wallet.post("/delete", response_model=DeleteResponse)
    async def delete(req: DeleteRequest) -> DeleteResponse:
        """Remove the wallet file; the name/address must be repeated and the password given."""
        return await core.delete(req.wallet, req.confirm, req.password)

    @wallet.post("/send", response_model=TxResult)
    async def send(req: SendRequest, request: Request) -> TxResult:
        """Transfer ``amount`` units to ``to``; mode=commit waits until the block is final."""
        return await core.submit(req.wallet, "transfer", req.payload(), req,
                                 password_required=password_needed(request, req))

    # -- staking, escrow, miner bond, governance (chain.governance) -------------------------------------
    # Each signs one transaction type whose payload is the request's own fields (TxOptions.payload).

    for router, path, name, tx_type, model, doc in (
        (stake, "/delegate", "delegate", "stake", StakeRequest, None),
        (stake, "/unbond", "unbond", "unstake", StakeRequest,
         "Start unbonding; the funds return after the chain's unbonding period."),
        (stake, "/claim", "claim", "claim_rewards", ClaimRequest, None),
        (escrow, "/deposit", "escrow_deposit", "escrow_deposit", EscrowRequest,
         "Lock funds with a coordinator so that it can charge AI jobs against them."),
        (escrow, "/withdraw", "escrow_withdraw", "escrow_withdraw", EscrowRequest,
         "Ask for escrow back (it stays spendable by the coordinator for the chain's delay)."),
        (miner, "/bond", "miner_bond", "miner_bond", BondRequest, None),
        (miner, "/unbond", "miner_unbond", "miner_unbond", BondRequest, None),
        (gov, "/propose", "gov_propose", "gov_propose", GovProposeRequest,
         "Submit a proposal with its initial deposit (voting opens once min_deposit is reached)."),
        (gov, "/deposit", "gov_deposit", "gov_deposit", GovDepositRequest, None),
        (gov, "/vote", "gov_vote", "gov_vote", GovVoteRequest, "Vote (or change the vote) with the wallet's bonded stake."),
        (gov, "/enact", "gov_enact", "validator_update", GovEnactRequest,
         "Enact a passed validator_update proposal (any account may; the change is the one voted)."),
    ):
        router.add_api_route(path, _signing_route(core, tx_type, model), methods=["POST"], name=name,
                             response_model=TxResult, description=doc)

    @stake.get("/rewards", response_model=Rewards)
    async def rewards(wallet: str | None = Query(None, max_length=64)) -> Rewards:
        return await core.rewards(wallet)

    @stake.get("/validators", response_model=Validators)
    async def validators() -> Validators:
        return await core.validators()

    for router in (wallet, stake, escrow, miner, gov):
        app.include_router(router)
    return app
