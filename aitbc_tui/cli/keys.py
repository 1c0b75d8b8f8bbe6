"""``aitbc keys``: create, list and show encrypted keys in ``HOME/keys``.

No command prints a secret: ``show`` and ``list`` read only the clear fields of the key files
(address, public key, name), so they need no password. ``new`` takes its password from
``--password-file``, else ``$AITBC_KEY_PASSWORD`` (for scripts), else asks twice without echo.
Failures print one line on stderr and exit with status 1.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from aitbc_tui.cli.common import command_group, fail, read_secret_file
from aitbc_tui.cli.options import JsonOpt

if TYPE_CHECKING:
    from keys import KeyInfo, Keystore

PASSWORD_ENV = "AITBC_KEY_PASSWORD"
T = TypeVar("T")

app = command_group("keys", "Encrypted Ed25519 keys (keystore in HOME/keys).")

KeysHomeOpt = Annotated[Path | None, typer.Option(
    "--home", help="Installation home (default: $AITBC_HOME, else ~/.aitbc); keys live in HOME/keys.")]


def keys_dir(home: Path | None) -> Path:
    """``HOME/keys`` with HOME from ``--home``, else ``$AITBC_HOME``, else ``~/.aitbc``."""
    if home is None:
        env_home = os.environ.get("AITBC_HOME")
        home = Path(env_home) if env_home else Path.home() / ".aitbc"
    return home.expanduser() / "keys"


def _open(home: Path | None, *, create: bool) -> Keystore | None:
    """The keystore, or None when reading and there is none yet (reading creates nothing)."""
    from keys import Keystore

    directory = keys_dir(home)
    if not create and not directory.is_dir():
        return None
    try:
        return Keystore(directory)
    except OSError as exc:
        fail(f"cannot open keystore {directory}: {exc.strerror}")


def _keystore_op(what: str, op: Callable[[], T]) -> T:
    """Run ``op`` on the keystore; a refused request or an I/O failure becomes one line."""
    from chain.errors import ChainError

    try:
        return op()
    except ChainError as exc:
        fail(exc.message)
    except OSError as exc:
        fail(f"cannot {what}: {exc.strerror}")


def _info_dict(info: KeyInfo) -> dict[str, str]:
    return info.model_dump()


def _print_key(info: KeyInfo, as_json: bool, lines: list[str]) -> None:
    """One key as ``--json`` asks (its public fields on one line) or as ``lines`` for a person."""
    typer.echo(json.dumps(_info_dict(info)) if as_json else "\n".join(lines))


def _read_password(password_file: Path | None) -> str:
    if password_file is not None:
        return read_secret_file(password_file, "password")
    env_password = os.environ.get(PASSWORD_ENV)
    if env_password:
        return env_password
    password = typer.prompt("Password for the new key", hide_input=True, confirmation_prompt=True)
    if not password:
        fail("the password must not be empty")
    return password


@app.command("new")
def new(
    name: str | None = typer.Argument(None, help="Name of the key (default: key-<first address digits>)."),
    password_file: Path | None = typer.Option(
        None, "--password-file", help=f"Read the password from this file (else ${PASSWORD_ENV}, else prompt)."
    ),
    words: int = typer.Option(24, "--words", help="Length of the recovery phrase: 12 or 24 words."),
    home: KeysHomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a key from a new BIP-39 recovery phrase, stored encrypted (the phrase too)."""
    from keys import validate_name

    if words not in (12, 24):
        fail(f"--words must be 12 or 24, not {words}")

    def create() -> tuple[Keystore, KeyInfo]:
        if name is not None:
            validate_name(name)
        password = _read_password(password_file)
        keystore = _open(home, create=True)
        assert keystore is not None
        return keystore, keystore.create(password, name, words=words)

    keystore, info = _keystore_op("write key", create)
    _print_key(info, as_json, [f"created key {info.name}", f"  address: {info.address}", f"  pubkey:  {info.pubkey}",
                               f"  file:    {keystore.directory / (info.address + '.json')}"])


@app.command("show")
def show(
    ref: str = typer.Argument(..., metavar="ADDRESS_OR_NAME", help="The key's address or name."),
    home: KeysHomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a key's address, public key and name (never a secret; no password needed)."""
    keystore = _open(home, create=False)
    if keystore is None:
        fail(f"no key {ref!r}: there is no keystore at {keys_dir(home)}")
    info = _keystore_op("read keystore", lambda: keystore.get(ref))
    _print_key(info, as_json, [f"name:    {info.name}", f"address: {info.address}", f"pubkey:  {info.pubkey}",
                               f"kind:    {info.kind}", f"created: {info.created}"])


@app.command("list")
def list_keys(
    home: KeysHomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the keys in the keystore (names and addresses; no password needed)."""
    keystore = _open(home, create=False)
    infos = _keystore_op("read keystore", lambda: keystore.list() if keystore is not None else [])
    if as_json:
        typer.echo(json.dumps([_info_dict(info) for info in infos]))
        return
    if not infos:
        typer.echo(f"no keys in {keys_dir(home)}")
        return
    width = max(len("NAME"), *(len(info.name) for info in infos))
    typer.echo(f"{'NAME':<{width}}  {'ADDRESS':<42}  {'KIND':<8}  CREATED")
    for info in infos:
        typer.echo(f"{info.name:<{width}}  {info.address:<42}  {info.kind:<8}  {info.created}")
