"""The public doors of a node left open to the internet: what a stranger can make it hold or do.

A full mempool takes a higher fee in place of the cheapest pending transaction (in process, real
SQLite). Against real daemons: an oversized batch and a request asking for too many rows get
clear JSON-RPC errors; a client over its rate is told when to retry while the operator's socket
is still served; event subscriptions past their bounds get a ``too_many`` error; and 10,000
future-height consensus messages from senders that are not validators are never buffered, so
the node's memory stays flat and it keeps finalizing blocks.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync import client as ws_client

from chain import crypto
from chain.consensus import ProposalBody, Timeouts
from chain.block import Block
from chain.errors import BadNonce, ChainError, InvalidSignature
from chain.tx import Transaction
from chain.vote import VoteBody, sign_vote
from daemons.common.errors import DaemonError
from daemons.common.events import MAX_TOPICS
from daemons.node import admission as admission_module
from daemons.node import api as api_module
from daemons.node.admission import Admission
from daemons.node.api import NodeApi, RpcError
from daemons.node.bft import FUTURE_HEIGHTS, FUTURE_QUOTA, BftDriver
from daemons.node.core import NodeCore
from daemons.node.identity import NodeIdentity
from daemons.node.peers import PeerSet
from daemons.node.relay import TxRelay
from daemons.node.init import make_genesis
from daemons.node.models import MAX_BATCH, MAX_PEER_TX_BYTES, MAX_ROWS, RATE_LIMITED, SERVER_BUSY, TOO_LARGE
from daemons.node.mempool import DuplicateTx, MempoolFull
from nodekit import UNIT, Account, accounts, solo_validator
from storage.chain_store import ChainStore
from storage.database import open_database
from storage.mempool_store import MempoolStore
from testkit import NodeDaemon, wait_for


def test_full_mempool_takes_a_higher_fee_in_place_of_the_cheapest(tmp_path: Path) -> None:
    senders = accounts(5, "aitbc-doors-mempool")
    validator = accounts(1, "aitbc-doors-validator")[0]
    genesis = make_genesis("aitbc-dev", [(validator.address, validator.pubkey.hex())],
                           fund={a.address: 100 * UNIT for a in senders})
    db = open_database(None, tmp_path / "node.db")
    core = NodeCore(genesis, ChainStore(db), MempoolStore(db), validator.seed, max_mempool_txs=3)
    displaced: list[tuple[Transaction, ChainError]] = []
    core.mempool.on_displaced = lambda tx, error: displaced.append((tx, error))
    first = [senders[0].transfer(senders[4], UNIT, 0, fee=30), senders[1].transfer(senders[4], UNIT, 0, fee=10),
             senders[2].transfer(senders[4], UNIT, 0, fee=10)]
    assert core.submit(first) == [None, None, None]

    # Not more than the cheapest: refused, naming the fee that would get in; nothing changes.
    same = senders[3].transfer(senders[4], UNIT, 0, fee=10)
    (refusal,) = core.submit([same])
    assert isinstance(refusal, MempoolFull) and "a fee above 10" in str(refusal)
    assert core.mempool.hashes() == {tx.hash for tx in first}

    # More: the cheapest (the newer of the two at fee 10) makes room, and is told why.
    richer = senders[3].transfer(senders[4], UNIT, 0, fee=11)
    assert core.submit([richer]) == [None]
    assert core.mempool.hashes() == {first[0].hash, first[1].hash, richer.hash}
    assert [(tx.hash, type(error)) for tx, error in displaced] == [(first[2].hash, MempoolFull)]
    assert "higher fee" in str(displaced[0][1])
    assert {entry.tx.hash for entry in MempoolStore(db).all()} == core.mempool.hashes()
    # Its sender may come back with a higher fee: nonce 0 is free again.
    assert core.submit([senders[2].transfer(senders[4], UNIT, 0, fee=12)]) == [None]
    db.close()


def _prevote_message(signer: Account, height: int, round_: int, *, chain_id: str = "aitbc-dev",
                    claimed: str | None = None) -> dict[str, Any]:
    """A ``consensus_message`` carrying a nil prevote signed by ``signer`` (claiming ``claimed``)."""
    body = VoteBody(chain_id=chain_id, height=height, round=round_, type="prevote", block_hash=None,
                    validator=claimed or signer.address)
    return {"kind": "vote", "vote": {"body": body.model_dump(), "pubkey": signer.pubkey.hex(),
                                     "signature": crypto.sign(signer.seed, body.signing_bytes()).hex()}}


class _RecordingPeers(PeerSet):
    """A peer set that says one peer is connected and records what would be sent to it."""

    sent: list[dict[str, Any]]

    def connected(self) -> list[Any]:
        return [None]

    async def send_all(self, method: str, params: dict[str, Any], *, relayed_from: str | None = None) -> None:
        self.sent.append(params["message"])


def test_relayed_copies_are_recognised_unparsed_and_a_forged_copy_is_not(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each transaction comes back to a node from every peer that relays it. A copy of a pending
    one is refused as a duplicate without being parsed again; a copy later in the same group is
    admitted in its own place (after the transaction that fills its nonce gap); an object that
    reuses a pending transaction's signature with another field is checked in full and refused
    for its signature; and a proposed block takes its pending transactions from the mempool."""
    alice, bob = accounts(2, "aitbc-doors-copies")
    validator = accounts(1, "aitbc-doors-validator")[0]
    genesis = make_genesis("aitbc-dev", [(validator.address, validator.pubkey.hex())],
                           fund={a.address: 100 * UNIT for a in (alice, bob)})
    db = open_database(None, tmp_path / "node.db")
    core = NodeCore(genesis, ChainStore(db), MempoolStore(db), validator.seed)
    parsed: list[Any] = []
    real_parse = admission_module.parse_raw
    monkeypatch.setattr(admission_module, "parse_raw", lambda raw: parsed.append(raw) or real_parse(raw))
    first, second, other = alice.transfer(bob, UNIT, 0), alice.transfer(bob, UNIT, 1), bob.transfer(alice, UNIT, 0)

    async def run() -> None:
        admission = Admission(core)
        # One group: the second transaction before the first (a nonce gap), the first, then a
        # copy of the second, which now fits.
        verdicts = await asyncio.gather(*(admission.admit(tx.to_dict()) for tx in (second, first, second)),
                                        return_exceptions=True)
        assert isinstance(verdicts[0], BadNonce) and "nonce gap" in verdicts[0].message
        assert [v.hash for v in verdicts[1:]] == [first.hash, second.hash]  # type: ignore[union-attr]
        assert len(parsed) == 2  # the copy shared its original's parse
        parsed.clear()
        assert core.mempool.copy_of(first.to_dict()) is core.mempool.get(first.hash)
        with pytest.raises(DuplicateTx, match="already in the mempool"):
            await admission.admit(first.to_dict())
        assert parsed == []
        forged = {**first.to_dict(), "fee": first.fee + 1}  # the genuine signature on another body
        assert core.mempool.copy_of(forged) is None
        with pytest.raises(InvalidSignature):
            await admission.admit(forged)
        assert parsed == [forged] and len(core.mempool) == 2

        peers = PeerSet(NodeIdentity(validator.seed), chain_id=genesis.chain_id, genesis_hash=genesis.hash, seeds=[],
                        listen_url="", max_peers=4, book_file=None, height=lambda: 0)
        driver = BftDriver(core, peers, sign=None, timeouts=Timeouts(), block_time_s=1.0,
                           on_commit=lambda committed: None)
        block = core.build_candidate(0, 1)
        raw = {**block.to_dict(), "txs": [tx.to_dict() for tx in block.txs] + [other.to_dict()]}
        taken = driver._parse_block(raw)
        assert taken == Block.model_validate(raw)
        assert [tx is core.mempool.get(tx.hash) for tx in taken.txs] == [True, True, False]
        await peers.stop()

    asyncio.run(run())
    db.close()


