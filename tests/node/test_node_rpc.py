"""The real node daemon over both doors: signed transfers land, are streamed and read back.

Transfers are sent over the operator socket and over the public TCP port, watched landing
through the WebSocket event stream, and queried back with every read method, as JSON-RPC 2.0,
as batches and as curl-style URI GETs.
"""

from __future__ import annotations

import httpx
import pytest

from nodekit import MIN_FEE, UNIT, wait_for_event

from daemons.node.client import NodeClient, NodeRpcError


def _assert_landed(client: NodeClient, tx_hash: str, event: dict, sender: str, recipient: str,
                   amount: int, start: int) -> None:
    """Everything the node says about a committed transfer agrees with the event."""
    height = event["height"]
    assert event["status"] == "committed" and event["hash"] == tx_hash
    assert event["sender"] == sender and event["type"] == "transfer"

    got = client.get_tx(tx_hash)
    assert got["status"] == "committed" and got["height"] == height and got["index"] == event["index"]
    assert got["tx"]["payload"] == {"to": recipient, "amount": amount}

    assert client.get_balance(sender) == start - amount - MIN_FEE
    assert client.get_balance(recipient) == start + amount
    acct = client.get_account(sender)
    assert acct["address"] == sender and acct["nonce"] == 1 and acct["pending_nonce"] == 1
    assert acct["balance"] == start - amount - MIN_FEE and acct["stakes"] == []

    for address in (sender, recipient):
        history = client.get_address_txs(address)
        assert history["address"] == address
        assert [(t["hash"], t["height"]) for t in history["txs"]] == [(tx_hash, height)]

    block = client.get_block(height=height)
    assert block["header"]["height"] == height
    assert [t["signature"] for t in block["txs"]][event["index"]] == got["tx"]["signature"]
    assert block["commit"] is not None and block["commit"]["block_hash"] == block["hash"]
    by_hash = client.get_block(hash=block["hash"])
    assert by_hash == block
    assert tx_hash not in [t["hash"] for t in client.mempool()["txs"]]


@pytest.mark.parametrize("door", ["socket", "tcp"])
def test_signed_transfer_lands_through_event_stream(node, door: str) -> None:
    alice, bob = node.take(2)
    tx = alice.transfer(bob, 7 * UNIT, nonce=0)
    client = node.client() if door == "socket" else node.tcp_client()
    # Events come through the same door: the socket, or the public WebSocket port.
    events_client = client if door == "socket" else NodeClient(node.ws_url)
    with client, events_client, events_client.events([f"tx:{tx.hash}", "new_block"]) as stream:
        ack = client.broadcast_tx(tx)
        assert ack == {"hash": tx.hash, "status": "pending"}
        event, before = wait_for_event(stream, f"tx:{tx.hash}")
        # The block announcement precedes the per-transaction events of that block.
        blocks = [e.data for e in before if e.topic == "new_block"]
        assert blocks and blocks[-1]["height"] == event["height"]
        assert tx.hash in blocks[-1]["tx_hashes"] and blocks[-1]["num_txs"] >= 1
        _assert_landed(client, tx.hash, event, alice.address, bob.address, 7 * UNIT, 1_000 * UNIT)


def test_events_by_address_and_new_blocks(node) -> None:
    alice, bob = node.take(2)
    tx = alice.transfer(bob, UNIT, nonce=0)
    with node.client() as client, client.events([f"tx:{bob.address}", "new_block"]) as stream:
        start = client.status()["height"]
        client.broadcast_tx(tx)
        event, before = wait_for_event(stream, f"tx:{bob.address}")
        assert event["hash"] == tx.hash and event["status"] == "committed"
        heights = [e.data["height"] for e in before if e.topic == "new_block"]
        assert heights == sorted(heights) and all(h > start for h in heights)


def test_broadcast_commit_mode_returns_after_the_block_is_final(node) -> None:
    alice, bob = node.take(2)
    with node.client() as client:
        tx = alice.transfer(bob, 3 * UNIT, nonce=0)
        result = client.broadcast_tx(tx, mode="commit", timeout_s=30)
        assert result["hash"] == tx.hash and result["status"] == "committed"
        # Final means stored with its commit: readable at once, no waiting.
        block = client.get_block(height=result["height"])
        assert tx.hash in [t["hash"] for t in client.get_address_txs(alice.address)["txs"]]
        assert block["commit"]["height"] == result["height"]
        assert client.get_tx(tx.hash)["status"] == "committed"
        # Commit mode for an already committed transaction: refused as a replay, nothing changes.
        with pytest.raises(NodeRpcError) as refused:
            client.broadcast_tx(tx, mode="commit")
        assert refused.value.code == -32031


