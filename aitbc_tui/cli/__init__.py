"""The ``aitbc`` command: one typer app with a sub-command group per area.

Every command has ``--help``, exits non-zero with a one-line error on failure, and prints
machine-readable output with ``--json``.
"""

from __future__ import annotations

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
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", callback=_version_callback, is_eager=True),
) -> None:
    """AITBC operator suite: chain node, coordinator, miner and wallet."""


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
    """``aitbc-miner``: the seed's name for ``aitbc miner``."""
    import sys

    sys.argv = [sys.argv[0], "miner", *sys.argv[1:]]
    app()
