"""The ``aitbc`` command: one typer app with a sub-command group per area.

Every command has ``--help``, exits non-zero with a one-line error on failure, and prints
machine-readable output with ``--json``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from aitbc_tui import __version__
from aitbc_tui.cli.common import command_group

app = command_group("aitbc", "AITBC operator suite: chain node, coordinator, miner and wallet.")


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"aitbc {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", callback=_version_callback, is_eager=True),
    home: Optional[Path] = typer.Option(None, "--home", file_okay=False,
                                        help="Installation home for every command (default: $AITBC_HOME, else ~/.aitbc)."),
) -> None:
    """AITBC operator suite: chain node, coordinator, miner and wallet."""
    if home is not None:
        _use_home(ctx, home)


def _use_home(ctx: typer.Context, home: Path) -> None:
    """``aitbc --home X CMD``: X becomes ``$AITBC_HOME`` while the command runs, the fallback of
    every command's own ``--home`` (which still wins: ``aitbc --home X wallet list --home Y``)
    and of the daemons it starts. Absolute, so that no command depends on the working directory."""
    previous = os.environ.get("AITBC_HOME")
    os.environ["AITBC_HOME"] = str(home.expanduser().absolute())

    def restore() -> None:
        if previous is None:
            os.environ.pop("AITBC_HOME", None)
        else:
            os.environ["AITBC_HOME"] = previous

    ctx.call_on_close(restore)


_GROUPS: tuple[tuple[str, str], ...] = (
    ("keys", "aitbc_tui.cli.keys"),
    ("node", "aitbc_tui.cli.node"),
    ("chain", "aitbc_tui.cli.chain"),
    ("wallet", "aitbc_tui.cli.wallet"),
    ("stake", "aitbc_tui.cli.stake"),
    ("gov", "aitbc_tui.cli.gov"),
    ("coordinator", "aitbc_tui.cli.coordinator"),
    ("miner", "aitbc_tui.cli.miner"),
    ("explorer", "aitbc_tui.cli.explorer"),
    ("rig", "aitbc_tui.cli.rig"),
    ("home", "aitbc_tui.cli.home"),
)
"""Sub-command groups: each module has a typer ``app``. Daemons also get ``install-service``."""


def _register() -> None:
    """Mount each area's commands; modules are imported here so ``aitbc --version`` stays fast."""
    from importlib import import_module
    from importlib.util import find_spec

    from aitbc_tui.cli import jobs, network
    from aitbc_tui.cli.service import add_install_service
    from daemons.ops import SERVICES

    for name, module in _GROUPS:
        if find_spec(module) is None:
            continue
        group = import_module(module).app
        if name in SERVICES:
            add_install_service(group, name)
        app.add_typer(group, name=name)
    jobs.register(app)
    app.command("up")(network.up)
    app.command("down")(network.down)


_register()


def main() -> None:
    app()


def miner_main() -> None:
    """``aitbc-miner``: the seed's name for ``aitbc miner``, named as typed in its help."""
    from importlib import import_module

    import_module("aitbc_tui.cli.miner").app(prog_name="aitbc-miner")