def test_relay_txs_is_answered_once_queued_admits_in_order_and_refuses_past_its_bound(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A peer's ``relay_txs`` is answered before its transactions are admitted (the relay waits
    for a link's round trip, not for this node's admission), they are admitted in the order sent
    and passed on naming that peer; past the bound of waiting transactions it is refused busy
    and queues nothing."""
    alice, bob = accounts(2, "aitbc-doors-relay-txs")
    validator = accounts(1, "aitbc-doors-validator")[0]
    genesis = make_genesis("aitbc-dev", [(validator.address, validator.pubkey.hex())],
                           fund={alice.address: 100 * UNIT})
    db = open_database(None, tmp_path / "node.db")
    core = NodeCore(genesis, ChainStore(db), MempoolStore(db), validator.seed)
    txs = [alice.transfer(bob, UNIT, nonce) for nonce in range(3)]
    peer = NodeIdentity(b"\x0a" * 32).node_id

    async def run() -> None:
        api = NodeApi(core, wait_commit=lambda tx_hash, timeout_s: asyncio.sleep(0, {}))
        peers = PeerSet(NodeIdentity(validator.seed), chain_id=genesis.chain_id, genesis_hash=genesis.hash, seeds=[],
                        listen_url="", max_peers=4, book_file=None, height=lambda: 0)

        async def receive(message: dict[str, Any]) -> None:
            return None

        api.enable_consensus(receive, peers, describe=dict, progress=dict)
        passed_on: list[tuple[str, str | None]] = []
        api.on_admitted = lambda tx, via: passed_on.append((tx.hash, via))
        answer = await api.call("relay_txs", {"txs": [tx.to_dict() for tx in txs], "relayed_by": peer})
        assert answer == {"queued": 3} and len(core.mempool) == 0  # answered before admission
        await _wait_until(lambda: len(passed_on) == 3)
        assert passed_on == [(tx.hash, peer) for tx in txs]  # nonces 0, 1, 2 in order: none refused as a gap

        monkeypatch.setattr(api_module, "MAX_QUEUED_RELAYS", 1)
        later = [alice.transfer(bob, UNIT, nonce) for nonce in (3, 4)]
        with pytest.raises(RpcError) as busy:
            await api.call("relay_txs", {"txs": [tx.to_dict() for tx in later], "relayed_by": peer})
        assert busy.value.code == SERVER_BUSY and "busy" in busy.value.message
        assert api.admission.queued == 0 and len(core.mempool) == 3
        api.close()
        await peers.stop()

    asyncio.run(run())
    db.close()


async def _wait_until(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_a_transaction_is_relayed_only_where_its_relayer_does_not_relay_itself() -> None:
    """A relayed transaction is passed on to none of the relaying node's own targets (they had it
    from that node), nor back to it; a client's goes to every peer, and a relayer we do not know
    narrows nothing. In a full mesh only the node a client reached relays: every transaction once
    over each link it needs, where before it crossed every link and came back from each peer."""
    sender, to = accounts(2, "aitbc-doors-relay-tx")
    tx = sender.transfer(to, UNIT, 0)
    a, b, c = (NodeIdentity(bytes([n]) * 32).node_id for n in (7, 8, 9))

    async def run() -> list[tuple[list[str], list[dict[str, Any]]]]:
        me = NodeIdentity(b"\x06" * 32)
        peers = PeerSet(me, chain_id="aitbc-dev", genesis_hash="00" * 32, seeds=[], listen_url="", max_peers=8,
                        book_file=None, height=lambda: 0)
        for url, node_id, linked in (("http://a", a, {b}), ("http://b", b, {a, c}), ("http://c", c, set())):
            peers.add(url, node_id)
            peer = peers.peers[url]
            peer.connected, peer.neighbour_ids = True, linked
        posted: list[tuple[list[str], list[dict[str, Any]]]] = []

        async def post_all(targets: list[Any], request: Any) -> None:
            posted.append((sorted(p.url for p in targets), request))

        peers.post_all = post_all  # type: ignore[method-assign]
        relay = TxRelay(peers)
        for via in (a, b, None, "0x" + "ab" * 20):
            await relay._send([(tx, via)])
        assert all(r["method"] == "relay_txs" and r["params"] == {"txs": [tx.to_dict()], "relayed_by": me.node_id}
                   for _, r in posted)
        return posted

    sent = asyncio.run(run())
    # From a: only c (b had it from a). From b: nobody (a and c had it from b). A client's, and
    # one naming a node that is not our peer: everyone.
    everyone = ["http://a", "http://b", "http://c"]
    assert [targets for targets, _ in sent] == [["http://c"], everyone, everyone]


def test_a_relay_batch_stays_within_what_a_peer_takes_in_one_request() -> None:
    """At most ``MAX_BATCH`` transactions and ``MAX_PEER_TX_BYTES`` of them per ``relay_txs``:
    a hundred large transactions in one request passed a peer's 1 MiB body limit and were lost."""
    sender = accounts(1, "aitbc-doors-relay-bytes")[0]
    big = [sender.tx(n, "gov_propose", {"title": "t", "description": "x" * 10_000, "action": {"kind": "text"}})
           for n in range(150)]
    small = [sender.transfer(sender, 1, n) for n in range(150, 400)]

    async def run() -> list[list[Any]]:
        peers = PeerSet(NodeIdentity(b"\x06" * 32), chain_id="aitbc-dev", genesis_hash="00" * 32, seeds=[],
                        listen_url="", max_peers=8, book_file=None, height=lambda: 0)
        relay = TxRelay(peers)
        for tx in [*big, *small]:
            relay.add(tx)
        batches = []
        while relay._queue:
            batches.append([tx for tx, _ in relay._next_batch()])
        return batches

    batches = asyncio.run(run())
    assert [tx for batch in batches for tx in batch] == [*big, *small]  # all of them, in order
    assert all(len(batch) <= MAX_BATCH and sum(len(tx.encoded) for tx in batch) <= MAX_PEER_TX_BYTES
               for batch in batches)
    assert len(batches[0]) < MAX_BATCH and MAX_BATCH in map(len, batches)  # bytes bound the big, count the small


