"""Mempool admission of broadcast transactions: in arrival order, in groups.

Every ``broadcast_tx`` (a single request, or each element of a JSON-RPC batch) queues its raw
transaction here and waits for its own verdict. One flusher task at a time takes everything
queued so far: worker threads parse it and check the signatures (in parallel, in slices), then
one ``NodeCore.admit_checked`` call admits the survivors in arrival order.

Why not one worker-thread call per request: the threads race for the core's lock, so two
transactions of one sender sent in one batch (nonce n, then n + 1) could be tried in the wrong
order and the second refused as a nonce gap. Queueing in arrival order makes admission follow
request order exactly. Grouping is also what makes admission cheap under load: one lock
acquisition and one database transaction (the persistent mempool's write) per group instead of
per transaction, while every caller is still answered only after its transaction is persisted.

Copies are recognised before they are parsed. With several validators every transaction comes
back to each node once per peer that relays it, and parsing, hashing and signature-checking each
copy again was a large share of what a node spends per transaction. A copy is found by its
``signature`` field and confirmed by comparing the whole object with the transaction already
known (a microsecond or two, against tens of microseconds for parsing and hashing): a copy of a
transaction the mempool holds is refused as the mempool would refuse it (``Mempool.copy_of``),
and a copy of an earlier request in the same group shares that request's parse and signature
check and is then admitted in its own place, so the verdicts are those of checking every copy
in full.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from chain.errors import ChainError, InvalidTransaction
from chain.tx import Transaction, parse_transaction
from daemons.node.core import NodeCore
from daemons.node.mempool import already_pending

MAX_GROUP = 2000
"""Most transactions admitted in one worker-thread call: bounds how long one group holds the
core's lock (block production waits for it)."""
VERIFY_THREADS = max(1, min(4, os.cpu_count() or 1))
"""Threads checking one group's signatures at once (the loop's default executor runs them)."""
MIN_PART = 32
"""Fewest transactions worth a thread of their own."""

Raw = dict[str, Any] | str
Verdict = Transaction | ChainError


