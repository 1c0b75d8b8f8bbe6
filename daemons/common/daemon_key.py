"""A daemon's own chain key (the validator's, the coordinator's, the miner's) and its files.

Each of these daemons signs with a key nobody types a password for: it sits encrypted in
HOME/keys and its password in a 0600 file beside it (as geth's ``--password`` file), or in a
systemd credential (``LoadCredential=<name>:...``) for operators who keep secrets out of the home.
One implementation serves all three, so they create, find and unlock keys the same way and say
the same thing when something is missing.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from daemons.common.home import Home
from daemons.common.logging import audit
from keys import KeyInfo, Keystore
from keys.atomic import atomic_write
from keys.keyfile import MIN_SCRYPT_N


class InitError(Exception):
    """A home cannot be initialized or a daemon's key files are missing; the message says the fix."""


@dataclass(frozen=True)
class DaemonKey:
    """Where one daemon keeps its key."""

    service: str
    """Which daemon: used in messages and audit events ("node", "coordinator", "miner")."""
    name: str
    """The key's name in HOME/keys."""
    password_file: str
    """The default password file's name in HOME/keys."""
    credential: str
    """The systemd credential that may hold the password instead."""


def write_private(path: Path, data: bytes) -> None:
    """Write a secret file: atomically, mode 0600 from its first byte and after (even when ``path``
    existed with another mode), never through a symbolic link (:func:`keys.atomic.atomic_write`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, data)


def read_password_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").rstrip("\r\n")
    except FileNotFoundError:
        raise InitError(f"password file {path} does not exist") from None


def update_config(home: Home, section: str, values: dict[str, Any]) -> None:
    """Merge ``values`` into ``[section]`` of HOME/config.toml, keeping everything else."""
    path = home.config_file
    doc: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    doc.setdefault(section, {}).update(values)
    write_private(path, tomli_w.dumps(doc).encode("utf-8"))  # it may hold API keys and database URLs


def create_daemon_key(home: Home, key: DaemonKey, *, password_file: Path | None = None,
                      scrypt_n: int | None = None) -> tuple[KeyInfo, Path]:
    """A new encrypted key named ``key.name`` in HOME/keys; with no ``password_file`` a random
    password is written to HOME/keys/<key.password_file> (0600)."""
    home.ensure()
    keystore = Keystore(home.keys_dir, **({"scrypt_n": scrypt_n} if scrypt_n else {}))
    if key.name in keystore:
        existing = keystore.get(key.name)
        raise InitError(f"this home already has a {key.service} key ({existing.address}); see {home.config_file}")
    if password_file is None:
        password_file = home.keys_dir / key.password_file
        password = secrets.token_urlsafe(24)
        write_private(password_file, password.encode())
    else:
        password = read_password_file(password_file)
    return keystore.create(password, key.name, words=None), password_file


def is_default_password_file(home: Home, key: DaemonKey, path: Path) -> bool:
    return path == home.keys_dir / key.password_file


def daemon_key_password(home: Home, key: DaemonKey, configured_file: str = "") -> str:
    """The password: the systemd credential when the unit passes one (the operator's latest
    word, and readable where the original file may not be), else the configured file, else the
    default file in HOME/keys."""
    credentials = os.environ.get("CREDENTIALS_DIRECTORY")
    if credentials and (Path(credentials) / key.credential).is_file():
        return read_password_file(Path(credentials) / key.credential)
    if configured_file:
        return read_password_file(Path(configured_file))
    return read_password_file(home.keys_dir / key.password_file)


def unlock_daemon_key(home: Home, key: DaemonKey, ref: str = "", configured_file: str = "") -> tuple[str, bytes]:
    """(address, seed) of the daemon's key (``ref``: its address, default its name).

    The seed is handed to the daemon's core, which keeps it for signing; the decrypted
    ``KeyPair`` is wiped here.
    """
    # No scrypt floor here: a daemon's key is opened with a password nobody chose (24 random
    # bytes written by init) or an operator's password file, and its cost was set at init; the
    # floor (keys.MIN_READ_SCRYPT_N) guards the files people protect with passwords they type.
    keystore = Keystore(home.keys_dir, min_read_n=MIN_SCRYPT_N)
    reference = ref or key.name
    if reference not in keystore:
        raise InitError(f"no {key.service} key {reference!r} in {home.keys_dir}: "
                        f"run `aitbc {key.service} init --home {home.root}` first")
    keypair = keystore.load_keypair(reference, daemon_key_password(home, key, configured_file))
    try:
        address, seed = keypair.address, keypair.seed_bytes()
    finally:
        keypair.wipe()
    audit(f"{key.name}_key_unlocked", address=address)
    return address, seed
