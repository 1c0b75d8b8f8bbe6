"""``aitbc <daemon> install-service``: one command definition attached to every daemon's group."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from aitbc_tui.cli.common import emit, fail
from aitbc_tui.cli.options import JsonOpt


def add_install_service(group: typer.Typer, daemon: str) -> None:
    @group.command("install-service")
    def install_service(
        user: str = typer.Option("aitbc", help="System user the daemon runs as (created if missing)."),
        home: Path = typer.Option(Path("/var/lib/aitbc"), "--home", help="The daemon's home on this machine."),
        runtime_dir: Optional[Path] = typer.Option(
            None, help="Put sockets in this /run directory (systemd RuntimeDirectory) instead of HOME/run; "
                       "CLI users then need the same AITBC_RUNTIME_DIR."),
        credential: Optional[Path] = typer.Option(
            None, help="Password file passed as a systemd credential (node: validator key; coordinator, miner: their keys)."),
        output: Optional[Path] = typer.Option(
            None, help="Only write the unit file into this directory (no root, no systemctl)."),
        no_enable: bool = typer.Option(False, "--no-enable", help="Install without enabling the unit."),
        as_json: JsonOpt = False,
    ) -> None:
        """Write the systemd unit for this daemon (hardened, restart on failure, journal logging) and enable it."""
        from daemons.ops.systemd import ServiceInstallError, UnitOptions, install_unit

        options = UnitOptions(daemon=daemon, user=user, home=home.resolve(), runtime_dir=runtime_dir,
                              credential_file=credential)
        try:
            path = install_unit(options, output or Path("/etc/systemd/system"), enable=not no_enable)
        except (ServiceInstallError, OSError) as exc:
            fail(str(exc))
        data = {"unit": str(path), "enabled": output is None and not no_enable}
        emit(data, as_json, lambda d: f"wrote {d['unit']}" + ("; enabled (start it with: systemctl start "
                                                               f"aitbc-{daemon})" if d["enabled"] else ""))

    install_service.__name__ = f"install_service_{daemon}"
