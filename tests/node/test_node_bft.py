"""Four validators in bft mode on loopback: they agree, survive one crashed validator (3 of 4 is
more than 2/3 of power), and a restarted validator catches up from its peers."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from chain.params import ChainParams
from daemons.common.home import Home
from daemons.node.client import NodeClient
from daemons.node.init import init_validator_network
from nodekit import UNIT, accounts
from testkit import NodeDaemon, free_port

WAIT_S = 60.0
"""A bound against hangs, never a performance check."""


def _wait_height(client: NodeClient, height: int) -> int:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        current = client.status()["height"]
        if current >= height:
            return current
        time.sleep(0.1)
    raise AssertionError(f"height {height} not reached within {WAIT_S}s (at {current})")


@pytest.fixture
def network(tmp_path: Path):  # noqa: ANN201
    sender = accounts(1, "aitbc-bft-test")[0]
    homes = [tmp_path / f"v{i}" / "home" for i in range(4)]
    rpc = [free_port() for _ in homes]
    ws = [free_port() for _ in homes]
    init_validator_network([Home.resolve(h) for h in homes], rpc, ws, fund={sender.address: 1000 * UNIT},
                           params=ChainParams(block_time_ms=200))
    nodes = [NodeDaemon(home=home, rpc_port=r, ws_port=w) for home, r, w in zip(homes, rpc, ws)]
    for node in nodes:
        node.start(wait=False)
    for node in nodes:
        node.wait_ready()
    yield nodes, sender
    for node in nodes:
        node.stop()


def test_validators_agree_and_survive_one_crash(network) -> None:  # noqa: ANN001
    nodes, sender = network
    clients = [NodeClient(node.rpc_url) for node in nodes]
    _wait_height(clients[0], 3)
    status = clients[0].status()
    assert status["consensus_mode"] == "bft" and status["consensus"]["height"] >= 3
    assert clients[0].net_info()["n_peers"] == 3

    # A transfer submitted to one validator is final on all of them.
    recipient = accounts(2, "aitbc-bft-test")[1]
    tx = sender.transfer(recipient, 5 * UNIT, 0)
    committed = clients[1].broadcast_tx(tx, mode="commit", timeout_s=WAIT_S)
    height = committed["height"]
    for client in clients:
        _wait_height(client, height)
        assert client.get_tx(tx.hash)["status"] == "committed"
        assert client.get_balance(recipient.address) == 5 * UNIT

    # Same block at the same height everywhere, with a commit of more than 2/3 of the power.
    hashes = {client.get_block(height=height)["hash"] for client in clients}
    assert len(hashes) == 1
    commit = clients[0].get_block(height=height)["commit"]
    assert len(commit["signatures"]) >= 3

    # One validator crashes: the other three keep finalizing blocks.
    nodes[3].stop(signal.SIGKILL)
    before = clients[0].status()["height"]
    _wait_height(clients[0], before + 3)

    # It comes back and catches up with its peers.
    nodes[3].start()
    target = clients[0].status()["height"]
    _wait_height(clients[3], target)
    assert clients[3].get_block(height=target)["hash"] == clients[0].get_block(height=target)["hash"]
    for client in clients:
        client.close()
