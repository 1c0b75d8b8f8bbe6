"""The world state and its root: a persistent map of namespaced entries.

State is a map ``(namespace, key) -> JSON object``. Keeping every entry as plain canonical JSON
means one mechanism serves three needs: the state root hashes it, storage persists it as rows,
and RPC returns it, without per-type conversion code.

The state root commits to every entry. Entries fall into 4096 buckets by the hash of their full
key; a bucket's digest is SHA-256 of the canonical JSON of its sorted entries, and the root is a
binary Merkle tree over the bucket digests. A block touching ``k`` entries rehashes at most ``k``
small buckets and ``k`` paths of 12 nodes, instead of the whole state.

``State`` objects are immutable: ``apply_writes`` returns a new one sharing unchanged tables, so a
rejected block can simply be dropped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from chain.encoding import canonical_json

BUCKET_BITS = 12
BUCKETS = 1 << BUCKET_BITS
NAMESPACES: tuple[str, ...] = (
    "meta",        # chain: {height, time_ms}; params; supply; coordinators; proposal_seq; last_validators
    "account",     # address -> {balance, nonce}
    "validator",   # address -> {pubkey, name, commission_bps, power, self_bond, jailed, removed}
    "delegation",  # "delegator/validator" -> {amount, rewards}
    "pending",     # "release_height/tx_hash/index" -> {kind, owner, amount, ...}: unbonding and escrow withdrawals
    "miner",       # address -> {bond, slashed, jobs}
    "escrow",      # "client/coordinator" -> {balance}
    "job",         # "coordinator/job_id" -> {receipt_id, height, tx, miner, client, price, proof_hash}
    "proposal",    # id -> {proposer, title, action, start, end, status, tally}
    "vote",        # "proposal_id/voter" -> {option}
    "evidence",    # evidence id -> {height}: each offence is slashed once
)

Key = tuple[str, str]
Entry = dict[str, Any]
Writes = Mapping[Key, Entry | None]
"""Changes to apply: ``None`` deletes the entry."""

_EMPTY_BUCKET = hashlib.sha256(b"[]").digest()


def _bucket_of(full_key: str) -> int:
    digest = hashlib.sha256(full_key.encode("utf-8")).digest()
    return int.from_bytes(digest[:2], "big") >> (16 - BUCKET_BITS)


def _full_key(ns: str, key: str) -> str:
    return f"{ns}/{key}"


class State:
    """An immutable snapshot of all entries, plus the root that commits to them.

    ``last_block_hash`` is carried alongside but is not part of the committed entries: a block's
    header commits to the state *after* it, which cannot contain that block's own hash.
    """

    __slots__ = ("chain_id", "tables", "last_block_hash", "touched", "_bucket_keys", "_tree")

    def __init__(
        self,
        chain_id: str,
        tables: dict[str, dict[str, Entry]],
        last_block_hash: str,
        bucket_keys: list[frozenset[str]],
        tree: list[list[bytes]],
        touched: frozenset[Key] = frozenset(),
    ) -> None:
        self.chain_id = chain_id
        self.tables = tables
        self.last_block_hash = last_block_hash
        self.touched = touched
        self._bucket_keys = bucket_keys
        self._tree = tree

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def from_entries(cls, chain_id: str, entries: Iterable[tuple[str, str, Entry]], last_block_hash: str = "") -> "State":
        tables: dict[str, dict[str, Entry]] = {ns: {} for ns in NAMESPACES}
        members: list[set[str]] = [set() for _ in range(BUCKETS)]
        for ns, key, value in entries:
            if ns not in tables:
                raise ValueError(f"unknown state namespace {ns!r}")
            tables[ns][key] = value
            full = _full_key(ns, key)
            members[_bucket_of(full)].add(full)
        state = cls(chain_id, tables, last_block_hash, [frozenset(m) for m in members], [])
        leaves = [state._bucket_digest(i) for i in range(BUCKETS)]
        state._tree = _build_tree(leaves)
        return state

    # -- reading ------------------------------------------------------------------------------

    def get(self, ns: str, key: str) -> Entry | None:
        return self.tables[ns].get(key)

    def items(self, ns: str) -> Iterator[tuple[str, Entry]]:
        return iter(self.tables[ns].items())

    def entries(self) -> Iterator[tuple[str, str, Entry]]:
        for ns in NAMESPACES:
            for key, value in self.tables[ns].items():
                yield ns, key, value

    @property
    def root(self) -> str:
        return self._tree[-1][0].hex()

    @property
    def height(self) -> int:
        meta = self.tables["meta"].get("chain")
        return int(meta["height"]) if meta else 0

    @property
    def time_ms(self) -> int:
        meta = self.tables["meta"].get("chain")
        return int(meta["time_ms"]) if meta else 0

    # -- writing ------------------------------------------------------------------------------

    def apply_writes(self, writes: Writes, last_block_hash: str | None = None) -> "State":
        """A new state with ``writes`` applied; ``self`` is unchanged."""
        tables = dict(self.tables)
        copied: set[str] = set()
        bucket_keys = self._bucket_keys
        bucket_copied = False
        dirty_buckets: set[int] = set()
        for (ns, key), value in writes.items():
            if ns not in copied:
                tables[ns] = dict(tables[ns])
                copied.add(ns)
            table = tables[ns]
            existed = key in table
            if value is None:
                if not existed:
                    continue
                del table[key]
            else:
                table[key] = value
            full = _full_key(ns, key)
            bucket = _bucket_of(full)
            dirty_buckets.add(bucket)
            if existed != (value is not None):
                if not bucket_copied:
                    bucket_keys = list(bucket_keys)
                    bucket_copied = True
                members = set(bucket_keys[bucket])
                if value is None:
                    members.discard(full)
                else:
                    members.add(full)
                bucket_keys[bucket] = frozenset(members)
        new = State(
            self.chain_id,
            tables,
            self.last_block_hash if last_block_hash is None else last_block_hash,
            bucket_keys,
            [],
            frozenset(writes.keys()),
        )
        new._tree = _update_tree(self._tree, {b: new._bucket_digest(b) for b in dirty_buckets})
        return new

    def with_block_hash(self, block_hash: str) -> "State":
        return State(self.chain_id, self.tables, block_hash, self._bucket_keys, self._tree, self.touched)

    # -- hashing ------------------------------------------------------------------------------

    def _bucket_digest(self, bucket: int) -> bytes:
        keys = self._bucket_keys[bucket]
        if not keys:
            return _EMPTY_BUCKET
        rows = []
        for full in sorted(keys):
            ns, _, key = full.partition("/")
            rows.append([full, self.tables[ns][key]])
        return hashlib.sha256(canonical_json(rows)).digest()


def _build_tree(leaves: list[bytes]) -> list[list[bytes]]:
    levels = [leaves]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append([hashlib.sha256(below[i] + below[i + 1]).digest() for i in range(0, len(below), 2)])
    return levels


def _update_tree(tree: list[list[bytes]], changed: dict[int, bytes]) -> list[list[bytes]]:
    """Copy-on-write update of the Merkle tree: only the paths above ``changed`` leaves."""
    levels = [list(tree[0])]
    for index, digest in changed.items():
        levels[0][index] = digest
    dirty = set(changed)
    for depth in range(1, len(tree)):
        below = levels[depth - 1]
        level = list(tree[depth])
        parents = {i >> 1 for i in dirty}
        for parent in parents:
            level[parent] = hashlib.sha256(below[2 * parent] + below[2 * parent + 1]).digest()
        levels.append(level)
        dirty = parents
    return levels
