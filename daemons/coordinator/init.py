"""``aitbc coordinator init``: the coordinator's chain key, and unlocking it at start.

The coordinator signs receipts and settlement transactions, so it holds a chain key like a
validator does: encrypted in HOME/keys, with its password in a 0600 file beside it (or a
systemd credential) so that the headless daemon can unlock it. Its address must be registered
in genesis (``aitbc node init --coordinator ADDR``) before the chain accepts its receipts.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from daemons.common.home import Home
from daemons.common.logging import audit
from daemons.coordinator.settings import CoordinatorSettings
from daemons.node.init import InitError, read_password_file, update_config, write_private
from keys import Keystore

KEY_NAME = "coordinator"
PASSWORD_FILE = "coordinator.password"
CREDENTIAL_NAME = "coordinator-password"


@dataclass(frozen=True)
class CoordinatorInit:
    home: Home
    address: str
    pubkey: str
    password_file: Path


def init_coordinator(home: Home, *, password_file: Path | None = None, scrypt_n: int | None = None) -> CoordinatorInit:
    """Create the coordinator key in ``home`` and record its address in ``[coordinator]``."""
    home.ensure()
    keystore = Keystore(home.keys_dir, **({"scrypt_n": scrypt_n} if scrypt_n else {}))
    if KEY_NAME in keystore:
        existing = keystore.get(KEY_NAME)
        raise InitError(f"this home already has a coordinator key ({existing.address}); "
                        f"its address is in {home.config_file}")
    if password_file is None:
        password_file = home.keys_dir / PASSWORD_FILE
        password = secrets.token_urlsafe(24)
        write_private(password_file, password.encode())
    else:
        password = read_password_file(password_file)
    info = keystore.create(password, KEY_NAME, words=None)
    values: dict[str, str] = {"coordinator_address": info.address}
    if password_file != home.keys_dir / PASSWORD_FILE:
        values["key_password_file"] = str(password_file)
    update_config(home, "coordinator", values)
    return CoordinatorInit(home, info.address, info.pubkey, password_file)


def _password(settings: CoordinatorSettings) -> str:
    if settings.key_password_file:
        return read_password_file(Path(settings.key_password_file))
    credentials = os.environ.get("CREDENTIALS_DIRECTORY")
    if credentials and (Path(credentials) / CREDENTIAL_NAME).is_file():
        return read_password_file(Path(credentials) / CREDENTIAL_NAME)
    return read_password_file(settings.home.keys_dir / PASSWORD_FILE)


def unlock_coordinator_key(settings: CoordinatorSettings) -> tuple[str, bytes]:
    """(address, seed) of the coordinator key; InitError with the fix when it is missing."""
    home = settings.home
    ref = settings.coordinator_address or KEY_NAME
    keystore = Keystore(home.keys_dir)
    if ref not in keystore:
        raise InitError(f"no coordinator key in {home.keys_dir}: run `aitbc coordinator init --home {home.root}` first")
    keypair = keystore.load_keypair(ref, _password(settings))
    try:
        address, seed = keypair.address, keypair.seed_bytes()
    finally:
        keypair.wipe()
    audit("coordinator_key_unlocked", address=address)
    return address, seed
