"""The systemd units render for every daemon and pass ``systemd-analyze verify``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aitbc_tui.cli import app
from daemons.ops import SERVICES
from daemons.ops.systemd import ServiceInstallError, UnitOptions, render_unit

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


@pytest.mark.parametrize("daemon", SERVICES)
def test_rendered_unit_has_hardening_and_restart(daemon: str, tmp_path: Path) -> None:
    text = render_unit(UnitOptions(daemon=daemon, home=tmp_path / "home"))
    assert "@" not in text.replace("multi-user", "")  # every placeholder was filled
    for line in ("NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes",
                 "Restart=on-failure", "StandardOutput=journal", "User=aitbc", f"{daemon} start --home {tmp_path / 'home'}"):
        assert line in text


def test_credential_only_for_keyed_daemons(tmp_path: Path) -> None:
    text = render_unit(UnitOptions(daemon="node", credential_file=tmp_path / "pw"))
    assert f"LoadCredential=validator-password:{tmp_path / 'pw'}" in text
    with pytest.raises(ServiceInstallError):
        render_unit(UnitOptions(daemon="wallet", credential_file=tmp_path / "pw"))


def test_runtime_dir_is_opt_in(tmp_path: Path) -> None:
    plain = render_unit(UnitOptions(daemon="node", home=tmp_path))
    assert "AITBC_RUNTIME_DIR" not in plain and "RuntimeDirectory=" not in plain  # sockets in HOME/run
    moved = render_unit(UnitOptions(daemon="node", home=tmp_path, runtime_dir=Path("/run/aitbc")))
    assert "Environment=AITBC_RUNTIME_DIR=/run/aitbc" in moved and "RuntimeDirectory=aitbc" in moved
    with pytest.raises(ServiceInstallError, match="under /run"):
        render_unit(UnitOptions(daemon="node", runtime_dir=Path("/var/tmp/x")))


def test_home_directories_hidden_unless_the_daemon_lives_in_one(tmp_path: Path) -> None:
    def protect_home(home: str, executable: str) -> list[str]:
        text = render_unit(UnitOptions(daemon="miner", home=Path(home), executable=f"{executable} -P -m aitbc_tui.cli"))
        return [line for line in text.splitlines() if line.startswith(("ProtectHome=", "ReadWritePaths="))]

    assert protect_home("/var/lib/aitbc", "/opt/aitbc/.venv/bin/python") == [
        "ReadWritePaths=/var/lib/aitbc", "ProtectHome=yes"]
    # A rig provisioned into its account: with ProtectHome=yes /home would be mounted empty, so the
    # home (and the venv's interpreter) could not be reopened by ReadWritePaths.
    assert protect_home("/home/miner/aitbc", "/home/miner/aitbc/venv/bin/python") == [
        "ReadWritePaths=/home/miner/aitbc", "ProtectHome=read-only"]
    assert protect_home("/var/lib/aitbc", "/root/aitbc/.venv/bin/python")[-1] == "ProtectHome=read-only"
    assert protect_home("/run/user/1000/aitbc", "/usr/bin/python3")[-1] == "ProtectHome=read-only"
    assert protect_home("/homestead/aitbc", "/usr/bin/python3")[-1] == "ProtectHome=yes"  # a prefix is not a parent


def test_unknown_daemon_refused() -> None:
    with pytest.raises(ServiceInstallError, match="unknown daemon"):
        render_unit(UnitOptions(daemon="pool"))


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed (.ci/run installs it)")
@pytest.mark.parametrize("daemon", SERVICES)
def test_units_pass_systemd_analyze_verify(daemon: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, [daemon, "install-service", "--output", str(tmp_path / "units"),
                                      "--home", str(tmp_path / "home"), "--json"])
    assert result.exit_code == 0, result.output
    unit = tmp_path / "units" / f"aitbc-{daemon}.service"
    assert unit.is_file()
    verify = subprocess.run([SYSTEMD_ANALYZE, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    ours = [line for line in (verify.stdout + verify.stderr).splitlines() if f"aitbc-{daemon}" in line]
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert ours == [], ours
