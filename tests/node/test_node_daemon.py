"""The node as an operator runs it: files and modes, one daemon per home, clean SIGTERM, and a
persistent mempool whose pending transactions survive a restart."""

from __future__ import annotations

import os
import signal
import stat
import subprocess

import pytest

from nodekit import MIN_FEE, UNIT
from testkit import REPO, aitbc_command, free_port, hermetic_env

from daemons.common.errors import DaemonUnavailable
from daemons.node.client import NodeRpcError


def test_socket_is_private_and_pid_file_names_the_daemon(node) -> None:
    assert stat.S_ISSOCK(os.lstat(node.socket).st_mode)
    assert stat.S_IMODE(os.lstat(node.socket).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(node.socket.parent).st_mode) == 0o700
    assert node.pid_file.read_text().strip() == str(node.proc.pid)
    for db_file in (node.home / "data").glob("node.db*"):
        assert stat.S_IMODE(db_file.stat().st_mode) & 0o077 == 0, db_file


def test_second_start_on_the_same_home_is_refused(node) -> None:
    before = node.client().status()["height"]
    done = subprocess.run(
        aitbc_command("node", "start", "--home", str(node.home), "--rpc-port", str(free_port()),
                      "--ws-port", str(free_port())),
        env=hermetic_env(), cwd=REPO, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 1
    message = [line for line in done.stderr.splitlines() if "already running" in line]
    assert message and f"pid {node.proc.pid}" in message[0], done.stderr
    # The running node is untouched: same socket, same pid file, still producing.
    assert node.running and node.pid_file.read_text().strip() == str(node.proc.pid)
    node.wait_height(before + 1)


def test_start_on_an_uninitialized_home_fails_with_one_line(tmp_path) -> None:
    done = subprocess.run(aitbc_command("node", "start", "--home", str(tmp_path / "empty")),
                          env=hermetic_env(), cwd=REPO, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    assert "aitbc node init" in done.stderr


def test_pending_transactions_survive_a_clean_restart(make_node) -> None:
    """A node with a long block time holds transactions pending; SIGTERM exits 0 and removes
    its socket and pid file; the restarted node still has them and commits them."""
    node = make_node(extra=("--block-time", "60"))
    alice, bob, carol = node.take(3)
    start = 1_000 * UNIT
    first = alice.transfer(bob, 10 * UNIT, nonce=0)
    second = alice.transfer(carol, 20 * UNIT, nonce=1)
    # Bob spends what Alice's pending transfer gives him on top of his own balance.
    spend = bob.transfer(carol, start + 5 * UNIT, nonce=0)
    with node.client() as client:
        height = client.status()["height"]
        assert height == 0  # the first block is a minute away
        for tx in (first, second, spend):
            assert client.broadcast_tx(tx) == {"hash": tx.hash, "status": "pending"}
        pending = client.get_tx(second.hash)
        assert pending["status"] == "pending" and pending["height"] is None
        assert pending["tx"]["payload"] == {"to": carol.address, "amount": 20 * UNIT}
        pool = client.mempool()
        assert pool["size"] == 3 and [t["hash"] for t in pool["txs"]] == [first.hash, second.hash, spend.hash]
        assert client.status()["mempool_size"] == 3
        acct = client.get_account(alice.address)
        assert (acct["balance"], acct["nonce"], acct["pending_nonce"]) == (start, 0, 2)

        # Pending state counts for admission: duplicates, replacements, overdrafts, gaps.
        refusals = [
            (first, -32038),
            (alice.transfer(bob, 11 * UNIT, nonce=1), -32038),
            (alice.transfer(bob, start - 30 * UNIT, nonce=2), -32032),
            (alice.transfer(bob, UNIT, nonce=3), -32031),
            (bob.transfer(carol, 6 * UNIT, nonce=1), -32032),
        ]
        for tx, code in refusals:
            with pytest.raises(NodeRpcError) as refused:
                client.broadcast_tx(tx)
            assert refused.value.code == code, refused.value.message
        assert client.mempool()["size"] == 3

    # SIGTERM with a subscriber attached: the stream is closed, the daemon exits 0 and removes
    # its socket and pid file.
    with node.client() as client, client.events(["new_block"]) as stream:
        assert node.stop(signal.SIGTERM) == 0
        with pytest.raises((DaemonUnavailable, StopIteration)):
            stream.receive(timeout=10)
    assert not node.socket.exists() and not node.pid_file.exists()
    with pytest.raises(DaemonUnavailable) as down:
        node.client().status()
    assert "not running" in down.value.message

    node.extra = ("--block-time", "0.2")
    node.start()
    with node.client() as client:
        assert client.mempool()["size"] in (0, 3)  # restored (and maybe already committed)
        with client.events([f"tx:{spend.hash}"]) as stream:
            if client.get_tx(spend.hash)["status"] == "pending":
                assert stream.receive(timeout=30).data["status"] == "committed"
        for tx in (first, second, spend):
            assert client.get_tx(tx.hash)["status"] == "committed"
        assert client.get_balance(alice.address) == start - 30 * UNIT - 2 * MIN_FEE
        assert client.get_balance(bob.address) == start + 10 * UNIT - (start + 5 * UNIT) - MIN_FEE
        assert client.get_balance(carol.address) == start + 20 * UNIT + start + 5 * UNIT
        assert client.mempool()["size"] == 0

    assert node.stop(signal.SIGINT) == 0
    assert not node.socket.exists() and not node.pid_file.exists()
