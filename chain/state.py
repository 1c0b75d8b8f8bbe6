"""The world state and its root: a persistent map of namespaced entries.

State is a map ``(namespace, key) -> JSON object``. Keeping every entry as plain canonical JSON
means one mechanism serves three needs: the state root hashes it, storage persists it as rows,
and RPC returns it, without per-type conversion code.

The state root commits to every entry. Entries fall into 4096 buckets by the hash of their full
key; each entry has a digest (SHA-256 of the canonical JSON of ``[full_key, value]``), a
bucket's digest is SHA-256 of its entries' digests in key order, and the root is a binary Merkle
tree over the bucket digests.

A block's cost must not grow with the state (issue 22), so nothing here is copied or hashed
whole: entries are kept per namespace *and* per bucket, and a block touching ``k`` entries
copies at most ``k`` small bucket tables, encodes only the ``k`` changed entries, and rehashes
``k`` short lists of digests and ``k`` paths of 12 nodes.

``State`` objects are immutable: ``apply_writes`` returns a new one sharing unchanged buckets,
so a rejected block can simply be dropped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from chain.encoding import canonical_json

BUCKET_BITS = 12
BUCKETS = 1 << BUCKET_BITS
NAMESPACES: tuple[str, ...] = (
    "meta",        # chain: {height, time_ms}; params; supply; coordinators; proposal_seq; last_validators;
                   # upgrade: the scheduled software upgrade (chain.governance)
    "account",     # address -> {balance, nonce}
    "validator",   # address -> {pubkey, name, commission_bps, power, shares, self_bond, reward_index,
                   #             outstanding, jailed, jailed_until, tombstoned, removed} (chain.staking)
    "delegation",  # "delegator/validator" -> {shares, rewards, index}: a share of the validator's pool
    "pending",     # "release_height/tx_hash/index" -> {kind, owner, amount, start, release, ...}: unbonding
                   # and escrow withdrawals (chain.payouts)
    "miner",       # address -> {bond, slashed, jobs}
    "escrow",      # "client/coordinator" -> {balance}
    "job",         # "coordinator/job_id" -> {receipt_id, height, tx, miner, client, price, proof_hash}
    "proposal",    # id -> {proposer, title, action, deposit_end, total_deposit, start, end, status, tally}
    "vote",        # "proposal_id/voter" -> {option}
    "evidence",    # evidence id -> {height}: each offence is slashed once
    "index",       # secondary indexes that keep per-block work flat (chain.indexes)
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


def _entry_digest(full_key: str, value: Entry) -> bytes:
    return hashlib.sha256(canonical_json([full_key, value])).digest()


Shards = list[dict[str, Entry]]
"""One namespace's entries, split by bucket (``BUCKETS`` dicts of key -> value)."""


