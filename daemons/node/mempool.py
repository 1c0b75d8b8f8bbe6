"""The node's mempool: admission rules, fee/nonce ordering, persistence hooks.

Admission runs every rule a block would (``chain.execution.apply_tx``) against the committed
state plus every transaction already admitted (a pending ``Ledger``), so an admitted
transaction is one the next block can include. A transaction is acknowledged only after it is
persisted: after a crash, every acknowledged transaction is in a block or back in the mempool.

A full mempool is a market, not a wall: a transaction paying a higher fee than the cheapest one
pending displaces it (the cheapest among each sender's *last* pending transaction, so no sender
is left with a nonce gap). Without that, a flood of minimum-fee transactions would lock every
honest user out until blocks drained it.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from chain.errors import BadNonce, ChainError, TxRejected
from chain.execution import BlockContext, apply_tx
from chain.ledger import Ledger
from chain.state import State
from chain.tx import Transaction, check_stateless


class MempoolFull(TxRejected):
    code = -32037


class DuplicateTx(TxRejected):
    code = -32038


def already_pending(tx_hash: str) -> DuplicateTx:
    """The refusal of a transaction the mempool holds already (also given by admission to a
    copy it recognises before parsing it)."""
    return DuplicateTx(f"transaction {tx_hash} is already in the mempool")


class MempoolPersistence(Protocol):
    def add(self, tx: Transaction) -> None: ...
    def add_many(self, txs: list[Transaction]) -> None: ...
    def remove(self, hashes: Iterable[str]) -> None: ...
    def all(self) -> list[Transaction]: ...


@dataclass(order=True)
class _Entry:
    order: int
    tx: Transaction = field(compare=False)


class Mempool:
    """Pending transactions of one node. Not thread-safe: the node serializes access."""

    def __init__(self, state: State, persistence: MempoolPersistence, max_txs: int = 50_000) -> None:
        self._persistence = persistence
        self._max_txs = max_txs
        self._by_hash: dict[str, _Entry] = {}
        self._by_signature: dict[str, Transaction] = {}
        """The same transactions by their signature field: how a copy arriving as JSON (relayed
        back by a peer, or inside a proposed block) is recognised before it is parsed."""
        self._by_sender: dict[str, dict[int, _Entry]] = {}
        self._seq = itertools.count()
        self._state = state
        self._pending = Ledger(state)
        self.on_displaced: Callable[[Transaction, ChainError], None] | None = None
        """Told of each pending transaction a higher-fee one pushed out (or that no longer
        applied once it was gone), so the node can answer whoever waits for it."""

    # -- admission ------------------------------------------------------------------------------

    def check(self, tx: Transaction, *, signature_checked: bool = False, pending: Ledger | None = None) -> None:
        """Raise the reason ``tx`` would be refused, without admitting it."""
        pending = pending if pending is not None else self._pending
        if tx.hash in self._by_hash:
            raise already_pending(tx.hash)
        queued = self._by_sender.get(tx.sender, {})
        if tx.nonce in queued:
            raise DuplicateTx(f"{tx.sender} already has a pending transaction with nonce {tx.nonce}; replacement is not allowed")
        if len(self._by_hash) >= self._max_txs:
            victim = self._cheapest_tail()
            floor = f"; a fee above {victim.tx.fee} displaces the cheapest pending one" if victim else ""
            raise MempoolFull(f"mempool is full ({self._max_txs} transactions){floor}")
        check_stateless(tx, self._state.chain_id, pending.params, check_signature=not signature_checked)
        expected = pending.account(tx.sender)["nonce"]
        if tx.nonce > expected:
            raise BadNonce(f"nonce gap: {tx.sender} must use nonce {expected} next, got {tx.nonce}")
        if tx.nonce < expected:
            raise BadNonce(f"nonce {tx.nonce} of {tx.sender} was already used; next is {expected}")

    def admit(self, txs: list[Transaction], *, signatures_checked: bool = False) -> list[ChainError | None]:
        """Admit each transaction or give its reason; persist the admitted ones in one write.

        Returns, per transaction, ``None`` if admitted or the error that refused it. When the
        group does not fit, transactions go one at a time, each free to displace a cheaper one.
        """
        if len(self._by_hash) + len(txs) <= self._max_txs:
            return self._admit_group(txs, signatures_checked)
        results: list[ChainError | None] = []
        for tx in txs:
            if len(self._by_hash) >= self._max_txs:
                self._make_room(tx, signatures_checked)
            results.extend(self._admit_group([tx], signatures_checked))
        return results

    def _cheapest_tail(self) -> _Entry | None:
        """The pending transaction to displace first: the lowest fee among each sender's last
        nonce (dropping a sender's last never strands a later one), the newest among equals."""
        tails = [queue[max(queue)] for queue in self._by_sender.values() if queue]
        return min(tails, key=lambda e: (e.tx.fee, -e.order), default=None)

    def _make_room(self, tx: Transaction, signatures_checked: bool) -> None:
        """Displace the cheapest pending transaction for ``tx`` if ``tx`` pays more and would
        be admitted itself; otherwise leave everything as it is (``tx`` is then refused as full)."""
        victim = self._cheapest_tail()
        if victim is None or tx.fee <= victim.tx.fee or victim.tx.sender == tx.sender or tx.hash in self._by_hash:
            return
        try:
            limit, self._max_txs = self._max_txs, self._max_txs + 1
            try:
                self.check(tx, signature_checked=signatures_checked)
            finally:
                self._max_txs = limit
            apply_tx(self._pending.child(), tx, self._context(), verified=True)
        except ChainError:
            return
        self._unindex(victim.tx.hash)
        self._persistence.remove([victim.tx.hash])
        displaced = [(victim.tx, MempoolFull(f"displaced from the full mempool by {tx.hash}, which pays a higher fee"))]
        displaced += self.on_commit(self._state, ())
        if self.on_displaced is not None:
            for gone, reason in displaced:
                self.on_displaced(gone, reason)

    def _admit_group(self, txs: list[Transaction], signatures_checked: bool) -> list[ChainError | None]:
        results: list[ChainError | None] = []
        admitted: list[Transaction] = []
        scratch = self._pending.child()
        ctx = self._context()
        for tx in txs:
            try:
                self.check(tx, signature_checked=signatures_checked, pending=scratch)
                step = scratch.child()
                apply_tx(step, tx, ctx, verified=True)
                scratch.absorb(step)
            except ChainError as exc:
                results.append(exc)
                continue
            admitted.append(tx)
            self._index(tx)
            results.append(None)
        if admitted:
            try:
                self._persistence.add_many(admitted)
            except Exception:
                for tx in admitted:
                    self._unindex(tx.hash)
                raise
            self._pending.absorb(scratch)
        return results

    def _context(self) -> BlockContext:
        return BlockContext(self._state.chain_id, self._state.height + 1, self._state.time_ms + 1, "")

    def _index(self, tx: Transaction) -> None:
        entry = _Entry(next(self._seq), tx)
        self._by_hash[tx.hash] = entry
        self._by_signature[tx.signature] = tx
        self._by_sender.setdefault(tx.sender, {})[tx.nonce] = entry

    def _unindex(self, tx_hash: str) -> None:
        entry = self._by_hash.pop(tx_hash, None)
        if entry is None:
            return
        if self._by_signature.get(entry.tx.signature) is entry.tx:
            del self._by_signature[entry.tx.signature]
        queued = self._by_sender.get(entry.tx.sender)
        if queued is not None:
            queued.pop(entry.tx.nonce, None)
            if not queued:
                del self._by_sender[entry.tx.sender]

    # -- block building --------------------------------------------------------------------------

    def candidates(self) -> Iterator[Transaction]:
        """Transactions for the next block: highest fee first across senders, each sender's in
        nonce order (a sender's later nonce can never precede its earlier one)."""
        queues = {sender: sorted(q.values(), key=lambda e: e.tx.nonce) for sender, q in self._by_sender.items()}
        heap = [(-q[0].tx.fee, q[0].order, sender, 0) for sender, q in queues.items() if q]
        heapq.heapify(heap)
        while heap:
            _, _, sender, index = heapq.heappop(heap)
            queue = queues[sender]
            yield queue[index].tx
            if index + 1 < len(queue):
                nxt = queue[index + 1]
                heapq.heappush(heap, (-nxt.tx.fee, nxt.order, sender, index + 1))

    def on_commit(self, state: State, included: Iterable[str]) -> list[tuple[Transaction, ChainError]]:
        """Drop included transactions and re-check the rest against the new state.

        Transactions that no longer apply (their sender spent the funds in another way) are
        evicted and returned with the reason.

        The rest are re-checked in admission order, the order in which each was found valid
        on top of all earlier ones: a transfer funded by another sender's pending transfer
        stays valid, where any other order (by sender, say) could evict a transaction this
        node had acknowledged. The indexes are rebuilt aside and swapped in whole, so that a
        reader in another thread (RPC's ``get_tx``) never sees a half-rebuilt mempool.
        """
        gone = set(included)
        self._state = state
        pending = Ledger(state)
        by_hash: dict[str, _Entry] = {}
        by_sender: dict[str, dict[int, _Entry]] = {}
        by_signature: dict[str, Transaction] = {}
        evicted: list[tuple[Transaction, ChainError]] = []
        ctx = self._context()
        for entry in sorted(self._by_hash.values()):
            tx = entry.tx
            if tx.hash in gone:
                continue
            try:
                apply_tx(pending, tx, ctx, verified=True)
            except ChainError as exc:
                evicted.append((tx, exc))
                continue
            by_hash[tx.hash] = entry
            by_sender.setdefault(tx.sender, {})[tx.nonce] = entry
            by_signature[tx.signature] = tx
        self._by_hash, self._by_sender, self._by_signature, self._pending = by_hash, by_sender, by_signature, pending
        if evicted:
            self._persistence.remove([tx.hash for tx, _ in evicted])
        return evicted

    def restore(self, txs: Iterable[Transaction]) -> list[tuple[Transaction, ChainError]]:
        """Reload persisted transactions after a restart (signatures were checked at admission)."""
        for tx in txs:
            self._index(tx)
        return self.on_commit(self._state, ())

    # -- queries -----------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._by_hash)

    def __contains__(self, tx_hash: object) -> bool:
        return tx_hash in self._by_hash

    def get(self, tx_hash: str) -> Transaction | None:
        entry = self._by_hash.get(tx_hash)
        return entry.tx if entry else None

    def copy_of(self, raw: object) -> Transaction | None:
        """The pending transaction ``raw`` (a transaction's object form, as parsed from JSON) is a
        copy of, if any: found by its signature and confirmed by comparing every field, so the
        answer is exactly "this very transaction is pending", for the cost of a dict look-up and
        a comparison instead of parsing and hashing it. Safe without the node's lock (the
        indexes are swapped in whole)."""
        signature = raw.get("signature") if isinstance(raw, dict) else None
        known = self._by_signature.get(signature) if isinstance(signature, str) else None
        return known if known is not None and known.to_dict() == raw else None

    def hashes(self) -> set[str]:
        return set(self._by_hash)

    def pending_nonce(self, address: str) -> int:
        """The nonce a new transaction from ``address`` must carry."""
        return int(self._pending.account(address)["nonce"])

    def transactions(self, limit: int = 100) -> list[Transaction]:
        return [e.tx for e in sorted(self._by_hash.values())[:limit]]