def test_status_validators_net_info(node) -> None:
    with node.client() as client:
        status = client.status()
        assert status["chain_id"] == "aitbc-dev"
        assert status["genesis_hash"] == node.init["genesis_hash"]
        assert status["validator_address"] == node.init["validator_address"]
        assert status["block_time_ms"] == 200 and status["consensus_mode"] == "poa"
        assert status["height"] >= 1
        latest = client.get_block()
        assert latest["header"]["height"] >= status["height"]
        vals = client.validators()
        assert [v["address"] for v in vals["validators"]] == [node.init["validator_address"]]
        validator = vals["validators"][0]
        assert validator["active"] and not validator["jailed"] and validator["power"] == vals["total_power"] > 0
        info = client.net_info()
        assert info["listening"] is True and info["n_peers"] == 0 and info["peers"] == []
        pool = client.mempool()
        assert pool["size"] >= 0 and isinstance(pool["txs"], list)
    with node.tcp_client() as public:
        assert public.status()["chain_id"] == "aitbc-dev"


def test_uri_get_calls_like_curl(node) -> None:
    alice, bob = node.take(2)
    with node.client() as client:
        tx = alice.transfer(bob, UNIT, nonce=0)
        committed = client.broadcast_tx(tx, mode="commit")
    base = node.rpc_url
    status = httpx.get(f"{base}/status").json()
    assert status["jsonrpc"] == "2.0" and status["result"]["chain_id"] == "aitbc-dev"
    block = httpx.get(f"{base}/get_block", params={"height": committed["height"]}).json()["result"]
    assert tx.signature in [t["signature"] for t in block["txs"]]
    assert block["header"]["height"] == committed["height"]
    by_hash = httpx.get(f"{base}/get_block", params={"hash": block["hash"]}).json()["result"]
    assert by_hash["hash"] == block["hash"]
    got = httpx.get(f"{base}/get_tx", params={"hash": tx.hash}).json()["result"]
    assert got["status"] == "committed" and got["height"] == committed["height"]
    balance = httpx.get(f"{base}/get_balance", params={"address": bob.address}).json()["result"]
    assert balance["balance"] == 1_001 * UNIT and balance["address"] == bob.address
    acct = httpx.get(f"{base}/get_account", params={"address": alice.address}).json()["result"]
    assert acct["nonce"] == 1
    history = httpx.get(f"{base}/get_address_txs", params={"address": bob.address, "limit": 5}).json()["result"]
    assert [t["hash"] for t in history["txs"]] == [tx.hash]
    # broadcast_tx as a URI call too: the transaction as its JSON text.
    follow = alice.transfer(bob, UNIT, nonce=1)
    sent = httpx.get(f"{base}/broadcast_tx", params={"tx": follow.encoded.decode(), "mode": "commit"})
    assert sent.status_code == 200, sent.text
    assert sent.json()["result"]["hash"] == follow.hash and sent.json()["result"]["status"] == "committed"
    replay = httpx.get(f"{base}/broadcast_tx", params={"tx": follow.encoded.decode()})
    assert replay.status_code == 400 and replay.json()["error"]["code"] == -32031
    for method in ("validators", "net_info", "mempool"):
        answer = httpx.get(f"{base}/{method}")
        assert answer.status_code == 200 and "result" in answer.json(), method

    unknown = httpx.get(f"{base}/no_such_method")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == -32601
    bad = httpx.get(f"{base}/get_block", params={"height": "-3"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == -32602
    bad_address = httpx.get(f"{base}/get_balance", params={"address": "0xNOTHEX"})
    assert bad_address.status_code == 400 and bad_address.json()["error"]["code"] == -32602
    missing = httpx.get(f"{base}/get_tx", params={"hash": "ab" * 32})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == -32004
    # The same over the operator socket.
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(node.socket)), base_url="http://node") as uds:
        assert uds.get("/status").json()["result"]["chain_id"] == "aitbc-dev"


def test_jsonrpc_batch(node) -> None:
    alice, bob = node.take(2)
    txs = [alice.transfer(bob, UNIT, nonce=n) for n in range(3)]
    batch = [
        {"jsonrpc": "2.0", "id": "s", "method": "status"},
        *({"jsonrpc": "2.0", "id": n, "method": "broadcast_tx", "params": {"tx": tx.to_dict()}}
          for n, tx in enumerate(txs)),
        {"jsonrpc": "2.0", "id": "bal", "method": "get_balance", "params": {"address": bob.address}},
        {"jsonrpc": "2.0", "id": "x", "method": "nope"},
        {"jsonrpc": "2.0", "method": "status"},  # a notification: no answer
        {"id": "bad"},
    ]
    answers = httpx.post(node.rpc_url, json=batch).json()
    by_id = {a["id"]: a for a in answers}
    assert set(by_id) == {"s", 0, 1, 2, "bal", "x", "bad"}
    assert by_id["s"]["result"]["chain_id"] == "aitbc-dev"
    # Admitted in request order, so the three sequential nonces are all accepted.
    assert [by_id[n]["result"]["hash"] for n in range(3)] == [tx.hash for tx in txs]
    assert by_id["x"]["error"]["code"] == -32601
    assert by_id["bad"]["error"]["code"] == -32600
    with node.client() as client:
        results = client.batch([("broadcast_tx", {"tx": txs[-1].to_dict(), "mode": "commit"}),
                                ("get_account", {"address": alice.address})])
        # The last one was already admitted: a duplicate (pending) or a replay (committed).
        assert getattr(results[0], "code", None) in (-32038, -32031)
        assert results[1]["address"] == alice.address
