"""Joining a running chain on loopback: ``aitbc node init --genesis URL --peer URL``, catching up,
following as a full node that serves and relays, and the handshake that keeps strangers out.

The same steps across network namespaces are in ``test_node_network.py``; these are the quick
ones every run can afford.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from daemons.common.daemon_key import update_config
from daemons.common.home import Home
from daemons.node.identity import Hello, NodeIdentity, check_hello
from daemons.node.models import HANDSHAKE_REFUSED
from daemons.node.peers import PeerSet
from nodekit import UNIT, accounts, run_aitbc, solo_validator
from testkit import NodeDaemon, free_ports, temp_root

SENDER = accounts(1, "aitbc-join-test")[0]


@pytest.fixture(scope="module")
def origin() -> Iterator[NodeDaemon]:
    """A running chain of one validator (bft mode, 0.2 s blocks) with a funded account."""
    with solo_validator("aitbc-join-", fund={SENDER.address: 1000 * UNIT}) as node:
        yield node


def _hello_call(url: str, hello: dict[str, Any]) -> dict[str, Any]:
    request = {"jsonrpc": "2.0", "id": 1, "method": "peer_hello", "params": {"hello": hello}}
    return httpx.post(url + "/", json=request, timeout=30).json()


def test_a_second_node_joins_catches_up_follows_and_relays(origin: NodeDaemon) -> None:
    origin.wait_height(25)
    with temp_root("aitbc-join-") as root:
        rpc, ws = free_ports(2)
        home = root / "joiner"
        done = run_aitbc("node", "init", "--home", str(home), "--genesis", origin.rpc_url, "--peer", origin.rpc_url,
                         "--external-url", f"http://127.0.0.1:{rpc}", "--json")
        assert done.returncode == 0, done.stderr
        joined = json.loads(done.stdout)
        with origin.client() as client:
            status = client.status()
        assert joined["genesis_hash"] == status["genesis_hash"] and joined["chain_id"] == status["chain_id"]

        node = NodeDaemon(home=home, rpc_port=rpc, ws_port=ws)
        node.start()
        try:
            with origin.client() as theirs, node.client() as mine:
                target = theirs.status()["height"]
                node.wait_height(target)
                status = mine.status()
                assert status["validating"] is False and status["voting_power"] == 0
                assert status["sync"]["target"] >= target and status["sync"]["height"] >= target
                same = status["height"]
                assert mine.get_block(height=same)["hash"] == theirs.get_block(height=same)["hash"]

                # A transaction sent to the full node is relayed to the validator and committed.
                tx = SENDER.transfer(accounts(2, "aitbc-join-test")[1], 3 * UNIT, 0)
                with node.tcp_client() as public:
                    committed = public.broadcast_tx(tx, mode="commit", timeout_s=60)
                assert theirs.get_tx(tx.hash)["status"] == "committed"
                node.wait_height(committed["height"])

                # Each lists the other: its id, address, direction, height, last seen, round trip.
                info = mine.net_info()
                peer = next(p for p in info["peers"] if p["url"] == origin.rpc_url)
                assert peer["connected"] and peer["direction"] == "outbound" and peer["node_id"]
                assert peer["height"] >= 1 and peer["rtt_ms"] is not None and peer["last_seen_ms"]
                back = theirs.net_info()
                assert any(p["node_id"] == info["node_id"] for p in back["peers"])
                assert oct((home / "keys" / "node_key").stat().st_mode & 0o777) == "0o600"

            # Peers are remembered: without any seed in its config, a restart finds them again.
            node.stop()
            assert origin.rpc_url in (home / "data" / "peers.json").read_text()
            update_config(Home.resolve(home), "node", {"peers": []})
            node.start()
            with origin.client() as theirs, node.client() as mine:
                node.wait_height(theirs.status()["height"] + 2)
                assert any(p["connected"] and p["url"] == origin.rpc_url for p in mine.net_info()["peers"])
        finally:
            node.stop()


def test_a_node_of_another_chain_is_refused_naming_both_hashes(origin: NodeDaemon, tmp_path: Path) -> None:
    other = tmp_path / "other"
    assert run_aitbc("node", "init", "--home", str(other), "--chain-id", "other-chain").returncode == 0
    done = run_aitbc("node", "init", "--home", str(tmp_path / "j"), "--genesis", str(other / "genesis.json"),
                     "--peer", origin.rpc_url)
    with origin.client() as client:
        ours = client.status()["genesis_hash"]
    theirs = json.loads((other / "genesis.json").read_text())
    assert done.returncode != 0
    assert ours in done.stderr and "other-chain" in done.stderr, done.stderr
    assert not (tmp_path / "j" / "genesis.json").exists()
    assert theirs["chain_id"] == "other-chain"


def test_forged_and_foreign_handshakes_are_refused(origin: NodeDaemon) -> None:
    with origin.client() as client:
        status = client.status()
    chain_id, genesis_hash = status["chain_id"], status["genesis_hash"]
    me, impostor = NodeIdentity(b"\x01" * 32), NodeIdentity(b"\x02" * 32)

    # Signed by one key, claiming another node's id: refused.
    forged = impostor.hello(chain_id, genesis_hash, listen_url="", height=0).model_dump()
    forged["body"]["node_id"] = me.node_id
    answer = _hello_call(origin.rpc_url, forged)
    assert answer["error"]["code"] == HANDSHAKE_REFUSED and "not signed" in answer["error"]["message"]

    # Another genesis: refused, both hashes named.
    foreign = me.hello(chain_id, "ff" * 32, listen_url="", height=0).model_dump()
    answer = _hello_call(origin.rpc_url, foreign)
    assert answer["error"]["code"] == HANDSHAKE_REFUSED
    assert "ff" * 32 in answer["error"]["message"] and genesis_hash in answer["error"]["message"]

    # A genuine hello gets the node's own, answering our nonce (so it cannot be a replay).
    mine = me.hello(chain_id, genesis_hash, listen_url="", height=0)
    answer = _hello_call(origin.rpc_url, mine.model_dump())
    theirs = Hello.model_validate(answer["result"]["hello"])
    check_hello(theirs, chain_id, genesis_hash, reply_to=mine.body.nonce)
    with pytest.raises(Exception, match="does not answer this handshake"):
        check_hello(theirs, chain_id, genesis_hash, reply_to="0" * 32)
    with origin.client() as client:
        assert me.node_id in {p["node_id"] for p in client.net_info()["peers"]}
        assert impostor.node_id not in {p["node_id"] for p in client.net_info()["peers"]}


def test_a_remembered_peer_must_answer_with_its_own_node_key(origin: NodeDaemon, tmp_path: Path) -> None:
    """Whoever answers at a remembered address with another node key is refused, not taken as
    that peer; the genuine node at a fresh address is taken."""
    with origin.client() as client:
        status, real_id = client.status(), client.net_info()["node_id"]
    book = tmp_path / "peers.json"
    book.write_text(json.dumps([{"url": origin.rpc_url, "node_id": "0x" + "11" * 20}]))

    async def dial(book_file: Path) -> list[dict[str, Any]]:
        peers = PeerSet(NodeIdentity(b"\x03" * 32), chain_id=status["chain_id"], genesis_hash=status["genesis_hash"],
                        seeds=[], listen_url="", max_peers=4, book_file=book_file, height=lambda: 0)
        await peers.tend()  # one round of upkeep: dial what is due
        await peers.stop()
        return [p.describe() for p in peers.peers.values()]

    # Only the remembered address is judged here: the origin may share other peers it knows (peer
    # exchange), and those are dialed as well.
    def at_origin(described: list[dict[str, Any]]) -> dict[str, Any]:
        (entry,) = [p for p in described if p["url"] == origin.rpc_url]
        return entry

    refused = at_origin(asyncio.run(dial(book)))
    assert refused["connected"] is False and refused["failures"] == 1
    book.write_text(json.dumps([{"url": origin.rpc_url, "node_id": real_id}]))
    taken = at_origin(asyncio.run(dial(book)))
    assert taken["connected"] is True and taken["node_id"] == real_id
