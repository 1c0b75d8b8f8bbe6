"""No daemon or CLI command depends on the working directory it was started from.

``python -m`` puts the working directory first on the import path, so a daemon started that way
from inside the home (``cd ~/.aitbc``: its ``keys/`` folder) or from a checkout (``chain/``,
``storage/``, ``daemons/``) imported those folders instead of the installation's packages and
died. Here every top-level package has an impostor in the directory the user stands in, one that
refuses to be imported; the whole network is brought up once (``aitbc up --detach``) from there,
then ``up`` again and the CLI run from inside the home and from the impostors' directory.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from daemons.common.home import Home
from daemons.ops import SERVICES
from e2ekit import AITBC, cli_env
from testkit import concurrently, free_ports

pytestmark = pytest.mark.timeout(900)

PACKAGES = ("keys", "chain", "storage", "daemons", "aitbc_tui")


def run(cwd: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``aitbc ARGS`` typed in ``cwd``; fails with its output when it exits non-zero."""
    result = subprocess.run([*AITBC, *args], capture_output=True, text=True, timeout=timeout, env=cli_env(),
                            cwd=cwd, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, (f"aitbc {' '.join(args)} in {cwd} exited {result.returncode}\n"
                                    f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}")
    return result


def impostors(where: Path) -> Path:
    """A directory holding a package named like each of ours, each refusing to be imported."""
    for name in PACKAGES:
        (where / name).mkdir(parents=True)
        (where / name / "__init__.py").write_text(
            f"raise ImportError('the {name} folder of the working directory was imported')\n")
    return where


@pytest.mark.slow
def test_up_and_the_cli_work_from_the_home_and_from_a_directory_of_impostors(tmp_path: Path) -> None:
    home = Home.resolve(tmp_path / "home")
    shadow = impostors(tmp_path / "work")
    rpc, ws, coordinator, miner = free_ports(4)
    flags = ["--home", str(home.root)]
    up = [*flags, "--detach", "--rpc-port", str(rpc), "--ws-port", str(ws),
          "--coordinator-port", str(coordinator), "--miner-port", str(miner)]
    try:
        run(shadow, "up", *up)
        run(home.root, "up", *up)  # everything already runs: each daemon is found, none restarted
        for cwd in (home.root, shadow):  # three reading commands, at once
            status, listed, validators = concurrently([
                lambda: run(cwd, "status", *flags, "--json"), lambda: run(cwd, "wallet", "list", *flags, "--json"),
                lambda: run(cwd, "chain", "validators", *flags)])
            services = json.loads(status.stdout)["services"]
            assert all(services[s]["running"] for s in SERVICES), services
            assert json.loads(listed.stdout), "the dev client's wallet is listed"
            assert validators.stdout.strip()
        for service in SERVICES:
            out = (home.logs_dir / f"{service}.out").read_text(errors="replace")
            assert "was imported" not in out, out[-2000:]
    finally:
        subprocess.run([*AITBC, "down", *flags], capture_output=True, timeout=180, env=cli_env(), cwd=shadow,
                       stdin=subprocess.DEVNULL)
    assert not (shadow / "data").exists() and sorted(p.name for p in shadow.iterdir()) == sorted(PACKAGES)


@pytest.mark.parametrize("daemon", SERVICES)
def test_systemd_units_run_in_the_home_with_a_safe_import_path(tmp_path: Path, daemon: str) -> None:
    from daemons.ops.systemd import UnitOptions, render_unit

    unit = render_unit(UnitOptions(daemon=daemon, home=tmp_path / "h"))
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert " -P -m aitbc_tui.cli " in exec_start
    assert f"WorkingDirectory={tmp_path / 'h'}" in unit.splitlines()
    assert "Environment=PYTHONSAFEPATH=1" in unit.splitlines()