def test_a_repeated_message_is_relayed_again_only_as_a_rebroadcast_and_only_genuine(tmp_path: Path) -> None:
    """A validator's rebroadcast reaches a peer that restarted through a relay that saw it long
    ago (the 2-of-4 stall of test_node_network.py never resumed without this), but a relay does
    not echo a message at once, nor pass on a forgery reusing a genuine signature."""
    keys = accounts(4, "aitbc-doors-relay")
    genesis = make_genesis("aitbc-dev", [(k.address, k.pubkey.hex()) for k in keys])
    db = open_database(None, tmp_path / "node.db")
    core = NodeCore(genesis, ChainStore(db), MempoolStore(db), None)

    async def run() -> None:
        peers = _RecordingPeers(NodeIdentity(b"\x05" * 32), chain_id=genesis.chain_id, genesis_hash=genesis.hash,
                                seeds=[], listen_url="", max_peers=4, book_file=None, height=lambda: 0)
        peers.sent = []
        driver = BftDriver(core, peers, sign=None, timeouts=Timeouts(propose_ms=60_000), block_time_s=1.0,
                           on_commit=lambda committed: None)
        await driver._start_height()
        message = _prevote_message(keys[1], driver.describe()["height"], 0)
        signature = message["vote"]["signature"]
        await driver.receive(message)
        await driver.receive(message)  # an echo from another relay, at once: not passed on again
        await asyncio.sleep(0)
        assert [m["vote"]["signature"] for m in peers.sent] == [signature]
        driver._seen[signature] -= driver.rebroadcast_s  # as if relayed a rebroadcast period ago
        forged = json.loads(json.dumps(message))
        forged["vote"]["body"]["round"] = 1  # the genuine signature on another body
        await driver.receive(forged)
        await asyncio.sleep(0)
        assert len(peers.sent) == 1
        await driver.receive(message)  # its signer's rebroadcast: passed on
        await asyncio.sleep(0)
        assert peers.sent == [message, message]
        await driver.stop()
        await peers.stop()

    asyncio.run(run())
    db.close()


