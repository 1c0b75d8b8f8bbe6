"""Bad input gets its documented error code, over both doors, and changes nothing.

Codes: JSON-RPC's own (-32700 parse, -32600 invalid request, -32601 unknown method, -32602 bad
params), ``chain.errors`` codes for refused transactions, the mempool's duplicate code, and the
spine's 413 for an oversized body. After every refusal the accounts involved still have the
balances and nonces they had, and no refused transaction is anywhere on the node.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from nodekit import MIN_FEE, UNIT, Account

from chain.errors import ChainError
from chain.tx import make_tx, parse_transaction
from daemons.common.errors import DaemonError
from daemons.node.client import NodeClient, NodeRpcError


@pytest.fixture(params=["socket", "tcp"])
def door(request: pytest.FixtureRequest, node: Any) -> Iterator[tuple[str, httpx.Client, NodeClient]]:
    """A raw HTTP client and the typed client, both through the door under test."""
    if request.param == "socket":
        raw = httpx.Client(transport=httpx.HTTPTransport(uds=str(node.socket)), base_url="http://node", timeout=30)
        typed = node.client()
    else:
        raw = httpx.Client(base_url=node.rpc_url, timeout=30)
        typed = node.tcp_client()
    with raw, typed:
        yield request.param, raw, typed


def _rpc(raw: httpx.Client, body: Any) -> dict[str, Any]:
    response = raw.post("/", content=body if isinstance(body, (bytes, str)) else None,
                        json=None if isinstance(body, (bytes, str)) else body,
                        headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text
    return response.json()


def _error(answer: dict[str, Any]) -> tuple[int, str]:
    assert answer["jsonrpc"] == "2.0" and "result" not in answer, answer
    return answer["error"]["code"], answer["error"]["message"]


def _broadcast(tx: dict[str, Any] | str, **params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "method": "broadcast_tx", "params": {"tx": tx, **params}}


def _hash_or_none(tx: dict[str, Any] | str) -> str | None:
    """The hash a refused transaction would have had, when it parses at all."""
    try:
        return parse_transaction(tx).hash
    except ChainError:
        return None


def _snapshot(client: NodeClient, *accounts: Account) -> dict[str, tuple[int, int, int]]:
    out = {}
    for acct in accounts:
        info = client.get_account(acct.address)
        out[acct.address] = (info["balance"], info["nonce"], info["pending_nonce"])
    return out


def test_protocol_errors(door: tuple[str, httpx.Client, NodeClient]) -> None:
    _, raw, _ = door
    code, message = _error(_rpc(raw, b'{"jsonrpc": "2.0", "method": "status", '))
    assert code == -32700 and "parse error" in message
    assert _error(_rpc(raw, b"\xff\xfe not utf-8"))[0] == -32700
    # Not JSON-RPC 2.0 requests.
    assert _error(_rpc(raw, {"method": "status", "id": 1}))[0] == -32600
    assert _error(_rpc(raw, {"jsonrpc": "1.0", "method": "status", "id": 1}))[0] == -32600
    assert _error(_rpc(raw, {"jsonrpc": "2.0", "method": 5, "id": 1}))[0] == -32600
    assert _error(_rpc(raw, "\"status\""))[0] == -32600
    assert _error(_rpc(raw, []))[0] == -32600
    batch = _rpc(raw, [1, {"jsonrpc": "2.0", "id": 2, "method": "status"}])
    assert _error(batch[0])[0] == -32600 and batch[1]["result"]["chain_id"] == "aitbc-dev"
    # Well-formed lookups of things that do not exist: -32004.
    for method, params in (("get_receipt", {"job_id": "no-such-job"}), ("get_receipt", {"id": "cd" * 32}),
                           ("get_tx", {"hash": "ef" * 32}), ("get_block", {"height": 10**9}),
                           ("get_block", {"hash": "01" * 32})):
        code, message = _error(_rpc(raw, {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
        assert code == -32004 and message, (method, params)
    # Unknown method.
    code, message = _error(_rpc(raw, {"jsonrpc": "2.0", "id": 1, "method": "get_everything"}))
    assert code == -32601 and "get_everything" in message
    # Bad params: each one a -32602 with a readable message.
    bad_params = [
        ("get_block", {"height": 0}),
        ("get_block", {"height": "tall"}),
        ("get_block", {"hash": "zz"}),
        ("get_balance", {}),
        ("get_balance", {"address": "0xABCDEF"}),
        ("get_balance", {"address": "0x" + "A" * 40}),
        ("get_account", {"address": "0x" + "a" * 40, "extra": 1}),
        ("get_tx", {"hash": 42}),
        ("broadcast_tx", {"tx": {}, "mode": "eventually"}),
        ("broadcast_tx", {"tx": {}, "timeout_s": 0}),
        ("mempool", {"limit": 0}),
        ("get_receipt", {}),
        ("get_receipt", {"id": "ab" * 32, "job_id": "job-1"}),
        ("status", [1, 2]),
    ]
    for method, params in bad_params:
        code, message = _error(_rpc(raw, {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
        assert code == -32602 and message, (method, params, message)


def test_refused_transactions_change_nothing(node: Any, door: tuple[str, httpx.Client, NodeClient]) -> None:
    _, raw, client = door
    alice, bob = node.take(2)
    first = alice.transfer(bob, UNIT, nonce=0)
    client.broadcast_tx(first, mode="commit")
    before = _snapshot(client, alice, bob)
    start_height = client.status()["height"]
    balance = before[alice.address][0]

    good = alice.transfer(bob, UNIT, nonce=1).to_dict()
    tampered = {**good, "payload": {"to": bob.address, "amount": 2 * UNIT}}
    foreign_key = {**good, "pubkey": bob.pubkey.hex()}
    cases: list[tuple[str, dict[str, Any] | str, int]] = [
        ("wrong chain id", alice.transfer(bob, UNIT, nonce=1, chain_id="other-chain").to_dict(), -32022),
        ("payload changed after signing", tampered, -32021),
        ("signed by another key", {**good, "signature": make_tx(bob.seed, "aitbc-dev", "transfer", 1, MIN_FEE,
                                                                  {"to": bob.address, "amount": UNIT}).signature},
         -32021),
        ("pubkey is not the sender's", foreign_key, -32021),
        ("nonce gap", alice.transfer(bob, UNIT, nonce=5).to_dict(), -32031),
        ("replayed nonce", first.to_dict(), -32031),
        ("replayed nonce, new content", alice.transfer(bob, 2 * UNIT, nonce=0).to_dict(), -32031),
        ("overdraft", alice.transfer(bob, balance, nonce=1).to_dict(), -32032),
        ("overdraft by the fee", alice.transfer(bob, balance - MIN_FEE + 1, nonce=1).to_dict(), -32032),
        ("fee below minimum", alice.transfer(bob, UNIT, nonce=1, fee=MIN_FEE - 1).to_dict(), -32033),
        ("zero fee", alice.transfer(bob, UNIT, nonce=1, fee=0).to_dict(), -32033),
        ("missing signature", {k: v for k, v in good.items() if k != "signature"}, -32020),
        ("unknown type", {**good, "type": "mint"}, -32020),
        ("float amount", {**good, "payload": {"to": bob.address, "amount": 1.5}}, -32024),
        ("extra payload field", {**good, "payload": {**good["payload"], "memo": "hi"}}, -32024),
        ("bad recipient", {**good, "payload": {"to": "0xBOB", "amount": UNIT}}, -32024),
        ("not JSON", "{not json", -32020),
    ]
    for name, tx, expected in cases:
        code, message = _error(_rpc(raw, _broadcast(tx)))
        assert code == expected, (name, code, message)
        assert message and "\n" not in message, name
        # Commit mode refuses the same way, before waiting for anything.
        assert _error(_rpc(raw, _broadcast(tx, mode="commit", timeout_s=5)))[0] == expected, name

    # Through the typed client: the same refusal as a NodeRpcError with the stable code.
    with pytest.raises(NodeRpcError) as refused:
        client.broadcast_tx(alice.transfer(bob, UNIT, nonce=1, fee=0))
    assert refused.value.code == -32033 and "below the minimum" in refused.value.message

    # Oversized body: the spine answers 413 before any JSON-RPC handling.
    huge = _broadcast({**good, "payload": {"to": bob.address, "amount": UNIT, "pad": "x" * (2 << 20)}})
    response = raw.post("/", json=huge)
    assert response.status_code == 413 and response.json()["error"]["code"] == "body_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it arrives
        yield b'{"jsonrpc": "2.0", "id": 1, "method": "status", "params": {"pad": "'
        for _ in range(40):
            yield b"y" * 65536
        yield b'"}}'

    response = raw.post("/", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413
    with pytest.raises(DaemonError) as too_big:
        client.call("broadcast_tx", tx={"pad": "z" * (2 << 20)})
    assert too_big.value.status == 413

    # Nothing changed, then or a few blocks later; no refused transaction is known anywhere.
    node.wait_height(start_height + 3)
    assert _snapshot(client, alice, bob) == before
    assert all(t["sender"] != alice.address for t in client.mempool()["txs"])
    assert [t["hash"] for t in client.get_address_txs(alice.address)["txs"]] == [first.hash]
    for name, tx, _ in cases:
        tx_hash = _hash_or_none(tx)
        if tx_hash is None or tx_hash == first.hash:
            continue
        with pytest.raises(NodeRpcError) as missing:
            client.get_tx(tx_hash)
        assert missing.value.code == -32004, name

    # The account still works: the next valid transaction is accepted.
    assert client.broadcast_tx(alice.transfer(bob, UNIT, nonce=1), mode="commit")["status"] == "committed"


def test_duplicate_in_one_batch(node: Any, door: tuple[str, httpx.Client, NodeClient]) -> None:
    """Admission follows request order inside a batch: the copy is a duplicate, deterministically."""
    _, raw, client = door
    alice, bob = node.take(2)
    tx = alice.transfer(bob, UNIT, nonce=0)
    replacement = alice.transfer(bob, 2 * UNIT, nonce=0, fee=MIN_FEE * 10)
    follow = alice.transfer(bob, UNIT, nonce=1)
    answers = _rpc(raw, [
        {"jsonrpc": "2.0", "id": 0, "method": "broadcast_tx", "params": {"tx": tx.to_dict()}},
        {"jsonrpc": "2.0", "id": 1, "method": "broadcast_tx", "params": {"tx": tx.to_dict()}},
        {"jsonrpc": "2.0", "id": 2, "method": "broadcast_tx", "params": {"tx": replacement.to_dict()}},
        {"jsonrpc": "2.0", "id": 3, "method": "broadcast_tx", "params": {"tx": follow.to_dict()}},
    ])
    by_id = {a["id"]: a for a in answers}
    assert by_id[0]["result"] == {"hash": tx.hash, "status": "pending"}
    code, message = _error(by_id[1])
    assert code == -32038 and "already in the mempool" in message
    code, message = _error(by_id[2])
    assert code == -32038 and "replacement" in message
    assert by_id[3]["result"]["hash"] == follow.hash
    assert client.broadcast_tx(alice.transfer(bob, UNIT, nonce=2), mode="commit")["status"] == "committed"
    assert client.get_account(alice.address)["nonce"] == 3
    assert client.get_balance(bob.address) == 1_000 * UNIT + 3 * UNIT
    with pytest.raises(NodeRpcError):
        client.get_tx(replacement.hash)
