"""Double signing: the validator's sign guard (one signature per height, round and step, across
restarts), and evidence of another validator's double signing reported in a block."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from chain import crypto
from chain.consensus import ProposalBody, Timeouts
from chain.tx import Transaction
from chain.vote import VoteBody, sign_vote
from daemons.node.bft import BftDriver
from daemons.node.core import NodeCore
from daemons.node.identity import NodeIdentity
from daemons.node.init import make_genesis
from daemons.node.peers import PeerSet
from daemons.node.signguard import DoubleSignRefused, SignGuard
from nodekit import accounts
from storage.chain_store import ChainStore
from storage.database import open_database
from storage.mempool_store import MempoolStore


def test_one_signature_per_step_survives_a_restart(tmp_path: Path) -> None:
    key = accounts(1, "aitbc-signguard")[0]
    path = tmp_path / "sign_state.json"
    signed: list[bytes] = []

    def sign(message: bytes) -> bytes:
        signed.append(message)
        return crypto.sign(key.seed, message)

    def vote(height: int, round_: int, kind: str, block: str | None) -> bytes:
        return VoteBody(chain_id="aitbc-dev", height=height, round=round_, type=kind, block_hash=block,
                        validator=key.address).signing_bytes()

    guard = SignGuard(path, sign)
    first = guard.sign(vote(5, 0, "prevote", "ab" * 32))
    assert guard.sign(vote(5, 0, "prevote", "ab" * 32)) == first and len(signed) == 1  # a rebroadcast
    with pytest.raises(DoubleSignRefused, match="other bytes"):
        guard.sign(vote(5, 0, "prevote", None))

    # Killed and restarted: the file remembers; the same height starts again from round 0.
    again = SignGuard(path, sign)
    proposal = ProposalBody(chain_id="aitbc-dev", height=5, round=0, block_hash="cd" * 32, valid_round=-1,
                            proposer=key.address).signing_bytes()
    with pytest.raises(DoubleSignRefused, match="earlier"):
        again.sign(proposal)
    with pytest.raises(DoubleSignRefused):
        again.sign(vote(5, 0, "prevote", "cd" * 32))
    assert again.sign(vote(5, 0, "precommit", None))  # a later step of the same round
    assert again.sign(vote(5, 1, "prevote", "cd" * 32)) and again.sign(vote(6, 0, "prevote", None))
    with pytest.raises(DoubleSignRefused, match="not a consensus message"):
        again.sign(b'{"domain": "aitbc/tx/v1", "height": 9, "round": 0}')
    assert len(signed) == 4


def test_double_signing_seen_by_a_validator_goes_into_a_slash_transaction(tmp_path: Path) -> None:
    """Two prevotes of one validator for one height and round, for different blocks: the node
    that sees both puts the evidence in its mempool as a ``slash`` it signs, which the next
    block includes (admission runs the block's own rules on it)."""
    keys = accounts(4, "aitbc-signguard-evidence")
    me, cheat = keys[0], keys[1]
    genesis = make_genesis("aitbc-dev", [(k.address, k.pubkey.hex()) for k in keys])
    db = open_database(None, tmp_path / "node.db")
    core = NodeCore(genesis, ChainStore(db), MempoolStore(db), me.seed)
    relayed: list[Transaction] = []

    async def run() -> None:
        peers = PeerSet(NodeIdentity(me.seed), chain_id=genesis.chain_id, genesis_hash=genesis.hash, seeds=[],
                        listen_url="", max_peers=4, book_file=None, height=lambda: core.snapshot().height)
        driver = BftDriver(core, peers, sign=core.sign_message, timeouts=Timeouts(propose_ms=60_000),
                           block_time_s=1.0, on_commit=lambda committed: None)
        driver.on_own_tx = relayed.append
        await driver._start_height()
        for block_hash in (None, "ab" * 32):
            body = VoteBody(chain_id=genesis.chain_id, height=1, round=0, type="prevote", block_hash=block_hash,
                            validator=cheat.address)
            await driver.receive({"kind": "vote", "vote": sign_vote(body, cheat.seed).model_dump()})
        for _ in range(100):
            if relayed:
                break
            await asyncio.sleep(0.05)
        await driver.stop()
        await peers.stop()

    asyncio.run(run())
    assert len(relayed) == 1 and relayed[0].type == "slash" and relayed[0].sender == me.address
    assert relayed[0].hash in core.mempool
    assert relayed[0].payload["evidence"]["vote_a"]["body"]["validator"] == cheat.address
    db.close()
