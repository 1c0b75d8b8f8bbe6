"""The ``aitbc`` command: one typer app with a sub-command group per area.

Every command has ``--help``, exits non-zero with a one-line error on failure, and prints
machine-readable output with ``--json``.
"""

from __future__ import annotations

import typer

from aitbc_tui import __version__

app = typer.Typer(
    name="aitbc",
    help="AITBC operator suite: chain node, coordinator, miner and wallet.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"aitbc {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", callback=_version_callback, is_eager=True),
) -> None:
    """AITBC operator suite: chain node, coordinator, miner and wallet."""


def _register() -> None:
    """Mount each area's sub-command group. One line per area."""
    # Areas are imported lazily here so that `aitbc --version` stays fast.
    from aitbc_tui.cli.keys import app as keys_app; app.add_typer(keys_app, name="keys")  # noqa: E702
    from aitbc_tui.cli.node import app as node_app; app.add_typer(node_app, name="node")  # noqa: E702
    from aitbc_tui.cli.service import add_install_service; add_install_service(node_app, "node")  # noqa: E702
    from aitbc_tui.cli.chain import app as chain_app; app.add_typer(chain_app, name="chain")  # noqa: E702
    from aitbc_tui.cli.coordinator import app as coordinator_app; app.add_typer(coordinator_app, name="coordinator")  # noqa: E702
    from aitbc_tui.cli.jobs import register as register_jobs; register_jobs(app)  # noqa: E702
    from aitbc_tui.cli.wallet import app as wallet_app; app.add_typer(wallet_app, name="wallet")  # noqa: E702
    from aitbc_tui.cli.stake import app as stake_app; app.add_typer(stake_app, name="stake")  # noqa: E702
    from aitbc_tui.cli import network; app.command("up")(network.up); app.command("down")(network.down)  # noqa: E702


_register()


def main() -> None:
    app()


def miner_main() -> None:
    """``aitbc-miner``: the seed's name for ``aitbc miner``."""
    import sys

    sys.argv = [sys.argv[0], "miner", *sys.argv[1:]]
    app()
