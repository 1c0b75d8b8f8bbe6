"""The seed's environment block, written as its users write it, starts the daemons it names.

The seed configures a network with bare environment names: ``DATABASE_URL=sqlite:///data/
coordinator.db``, ``API_HOST``, ``API_PORT=18000``, ``CONSENSUS_MODE=poa``, ``BLOCK_TIME=1s``,
``VALIDATOR_ADDRESS`` and ``DEBUG=true``. Each daemon gets the names that concern it (the node its
consensus, block time and validator; the coordinator its database and public address; both
``DEBUG``), is started the way a user starts it (``aitbc <daemon> start``) from a directory that
is not the home, and must run with exactly those values: the node makes 1 s blocks, the
coordinator answers on the given port and keeps its database in the home, not in the directory it
was started from.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from daemons.common.home import Home
from daemons.node.client import NodeClient
from daemons.ops.devnet import Ports, create_devnet
from daemons.ops.supervisor import health, stop_process
from e2ekit import AITBC, cli_env
from testkit import free_ports

pytestmark = pytest.mark.timeout(300)

READY_BOUND_S = 120.0
"""Guards against a hang only; a daemon is usually ready in seconds."""


def _start(home: Home, service: str, env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    out = open(home.logs_dir / f"{service}.seed.out", "w")  # noqa: SIM115 - closed with the process
    try:
        return subprocess.Popen([*AITBC, service, "start", "--home", str(home.root)], cwd=cwd, text=True,
                                env={**cli_env(), **env}, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    finally:
        out.close()


def _wait_healthy(home: Home, service: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + READY_BOUND_S
    while health(home, service, timeout=1.0) is None:
        if proc.poll() is not None or time.monotonic() > deadline:
            out = (home.logs_dir / f"{service}.seed.out").read_text(errors="replace")
            pytest.fail(f"{service} did not start with the seed's environment (exit {proc.poll()}):\n{out[-3000:]}")
        time.sleep(0.2)


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in reversed(started):
        stop_process(proc, 20.0)  # type: ignore[arg-type]


def test_the_seeds_environment_block_starts_the_daemons_it_names(tmp_path: Path,
                                                                 procs: list[subprocess.Popen[str]]) -> None:
    home = Home.resolve(tmp_path / "home")
    rpc, ws, coordinator_port, miner = free_ports(4)
    record = create_devnet(home, Ports(rpc=rpc, ws=ws, coordinator=free_ports(1)[0], miner=miner),
                           block_time=2.0, validators=1)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    seed = {"DATABASE_URL": "sqlite:///data/coordinator.db", "API_HOST": "127.0.0.1",
            "API_PORT": str(coordinator_port), "CONSENSUS_MODE": "poa", "BLOCK_TIME": "1s",
            "VALIDATOR_ADDRESS": record["validators"][0], "DEBUG": "true"}
    node_env = {k: seed[k] for k in ("CONSENSUS_MODE", "BLOCK_TIME", "VALIDATOR_ADDRESS", "DEBUG")}
    coordinator_env = {k: seed[k] for k in ("DATABASE_URL", "API_HOST", "API_PORT", "DEBUG")}

    procs.append(_start(home, "node", node_env, elsewhere))
    _wait_healthy(home, "node", procs[-1])
    with NodeClient.for_home(home) as node:
        status = node.status()
    assert (status["block_time_ms"], status["consensus_mode"]) == (1000, "poa")  # genesis said 2000

    procs.append(_start(home, "coordinator", coordinator_env, elsewhere))
    _wait_healthy(home, "coordinator", procs[-1])
    answer = httpx.get(f"http://127.0.0.1:{coordinator_port}/health", timeout=10)
    assert answer.status_code == 200, answer.text
    assert (home.data_dir / "coordinator.db").is_file()
    assert list(elsewhere.iterdir()) == [], "a daemon wrote into the directory it was started from"

    for service in ("node", "coordinator"):
        levels = {json.loads(line)["level"] for line in home.log_file(service).read_text().splitlines()
                  if line.startswith("{")}
        assert "debug" in levels, f"DEBUG=true did not turn on {service}'s debug logging: {levels}"
