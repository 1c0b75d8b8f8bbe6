"""A daemon that can never become ready is reported at once, with its reason and the fix.

The miner of a fresh ``aitbc up`` is configured with a catalogue entry whose weights do not exist
(the operator's ``[mining.catalogue.smollm2]`` replaces the built-in, so nothing falls back to
other weights). ``up`` must stop waiting as soon as the miner says it cannot serve, exit non-zero
naming the model, why and what to do, and stop what it started; ``aitbc status`` on a miner in that
state says "failed" with the same reason. No model is ever loaded, so this is quick.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from daemons.common.home import Home
from daemons.ops import SERVICES
from daemons.ops.supervisor import stop_process
from e2ekit import AITBC, aitbc, cli_env
from testkit import free_ports

pytestmark = pytest.mark.timeout(600)

STATUS_BOUND_S = 120.0
"""Guards against a hang only."""


def test_up_reports_a_miner_that_cannot_serve_and_exits_non_zero(tmp_path: Path) -> None:
    home = Home.resolve(tmp_path / "home")
    home.root.mkdir()
    missing = tmp_path / "no-such-weights"
    home.config_file.write_text(f'[mining.catalogue.smollm2]\nbackend = "cpu"\npath = "{missing}"\n')
    rpc, ws, coordinator, miner = free_ports(4)
    flags = ["--home", str(home.root)]
    result = aitbc("up", *flags, "--detach", "--rpc-port", str(rpc), "--ws-port", str(ws),
                   "--coordinator-port", str(coordinator), "--miner-port", str(miner), check=False, timeout=500)
    try:
        assert result.returncode != 0, result.stdout + result.stderr
        said = result.stderr
        assert "miner failed while starting: miner cannot serve any model" in said, said
        assert "smollm2" in said and f"weights not found: {missing}" in said, said
        assert "fix: " in said and str(home.config_file) in said, said
        assert "did not become ready within" not in said, "up waited out its time-out"
        services = json.loads(aitbc("status", *flags, "--json").stdout)["services"]
        assert not any(services[s]["running"] for s in SERVICES), "up left its daemons running after failing"

        # The miner alone, in the same state: `aitbc status` says why (nothing else needs to run for it
        # to find it has no model).
        out = open(home.logs_dir / "miner.alone.out", "w")  # noqa: SIM115 - closed below
        proc = subprocess.Popen([*AITBC, "miner", "start", *flags], env=cli_env(), cwd=tmp_path,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        out.close()
        try:
            deadline = time.monotonic() + STATUS_BOUND_S
            while True:
                miner_state = json.loads(aitbc("status", *flags, "--json").stdout)["services"]["miner"]
                if miner_state["failure"] or proc.poll() is not None or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert miner_state["failure"] and f"weights not found: {missing}" in miner_state["failure"], \
                (miner_state, (home.logs_dir / "miner.alone.out").read_text(errors="replace")[-3000:])
            human = aitbc("status", *flags).stdout
            assert "miner        failed" in human and "fix: " in human, human
        finally:
            stop_process(proc, 20.0)  # type: ignore[arg-type]
    finally:
        aitbc("down", *flags, check=False)
