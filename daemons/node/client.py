"""The typed node client used by the CLI, the TUI, other daemons and the tests.

It speaks JSON-RPC 2.0 through the shared transport (:mod:`daemons.common.client`): the
operator socket by default, or a URL (``http://127.0.0.1:26657``). JSON-RPC errors become
:class:`NodeRpcError` (a ``DaemonError``) with the node's stable code and message.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

from chain.tx import Transaction
from daemons.common.client import AsyncClosesOnExit, AsyncDaemonClient, ClosesOnExit, DaemonClient, target_for
from daemons.common.errors import DaemonError
from daemons.common.home import Home
from daemons.common.stream import AsyncEventStream, EventStream
from daemons.node.models import INTERNAL_ERROR, MAX_BATCH


class NodeRpcError(DaemonError):
    """The node refused a call; ``code`` is the JSON-RPC error code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(200, code, message)


def _unwrap(answer: Any) -> Any:
    if not isinstance(answer, dict) or answer.get("jsonrpc") != "2.0":
        raise DaemonError(200, "bad_response", "node answered something that is not JSON-RPC 2.0")
    if "error" in answer:
        error = answer["error"]
        raise NodeRpcError(int(error.get("code", INTERNAL_ERROR)), str(error.get("message", "unknown error")))
    return answer.get("result")


def _tx_dict(tx: Transaction | dict[str, Any]) -> dict[str, Any]:
    return tx.to_dict() if isinstance(tx, Transaction) else tx


def node_target(home: Home | None = None, url: str | None = None) -> str | os.PathLike[str]:
    """``url`` when given, else the node's socket in ``home``."""
    if url:
        return url
    return target_for(home or Home.resolve(), "node")