def slices(count: int, threads: int = VERIFY_THREADS) -> list[tuple[int, int]]:
    """(start, end) of up to ``threads`` even slices of ``count`` items, none under ``MIN_PART``
    (one slice for a few): the parts signature checks run in at once."""
    parts = max(1, min(threads, count // MIN_PART))
    bounds = [count * i // parts for i in range(parts + 1)]
    return list(zip(bounds, bounds[1:]))


async def precheck_in_threads(core: NodeCore, txs: list[Transaction]) -> list[ChainError | None]:
    """``core.precheck`` of ``txs`` on several threads at once (the signature check's big-number
    arithmetic runs outside the GIL: about 1.9x on two cores); the refusals in order."""
    checked = await asyncio.gather(*(asyncio.to_thread(core.precheck, txs[lo:hi]) for lo, hi in slices(len(txs))))
    return [refusal for part in checked for refusal in part]


def parse_raw(raw: Raw) -> Transaction:
    """A transaction from its object form or its JSON text; ``InvalidTransaction`` otherwise."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except (json.JSONDecodeError, RecursionError) as exc:
            message = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
            raise InvalidTransaction(f"tx is not valid JSON: {message}") from None
        if not isinstance(raw, dict):
            raise InvalidTransaction("tx must be a JSON object")
    return parse_transaction(raw)


class Admission:
    """Ordered, grouped admission into one node's mempool. Use from the event loop only."""

    def __init__(self, core: NodeCore, max_group: int = MAX_GROUP, verify_threads: int = VERIFY_THREADS) -> None:
        self.core = core
        self.max_group = max_group
        self.verify_threads = verify_threads
        self._queue: list[tuple[Raw, asyncio.Future[Verdict]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def admit(self, raw: Raw) -> Transaction:
        """Admit one transaction; returns it (parsed) once it is persisted, or raises the
        ``ChainError`` that refused it."""
        verdict = await self.enqueue(raw)
        if isinstance(verdict, ChainError):
            raise verdict
        return verdict

    def enqueue(self, raw: Raw) -> asyncio.Future[Verdict]:
        """Queue one transaction behind everything queued so far; its verdict comes in the
        future returned (a relay's sender does not wait for it)."""
        future: asyncio.Future[Verdict] = asyncio.get_running_loop().create_future()
        self._queue.append((raw, future))
        if self._flusher is None or self._flusher.done():
            # A task of its own, not the caller's coroutine: a caller that disconnects (and is
            # cancelled) must not strand the verdicts of everyone queued behind it.
            self._flusher = asyncio.create_task(self._flush(), name="mempool-admission")
        return future

    @property
    def queued(self) -> int:
        """Transactions waiting for their group."""
        return len(self._queue)

    async def _flush(self) -> None:
        while self._queue:
            group = self._queue[:self.max_group]
            del self._queue[:self.max_group]
            try:
                verdicts = await self._admit_group([raw for raw, _ in group])
            except BaseException as exc:  # storage failure: every caller of this group learns it
                for _, future in group:
                    if not future.done():
                        future.set_exception(exc if isinstance(exc, Exception) else RuntimeError(str(exc)))
                if not isinstance(exc, Exception):
                    raise
                continue
            for (_, future), verdict in zip(group, verdicts):
                if not future.done():
                    future.set_result(verdict)

    async def _admit_group(self, raws: list[Raw]) -> list[Verdict]:
        """Parse and check signatures on several threads at once, then admit the survivors in
        the group's order with one ``admit_checked`` (one lock, one persistent write). Copies
        are settled first (see the module's doc): they are neither parsed nor checked again."""
        verdicts: list[Verdict | None] = [None] * len(raws)
        first: dict[str, int] = {}
        copies: list[tuple[int, int]] = []
        fresh: list[int] = []
        for index, raw in enumerate(raws):
            pending = self.core.mempool.copy_of(raw)
            if pending is not None:
                verdicts[index] = already_pending(pending.hash)
                continue
            key = raw.get("signature") if isinstance(raw, dict) else None
            if isinstance(key, str):
                earlier = first.setdefault(key, index)
                if earlier != index and raws[earlier] == raw:
                    copies.append((index, earlier))
                    continue
            fresh.append(index)
        if fresh:
            checked = await asyncio.gather(*(asyncio.to_thread(self._precheck, [raws[i] for i in fresh[lo:hi]])
                                             for lo, hi in slices(len(fresh), self.verify_threads)))
            for index, verdict in zip(fresh, (verdict for part in checked for verdict in part)):
                verdicts[index] = verdict
        for index, earlier in copies:
            verdicts[index] = verdicts[earlier]
        passed = [(index, v) for index, v in enumerate(verdicts) if isinstance(v, Transaction)]
        if passed:
            outcomes = await asyncio.to_thread(self.core.admit_checked, [tx for _, tx in passed])
            for (index, _), outcome in zip(passed, outcomes):
                if outcome is not None:
                    verdicts[index] = outcome
        settled = [verdict for verdict in verdicts if verdict is not None]
        assert len(settled) == len(raws), "every request of the group has its verdict"
        return settled

    def _precheck(self, raws: list[Raw]) -> list[Verdict]:
        """Worker thread: parse each transaction, then its stateless rules and signature."""
        verdicts: list[Verdict] = []
        for raw in raws:
            try:
                verdicts.append(parse_raw(raw))
            except ChainError as exc:
                verdicts.append(exc)
        parsed = [(index, v) for index, v in enumerate(verdicts) if isinstance(v, Transaction)]
        if parsed:
            for (index, _), refusal in zip(parsed, self.core.precheck([tx for _, tx in parsed])):
                if refusal is not None:
                    verdicts[index] = refusal
        return verdicts
