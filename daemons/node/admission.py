"""Mempool admission of broadcast transactions: in arrival order, in groups.

Every ``broadcast_tx`` (a single request, or each element of a JSON-RPC batch) queues its raw
transaction here and waits for its own verdict. One flusher task at a time takes everything
queued so far and admits it with a single ``NodeCore.submit`` call in a worker thread.

Why not one worker-thread call per request: the threads race for the core's lock, so two
transactions of one sender sent in one batch (nonce n, then n + 1) could be tried in the wrong
order and the second refused as a nonce gap. Queueing in arrival order makes admission follow
request order exactly. Grouping is also what makes admission cheap under load: one lock
acquisition and one database transaction (the persistent mempool's write) per group instead of
per transaction, while every caller is still answered only after its transaction is persisted.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from chain.errors import ChainError, InvalidTransaction
from chain.tx import Transaction, parse_transaction
from daemons.node.core import NodeCore

MAX_GROUP = 2000
"""Most transactions admitted in one worker-thread call: bounds how long one group holds the
core's lock (block production waits for it)."""

Raw = dict[str, Any] | str
Verdict = Transaction | ChainError


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

    def __init__(self, core: NodeCore, max_group: int = MAX_GROUP) -> None:
        self.core = core
        self.max_group = max_group
        self._queue: list[tuple[Raw, asyncio.Future[Verdict]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def admit(self, raw: Raw) -> Transaction:
        """Admit one transaction; returns it (parsed) once it is persisted, or raises the
        ``ChainError`` that refused it."""
        future: asyncio.Future[Verdict] = asyncio.get_running_loop().create_future()
        self._queue.append((raw, future))
        if self._flusher is None or self._flusher.done():
            # A task of its own, not the caller's coroutine: a caller that disconnects (and is
            # cancelled) must not strand the verdicts of everyone queued behind it.
            self._flusher = asyncio.create_task(self._flush(), name="mempool-admission")
        verdict = await future
        if isinstance(verdict, ChainError):
            raise verdict
        return verdict

    async def _flush(self) -> None:
        while self._queue:
            group = self._queue[:self.max_group]
            del self._queue[:self.max_group]
            try:
                verdicts = await asyncio.to_thread(self._admit_group, [raw for raw, _ in group])
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

    def _admit_group(self, raws: list[Raw]) -> list[Verdict]:
        """Worker thread: parse, then one ``submit`` (signatures, rules, one persistent write)."""
        verdicts: list[Verdict] = []
        parsed: list[tuple[int, Transaction]] = []
        for index, raw in enumerate(raws):
            try:
                tx = parse_raw(raw)
            except ChainError as exc:
                verdicts.append(exc)
                continue
            verdicts.append(tx)
            parsed.append((index, tx))
        if parsed:
            outcomes = self.core.submit([tx for _, tx in parsed])
            for (index, _), outcome in zip(parsed, outcomes):
                if outcome is not None:
                    verdicts[index] = outcome
        return verdicts
