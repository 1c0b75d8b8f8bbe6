"""Signing through the wallet daemon, shared by ``aitbc wallet`` and ``aitbc stake``.

Secrets never go on the command line (where ``ps`` and shell history would show them):
passwords come from ``--password-file``, else ``$AITBC_WALLET_PASSWORD``, else a hidden prompt.
Every command that signs one transaction ends in :func:`sign_and_show`, so the way a locked
wallet is handled, the broadcast mode of ``--wait`` and the printed result are the same for all.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Optional, TypeVar

import typer

from aitbc_tui.cli.common import emit, fail, format_ait, handle_errors, read_secret_file, resolve_home
from aitbc_tui.cli.options import PASSWORD_ENV, FeeOpt, HomeOpt, JsonOpt, PasswordFileOpt, WaitOpt, WalletOpt
from aitbc_tui.format import parse_amount

if TYPE_CHECKING:
    from daemons.wallet.client import WalletClient
    from daemons.wallet.models import TxResult

T = TypeVar("T")


def given_password(password_file: Optional[Path]) -> str | None:
    """The password from --password-file or the environment, or None (then prompt if needed)."""
    if password_file is not None:
        return read_secret_file(password_file, "password")
    return os.environ.get(PASSWORD_ENV) or None


def password(password_file: Optional[Path], prompt: str = "Wallet password", confirm: bool = False) -> str:
    found = given_password(password_file)
    if found is not None:
        return found
    if not sys.stdin.isatty():
        fail(f"a password is needed: use --password-file or ${PASSWORD_ENV}")
    value = typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm)
    if not value:
        fail("the password must not be empty")
    return str(value)


def amount_arg(text: str, what: str = "amount") -> int:
    try:
        value = parse_amount(text)
    except ValueError as exc:
        fail(str(exc))
    if value <= 0:
        fail(f"the {what} must be more than zero")
    return value


def fee_arg(text: Optional[str]) -> int | None:
    if text is None:
        return None
    try:
        return parse_amount(text)
    except ValueError as exc:
        fail(f"--fee: {exc}")


def address_arg(address: str) -> str:
    """A checked chain address, or a one-line error."""
    from chain.crypto import validate_address

    with handle_errors():
        return validate_address(address)


def client(home: Optional[Path]) -> WalletClient:
    from daemons.wallet.client import WalletClient

    return WalletClient.for_home(resolve_home(home))


def with_password(password_file: Optional[Path], call: Callable[[str | None], T]) -> T:
    """Run a signing call; if the wallet turns out locked, ask for its password once and sign
    with it for this one transaction (the wallet stays locked)."""
    from daemons.common.errors import DaemonError

    explicit = given_password(password_file)
    try:
        return call(explicit)
    except DaemonError as exc:
        if exc.code != "locked" or explicit is not None:
            raise
        if not sys.stdin.isatty():
            fail(f"{exc.message} (aitbc wallet unlock, --password-file or ${PASSWORD_ENV})")
        return call(password(None))


def show_tx(result: TxResult, as_json: bool) -> None:
    def human(data: dict[str, Any]) -> str:
        where = f"committed at height {data['height']}" if data["status"] == "committed" else "pending (in the mempool)"
        return f"{data['type']} {data['hash']}\n  nonce {data['nonce']}, fee {format_ait(data['fee'])}, {where}"

    emit(result.model_dump(), as_json, human)


def mode(wait: bool) -> Literal["commit", "sync"]:
    """``--wait`` waits for a final block; without it the daemon returns once the mempool took it."""
    return "commit" if wait else "sync"


def sign_and_show(pick: Callable[[WalletClient], Callable[..., TxResult]], *args: Any, wallet_ref: Optional[str],
                  fee: Optional[str], wait: bool, password_file: Optional[Path], home: Optional[Path],
                  as_json: bool) -> None:
    """Open the wallet daemon's client, have the method ``pick`` chooses build, sign and broadcast
    one transaction from ``args`` and the shared options, and print the result.

    ``args`` are already checked by the command; the fee is parsed here, after them, so an
    operator sees the first wrong argument in the order they typed them.
    """
    fee_units = fee_arg(fee)
    with handle_errors(), client(home) as wallet:
        call = pick(wallet)
        result = with_password(password_file, lambda pw: call(*args, wallet=wallet_ref, fee=fee_units,
                                                               mode=mode(wait), password=pw))
    show_tx(result, as_json)


_SIGNING_OPTIONS = (("wallet_ref", WalletOpt, None), ("fee", FeeOpt, None), ("wait", WaitOpt, False),
                    ("password_file", PasswordFileOpt, None), ("home", HomeOpt, None), ("as_json", JsonOpt, False))


Argument = tuple[str, Any, Callable[[Any], Any]]
"""``(name, Annotated type, check)`` of a signing command's argument: its name is what ``--help``
and errors show; ``check`` turns the typed value into what the client method takes, or fails
with a one-line error."""


def add_signing_command(app: typer.Typer, name: str, doc: str, pick: Callable[[WalletClient], Callable[..., TxResult]],
                        arguments: Sequence[Argument]) -> None:
    """Register command ``name`` that signs one transaction: the method ``pick`` chooses gets the
    checked ``arguments`` (checked in the order typed) and the shared signing options that follow
    them. The command's signature is built here because typer reads the arguments from it."""

    def command(**given: Any) -> None:
        values = [check(given.pop(argument)) for argument, _, check in arguments]
        sign_and_show(pick, *values, **given)

    positional = inspect.Parameter.POSITIONAL_OR_KEYWORD
    parameters = [inspect.Parameter(argument, positional, annotation=kind) for argument, kind, _ in arguments]
    parameters += [inspect.Parameter(option, inspect.Parameter.KEYWORD_ONLY, annotation=kind, default=default)
                   for option, kind, default in _SIGNING_OPTIONS]
    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    app.command(name, help=doc)(command)


def add_transfer_command(app: typer.Typer, name: str, doc: str, pick: Callable[[WalletClient], Callable[..., TxResult]],
                         address: tuple[str, Any], amount: Any) -> None:
    """A signing command moving an amount to an address (``stake delegate``/``unbond``, ``wallet
    escrow deposit``/``withdraw``): ``address`` is the name and type of the address argument,
    ``amount`` the type of the amount argument."""
    address_name, address_type = address
    add_signing_command(app, name, doc, pick, [(address_name, address_type, address_arg), ("amount", amount, amount_arg)])