def test_future_messages_are_buffered_only_when_signed_by_a_validator_and_within_bounds(tmp_path: Path) -> None:
    """The consensus driver in process: what it keeps of messages for heights ahead."""
    keys = accounts(4, "aitbc-doors-bft")
    me, others = keys[0], keys[1:]
    genesis = make_genesis("aitbc-dev", [(k.address, k.pubkey.hex()) for k in keys])
    db = open_database(None, tmp_path / "node.db")
    core = NodeCore(genesis, ChainStore(db), MempoolStore(db), me.seed)

    vote = _prevote_message
    async def run() -> None:
        peers = PeerSet(NodeIdentity(me.seed), chain_id=genesis.chain_id, genesis_hash=genesis.hash, seeds=[],
                        listen_url="", max_peers=4, book_file=None, height=lambda: core.snapshot().height)
        driver = BftDriver(core, peers, sign=core.sign_message, timeouts=Timeouts(propose_ms=60_000),
                           block_time_s=1.0, on_commit=lambda committed: None)
        await driver._start_height()
        buffered = lambda: driver.describe()["buffered_future_messages"]  # noqa: E731
        current = driver.describe()["height"]
        stranger = accounts(1, "aitbc-doors-bft-stranger")[0]
        for round_ in range(50):
            await driver.receive(vote(stranger, current + 1, round_))  # not a validator
            await driver.receive(vote(stranger, current + 1, round_, claimed=others[0].address))  # not its key
            await driver.receive(vote(others[0], current + 1, round_, chain_id="other-chain"))
            await driver.receive(vote(others[1], current + 1 + FUTURE_HEIGHTS, round_))  # past the window
        assert buffered() == 0
        forged = vote(others[0], current + 1, 0)
        forged["vote"]["signature"] = forged["vote"]["signature"][:-2] + "00"
        await driver.receive(forged)
        assert buffered() == 0
        # A validator's own messages are kept, once each, up to its quota; others have their own.
        for round_ in range(FUTURE_QUOTA + 10):
            await driver.receive(vote(others[0], current + 1 + round_ % FUTURE_HEIGHTS, round_))
            await driver.receive(vote(others[0], current + 1 + round_ % FUTURE_HEIGHTS, round_))
        assert buffered() == FUTURE_QUOTA
        await driver.receive(vote(others[1], current + FUTURE_HEIGHTS, 0))
        assert buffered() == FUTURE_QUOTA + 1
        await driver.stop()
        await peers.stop()

    asyncio.run(run())
    db.close()