class NodeClient(ClosesOnExit):
    def __init__(self, target: str | os.PathLike[str], timeout: float = 15.0) -> None:
        self._http = DaemonClient(target, timeout=timeout)
        self._ids = itertools.count(1)

    @classmethod
    def for_home(cls, home: Home | str | Path | None = None, url: str | None = None, timeout: float = 15.0) -> "NodeClient":
        resolved = home if isinstance(home, Home) else Home.resolve(home)
        return cls(node_target(resolved, url), timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def call(self, method: str, **params: Any) -> Any:
        request = {"jsonrpc": "2.0", "id": next(self._ids), "method": method,
                   "params": {k: v for k, v in params.items() if v is not None}}
        return _unwrap(self._http.post("/", json=request))

    def batch(self, calls: list[tuple[str, dict[str, Any]]]) -> list[Any | NodeRpcError]:
        """Several calls in one request; per call, its result or its ``NodeRpcError``."""
        requests = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
        answers: dict[int, Any] = {}
        for start in range(0, len(requests), MAX_BATCH):  # the node takes at most MAX_BATCH per request
            got = self._http.post("/", json=requests[start:start + MAX_BATCH])
            if isinstance(got, dict):
                _unwrap(got)  # the whole request was refused (rate limit, busy): raise its error
            answers.update((a["id"], a) for a in got)
        results: list[Any | NodeRpcError] = []
        for i in range(len(calls)):
            try:
                results.append(_unwrap(answers[i]))
            except NodeRpcError as exc:
                results.append(exc)
        return results

    # -- typed helpers -----------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return self.call("status")

    def get_block(self, height: int | None = None, hash: str | None = None) -> dict[str, Any]:
        return self.call("get_block", height=height, hash=hash)

    def get_tx(self, tx_hash: str) -> dict[str, Any]:
        return self.call("get_tx", hash=tx_hash)

    def broadcast_tx(self, tx: Transaction | dict[str, Any], mode: str = "sync", timeout_s: float = 30.0) -> dict[str, Any]:
        return self.call("broadcast_tx", tx=_tx_dict(tx), mode=mode, timeout_s=timeout_s)

    def broadcast_txs(self, txs: list[Transaction]) -> list[Any | NodeRpcError]:
        return self.batch([("broadcast_tx", {"tx": tx.to_dict()}) for tx in txs])

    def get_balance(self, address: str) -> int:
        return int(self.call("get_balance", address=address)["balance"])

    def get_account(self, address: str) -> dict[str, Any]:
        return self.call("get_account", address=address)

    def get_address_txs(self, address: str, limit: int = 50, before_height: int | None = None) -> dict[str, Any]:
        return self.call("get_address_txs", address=address, limit=limit, before_height=before_height)

    def validators(self) -> dict[str, Any]:
        return self.call("validators")

    def net_info(self) -> dict[str, Any]:
        return self.call("net_info")

    def get_receipt(self, receipt_id: str | None = None, job_id: str | None = None,
                    coordinator: str | None = None) -> dict[str, Any]:
        return self.call("get_receipt", id=receipt_id, job_id=job_id, coordinator=coordinator)

    def mempool(self, limit: int = 100) -> dict[str, Any]:
        return self.call("mempool", limit=limit)

    def get_proposals(self, status: str | None = None, limit: int = 100) -> dict[str, Any]:
        return self.call("get_proposals", limit=limit, **({"status": status} if status else {}))

    def get_proposal(self, proposal_id: int) -> dict[str, Any]:
        return self.call("get_proposal", id=proposal_id)

    def get_gov(self) -> dict[str, Any]:
        return self.call("get_gov")

    def get_delegations(self, validator: str, limit: int = 100, cursor: str | None = None) -> dict[str, Any]:
        return self.call("get_delegations", validator=validator, limit=limit, cursor=cursor)

    def get_params(self) -> dict[str, Any]:
        return self.call("get_params")

    def events(self, topics: list[str]) -> EventStream:
        return self._http.events(topics)


class AsyncNodeClient(AsyncClosesOnExit):
    def __init__(self, target: str | os.PathLike[str], timeout: float = 15.0) -> None:
        self._http = AsyncDaemonClient(target, timeout=timeout)
        self._ids = itertools.count(1)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def call(self, method: str, **params: Any) -> Any:
        request = {"jsonrpc": "2.0", "id": next(self._ids), "method": method,
                   "params": {k: v for k, v in params.items() if v is not None}}
        return _unwrap(await self._http.post("/", json=request))

    async def status(self) -> dict[str, Any]:
        return await self.call("status")

    async def get_block(self, height: int | None = None, hash: str | None = None) -> dict[str, Any]:
        return await self.call("get_block", height=height, hash=hash)

    async def get_tx(self, tx_hash: str) -> dict[str, Any]:
        return await self.call("get_tx", hash=tx_hash)

    async def broadcast_tx(self, tx: Transaction | dict[str, Any], mode: str = "sync", timeout_s: float = 30.0) -> dict[str, Any]:
        return await self.call("broadcast_tx", tx=_tx_dict(tx), mode=mode, timeout_s=timeout_s)

    async def get_balance(self, address: str) -> int:
        return int((await self.call("get_balance", address=address))["balance"])

    async def get_account(self, address: str) -> dict[str, Any]:
        return await self.call("get_account", address=address)

    async def get_address_txs(self, address: str, limit: int = 50, before_height: int | None = None) -> dict[str, Any]:
        return await self.call("get_address_txs", address=address, limit=limit, before_height=before_height)

    async def validators(self) -> dict[str, Any]:
        return await self.call("validators")

    async def get_receipt(self, receipt_id: str | None = None, job_id: str | None = None,
                          coordinator: str | None = None) -> dict[str, Any]:
        return await self.call("get_receipt", id=receipt_id, job_id=job_id, coordinator=coordinator)

    async def mempool(self, limit: int = 100) -> dict[str, Any]:
        return await self.call("mempool", limit=limit)

    def events(self, topics: list[str]) -> AsyncEventStream:
        return self._http.events(topics)
