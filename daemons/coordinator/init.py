"""``aitbc coordinator init``: the coordinator's chain key, and unlocking it at start.

The coordinator signs receipts and settlement transactions, so it holds a chain key like a
validator does: encrypted in HOME/keys, with its password in a 0600 file beside it (or a
systemd credential) so that the headless daemon can unlock it. Its address must be registered
in genesis (``aitbc node init --coordinator ADDR``) before the chain accepts its receipts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from daemons.common.daemon_key import (
    DaemonKey, InitError, create_daemon_key, is_default_password_file, unlock_daemon_key, update_config,
)
from daemons.common.home import Home
from daemons.coordinator.settings import CoordinatorSettings

COORDINATOR_KEY = DaemonKey(service="coordinator", name="coordinator", password_file="coordinator.password",
                            credential="coordinator-password")
__all__ = ["COORDINATOR_KEY", "CoordinatorInit", "InitError", "init_coordinator", "unlock_coordinator_key"]


@dataclass(frozen=True)
class CoordinatorInit:
    home: Home
    address: str
    pubkey: str
    password_file: Path


def init_coordinator(home: Home, *, password_file: Path | None = None, scrypt_n: int | None = None) -> CoordinatorInit:
    """Create the coordinator key in ``home`` and record its address in ``[coordinator]``."""
    info, password_file = create_daemon_key(home, COORDINATOR_KEY, password_file=password_file, scrypt_n=scrypt_n)
    values: dict[str, str] = {"coordinator_address": info.address}
    if not is_default_password_file(home, COORDINATOR_KEY, password_file):
        values["key_password_file"] = str(password_file)
    update_config(home, "coordinator", values)
    return CoordinatorInit(home, info.address, info.pubkey, password_file)


def unlock_coordinator_key(settings: CoordinatorSettings) -> tuple[str, bytes]:
    """(address, seed) of the coordinator key; InitError with the fix when it is missing."""
    return unlock_daemon_key(settings.home, COORDINATOR_KEY, settings.coordinator_address,
                             settings.key_password_file)