# -- real daemons -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def validator() -> Iterator[NodeDaemon]:
    """One validator in bft mode (a network of one) on the public port, default limits."""
    with solo_validator("aitbc-doors-") as node:
        yield node


@pytest.fixture(scope="module")
def strict() -> Iterator[NodeDaemon]:
    """A node with tight public limits: 3 requests at once then one per 100 s; two subscribers."""
    limits = {"rpc_rate_limit": 0.01, "rpc_burst": 3, "ws_max_subscribers": 2}
    with solo_validator("aitbc-doors-", config=limits) as node:
        yield node


def _post(url: str, body: Any) -> Any:
    return httpx.post(url + "/", json=body, timeout=30).json()


def _call(method: str, params: dict[str, Any], request_id: int = 0) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}


def test_oversized_batch_and_too_many_rows_get_clear_errors(validator: NodeDaemon) -> None:
    answer = _post(validator.rpc_url, [_call("status", {}, i) for i in range(MAX_BATCH + 1)])
    assert answer["error"]["code"] == TOO_LARGE and f"at most {MAX_BATCH}" in answer["error"]["message"]
    full = _post(validator.rpc_url, [_call("status", {}, i) for i in range(MAX_BATCH)])
    assert len(full) == MAX_BATCH and all("result" in a for a in full)

    # Rows are counted over the whole batch: the call that goes past MAX_ROWS is refused.
    calls = MAX_ROWS // 1000 + 1
    answers = _post(validator.rpc_url, [_call("mempool", {"limit": 1000}, i) for i in range(calls)])
    refused = [a for a in answers if "error" in a]
    assert len(refused) == 1 and refused[0]["error"]["code"] == TOO_LARGE
    assert "rows" in refused[0]["error"]["message"]

    # The typed client splits a long batch into requests the node takes.
    with validator.tcp_client() as client:
        assert len(client.batch([("status", {})] * (2 * MAX_BATCH + 1))) == 2 * MAX_BATCH + 1


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _future_messages(chain_id: str, height: int, validator_address: str, block: dict[str, Any],
                     count: int) -> list[dict[str, Any]]:
    """``count`` consensus messages for later heights that no validator of the set signed:
    votes signed by strangers, votes claiming the validator's address under another key, and
    proposals by strangers (each with a real block body the node would otherwise keep)."""
    strangers = accounts(16, "aitbc-doors-stranger")
    messages: list[dict[str, Any]] = []
    for i in range(count):
        stranger = strangers[i % len(strangers)]
        target = height + 1 + i % 3
        if i % 3 == 0:
            body = VoteBody(chain_id=chain_id, height=target, round=i, type="prevote",
                            block_hash=None, validator=stranger.address)
            messages.append({"kind": "vote", "vote": sign_vote(body, stranger.seed).model_dump()})
        elif i % 3 == 1:
            body = VoteBody(chain_id=chain_id, height=target, round=i, type="precommit",
                            block_hash=None, validator=validator_address)
            vote = {"body": body.model_dump(), "pubkey": stranger.pubkey.hex(),
                    "signature": crypto.sign(stranger.seed, body.signing_bytes()).hex()}
            messages.append({"kind": "vote", "vote": vote})
        else:
            proposal = ProposalBody(chain_id=chain_id, height=target, round=i, block_hash=block["hash"],
                                    valid_round=-1, proposer=stranger.address)
            body_only = {k: block[k] for k in ("header", "txs", "last_commit")}
            messages.append({"kind": "proposal", "block": body_only, "proposal": {
                "body": proposal.model_dump(), "pubkey": stranger.pubkey.hex(),
                "signature": crypto.sign(stranger.seed, proposal.signing_bytes()).hex()}})
    return messages


