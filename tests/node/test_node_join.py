"""Joining a running chain on loopback: ``aitbc node init --genesis URL --peer URL``, catching up,
following as a full node that serves and relays, the handshake that keeps strangers out, and a
full node becoming a validator through governance and a delegation, as docs/validator-operator.md
tells its operator.

The same steps across network namespaces are in ``test_node_network.py``; these are the quick
ones every run can afford.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from chain import crypto
from chain.errors import InvalidBlock
from chain.params import ChainParams
from daemons.common.daemon_key import daemon_key_password, update_config
from daemons.common.home import Home
from daemons.node import sync as sync_module
from daemons.node.core import NodeCore
from daemons.node.identity import Hello, NodeIdentity, check_hello
from daemons.node.init import DEFAULT_VALIDATOR_STAKE, VALIDATOR_KEY, make_genesis
from daemons.node.models import HANDSHAKE_REFUSED
from daemons.node.peers import PeerSet
from daemons.node.sync import CatchUp
from daemons.wallet.client import WalletClient
from keys import Keystore
from nodekit import UNIT, accounts, run_aitbc, solo_validator
from storage.chain_store import ChainStore
from storage.database import open_database
from storage.mempool_store import MempoolStore
from testkit import NodeDaemon, concurrently, free_ports, service_daemon, temp_root, wait_for

SENDER = accounts(1, "aitbc-join-test")[0]
DELEGATOR = accounts(1, "aitbc-join-delegator")[0]
NEW_POWER = DEFAULT_VALIDATOR_STAKE * 3 // 5
"""The joined validator's delegation: over a third of the power (100 + 60 of 160), so that no block
is final without its precommit: the chain going on is its signing."""
VOTING = 40
"""Blocks a vote lasts: room for one CLI call (a process start on a loaded machine: about 10
blocks at a load of 8 on two cores) after voting opens; counted in blocks, so slow blocks make it
longer, never missed."""
HANG_S = 300.0
PASSWORD = "join-validator-wallet"


@pytest.fixture(scope="module")
def origin() -> Iterator[NodeDaemon]:
    """A running chain of one validator (bft mode, 0.2 s blocks) with funded accounts; a short
    vote and a 1 AIT deposit let a proposal pass in seconds."""
    with solo_validator("aitbc-join-", fund={SENDER.address: 1000 * UNIT, DELEGATOR.address: NEW_POWER + 1000 * UNIT},
                        params=ChainParams(block_time_ms=200, voting_period=VOTING, min_deposit=UNIT)) as node:
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


def _aitbc_json(*args: str) -> dict[str, Any]:
    done = run_aitbc(*args, "--json", timeout=HANG_S)
    assert done.returncode == 0, f"aitbc {' '.join(args)}: {done.stderr}"
    return json.loads(done.stdout)


def test_a_joined_full_node_becomes_a_validator_through_governance(origin: NodeDaemon) -> None:
    """The documented path: ``node init --genesis --peer`` prints the validator key; a
    ``validator-update`` proposal adds it, the validator votes yes, anyone enacts it, a staker
    delegates; the running node (no restart) then validates and its precommits are in the commits.

    Last in the module: from here on no block is final without the joined node."""
    with temp_root("aitbc-join-") as root:
        rpc, ws = free_ports(2)
        home = root / "candidate"
        joined = _aitbc_json("node", "init", "--home", str(home), "--genesis", origin.rpc_url,
                             "--peer", origin.rpc_url, "--external-url", f"http://127.0.0.1:{rpc}")
        address, pubkey = joined["validator_address"], joined["validator_pubkey"]
        node = NodeDaemon(home=home, rpc_port=rpc, ws_port=ws)
        # the operators' wallet daemon on the origin's home: its validator key votes, a staker pays
        wallet = service_daemon("wallet", origin.home, "--scrypt-n", "16", "--idle-lock", "0")
        started = [node.start(wait=False), wallet.start()]
        try:
            origin_home = Home.resolve(origin.home)
            with origin.client() as theirs:
                voter = theirs.status()["validator_address"]
            keypair = Keystore(origin_home.keys_dir).load_keypair(voter, daemon_key_password(origin_home, VALIDATOR_KEY))
            with WalletClient.for_home(origin.home, timeout=HANG_S) as wallets:
                for name, seed in (("validator", keypair.seed_bytes()), ("staker", DELEGATOR.seed)):
                    wallets.import_private_key(seed.hex(), PASSWORD, name)
                    wallets.unlock(PASSWORD, wallet=name)
            keypair.wipe()
            node.wait_ready(HANG_S)
            with node.client() as mine:
                assert mine.status()["validating"] is False

            at = ("--home", str(origin.home))
            sent = _aitbc_json("gov", "propose", "validator-update", "--title", "Add the joined node",
                               "--add-validator", f"{address}:{pubkey}:500:candidate", "--deposit", "1",
                               "-w", "staker", "--wait", *at)
            assert sent["status"] == "committed"
            with origin.client() as theirs:
                [proposal] = theirs.get_proposals("voting")["proposals"]
                pid = int(proposal["id"])
                assert _aitbc_json("gov", "vote", str(pid), "yes", "-w", "validator", "--wait", *at)["status"] == "committed"
                passed = wait_for(lambda: (lambda p: p if p["status"] != "voting" else None)(theirs.get_proposal(pid)),
                                  "the vote to end", HANG_S, interval=0.2)
                assert passed["status"] == "passed", passed
                assert _aitbc_json("gov", "enact", str(pid), "-w", "staker", "--wait", *at)["status"] == "committed"
                assert theirs.get_proposal(pid)["status"] == "executed"
                listed = {v["address"]: v for v in theirs.validators()["validators"]}
                assert listed[address]["power"] == 0  # in the set, without stake: no vote yet
                delegated = _aitbc_json("stake", "delegate", address, str(NEW_POWER // UNIT), "-w", "staker",
                                        "--wait", *at)
                assert delegated["status"] == "committed"

            with node.client() as mine:
                status = wait_for(lambda: (lambda s: s if s["validating"] else None)(mine.status()),
                                  "the joined node to validate", HANG_S, interval=0.2)
            assert status["voting_power"] == NEW_POWER and status["validator_address"] == address
            start = int(status["height"])
            origin.wait_height(start + 5, HANG_S)  # the chain goes on, and needs the newcomer for it
            with origin.client() as theirs:
                commits = [theirs.get_block(height=h)["commit"] for h in range(start + 1, start + 6)]
            assert all(address in {s["validator"] for s in c["signatures"]} for c in commits), commits
        finally:
            concurrently([daemon.stop for daemon in started])


def test_catching_up_checks_a_run_of_blocks_signatures_on_threads_before_applying_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Signatures are most of what a block of transfers costs to apply: a node catching up checks
    those of a run of fetched blocks at once, off the event loop (several threads), as many
    blocks as fit ``PRECHECKED_TXS`` transactions and at least one, and only blocks whose commit
    finalizes them (made-up blocks cost a peer's victim a few commit signatures, not thousands);
    applying a block then finds each signature remembered and checks none again."""
    sender, to = accounts(2, "aitbc-join-precheck")
    txs = [sender.transfer(to, UNIT, nonce) for nonce in range(12)]
    blocks = {1: txs[0:2], 2: txs[2:4], 3: txs[4:10], 4: txs[10:12]}
    fetched: dict[int, Any] = {h: (SimpleNamespace(txs=b, height=h, hash=f"block-{h}"), f"commit-{h}")
                               for h, b in blocks.items()}
    genesis = make_genesis("aitbc-dev", [(sender.address, sender.pubkey.hex())])
    db = open_database(None, tmp_path / "node.db")
    core = NodeCore(genesis, ChainStore(db), MempoolStore(db), None)
    checked: list[tuple[bytes, str]] = []
    real = crypto.verify_uncached

    def counting(pubkey: bytes, message: bytes, signature: bytes) -> bool:
        checked.append((bytes(signature), threading.current_thread().name))
        return real(pubkey, message, signature)

    def commit_check(commit: str, signers: Any, chain_id: str, height: int, block_hash: str) -> None:
        assert commit == f"commit-{height}" and block_hash == f"block-{height}" and signers
        if height == 4:
            raise InvalidBlock("a commit that does not finalize block 4")

    monkeypatch.setattr(crypto, "verify_uncached", counting)
    monkeypatch.setattr(sync_module, "verify_commit", commit_check)
    monkeypatch.setattr(sync_module, "PRECHECKED_TXS", 4)
    catch_up = CatchUp(core, peers=None, on_commit=lambda committed: None)  # type: ignore[arg-type]

    assert asyncio.run(catch_up._precheck_from(fetched, 1, 4)) == 2  # blocks 1 and 2: 4 transactions
    assert asyncio.run(catch_up._precheck_from(fetched, 3, 4)) == 3  # block 3 alone, over the limit
    assert sorted(sig for sig, _ in checked) == sorted(bytes.fromhex(tx.signature) for tx in txs[:10])
    assert all(thread != threading.main_thread().name for _, thread in checked)
    assert asyncio.run(catch_up._precheck_from(fetched, 4, 4)) == 3  # not finalized: nothing checked ahead
    assert len(checked) == 10
    checked.clear()
    assert all(tx.signature_valid() for tx in txs[:10]) and checked == []  # remembered: the apply checks none again
    db.close()