class State:
    """An immutable snapshot of all entries, plus the root that commits to them.

    ``last_block_hash`` is carried alongside but is not part of the committed entries: a block's
    header commits to the state *after* it, which cannot contain that block's own hash.
    """

    __slots__ = ("chain_id", "_tables", "last_block_hash", "touched", "_leaves", "_tree", "_filled")

    def __init__(
        self,
        chain_id: str,
        tables: dict[str, Shards],
        last_block_hash: str,
        leaves: list[dict[str, bytes]],
        tree: list[list[bytes]],
        touched: frozenset[Key] = frozenset(),
        filled: dict[str, tuple[int, ...]] | None = None,
    ) -> None:
        self.chain_id = chain_id
        self._tables = tables
        self.last_block_hash = last_block_hash
        self.touched = touched
        self._leaves = leaves
        self._tree = tree
        self._filled = filled if filled is not None else {
            ns: tuple(i for i, shard in enumerate(shards) if shard) for ns, shards in tables.items()}
        """Per namespace, the buckets holding entries, in bucket order: a scan of a small
        namespace (the validators, read several times per block) visits those alone instead of
        all ``BUCKETS`` shards."""

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def from_entries(cls, chain_id: str, entries: Iterable[tuple[str, str, Entry]], last_block_hash: str = "") -> "State":
        tables: dict[str, Shards] = {ns: [{} for _ in range(BUCKETS)] for ns in NAMESPACES}
        leaves: list[dict[str, bytes]] = [{} for _ in range(BUCKETS)]
        for ns, key, value in entries:
            if ns not in tables:
                raise ValueError(f"unknown state namespace {ns!r}")
            full = _full_key(ns, key)
            bucket = _bucket_of(full)
            tables[ns][bucket][key] = value
            leaves[bucket][full] = _entry_digest(full, value)
        state = cls(chain_id, tables, last_block_hash, leaves, [])
        state._tree = _build_tree([state._bucket_digest(i) for i in range(BUCKETS)])
        return state

    # -- reading ------------------------------------------------------------------------------

    def get(self, ns: str, key: str) -> Entry | None:
        return self._tables[ns][_bucket_of(_full_key(ns, key))].get(key)

    def items(self, ns: str) -> Iterator[tuple[str, Entry]]:
        """Every entry of a namespace (in no particular order: sort where order matters)."""
        shards = self._tables[ns]
        for bucket in self._filled[ns]:
            yield from shards[bucket].items()

    def entries(self) -> Iterator[tuple[str, str, Entry]]:
        for ns in NAMESPACES:
            for key, value in self.items(ns):
                yield ns, key, value

    @property
    def root(self) -> str:
        return self._tree[-1][0].hex()

    @property
    def height(self) -> int:
        meta = self.get("meta", "chain")
        return int(meta["height"]) if meta else 0

    @property
    def time_ms(self) -> int:
        meta = self.get("meta", "chain")
        return int(meta["time_ms"]) if meta else 0

    # -- writing ------------------------------------------------------------------------------

    def apply_writes(self, writes: Writes, last_block_hash: str | None = None) -> "State":
        """A new state with ``writes`` applied; ``self`` is unchanged (copy-on-write per bucket)."""
        tables = dict(self._tables)
        leaves = list(self._leaves)
        copied: set[tuple[str, int]] = set()
        dirty: set[int] = set()
        for (ns, key), value in writes.items():
            full = _full_key(ns, key)
            bucket = _bucket_of(full)
            if (ns, bucket) not in copied:
                if tables[ns] is self._tables[ns]:
                    tables[ns] = list(tables[ns])
                tables[ns][bucket] = dict(tables[ns][bucket])
                copied.add((ns, bucket))
            shard = tables[ns][bucket]
            existed = key in shard
            if value is None and not existed:
                continue
            if bucket not in dirty:
                leaves[bucket] = dict(leaves[bucket])
                dirty.add(bucket)
            if value is None:
                del shard[key]
                del leaves[bucket][full]
            else:
                shard[key] = value
                leaves[bucket][full] = _entry_digest(full, value)
        filled = dict(self._filled)
        changed: dict[str, set[int]] = {}
        for ns, bucket in copied:
            # Not ``setdefault``: its default, a set of all the namespace's buckets, is built per write.
            kept = changed.get(ns)
            if kept is None:
                kept = changed[ns] = set(filled[ns])
            (kept.add if tables[ns][bucket] else kept.discard)(bucket)
        filled.update((ns, tuple(sorted(kept))) for ns, kept in changed.items())
        new = State(
            self.chain_id,
            tables,
            self.last_block_hash if last_block_hash is None else last_block_hash,
            leaves,
            [],
            frozenset(writes.keys()),
            filled,
        )
        new._tree = _update_tree(self._tree, {b: new._bucket_digest(b) for b in dirty})
        return new

    def with_block_hash(self, block_hash: str) -> "State":
        return State(self.chain_id, self._tables, block_hash, self._leaves, self._tree, self.touched, self._filled)

    # -- hashing ------------------------------------------------------------------------------

    def _bucket_digest(self, bucket: int) -> bytes:
        leaves = self._leaves[bucket]
        if not leaves:
            return _EMPTY_BUCKET
        return hashlib.sha256(b"".join(leaves[full] for full in sorted(leaves))).digest()


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
