"""Settings of the wallet daemon (table ``[wallet]`` of config.toml).

KDF cost (``scrypt_n``): every wallet file is encrypted under a key derived from its password by
scrypt with ``n = scrypt_n`` (r = 8, p = 1). The default 2**17 makes each password guess cost
128 MiB of memory and roughly half a second of one core: GPU/ASIC guessing of a stolen file
becomes expensive, while the daemon, which derives the key only on unlock, still copes on small
rigs. Each doubling of ``n`` doubles both the attacker's cost per guess and the memory and time of
every unlock, create and import here. The value applies to files written from now on (create,
import); existing files keep the cost they were written with, which travels inside the file.
Tests use a tiny ``n`` for speed; never do that with real funds.

Brute-force resistance on top of the KDF: after a wrong password the daemon waits
``unlock_backoff_s * 2**(failures-1)`` seconds (capped at ``unlock_backoff_max_s``) before it
answers, and attempts on one wallet are serialized, so guesses through the daemon run at most
one per delay, however many clients ask at once.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import ClassVar

from pydantic import Field, ValidationInfo, field_validator

from daemons.common.settings import CommonSettings, Duration, Port, bare_env
from keys.keyfile import DEFAULT_SCRYPT_N, MAX_SCRYPT_MEMORY, MIN_SCRYPT_N, SCRYPT_R

API_KEY_HASH_PREFIX = "sha256:"


def api_key_digest(key: str) -> str:
    """How an API key is compared and may be stored in config: ``sha256:<hex>``."""
    return API_KEY_HASH_PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()


class WalletSettings(CommonSettings):
    service: ClassVar[str] = "wallet"

    api_port: Port = Field(18002, validation_alias=bare_env("API_PORT"),
                           description="public REST port, only served when tcp_enabled")
    tcp_enabled: bool = Field(
        False, description="serve the public TCP door (API key required); off by default because the "
                           "operator socket is all a local CLI/TUI needs")
    api_keys: list[str] = Field(
        default_factory=list,
        description="API keys accepted on the public door (X-Api-Key), each either the key itself or "
                    "'sha256:<hex digest>' so that config files need not hold the key")
    api_key_wallets: dict[str, list[str]] = Field(
        default_factory=dict,
        description="API key (or its 'sha256:<hex>') -> wallets (names or addresses) it may send from on the "
                    "public door without their password; any other /send there needs the password")
    key_create_rate: float = Field(0.1, gt=0, description="wallet creations and imports per second per API key "
                                                          "on the public door (sustained)")
    key_create_burst: int = Field(3, ge=1, description="wallet creations and imports an API key may make at once")
    key_password_rate: float = Field(0.5, gt=0, description="password checks (/send with a password) per second "
                                                            "per API key on the public door (sustained)")
    key_password_burst: int = Field(5, ge=1, description="password checks an API key may make at once")
    node_url: str = Field("", description="node RPC URL; empty: the node's socket in this home")
    wallets_dir: str = Field("", description="keystore directory; empty: HOME/keys/wallets (apart from "
                                             "the node's validator key in HOME/keys)")
    idle_lock_s: Duration = Field(300.0, ge=0, le=7 * 86400,
                               description="lock an unlocked wallet after this many idle seconds; 0 never")
    scrypt_n: int = Field(DEFAULT_SCRYPT_N, description="scrypt cost for new wallet files (power of two)")
    unlock_backoff_s: Duration = Field(0.5, ge=0, le=60, description="delay after the first wrong password")
    unlock_backoff_max_s: Duration = Field(30.0, ge=0, le=3600, description="cap of the doubling delay")
    default_fee: int = Field(10, ge=0, description="fee in units when a request names none; the chain's min_fee when that is higher")
    commit_timeout_s: Duration = Field(30.0, gt=0, le=300, description="longest wait for finality (mode=commit)")

    @field_validator("scrypt_n")
    @classmethod
    def _scrypt_n(cls, value: int) -> int:
        if value < MIN_SCRYPT_N or value & (value - 1) or 128 * value * SCRYPT_R > MAX_SCRYPT_MEMORY:
            raise ValueError(f"must be a power of two from {MIN_SCRYPT_N} to {MAX_SCRYPT_MEMORY // (128 * SCRYPT_R)}")
        return value

    @field_validator("api_keys")
    @classmethod
    def _api_keys(cls, value: list[str], info: ValidationInfo) -> list[str]:
        for key in value:
            if key.startswith(API_KEY_HASH_PREFIX):
                digest = key.removeprefix(API_KEY_HASH_PREFIX)
                if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                    raise ValueError("a hashed key is 'sha256:' and 64 lower-case hex digits")
            elif len(key) < 16:
                raise ValueError("an API key must be at least 16 characters")
        # Fail closed: a public door nobody can open is a misconfiguration, not an open door.
        if info.data.get("tcp_enabled") and not value:
            raise ValueError("the TCP door (tcp_enabled) needs at least one API key")
        return value

    @field_validator("api_key_wallets")
    @classmethod
    def _scoped_keys_are_keys(cls, value: dict[str, list[str]], info: ValidationInfo) -> dict[str, list[str]]:
        known = {k if k.startswith(API_KEY_HASH_PREFIX) else api_key_digest(k) for k in info.data.get("api_keys", [])}
        for key, wallets in value.items():
            if (key if key.startswith(API_KEY_HASH_PREFIX) else api_key_digest(key)) not in known:
                raise ValueError("every scoped key must also be listed in api_keys")
            if not wallets:
                raise ValueError("a scoped key names at least one wallet")
        return value

    def wallet_scopes(self) -> dict[str, frozenset[str]]:
        """API key digest -> the wallets (names or addresses) it may send from without a password."""
        return {(k if k.startswith(API_KEY_HASH_PREFIX) else api_key_digest(k)): frozenset(w)
                for k, w in self.api_key_wallets.items()}

    @property
    def keystore_dir(self) -> Path:
        return Path(self.wallets_dir) if self.wallets_dir else self.home.keys_dir / "wallets"

    def api_key_digests(self) -> frozenset[str]:
        return frozenset(k if k.startswith(API_KEY_HASH_PREFIX) else api_key_digest(k) for k in self.api_keys)
