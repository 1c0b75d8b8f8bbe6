"""Wire shapes of the node's JSON-RPC: the params model of each method and the error codes.

Light on purpose (pydantic and chain types only, no FastAPI), like the other daemons' ``models``,
so that the node's callers (its typed client, the wallet) take the error codes from here. Each
handler in :mod:`daemons.node.api` names one of these models as its parameter, so a request is
validated (unknown fields refused) before any handler sees it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chain.types import Address, Hash

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
NOT_FOUND = -32004
COMMIT_TIMEOUT = -32005
RATE_LIMITED = -32006
SERVER_BUSY = -32007
TOO_LARGE = -32008
HANDSHAKE_REFUSED = -32009
"""JSON-RPC 2.0's own codes, then the node's; protocol rejections carry ``chain.errors`` codes."""

MAX_BATCH = 100
"""Most calls in one JSON-RPC batch; the typed client splits longer lists into several requests."""
MIN_BODY_BYTES = 1 << 20
"""The smallest request body a node may be set to take (``max_body_bytes``): room for the
largest message its peers send it."""
MAX_PEER_TX_BYTES = 768 * 1024
"""Most encoded transaction bytes one message to peers carries: the block of a proposal (the
proposer packs no more) or a ``relay_txs`` batch. With the header, the last commit and the
JSON-RPC envelope it stays under ``MIN_BODY_BYTES``. A block past its peers' body limit is
refused by every one of them, so each round its proposer leads times out: a backlog of some
3,000 transfers in the mempools halted a four-validator chain that way."""
MAX_ROWS = 5_000
"""Most rows (the sum of the ``limit`` of its calls) one request may ask for, batch or not, so
one request's answer stays a bounded amount of reading and encoding."""


class RpcParams(BaseModel):
    """Named parameters of one method; unknown names are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class NoParams(RpcParams):
    pass


class GetBlockParams(RpcParams):
    height: int | None = Field(None, ge=1)
    hash: Hash | None = None


class HashParams(RpcParams):
    hash: Hash


class AddressParams(RpcParams):
    address: Address


class AddressTxsParams(RpcParams):
    address: Address
    limit: int = Field(50, ge=1, le=1000)
    before_height: int | None = Field(None, ge=1)


class BroadcastParams(RpcParams):
    tx: dict[str, Any] | str
    """The signed transaction, as an object or as its canonical JSON text."""
    mode: Literal["sync", "commit"] = "sync"
    timeout_s: float = Field(30.0, gt=0, le=300)


class RelayParams(RpcParams):
    """Transactions a peer passes on (``relay_txs``)."""

    txs: list[dict[str, Any] | str] = Field(max_length=MAX_BATCH)
    relayed_by: Address
    """The relaying node's id: this node relays the transactions to none of that node's own
    relay targets (a hint that narrows only these transactions' relay)."""


class ReceiptParams(RpcParams):
    id: Hash | None = None
    job_id: str | None = Field(None, min_length=1, max_length=128)
    coordinator: Address | None = None
    """With ``job_id``: whose job (job ids are scoped to their coordinator)."""

    @model_validator(mode="after")
    def _one(self) -> "ReceiptParams":
        if (self.id is None) == (self.job_id is None):
            raise ValueError("give exactly one of id or job_id")
        if self.coordinator is not None and self.job_id is None:
            raise ValueError("coordinator goes with job_id")
        return self


class ConsensusMessageParams(RpcParams):
    message: dict[str, Any]
    """A proposal (with its block) or a vote from another validator (bft mode only)."""


class HelloParams(RpcParams):
    hello: dict[str, Any]
    """A signed peer hello (``daemons.node.identity.Hello``) from a node that dialled this one."""


class MempoolParams(RpcParams):
    limit: int = Field(100, ge=1, le=1000)


class ProposalsParams(RpcParams):
    status: Literal["deposit", "voting", "passed", "rejected", "vetoed", "executed", "failed", "dropped"] | None = None
    limit: int = Field(100, ge=1, le=1000)


class ProposalParams(RpcParams):
    id: int = Field(ge=1)


class DelegationsParams(RpcParams):
    """One validator's delegators, by address, a page at a time: ``cursor`` is the last delegator
    of the previous page (the page starts after it)."""

    validator: Address
    limit: int = Field(100, ge=1, le=1000)
    cursor: Address | None = None
