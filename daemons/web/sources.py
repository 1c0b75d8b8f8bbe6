"""Where the pages' data comes from: the node's JSON-RPC and the coordinator's public REST door.

Every failure becomes a :class:`PageError` with the HTTP status the page must carry and a
sentence a visitor can act on: unknown object -> 404, malformed input -> 400, node or
coordinator unreachable -> 503 ("the node is down", and the daemon itself stays up), anything
else the upstream refused -> 502. Routes never see a ``DaemonError``.

The web daemon holds no key: the node is read through its public methods, the coordinator
through public endpoints, and a visitor's API key is forwarded for one request and forgotten.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from chain import crypto
from chain.errors import MessageError
from chain.receipt_verify import ReceiptVerification, verify_settled_receipt
from chain.tx import parse_transaction
from daemons.common.client import DaemonClient
from daemons.common.errors import DaemonError, DaemonUnavailable
from daemons.coordinator import models as cm
from daemons.node.client import NodeClient, NodeRpcError
from daemons.node.models import INVALID_PARAMS, NOT_FOUND

T = TypeVar("T")
HEX = frozenset("0123456789abcdef")
MAX_HEIGHT = 2**63 - 1


class PageError(MessageError):
    """The page cannot be shown: its status, a short title and what went wrong."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title


def is_hash(text: str) -> bool:
    return len(text) == 64 and set(text) <= HEX


def check_address(text: str) -> str:
    """The address, or a 400 saying what an address looks like."""
    if not crypto.is_address(text):
        raise PageError(400, "Not an address", f"{text[:80]!r} is not an address (0x and 40 lower-case hex digits)")
    return text


def check_hash(text: str, what: str) -> str:
    if not is_hash(text):
        raise PageError(400, f"Not a {what} hash", f"{text[:80]!r} is not a {what} hash (64 lower-case hex digits)")
    return text


def check_height(height: int) -> int:
    if not 1 <= height <= MAX_HEIGHT:
        raise PageError(400, "Not a block height", f"{height} is not a block height (1 or more)")
    return height


def tx_hash(tx: dict[str, Any]) -> str:
    """A transaction's hash from its wire form (blocks carry transactions without their hashes)."""
    return parse_transaction(tx).hash


class Chain:
    """Read-only view of one node, by socket or URL."""

    def __init__(self, target: str | os.PathLike[str], timeout: float) -> None:
        self.target = target
        self.node = NodeClient(target, timeout=timeout)

    def close(self) -> None:
        self.node.close()

    def _ask(self, fn: Callable[[], T], what: str) -> T:
        try:
            return fn()
        except DaemonUnavailable as exc:
            raise PageError(503, "Node unreachable", f"the node does not answer: {exc.message}") from None
        except NodeRpcError as exc:
            if exc.code == NOT_FOUND:
                raise PageError(404, "Not found", f"no {what} on this chain ({exc.message})") from None
            if exc.code == INVALID_PARAMS:
                raise PageError(400, "Bad request", exc.message) from None
            raise PageError(502, "Node error", exc.message) from None
        except DaemonError as exc:
            raise PageError(502, "Node error", exc.message) from None

    def status(self) -> dict[str, Any]:
        return self._ask(self.node.status, "status")

    def block(self, height: int | None = None, hash: str | None = None) -> dict[str, Any]:
        what = f"block {hash}" if hash else f"block {height}"
        return self._ask(lambda: self.node.get_block(height=height, hash=hash), what)

    def blocks(self, top: int, count: int) -> list[dict[str, Any]]:
        """Blocks ``top``, ``top-1``, ... (at most ``count``, never below 1), in one batch call."""
        heights = list(range(top, max(0, top - count), -1))
        if not heights:
            return []
        answers = self._ask(lambda: self.node.batch([("get_block", {"height": h}) for h in heights]), "blocks")
        return [a for a in answers if not isinstance(a, NodeRpcError)]

    def tx(self, hash: str) -> dict[str, Any]:
        return self._ask(lambda: self.node.get_tx(hash), f"transaction {hash}")

    def account(self, address: str) -> dict[str, Any]:
        return self._ask(lambda: self.node.get_account(address), f"account {address}")

    def address_txs(self, address: str, limit: int, before_height: int | None) -> list[dict[str, Any]]:
        answer = self._ask(lambda: self.node.get_address_txs(address, limit=limit, before_height=before_height),
                           f"transactions of {address}")
        return list(answer["txs"])

    def validators(self) -> dict[str, Any]:
        return self._ask(self.node.validators, "validators")

    def delegations(self, validator: str, limit: int, cursor: str | None) -> dict[str, Any]:
        return self._ask(lambda: self.node.get_delegations(validator, limit=limit, cursor=cursor),
                         f"validator {validator}")

    def proposals(self, limit: int, status: str | None = None) -> dict[str, Any]:
        return self._ask(lambda: self.node.get_proposals(status=status, limit=limit), "proposals")

    def proposal(self, proposal_id: int) -> dict[str, Any]:
        return self._ask(lambda: self.node.get_proposal(proposal_id), f"proposal {proposal_id}")

    def receipt(self, receipt_id: str | None = None, job_id: str | None = None) -> dict[str, Any]:
        what = f"settled receipt {receipt_id}" if receipt_id else f"settled receipt for job {job_id}"
        return self._ask(lambda: self.node.get_receipt(receipt_id=receipt_id, job_id=job_id), what)

    def verify(self, data: dict[str, Any], *, receipt_id: str | None, job_id: str | None) -> ReceiptVerification:
        """Every check of ``aitbc receipts verify``, against the chain id the node reports."""
        chain_id = self.status()["chain_id"]
        return verify_settled_receipt(data, receipt_id=receipt_id, job_id=job_id, chain_id=chain_id)


class Market:
    """The coordinator's public door: miners (no key) and, with a visitor's key, their jobs."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self.timeout = timeout
        self.public = DaemonClient(url, timeout=timeout)

    def close(self) -> None:
        self.public.close()

    @contextmanager
    def _asking(self, what: str) -> Iterator[None]:
        try:
            yield
        except DaemonUnavailable as exc:
            raise PageError(503, "Coordinator unreachable", f"the coordinator does not answer: {exc.message}") from None
        except DaemonError as exc:
            status = exc.status if exc.status in (400, 401, 403, 404, 409, 422, 429) else 502
            title = {401: "API key refused", 403: "Not allowed", 404: "Not found", 409: "Cannot run this job",
                     422: "Bad request", 429: "Too many requests"}.get(status, "Coordinator error")
            raise PageError(400 if status == 422 else status, title, f"{what}: {exc.message}") from None

    def miners(self) -> cm.PublicMinerList:
        with self._asking("miners"):
            return self.public.get("/v1/miners", model=cm.PublicMinerList)

    def _keyed(self, api_key: str) -> DaemonClient:
        if not api_key or len(api_key) > 256 or not api_key.isascii() or not api_key.isprintable():
            raise PageError(401, "API key needed", "give your coordinator API key (it stays in your browser session)")
        return DaemonClient(self.url, api_key=api_key, timeout=self.timeout)

    def submit(self, api_key: str, body: dict[str, Any]) -> cm.Job:
        with self._keyed(api_key) as client, self._asking("submit"):
            return client.post("/v1/jobs", body, model=cm.Job)

    def job(self, api_key: str, job_id: str) -> cm.Job:
        with self._keyed(api_key) as client, self._asking(f"job {job_id}"):
            return client.get(f"/v1/jobs/{job_id}", model=cm.Job)
