"""Crash safety: SIGKILL the node again and again under a stream of transactions.

A submitter thread keeps broadcasting signed transfers (sync mode: acknowledged after mempool
admission) while the test SIGKILLs the node at random moments and restarts it. Every hash the
node acknowledged is recorded. Afterwards:

- every acknowledged transaction is committed (or still pending, and then commits);
- heights never go back, and each restart resumes at (at least) the last block seen before
  the kill, with that block's hash unchanged;
- the ledger adds up: each sender's nonce equals its committed transactions, and the sink
  received exactly one unit per committed transaction.
"""

from __future__ import annotations

import os
import random
import threading
import time

from nodekit import MIN_FEE, UNIT, Account, account

from chain.tx import Transaction
from daemons.common.errors import DaemonError, DaemonUnavailable
from daemons.node.client import NodeClient, NodeRpcError

KILLS = 5
SENDERS = 6


class Submitter(threading.Thread):
    """Broadcasts transfers of 1 unit from each sender in turn, as fast as the node answers."""

    def __init__(self, socket_path: str, senders: list[Account], sink: str) -> None:
        super().__init__(daemon=True)
        self.client = NodeClient(socket_path, timeout=10)
        self.senders = senders
        self.sink = sink
        self.acked: dict[str, Transaction] = {}
        self.refused: list[str] = []
        self.unavailable = 0
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self._nonces: dict[str, int] | None = None

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                for sender in self.senders:
                    if self.stopping.is_set():
                        break
                    self._send_one(sender)
        except BaseException as exc:  # re-raised by the test in its own thread
            self.error = exc
        finally:
            self.client.close()

    def _resync(self) -> None:
        """Continue from what the node has (committed plus persisted pending): a transaction
        whose answer was lost in a kill may or may not have been persisted."""
        self._nonces = {s.address: self.client.get_account(s.address)["pending_nonce"] for s in self.senders}

    def _send_one(self, sender: Account) -> None:
        try:
            if self._nonces is None:
                self._resync()
            assert self._nonces is not None
            tx = sender.transfer(self.sink, 1, nonce=self._nonces[sender.address])
            result = self.client.broadcast_tx(tx)
            assert result["hash"] == tx.hash
            self.acked[tx.hash] = tx
            self._nonces[sender.address] += 1
        except NodeRpcError as exc:
            # Only nonce trouble is expected: an unanswered but persisted transaction.
            self.refused.append(f"{exc.code}: {exc.message}")
            self._nonces = None
        except DaemonUnavailable:
            self.unavailable += 1
            self._nonces = None
            time.sleep(0.02)
        except DaemonError:
            self._nonces = None
            time.sleep(0.02)


def test_sigkill_under_load_loses_no_acknowledged_transaction(make_node) -> None:
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    node = make_node(funded=SENDERS)
    senders = node.take(SENDERS)
    sink = account(10_000).address
    submitter = Submitter(str(node.socket), senders, sink)
    submitter.start()
    observed: list[int] = []  # every height read, in order, across all restarts
    resumed: list[tuple[int, int]] = []
    try:
        with node.client() as client:
            observed.append(client.status()["height"])
        for kill in range(KILLS):
            time.sleep(rng.uniform(0.2, 1.2))
            with node.client() as client:
                head = client.status()
                head_block = client.get_block(height=head["height"]) if head["height"] else None
            observed.append(head["height"])
            assert node.kill() == -9, f"seed {seed}"
            node.start()
            with node.client() as client:
                after = client.status()
                observed.append(after["height"])
                resumed.append((head["height"], after["height"]))
                assert after["height"] >= head["height"], f"seed {seed}: went back after kill {kill}"
                if head_block is not None:
                    assert client.get_block(height=head["height"])["hash"] == head_block["hash"], f"seed {seed}"
        time.sleep(0.5)
    finally:
        submitter.stopping.set()
        submitter.join(timeout=30)
    assert not submitter.is_alive()
    if submitter.error is not None:
        raise submitter.error
    assert len(submitter.acked) > KILLS, f"seed {seed}: the stream was too thin to mean anything"
    assert submitter.unavailable > 0, f"seed {seed}: no kill ever interrupted the stream"
    assert all("nonce" in r or "already" in r for r in submitter.refused), submitter.refused

    # After the last restart, a few blocks: everything acknowledged commits.
    with node.client() as client:
        deadline = time.monotonic() + 60
        waiting = sorted(submitter.acked)
        while waiting and time.monotonic() < deadline:
            answers = client.batch([("get_tx", {"hash": tx_hash}) for tx_hash in waiting])
            for tx_hash, got in zip(waiting, answers):
                # NOT_FOUND (a NodeRpcError here) would be a lost transaction.
                assert isinstance(got, dict) and got["status"] in ("committed", "pending"), (tx_hash, got)
            waiting = [tx_hash for tx_hash, got in zip(waiting, answers) if got["status"] != "committed"]
            if waiting:
                time.sleep(0.1)
        assert not waiting, f"seed {seed}: {len(waiting)} acknowledged transactions never committed"

        final = client.status()
        observed.append(final["height"])
        assert observed == sorted(observed), f"seed {seed}: heights went back: {observed}"
        assert final["mempool_size"] == 0

        # The ledger adds up: nothing applied twice, nothing half-applied.
        committed = 0
        for sender in senders:
            info = client.get_account(sender.address)
            assert info["nonce"] == info["pending_nonce"]
            assert info["balance"] == 1_000 * UNIT - info["nonce"] * (1 + MIN_FEE)
            history = client.get_address_txs(sender.address, limit=1000)["txs"]
            assert sorted(t["tx"]["nonce"] for t in history) == list(range(info["nonce"]))
            committed += info["nonce"]
        assert committed >= len(submitter.acked)
        assert client.get_balance(sink) == committed
        # Every block from 1 to the head is stored and chained.
        previous = None
        for first in range(1, final["height"] + 1, 200):
            heights = range(first, min(first + 200, final["height"] + 1))
            for height, block in zip(heights, client.batch([("get_block", {"height": h}) for h in heights])):
                assert isinstance(block, dict), (height, block)
                if previous is not None:
                    assert block["header"]["prev_hash"] == previous, f"seed {seed}: chain broken at {height}"
                previous = block["hash"]
    print(f"seed {seed}: {len(submitter.acked)} acknowledged, {committed} committed, "
          f"resumed {resumed}, {submitter.unavailable} failed sends")
