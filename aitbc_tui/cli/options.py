"""The options many ``aitbc`` commands share, declared once as typed annotations.

A command writes ``home: HomeOpt = None`` instead of repeating ``typer.Option(...)`` with its
flag names and help text, so every command spells ``--home``, ``--json``, ``--wallet`` and the
signing options the same way and one edit changes them all. Typer reads the option from the
``Annotated`` metadata and the default from the parameter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

PASSWORD_ENV = "AITBC_WALLET_PASSWORD"
"""Where signing commands look for the wallet password when no ``--password-file`` is given."""

HomeOpt = Annotated[Optional[Path], typer.Option(
    "--home", help="Installation home (default: $AITBC_HOME, else ~/.aitbc).", file_okay=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
NodeOpt = Annotated[Optional[str], typer.Option(
    "--node", help="Node RPC URL or socket (default: the node's socket in HOME).")]
CoordinatorOpt = Annotated[Optional[str], typer.Option(
    "--coordinator", help="Coordinator URL or socket (default: the coordinator's socket in HOME).")]

# -- running a daemon in the foreground ---------------------------------------------------------------

ConfigOpt = Annotated[Optional[Path], typer.Option(
    "--config", help="Config file to use instead of HOME/config.toml.", dir_okay=False)]
NoTcpOpt = Annotated[bool, typer.Option("--no-tcp", help="Serve only the operator socket.")]

# -- signing through the wallet daemon (``aitbc wallet``, ``aitbc stake``) ----------------------------

WalletOpt = Annotated[Optional[str], typer.Option(
    "--wallet", "-w", help="Wallet name or address (default: the only wallet).")]
FeeOpt = Annotated[Optional[str], typer.Option(
    "--fee", help="Fee in AIT, or units with a 'u' suffix (default: the daemon's).")]
WaitOpt = Annotated[bool, typer.Option("--wait", help="Wait until the transaction is in a final block.")]
PasswordFileOpt = Annotated[Optional[Path], typer.Option(
    "--password-file", dir_okay=False,
    help=f"Read the wallet password from this file (else ${PASSWORD_ENV}, else a hidden prompt).")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
AmountArg = Annotated[str, typer.Argument(help="Amount in AIT (up to 6 decimals), or units with a 'u' suffix.")]
