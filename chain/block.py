"""Blocks, headers, commits, and the Merkle root of transactions.

A block's hash is SHA-256 of its canonical header. The header commits to the transactions
(``tx_root``), to the state after them (``state_root``), to the validator set that votes on it
(``validators_hash``) and to the commit that finalized the previous block (``last_commit_hash``).
Because the hash covers only the header, a body travelling with it proves nothing until
``check_body`` has matched it against those commitments.
"""

from __future__ import annotations

import hashlib
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from chain import crypto
from chain.encoding import canonical_json, hash_value
from chain.errors import InvalidBlock
from chain.tx import Transaction
from chain.types import Address, ChainId, Hash, Height, Signature
from chain.vote import VoteBody

GENESIS_PREV_HASH = "0" * 64
_STRICT = ConfigDict(frozen=True, extra="forbid", strict=True)


def merkle_root(leaves_hex: list[str]) -> str:
    """RFC 6962-style Merkle root: leaves prefixed 0x00, inner nodes 0x01 (no second-preimage
    confusion between a leaf and a node); an odd node is promoted unchanged."""
    if not leaves_hex:
        return hashlib.sha256(b"").hexdigest()
    level = [hashlib.sha256(b"\x00" + bytes.fromhex(h)).digest() for h in leaves_hex]
    while len(level) > 1:
        nxt = [hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0].hex()


def merkle_proof(leaves_hex: list[str], index: int) -> list[tuple[str, str]]:
    """Audit path for leaf ``index``: a list of (side, sibling hex), side 'L' or 'R'."""
    level = [hashlib.sha256(b"\x00" + bytes.fromhex(h)).digest() for h in leaves_hex]
    path: list[tuple[str, str]] = []
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(("L" if sibling < index else "R", level[sibling].hex()))
        nxt = [hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
        index //= 2
    return path


def verify_merkle_proof(leaf_hex: str, path: list[tuple[str, str]] | list[list[str]], root_hex: str) -> bool:
    node = hashlib.sha256(b"\x00" + bytes.fromhex(leaf_hex)).digest()
    for side, sibling_hex in path:
        sibling = bytes.fromhex(sibling_hex)
        node = hashlib.sha256(b"\x01" + (sibling + node if side == "L" else node + sibling)).digest()
    return node.hex() == root_hex


class Header(BaseModel):
    model_config = _STRICT

    chain_id: ChainId
    height: Height
    round: StrictInt = Field(ge=0, le=10_000)
    time_ms: Height
    prev_hash: Hash
    proposer: Address
    tx_root: Hash
    state_root: Hash
    validators_hash: Hash
    last_commit_hash: Hash

    @cached_property
    def hash(self) -> str:
        return hash_value(self.model_dump())


class CommitSig(BaseModel):
    model_config = _STRICT
    validator: Address
    signature: Signature


class Commit(BaseModel):
    """Precommit signatures of more than 2/3 of voting power for one block."""

    model_config = _STRICT

    height: Height
    round: StrictInt = Field(ge=0, le=10_000)
    block_hash: Hash
    signatures: list[CommitSig]

    def vote_body(self, chain_id: str, validator: str) -> VoteBody:
        return VoteBody(chain_id=chain_id, height=self.height, round=self.round, type="precommit",
                        block_hash=self.block_hash, validator=validator)

    @property
    def hash(self) -> str:
        return hash_value(self.model_dump())


EMPTY_COMMIT_HASH = hashlib.sha256(b"").hexdigest()


class Block(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    header: Header
    txs: list[Transaction]
    last_commit: Commit | None

    @property
    def hash(self) -> str:
        return self.header.hash

    @property
    def height(self) -> int:
        return self.header.height

    def to_dict(self) -> dict[str, Any]:
        return {
            "header": self.header.model_dump(),
            "txs": [tx.to_dict() for tx in self.txs],
            "last_commit": self.last_commit.model_dump() if self.last_commit else None,
        }

    def encoded(self) -> bytes:
        """``canonical_json(self.to_dict())``, assembled from each transaction's own encoding
        (made once, for its hash) instead of encoding them all again: the keys of a block,
        sorted, are ``header``, ``last_commit``, ``txs``, and a canonical object is its members'
        canonical encodings in that order."""
        commit = self.last_commit.model_dump() if self.last_commit else None
        return b"".join((b'{"header":', canonical_json(self.header.model_dump()), b',"last_commit":',
                         canonical_json(commit), b',"txs":[', b",".join(tx.encoded for tx in self.txs), b"]}"))


def check_body(block: Block, *, max_txs: int | None = None) -> None:
    """Raise ``InvalidBlock`` unless ``block`` carries the body its header commits to.

    The hash names the header only, so anyone relaying a genuinely signed proposal can attach
    another transaction list to it. ``tx_root`` covers every transaction's full hash (signature
    included) and ``last_commit_hash`` the carried commit, so a body that passes is the one body
    of that hash: a verdict on it is a verdict on the block the hash names, and may be kept by
    hash. ``max_txs`` refuses an oversized body before any hashing is spent on it.
    """
    if max_txs is not None and len(block.txs) > max_txs:
        raise InvalidBlock(f"block has {len(block.txs)} transactions, the limit is {max_txs}")
    if block.header.tx_root != merkle_root([tx.hash for tx in block.txs]):
        raise InvalidBlock("tx_root does not match the block's transactions")
    carried = block.last_commit.hash if block.last_commit is not None else EMPTY_COMMIT_HASH
    if block.header.last_commit_hash != carried:
        raise InvalidBlock("last_commit_hash does not match the carried commit")


def body_matches_header(block: Block, *, max_txs: int | None = None) -> bool:
    """``check_body`` as a yes/no, for code that drops a mismatching body without a report."""
    try:
        check_body(block, max_txs=max_txs)
    except InvalidBlock:
        return False
    return True


def commit_signature_valid(commit: Commit, chain_id: str, validator: str, pubkey_hex: str, signature_hex: str) -> bool:
    body = commit.vote_body(chain_id, validator)
    return crypto.verify(bytes.fromhex(pubkey_hex), body.signing_bytes(), bytes.fromhex(signature_hex))
