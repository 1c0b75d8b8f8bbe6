"""``aitbc miner init``: the miner's chain key and its ``[mining]`` config; unlocking at start.

The miner signs proofs and its own ``miner_bond`` transactions, so it holds a chain key the way
a validator does: encrypted in HOME/keys, with its password in a 0600 file beside it (or a
systemd credential, ``miner-password``) so that the headless daemon can unlock it. The address
is printed so that it can be funded, or put in genesis, before the miner bonds.

The coordinator's API key (role miner) is a secret too: it lives in HOME/keys/miner.apikey,
0600, never in config.toml, which operators paste into tickets.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daemons.common.home import Home
from daemons.common.logging import audit
from daemons.miner.settings import (
    API_KEY_FILE, CREDENTIAL_NAME, KEY_NAME, PASSWORD_FILE, MinerSettings,
)
from daemons.node.init import InitError, read_password_file, update_config, write_private
from keys import Keystore

_API_KEY_MAX = 512


@dataclass(frozen=True)
class MinerInit:
    home: Home
    address: str
    pubkey: str
    password_file: Path
    config: dict[str, Any]


def init_miner(home: Home, *, password_file: Path | None = None, scrypt_n: int | None = None,
               config: dict[str, Any] | None = None) -> MinerInit:
    """Create the miner key in ``home`` and write ``[mining]`` (seed keys plus ``config``).

    ``config`` values are validated as :class:`MinerSettings` fields before anything is written,
    so a typo refuses the whole init instead of leaving a half-made home.
    """
    values: dict[str, Any] = {"stake_amount": 10_000, "compute_enabled": True, "gpu_devices": [0]}
    values.update({k: v for k, v in (config or {}).items() if v is not None})
    MinerSettings.model_validate({**values, "home": home})  # refuses bad values, nothing written yet
    home.ensure()
    keystore = Keystore(home.keys_dir, **({"scrypt_n": scrypt_n} if scrypt_n else {}))
    if KEY_NAME in keystore:
        existing = keystore.get(KEY_NAME)
        raise InitError(f"this home already has a miner key ({existing.address}); its settings are in "
                        f"{home.config_file} [mining]")
    if password_file is None:
        password_file = home.keys_dir / PASSWORD_FILE
        password = secrets.token_urlsafe(24)
        write_private(password_file, password.encode())
    else:
        password = read_password_file(password_file)
    info = keystore.create(password, KEY_NAME, words=None)
    values["key"] = info.address
    if password_file != home.keys_dir / PASSWORD_FILE:
        values["key_password_file"] = str(password_file)
    update_config(home, "mining", values)
    return MinerInit(home, info.address, info.pubkey, password_file, values)


def write_api_key(home: Home, api_key: str) -> Path:
    """Store the coordinator API key at HOME/keys/miner.apikey, mode 0600 from the first byte."""
    key = api_key.strip()
    if not key or len(key) > _API_KEY_MAX or any(c.isspace() for c in key):
        raise InitError("the API key must be one word of at most 512 characters (as `aitbc coordinator keys "
                        "create` prints it)")
    home.ensure()
    path = home.keys_dir / API_KEY_FILE
    write_private(path, (key + "\n").encode())
    return path


def read_api_key(settings: MinerSettings) -> str | None:
    """The coordinator API key: the setting, else its file, else HOME/keys/miner.apikey, else None."""
    if settings.coordinator_api_key:
        return settings.coordinator_api_key.strip()
    path = Path(settings.coordinator_api_key_file) if settings.coordinator_api_key_file \
        else settings.home.keys_dir / API_KEY_FILE
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        if settings.coordinator_api_key_file:
            raise InitError(f"API key file {path} does not exist") from None
        return None
    return text or None


def _password(settings: MinerSettings) -> str:
    if settings.key_password_file:
        return read_password_file(Path(settings.key_password_file))
    credentials = os.environ.get("CREDENTIALS_DIRECTORY")
    if credentials and (Path(credentials) / CREDENTIAL_NAME).is_file():
        return read_password_file(Path(credentials) / CREDENTIAL_NAME)
    return read_password_file(settings.home.keys_dir / PASSWORD_FILE)


def unlock_miner_key(settings: MinerSettings) -> tuple[str, bytes]:
    """(address, seed) of the miner key; InitError with the fix when it is missing."""
    home = settings.home
    keystore = Keystore(home.keys_dir)
    if settings.key not in keystore:
        raise InitError(f"no miner key {settings.key!r} in {home.keys_dir}: run `aitbc miner init --home {home.root}` first")
    keypair = keystore.load_keypair(settings.key, _password(settings))
    try:
        address, seed = keypair.address, keypair.seed_bytes()
    finally:
        keypair.wipe()
    audit("miner_key_unlocked", address=address)
    return address, seed
