"""The validator's sign guard: one signature per height, round and step, across restarts."""

from __future__ import annotations

from pathlib import Path

import pytest

from chain import crypto
from chain.consensus import ProposalBody
from chain.vote import VoteBody
from daemons.node.signguard import DoubleSignRefused, SignGuard
from nodekit import accounts


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