def test_catching_up_streams_from_several_peers_and_asks_another_for_what_one_lacks_or_forges(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A node far behind applies blocks in order as requests come back, never more than ``AHEAD``
    requests in flight (what it holds is bounded by them, not by how far behind it is); a height
    one peer lacks, or serves with a forged commit, ends the pass and is asked of the other peer
    in the next one (at once, even when the pass applied nothing). The state reached is the chain's, root for root."""
    validator = accounts(1, "aitbc-join-stream-validator")[0]
    sender, to = accounts(2, "aitbc-join-stream")
    genesis = make_genesis("aitbc-dev", [(validator.address, validator.pubkey.hex())],
                           fund={sender.address: 1000 * UNIT}, genesis_time_ms=1_700_000_000_000)

    def core(name: str, seed: bytes | None) -> NodeCore:
        db = open_database(None, tmp_path / f"{name}.db")
        made = NodeCore(genesis, ChainStore(db), MempoolStore(db), seed)
        return made

    origin, late = core("origin", validator.seed), core("late", None)
    top = 3 * sync_module.PER_REQUEST * sync_module.AHEAD // 2 + 5
    for height in range(1, top + 1):
        if height % 3 == 0:
            assert origin.submit([sender.transfer(to, UNIT, height // 3 - 1)]) == [None]
        assert origin.produce(genesis.genesis_time_ms + 1000 * height) is not None
    forged_at, lacking = 1, 40  # the first height: a pass that applies nothing still tries the other peer
    forged = origin.store.get_commit(forged_at + 1)
    assert forged is not None
    peers = [SimpleNamespace(name="p2", height=top), SimpleNamespace(name="p1", height=top)]
    asked: list[tuple[str, int, int]] = []
    in_flight, most = 0, 0

    async def fetch(self: CatchUp, peer: Any, heights: list[int]) -> dict[int, Any]:
        nonlocal in_flight, most
        asked.append((peer.name, heights[0], heights[-1]))
        in_flight += 1
        most = max(most, in_flight)
        try:
            await asyncio.sleep(0.01)
            found = {}
            for h in heights:
                if peer.name == "p1" and h == lacking:
                    continue
                commit = origin.store.get_commit(h)
                if peer.name == "p1" and h == forged_at:
                    commit = forged  # a real commit, of another block
                found[h] = (origin.store.get_block(h), commit)
            return found
        finally:
            in_flight -= 1

    monkeypatch.setattr(CatchUp, "_fetch", fetch)
    stream = CatchUp._stream

    async def from_the_top(self: CatchUp, height: int, ahead: list[Any]) -> int:
        self._asked = 0  # each pass's first request would go to p1 by turns: only the avoidance sends it to p2
        return await stream(self, height, ahead)

    monkeypatch.setattr(CatchUp, "_stream", from_the_top)
    catch_up = CatchUp(late, peers=SimpleNamespace(connected=lambda: peers), on_commit=lambda committed: None)  # type: ignore[arg-type]
    assert asyncio.run(catch_up.run())
    assert late.snapshot().height == top and late.snapshot().root == origin.snapshot().root
    assert 1 < most <= sync_module.AHEAD
    for bad in (forged_at, lacking):
        servers = [name for name, first, last in asked if first <= bad <= last]
        assert servers[-2:] == ["p1", "p2"], (bad, asked)  # p1 failed it; the next pass asked p2, not p1 again
    assert catch_up.progress() == {"catching_up": False, "height": top, "target": top,
                                   "blocks_per_s": round(catch_up.rate, 1), "eta_s": 0.0}
    assert catch_up.rate > 0
