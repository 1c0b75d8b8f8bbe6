"""``aitbc miner init``: the miner's chain key and its ``[mining]`` config; unlocking at start.

The miner signs proofs and its own ``miner_bond`` transactions, so it holds a chain key the way
a validator does: encrypted in HOME/keys, with its password in a 0600 file beside it (or a
systemd credential, ``miner-password``) so that the headless daemon can unlock it. The address
is printed so that it can be funded, or put in genesis, before the miner bonds.

The coordinator's API key (role miner) is a secret too: it lives in HOME/keys/miner.apikey,
0600, never in config.toml, which operators paste into tickets.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daemons.common.daemon_key import (
    DaemonKey, InitError, create_daemon_key, is_default_password_file, unlock_daemon_key, update_config, write_private,
)
from daemons.common.home import Home
from daemons.miner.settings import API_KEY_FILE, CREDENTIAL_NAME, KEY_NAME, PASSWORD_FILE, MinerSettings

MINER_KEY = DaemonKey(service="miner", name=KEY_NAME, password_file=PASSWORD_FILE, credential=CREDENTIAL_NAME)

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
    info, password_file = create_daemon_key(home, MINER_KEY, password_file=password_file, scrypt_n=scrypt_n)
    values["key"] = info.address
    if not is_default_password_file(home, MINER_KEY, password_file):
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


def unlock_miner_key(settings: MinerSettings) -> tuple[str, bytes]:
    """(address, seed) of the miner key; InitError with the fix when it is missing."""
    return unlock_daemon_key(settings.home, MINER_KEY, settings.key, settings.key_password_file)
