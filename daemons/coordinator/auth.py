"""API keys and who is asking: key format and hashing, per-key rate limits, the auth dependency.

A key looks like ``aitbc_<key_id>_<secret>``: the id is public (it names the key in listings,
logs and the audit trail, so an operator can revoke "the key that was refused 500 times"
without ever seeing a secret), the secret is 256 random bits. Only SHA-256 of the whole key is
stored; a slow hash would add nothing for keys with that much entropy, and would cost every
request.

The operator socket needs no key (ARCHITECTURE.md): there, the address a request acts for is
given in the ``X-Aitbc-Address`` header (``aitbc submit --client ADDR``). On the public door,
the address is the key's; the key comes in ``X-Api-Key`` or, as OpenAI clients send it, in
``Authorization: Bearer <key>``. Every refusal goes to the audit log.

Known keys are cached in memory for ``key_cache`` seconds (one indexed query less on every
request; the figures are in ``bench/bench_coordinator.py``). Revocation, and a change of a key's
default max price, is honoured at once in the process that makes it (:meth:`Authenticator.forget`,
which also stops a lookup that raced it from caching what it read before the change); another
coordinator process sharing the database sees it once its own cached entry ages out, at most
``key_cache`` seconds later (``AITBC_KEY_CACHE=0`` turns the cache off). Unknown keys are never cached, so a key created
anywhere works at once.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Awaitable, Callable, Literal

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from chain.crypto import is_address
from daemons.common.api import ApiError, door
from daemons.common.logging import audit
from daemons.common.ratelimit import RateLimiter
from daemons.coordinator.settings import CoordinatorSettings
from daemons.coordinator.store import ApiKeyRecord, CoordinatorStore

Role = Literal["client", "miner"]
ADDRESS_HEADER = "X-Aitbc-Address"
_KEY_RE = re.compile(r"aitbc_([0-9a-f]{12})_[A-Za-z0-9_-]{43}")


def new_api_key() -> tuple[str, str]:
    """(key_id, api_key) for a fresh key; the key is shown once and never stored."""
    key_id = secrets.token_hex(6)
    return key_id, f"aitbc_{key_id}_{secrets.token_urlsafe(32)}"


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8", "surrogateescape")).hexdigest()


def key_id_of(api_key: str) -> str | None:
    """The public id inside a well-formed key (for the audit log), else None."""
    match = _KEY_RE.fullmatch(api_key)
    return match.group(1) if match else None


def bearer_key(request: Request) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` header, as OpenAI's SDKs send it."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


@dataclass(frozen=True)
class Principal:
    """Who a request acts for. ``address`` None: the operator, acting for nobody in particular."""

    role: Role
    address: str | None
    key_id: str | None
    door: Literal["operator", "public"]
    default_max_price: int | None = None
    """The key's default max price (units) for a job whose request names none; None: the
    coordinator's. Read with the key, so it is as fresh as the key cache (see the module's doc)."""


class Authenticator:
    def __init__(self, settings: CoordinatorSettings, store: Callable[[], CoordinatorStore]) -> None:
        self.settings = settings
        self._store = store
        self.limiter = RateLimiter()
        self._last_limited: dict[str, float] = {}
        self._keys: dict[str, tuple[float, ApiKeyRecord]] = {}
        """key hash -> (monotonic time read, the key's record): known keys only."""
        self._keys_lock = threading.Lock()
        self._forgotten = 0
        """Bumped by every :meth:`forget`: a lookup that started before one does not cache."""

    def key(self, key_hash: str) -> ApiKeyRecord | None:
        """The record of the key with this hash (cached for ``key_cache`` seconds), None if unknown."""
        with self._keys_lock:
            generation = self._forgotten
        cached = self.cached(key_hash)
        if cached is not None:
            return cached
        now = time.monotonic()
        record = self._store().key_by_hash(key_hash)
        with self._keys_lock:
            if record is None or self.settings.key_cache <= 0 or generation != self._forgotten:
                self._keys.pop(key_hash, None)
            else:
                self._keys[key_hash] = (now, record)
        return record

    def forget(self, key_id: str) -> None:
        """Drop a key from the cache, after its revocation is committed: its next request reads
        the database again, and a lookup in flight that read the row before cannot cache it."""
        with self._keys_lock:
            self._forgotten += 1
            for key_hash in [h for h, (_, r) in self._keys.items() if r.key_id == key_id]:
                del self._keys[key_hash]

    def cached(self, key_hash: str) -> ApiKeyRecord | None:
        """The key's record if it is in the cache and fresh, else None (no database read)."""
        with self._keys_lock:
            cached = self._keys.get(key_hash)
        if cached is not None and time.monotonic() - cached[0] < self.settings.key_cache:
            return cached[1]
        return None

    def dependency(self, role: Role) -> Callable[[Request], Awaitable[Principal]]:
        """A FastAPI dependency that yields the principal for ``role`` or refuses the request.

        ``async``: the common case (the operator socket, or a cached, active key of the right
        role) needs no database and no blocking call, so it is answered on the event loop
        instead of costing every request a hop to a worker thread and back. Anything else (a
        key to read from the database, a refusal to audit) runs in a worker thread."""

        async def principal(request: Request) -> Principal:
            if door(request) == "operator":
                return self.authenticate(request, role)
            api_key = request.headers.get("X-Api-Key") or bearer_key(request)
            record = self.cached(hash_key(api_key)) if api_key else None
            if record is not None and record.revoked_ms is None and record.role == role:
                return self.authenticate(request, role, record)
            return await run_in_threadpool(self.authenticate, request, role)

        principal.__name__ = f"{role}_principal"
        return principal

    def authenticate(self, request: Request, role: Role, record: ApiKeyRecord | None = None) -> Principal:
        """The principal, or a refusal (audited). ``record``: the key's record when the caller
        already has it (from the cache), else it is read (blocking: call from a worker thread)."""
        if door(request) == "operator":
            acting = request.headers.get(ADDRESS_HEADER)
            if acting is not None and not is_address(acting):
                raise ApiError(400, "invalid_address", f"{ADDRESS_HEADER} must be 0x + 40 lower-case hex digits")
            return Principal(role=role, address=acting, key_id=None, door="operator")
        api_key = request.headers.get("X-Api-Key") or bearer_key(request)
        if not api_key:
            self._refuse(request, 401, "missing_api_key",
                         "an API key is required: an X-Api-Key header or Authorization: Bearer <key>", role)
        if record is None:
            record = self.key(hash_key(api_key))
        if record is None:
            self._refuse(request, 401, "invalid_api_key", "unknown API key", role, key_id_of(api_key))
        if record.revoked_ms is not None:
            self._refuse(request, 401, "revoked_api_key", f"API key {record.key_id} was revoked", role, record.key_id)
        if record.role != role:
            self._refuse(request, 403, "wrong_role",
                         f"API key {record.key_id} has role {record.role}; this needs a {role} key", role, record.key_id)
        rate, burst = ((self.settings.client_rate, self.settings.client_burst) if role == "client"
                       else (self.settings.miner_rate, self.settings.miner_burst))
        wait = self.limiter.retry_after(record.key_id, rate, burst)
        if wait is not None:
            self._limited(request, record.key_id, role)
            raise ApiError(429, "rate_limited", f"too many requests for API key {record.key_id}; retry in {wait:.2f}s",
                           headers={"Retry-After": str(max(1, int(wait + 0.999)))})
        return Principal(role=role, address=record.address, key_id=record.key_id, door="public",
                         default_max_price=record.default_max_price)

    def _refuse(self, request: Request, status: int, code: str, message: str, role: str,
                key_id: str | None = None) -> None:
        audit("api_key_refused", reason=code, key_id=key_id, needed_role=role, method=request.method,
              path=request.url.path, remote=request.client.host if request.client else None)
        raise ApiError(status, code, message)

    def _limited(self, request: Request, key_id: str, role: str) -> None:
        """Audit rate limiting once a minute per key: a flood must not flood the audit log too."""
        now = time.monotonic()
        if now - self._last_limited.get(key_id, -1e9) >= 60:
            self._last_limited[key_id] = now
            audit("api_key_rate_limited", key_id=key_id, role=role, method=request.method, path=request.url.path,
                  remote=request.client.host if request.client else None)
