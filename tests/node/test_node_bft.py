"""Four validators in bft mode on loopback: they agree, survive one crashed validator (3 of 4 is
more than 2/3 of power), and a restarted validator catches up from its peers.

Every message between them passes a relay that plays a Byzantine peer: each proposal reaches its
target first with a poisoned body (the genuinely signed proposal and header, another transaction
list), then as sent. Before issue 22 a validator kept the first proposal of a round, cached the
poisoned body's failure under the honest block's hash and prevoted nil, so no block was decided.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from chain import crypto
from chain.block import Block
from chain.consensus import BroadcastVote, Decide, HeightConsensus, Proposal, ProposalBody
from chain.execution import build_block
from chain.genesis import genesis_state
from chain.ledger import Ledger
from chain.params import ChainParams
from chain.tx import Transaction
from chain.validators import active_set, proposer_for
from chain.vote import VoteBody, sign_vote
from daemons.common.daemon_key import update_config
from daemons.common.home import Home
from daemons.node.client import NodeClient
from daemons.node.core import MAX_CLOCK_DRIFT_MS, NodeCore
from daemons.node.init import init_validator_network, make_genesis
from daemons.node.models import MAX_PEER_TX_BYTES
from storage.chain_store import ChainStore
from storage.database import open_database
from storage.mempool_store import MempoolStore
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


class PoisoningRelay:
    """An HTTP relay in front of one node's RPC port that poisons every proposal it forwards:
    the target first gets the proposal with ``extra_tx`` appended to the block's transactions
    (same signed header, so same hash), then the message as sent."""

    def __init__(self, target_port: int, extra_tx: Transaction) -> None:
        self.target = f"http://127.0.0.1:{target_port}/"
        self.extra_tx = extra_tx.to_dict()
        self.poisoned = 0
        self._http = httpx.Client(timeout=5.0)
        self._count = threading.Lock()
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                relay.poison_first(raw)
                try:
                    answer = relay._http.post(relay.target, content=raw, headers={"Content-Type": "application/json"})
                    status, body = answer.status_code, answer.content
                except httpx.HTTPError:
                    status, body = 502, b"{}"
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def poison_first(self, raw: bytes) -> None:
        try:
            request = json.loads(raw)
            message = request["params"]["message"]
        except (ValueError, KeyError, TypeError):
            return
        if request.get("method") != "consensus_message" or message.get("kind") != "proposal":
            return
        block = message["block"]
        bad = {**message, "block": {**block, "txs": [*block["txs"], self.extra_tx]}}
        try:
            self._http.post(self.target, json={**request, "params": {"message": bad}})
        except httpx.HTTPError:
            return
        with self._count:
            self.poisoned += 1

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._http.close()


@pytest.fixture
def network(tmp_path: Path) -> Iterator[tuple[list[NodeDaemon], Any, list[PoisoningRelay]]]:
    sender, outsider = accounts(2, "aitbc-bft-test")
    homes = [Home.resolve(tmp_path / f"v{i}" / "home") for i in range(4)]
    rpc = [free_port() for _ in homes]
    ws = [free_port() for _ in homes]
    init_validator_network(homes, rpc, ws, fund={sender.address: 1000 * UNIT}, params=ChainParams(block_time_ms=200))
    # A genuinely signed transaction that is in no honest block.
    extra = sender.transfer(outsider, 1, 999)
    relays = [PoisoningRelay(port, extra) for port in rpc]
    for i, home in enumerate(homes):
        update_config(home, "node", {"peers": [relay.url for j, relay in enumerate(relays) if j != i]})
    nodes = [NodeDaemon(home=home.root, rpc_port=r, ws_port=w) for home, r, w in zip(homes, rpc, ws)]
    for node in nodes:
        node.start(wait=False)
    for node in nodes:
        node.wait_ready()
    yield nodes, sender, relays
    for node in nodes:
        node.stop()
    for relay in relays:
        relay.close()


def test_validators_agree_despite_poisoned_proposals_and_survive_one_crash(network) -> None:  # noqa: ANN001
    nodes, sender, relays = network
    clients = [NodeClient(node.rpc_url) for node in nodes]
    _wait_height(clients[0], 3)
    assert sum(relay.poisoned for relay in relays) >= 3  # every height so far had its proposal poisoned
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


def test_clock_verdict_is_asked_anew_and_never_cached_as_invalid(tmp_path: Path) -> None:
    """A validator whose clock runs behind finds the round-0 block too far ahead and prevotes
    nil; the block is still valid for it (the verdict is not kept), it precommits the block once
    the others prevote it, decides it with their precommits, and stores it."""
    keys = accounts(4, "aitbc-bft-clock")
    genesis = make_genesis("aitbc-dev", [(k.address, k.pubkey.hex()) for k in keys],
                           params=ChainParams(block_time_ms=200), genesis_time_ms=1_700_000_000_000)
    signers = active_set(Ledger(genesis_state(genesis)))
    proposer = next(k for k in keys if k.address == proposer_for(signers, 0))
    me = next(k for k in keys if k != proposer)  # a validator that receives the proposal
    db = open_database(None, tmp_path / "node.db")
    core = NodeCore(genesis, ChainStore(db), MempoolStore(db), me.seed)
    stamped = genesis.genesis_time_ms + 60_000
    block = build_block(core.state, [], proposer=proposer.address, time_ms=stamped).block
    clock = [stamped - MAX_CLOCK_DRIFT_MS - 1]
    asked: list[int] = []

    def timely(candidate: Block) -> bool:
        asked.append(clock[0])
        return core.block_is_timely(candidate, now_ms=clock[0])

    height = HeightConsensus(genesis.chain_id, 1, signers, me.address, propose_block=lambda r: block,
                             block_is_valid=core.validate_block, block_is_timely=timely,
                             sign=core.sign_message)
    height.start()
    body = ProposalBody(chain_id=genesis.chain_id, height=1, round=0, block_hash=block.hash, valid_round=-1,
                        proposer=proposer.address)
    proposal = Proposal(body=body, pubkey=proposer.pubkey.hex(),
                        signature=crypto.sign(proposer.seed, body.signing_bytes()).hex())
    actions = height.on_proposal(proposal, block)
    assert [(a.vote.body.type, a.vote.body.block_hash) for a in actions if isinstance(a, BroadcastVote)] == [
        ("prevote", None)]
    assert asked == [clock[0]]
    # Asked again later, the same node's clock has caught up: nothing about the block was cached.
    clock[0] = stamped
    assert core.block_is_timely(block, now_ms=clock[0]) and core.validate_block(block)
    others = [k for k in keys if k != me]
    for vote_type in ("prevote", "precommit"):
        for k in others:
            vote_body = VoteBody(chain_id=genesis.chain_id, height=1, round=0, type=vote_type,
                                 block_hash=block.hash, validator=k.address)
            actions += height.on_vote(sign_vote(vote_body, k.seed))
    assert ("precommit", block.hash) in [(a.vote.body.type, a.vote.body.block_hash)
                                         for a in actions if isinstance(a, BroadcastVote)]
    decided = [a for a in actions if isinstance(a, Decide)]
    assert decided and decided[0].block == block
    committed = core.commit_decided(decided[0].block, decided[0].commit)
    assert committed is not None and core.state.height == 1
    assert core.store.get_commit(1) == decided[0].commit
    db.close()


def test_a_backlog_larger_than_a_peer_message_is_proposed_in_blocks_that_fit_and_all_commits(tmp_path: Path) -> None:
    """Blocks of everything pending once outgrew what a peer takes in one request (1 MiB): every
    peer refused each proposal and the chain stopped. 130 proposals of 10,000 characters each
    (about 1.3 MB) sent at once are now proposed in blocks under ``MAX_PEER_TX_BYTES`` and
    all commit, on every validator."""
    senders = accounts(13, "aitbc-bft-backlog")
    homes = [Home.resolve(tmp_path / f"v{i}" / "home") for i in range(4)]
    rpc = [free_port() for _ in homes]
    ws = [free_port() for _ in homes]
    init_validator_network(homes, rpc, ws, fund={s.address: 1000 * UNIT for s in senders},
                           params=ChainParams(block_time_ms=300))
    nodes = [NodeDaemon(home=home.root, rpc_port=r, ws_port=w) for home, r, w in zip(homes, rpc, ws)]
    for node in nodes:
        node.start(wait=False)
    try:
        for node in nodes:
            node.wait_ready()
        backlog = [s.tx(n, "gov_propose", {"title": f"backlog {i}.{n}", "description": "x" * 10_000,
                                          "action": {"kind": "text"}})
                   for n in range(10) for i, s in enumerate(senders)]
        assert sum(len(tx.encoded) for tx in backlog) > 1 << 20 > MAX_PEER_TX_BYTES
        with nodes[0].client(timeout=WAIT_S + 30) as client:
            assert not [r for r in client.broadcast_txs(backlog) if isinstance(r, Exception)]
            # Each sender's next transfer, committed only after its ten proposals (nonce order):
            # on the old code the chain stopped and these waits ended in the node's time-out.
            last = [client.broadcast_tx(s.transfer(s, 1, 10), mode="commit", timeout_s=WAIT_S)["height"]
                    for s in senders]
        for node in nodes:
            node.wait_height(max(last))
            with node.client() as client:
                assert all(client.get_tx(tx.hash)["status"] == "committed" for tx in backlog), node.home
        with nodes[0].client() as client:
            heights = {client.get_tx(tx.hash)["height"] for tx in backlog}
            assert len(heights) >= 2  # it did not fit one block
            for height in heights:
                txs = client.get_block(height)["txs"]
                assert sum(len(Transaction.model_validate(tx).encoded) for tx in txs) <= MAX_PEER_TX_BYTES
    finally:
        for node in nodes:
            node.stop()