def test_future_messages_from_strangers_are_never_buffered(validator: NodeDaemon) -> None:
    with validator.tcp_client() as client:
        status = client.status()
        block = client.get_block()
    height = status["height"]
    pid = int(validator.pid_file.read_text())
    messages = _future_messages(status["chain_id"], height + 1, status["validator_address"], block, 10_000)
    before = _rss_kib(pid)
    refused = 0
    for start in range(0, len(messages), MAX_BATCH):
        chunk = messages[start:start + MAX_BATCH]
        answers = _post(validator.rpc_url, [_call("consensus_message", {"message": m}, i)
                                            for i, m in enumerate(chunk)])
        refused += sum(1 for a in answers if "error" in a)
    after = _rss_kib(pid)
    with validator.tcp_client() as client:
        status = client.status()
    # Well-formed, so taken without an error, and none kept.
    assert refused == 0
    assert status["consensus"]["buffered_future_messages"] == 0
    # Flat: 10,000 messages of ~1 KiB kept would be ~10 MiB and more as Python objects.
    assert after - before < 8 * 1024, f"RSS grew by {after - before} KiB"
    validator.wait_height(status["height"] + 2)


def test_rate_limit_tells_when_to_retry_and_the_operator_is_not_metered(strict: NodeDaemon) -> None:
    answers = [_post(strict.rpc_url, _call("status", {})) for _ in range(4)]
    assert all("result" in a for a in answers[:3])
    assert answers[3]["error"]["code"] == RATE_LIMITED and "retry after" in answers[3]["error"]["message"]
    uri = httpx.get(strict.rpc_url + "/status", timeout=30)
    assert uri.status_code == 429 and uri.json()["error"]["code"] == RATE_LIMITED
    with strict.client() as operator:
        assert operator.status()["height"] >= 0
        assert len(operator.batch([("status", {})] * 10)) == 10


def _ws(node: NodeDaemon) -> ws_client.ClientConnection:
    return ws_client.connect(node.ws_url.replace("http", "ws") + "/v1/events", open_timeout=30, legacy=True)


def test_subscription_floods_get_clear_errors(strict: NodeDaemon) -> None:
    with _ws(strict) as one:
        one.send(json.dumps({"subscribe": [f"tx:{i}" for i in range(MAX_TOPICS + 1)]}))
        error = json.loads(one.recv(timeout=30))["error"]
        assert error["code"] == "too_many" and f"at most {MAX_TOPICS}" in error["message"]
    with _ws(strict) as one:
        one.send(json.dumps({"subscribe": ["x" * 1000]}))
        assert "at most" in json.loads(one.recv(timeout=30))["error"]["message"]

    def two_held() -> tuple[ws_client.ClientConnection, ...] | None:
        opened = (_ws(strict), _ws(strict))
        for ws in opened:
            ws.send(json.dumps({"subscribe": ["new_block"]}))
            if "subscribed" not in json.loads(ws.recv(timeout=30)):
                return None
        return opened

    first, second = wait_for(two_held, "two subscribers (the refused ones above to be released)", 30)
    with _ws(strict) as third:
        error = json.loads(third.recv(timeout=30))["error"]
        assert error["code"] == "too_many" and "2 event subscribers" in error["message"]
    first.close()
    second.close()
    # Still up and serving.
    with strict.client() as operator:
        with pytest.raises(DaemonError):
            operator.call("no_such_method")
        assert operator.status()["height"] >= 1
