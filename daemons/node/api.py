"""The node's RPC app: each method described once (its handler, whose signature names its params
model), served as JSON-RPC 2.0 and as URI calls.

``POST /`` takes one JSON-RPC request or a batch; ``GET /METHOD?arg=...`` is the same method for
curl; both doors (operator socket, public TCP port) serve the same app, plus the shared
``/health`` and the ``/v1/events`` WebSocket. Errors carry stable codes (:mod:`daemons.node.models`):
the JSON-RPC standard ones, ``chain.errors`` codes for protocol rejections, and the node's own.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from functools import partial
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, get_type_hints

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from chain.block import merkle_proof
from chain import staking
from chain.errors import ChainError
from chain.execution import TREASURY
from chain.ledger import Ledger
from chain.validators import active_set, total_power
from daemons.common.api import create_app, door
from daemons.common.events import events_router
from daemons.common.version import VERSION
from daemons.node.admission import Admission
from daemons.node import gov_view
from daemons.node.core import NodeCore
from daemons.node.identity import HandshakeError, Hello
from daemons.node.limits import LimitExceeded, RowBudget
from daemons.node.models import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    MAX_BATCH,
    METHOD_NOT_FOUND,
    NOT_FOUND,
    PARSE_ERROR,
    AddressParams,
    AddressTxsParams,
    BroadcastParams,
    ConsensusMessageParams,
    DelegationsParams,
    GetBlockParams,
    HANDSHAKE_REFUSED,
    HelloParams,
    HashParams,
    MempoolParams,
    NoParams,
    ProposalParams,
    ProposalsParams,
    ReceiptParams,
    RelayParams,
    RpcParams,
    SERVER_BUSY,
    TOO_LARGE,
)

if TYPE_CHECKING:
    from daemons.node.daemon import NodeRuntime
    from daemons.node.peers import PeerSet

log = logging.getLogger("aitbc.node")
READ_THREADS = 4
"""Threads serving read methods; their own pool, so that a flood of queries cannot delay
mempool admission or block production, which use the loop's default executor."""
MAX_QUEUED_RELAYS = 10_000
"""Relayed transactions that may wait for admission at once; past it ``relay_txs`` answers
busy (relays are best effort: the transactions still reach this node in blocks)."""
METHODS = ("status", "get_block", "get_tx", "broadcast_tx", "get_balance", "get_account", "get_address_txs",
           "net_info", "validators", "get_receipt", "mempool", "get_params", "get_proposals", "get_proposal",
           "get_gov", "get_delegations", "genesis")
"""The public methods: each is the ``NodeApi`` handler of that name (bft adds ``consensus_message``
and ``peer_hello``)."""

Handler = Callable[[Any], Any]


class RpcError(Exception):
    """A JSON-RPC error answer: its code, message and optional data."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


def method_entry(handler: Handler) -> tuple[type[RpcParams], Handler]:
    """(params model, handler) of a method: the model is the type of the handler's one parameter,
    so a method's name, params and code are written once, in its ``def``."""
    hints = {k: v for k, v in get_type_hints(handler).items() if k != "return"}
    if len(hints) != 1:
        raise TypeError(f"RPC handler {handler.__name__} must take exactly one params model")
    (model,) = hints.values()
    if not (isinstance(model, type) and issubclass(model, RpcParams)):
        raise TypeError(f"RPC handler {handler.__name__} takes {model!r}, not an RpcParams model")
    return model, handler


class NodeApi:
    """Handlers over a ``NodeCore``. ``wait_commit`` is provided by the server (it owns the loop)."""

    def __init__(self, core: NodeCore, wait_commit: Callable[[str, float], Awaitable[dict[str, Any]]]) -> None:
        self.core = core
        self.store = core.store
        self._wait_commit = wait_commit
        self.admission = Admission(core)
        self._readers = ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="rpc-read")
        self.consensus_mode = "poa"
        self.peers: PeerSet | None = None
        self._describe_consensus: Callable[[], dict[str, Any]] | None = None
        self._sync_progress: Callable[[], dict[str, Any]] | None = None
        self.on_admitted: Callable[[Any, str | None], None] | None = None
        """Told of each transaction admitted from a client (``broadcast_tx``, with None) or from a
        peer (``relay_txs``, with that peer's node id): the relay to peers."""
        self.methods: dict[str, tuple[type[RpcParams], Handler]] = {
            name: method_entry(getattr(self, name)) for name in METHODS}

    def close(self) -> None:
        """Stop the read threads (after the servers stopped taking requests)."""
        self._readers.shutdown(wait=True, cancel_futures=True)

    # -- dispatch --------------------------------------------------------------------------------

    def enable_consensus(self, receive: Callable[[dict[str, Any]], Awaitable[None]], peers: PeerSet,
                         describe: Callable[[], dict[str, Any]], progress: Callable[[], dict[str, Any]]) -> None:
        """bft mode: accept consensus messages and handshakes from peers, and report them in
        net_info/status."""
        self.consensus_mode = "bft"
        self.peers = peers
        self._describe_consensus = describe
        self._sync_progress = progress

        async def consensus_message(p: ConsensusMessageParams) -> dict[str, Any]:
            try:
                await receive(p.message)
            except (ValueError, KeyError) as exc:
                raise RpcError(INVALID_PARAMS, f"invalid consensus message: {exc}") from None
            return {"ok": True}

        async def relay_txs(p: RelayParams) -> dict[str, Any]:
            """Queue a peer's relayed transactions for admission and answer at once: the relay
            does not wait for verdicts, so a link's round trip, not this node's admission time,
            paces it, and its requests still arrive, and are admitted, in the order sent."""
            if self.admission.queued + len(p.txs) > MAX_QUEUED_RELAYS:
                raise RpcError(SERVER_BUSY, f"server busy: {self.admission.queued} transactions wait for admission; "
                                            "relay them later")
            for raw in p.txs:
                self.admission.enqueue(raw).add_done_callback(partial(self._relayed, p.relayed_by))
            return {"queued": len(p.txs)}

        async def peer_hello(p: HelloParams) -> dict[str, Any]:
            try:
                hello = Hello.model_validate(p.hello)
            except ValidationError as exc:
                raise RpcError(INVALID_PARAMS, f"invalid hello: {exc.errors()[0]['msg']}") from None
            try:
                return {"hello": peers.on_hello(hello).model_dump()}
            except HandshakeError as exc:
                raise RpcError(HANDSHAKE_REFUSED, str(exc)) from None

        self.methods["consensus_message"] = method_entry(consensus_message)
        self.methods["relay_txs"] = method_entry(relay_txs)
        self.methods["peer_hello"] = method_entry(peer_hello)

    def _relayed(self, relayed_by: str, verdict: asyncio.Future[Any]) -> None:
        """A relayed transaction's verdict: admitted ones are passed on; a refusal is the
        normal fate of a copy this node already had, and is dropped."""
        if verdict.cancelled() or verdict.exception() is not None:
            return
        tx = verdict.result()
        if not isinstance(tx, ChainError) and self.on_admitted is not None:
            self.on_admitted(tx, relayed_by)

    async def call(self, method: str, params: Any, rows: RowBudget | None = None) -> Any:
        """Validate ``params`` against the method's model and run it; ``rows`` is the request's
        row budget, shared by the calls of one batch (a fresh one when not given)."""
        entry = self.methods.get(method)
        if entry is None:
            raise RpcError(METHOD_NOT_FOUND, f"method {method!r} does not exist; methods: {', '.join(sorted(self.methods))}")
        model, handler = entry
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise RpcError(INVALID_PARAMS, "params must be an object of named parameters")
        try:
            parsed = model.model_validate(params)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "params"
            raise RpcError(INVALID_PARAMS, f"invalid params: {where}: {first['msg']}") from None
        limit = getattr(parsed, "limit", None)
        if isinstance(limit, int):
            try:
                (rows or RowBudget()).take(limit)
            except LimitExceeded as exc:
                raise RpcError(exc.code, exc.message) from None
        try:
            if inspect.iscoroutinefunction(handler):
                return await handler(parsed)
            # Reads run on their own threads: a large block or a long history being read and
            # encoded must not stall the event loop, which answers every other caller (and
            # acknowledges their transactions) meanwhile.
            return await asyncio.get_running_loop().run_in_executor(self._readers, handler, parsed)
        except ChainError as exc:
            raise RpcError(exc.code, exc.message) from None

    # -- methods -----------------------------------------------------------------------------------

    def status(self, _: NoParams) -> dict[str, Any]:
        core = self.core
        state = core.snapshot()
        return {
            "chain_id": core.chain_id, "genesis_hash": core.genesis.hash, "height": state.height,
            "latest_block_hash": state.last_block_hash or None, "latest_block_time_ms": state.time_ms,
            "state_root": state.root, "validator_address": core.validator_address,
            **self._validating(state),
            "is_proposer_next": core.is_my_turn(), "mempool_size": len(core.mempool), "version": VERSION,
            "block_time_ms": core.block_time_ms, "consensus_mode": self.consensus_mode,
            **self._catching_up(state.height),
            "treasury": TREASURY,
            "consensus": self._describe_consensus() if self._describe_consensus else None,
        }

    def _validating(self, state: Any) -> dict[str, Any]:
        """Whether this node's key votes on the next block, and with what power."""
        me = self.core.validator_address
        signer = active_set(Ledger(state)).get(me) if me else None
        return {"validating": signer is not None, "voting_power": int(signer["power"]) if signer else 0}

    def _catching_up(self, height: int) -> dict[str, Any]:
        if self._sync_progress is None:
            return {"catching_up": False, "sync": None}
        progress = self._sync_progress()
        return {"catching_up": progress["catching_up"], "sync": progress}

    def genesis(self, _: NoParams) -> dict[str, Any]:
        """This chain's genesis document and its hash: what a joining node starts from."""
        return {"genesis_hash": self.core.genesis.hash, "genesis": self.core.genesis.model_dump()}

    def get_block(self, p: GetBlockParams) -> dict[str, Any]:
        if p.hash is not None:
            answer = self.store.get_block_answer(block_hash=p.hash)
        else:
            height = p.height if p.height is not None else self.core.snapshot().height
            if height == 0:
                raise RpcError(NOT_FOUND, "no block has been produced yet")
            answer = self.store.get_block_answer(height)
        if answer is None:
            raise RpcError(NOT_FOUND, f"no block {p.hash or p.height}")
        return answer

    def get_tx(self, p: HashParams) -> dict[str, Any]:
        # Store, mempool, then the store again: the producer stores a block before it drops the
        # block's transactions from the mempool, so a transaction committing between the first
        # two looks is found by the third instead of being reported unknown.
        for where in ("store", "mempool", "store"):
            if where == "store":
                found = self.store.get_tx(p.hash)
                if found is not None:
                    tx, height, index = found
                    return {"hash": tx.hash, "status": "committed", "height": height, "index": index,
                            "tx": tx.to_dict()}
            else:
                pending = self.core.mempool.get(p.hash)
                if pending is not None:
                    return {"hash": pending.hash, "status": "pending", "height": None, "index": None,
                            "tx": pending.to_dict()}
        raise RpcError(NOT_FOUND, f"no transaction {p.hash}")

    async def broadcast_tx(self, p: BroadcastParams) -> dict[str, Any]:
        tx = await self.admission.admit(p.tx)
        if self.on_admitted is not None:
            self.on_admitted(tx, None)
        if p.mode == "sync":
            return {"hash": tx.hash, "status": "pending"}
        return await self._wait_commit(tx.hash, p.timeout_s)

    def get_balance(self, p: AddressParams) -> dict[str, Any]:
        state = self.core.snapshot()
        account = state.get("account", p.address) or {"balance": 0}
        return {"address": p.address, "balance": account["balance"], "height": state.height}

    def get_account(self, p: AddressParams) -> dict[str, Any]:
        return self.core.account(p.address)

    def get_address_txs(self, p: AddressTxsParams) -> dict[str, Any]:
        rows = self.store.txs_by_address(p.address, limit=p.limit, before_height=p.before_height)
        return {"address": p.address, "txs": [
            {"hash": tx.hash, "height": height, "index": index, "tx": tx.to_dict()} for tx, height, index in rows
        ]}

    def get_params(self, _: NoParams) -> dict[str, Any]:
        """The consensus parameters in force (genesis, as changed by governance): fees, rewards, periods."""
        state = self.core.snapshot()
        return {"height": state.height, "params": state.get("meta", "params"), "treasury": TREASURY,
                "supply": (state.get("meta", "supply") or {}).get("total")}

    def net_info(self, _: NoParams) -> dict[str, Any]:
        """This node's id and its peers: node id, address, direction, height, last seen, round trip."""
        if self.peers is None:
            return {"listening": True, "node_id": None, "height": self.core.snapshot().height, "peers": [], "n_peers": 0,
                    "consensus_mode": self.consensus_mode}
        peers = self.peers.describe()
        return {"listening": True, "node_id": self.peers.identity.node_id, "height": self.core.snapshot().height,
                "peers": peers,
                "n_peers": sum(1 for p in peers if p["connected"]), "max_peers": self.peers.max_peers,
                "consensus_mode": self.consensus_mode}

    def validators(self, _: NoParams) -> dict[str, Any]:
        state = self.core.snapshot()
        # The set that votes on the next block, from the current entries: a delegation shows in
        # power and total alike as soon as its block is final.
        signers = active_set(Ledger(state))
        total = total_power(signers)
        result = []
        for address, v in sorted(state.items("validator")):
            result.append({
                "address": address, "name": v["name"], "pubkey": v["pubkey"], "power": v["power"],
                "self_bond": v["self_bond"], "commission_bps": v["commission_bps"], "jailed": v["jailed"],
                "removed": v["removed"], "active": address in signers,
                "priority": signers.get(address, {}).get("priority"),
            })
        return {"height": state.height, "total_power": total, "validators": result}

    def get_delegations(self, p: DelegationsParams) -> dict[str, Any]:
        """A validator's delegators (its operator's self-bond included), ordered by address, with
        what each stake is worth now; ``next_cursor`` continues the list, null at its end. The
        namespace is keyed delegator first, so this reads it whole, like ``get_account`` does
        for one delegator's stakes; ``limit`` bounds the answer."""
        state = self.core.snapshot()
        pool = state.get("validator", p.validator)
        if pool is None:
            raise RpcError(NOT_FOUND, f"{p.validator} is not a validator")
        suffix = f"/{p.validator}"
        found = sorted((key[:-len(suffix)], d) for key, d in state.items("delegation")
                       if key.endswith(suffix) and (p.cursor is None or key[:-len(suffix)] > p.cursor))
        page = found[:p.limit]
        return {"validator": p.validator, "height": state.height, "shares": pool["shares"], "power": pool["power"],
                "delegations": [{"delegator": who, "shares": d["shares"], "amount": staking.tokens(pool, d["shares"]),
                                 "rewards": staking.unclaimed_rewards(d, pool)} for who, d in page],
                "next_cursor": page[-1][0] if len(found) > p.limit else None}

    def get_receipt(self, p: ReceiptParams) -> dict[str, Any]:
        """Everything needed to verify a receipt from chain data alone: the receipt, the
        transaction that settled it, that transaction's Merkle path to the block's tx_root, the
        block header and the commit that finalized it."""
        if p.id:
            located = self.store.get_receipt(p.id)
        else:
            found = self.store.receipts_for_job(p.job_id or "", p.coordinator)
            settled_by = sorted({r.receipt.body.coordinator for r in found})
            if len(settled_by) > 1:
                raise RpcError(INVALID_PARAMS, f"job {p.job_id} was settled by {len(settled_by)} coordinators "
                                               f"({', '.join(settled_by)}): give coordinator")
            located = found[0] if found else None
        if located is None:
            whose = f" of coordinator {p.coordinator}" if p.coordinator else ""
            raise RpcError(NOT_FOUND, f"no settled receipt for {'id ' + p.id if p.id else 'job ' + str(p.job_id) + whose}")
        stored = self.store.get_tx(located.tx_hash)
        assert stored is not None
        height, tx_index = stored.height, stored.index
        block = self.store.get_block(height)
        assert block is not None
        commit = self.store.get_commit(height)
        state = self.core.snapshot()
        signers = self.store.get_signers(height) or (state.get("meta", "signers") or {}).get("set", {})
        return {
            "receipt_id": located.receipt_id, "receipt": located.receipt.model_dump(), "tx_hash": located.tx_hash,
            "height": height, "tx_index": tx_index, "receipt_index": located.index,
            "validators": {a: {"pubkey": s["pubkey"], "power": s["power"]} for a, s in signers.items()},
            "tx": block.txs[tx_index].to_dict(),
            "tx_proof": [list(step) for step in merkle_proof([tx.hash for tx in block.txs], tx_index)],
            "header": block.header.model_dump(), "block_hash": block.hash,
            "commit": commit.model_dump() if commit else None, "final": commit is not None,
        }

    def get_proposals(self, p: ProposalsParams) -> dict[str, Any]:
        """Governance proposals, newest first, optionally of one status, with blocks left."""
        state = self.core.snapshot()
        return {"height": state.height,
                "proposals": gov_view.list_proposals(state, p.status, p.limit, self.core.block_time_ms)}

    def get_proposal(self, p: ProposalParams) -> dict[str, Any]:
        """One proposal with its deposits, votes, validator votes and the tally so far."""
        state = self.core.snapshot()
        proposal = state.get("proposal", str(p.id))
        if proposal is None:
            raise RpcError(NOT_FOUND, f"no proposal {p.id}")
        return {"height": state.height, **gov_view.proposal_detail(state, proposal, self.core.block_time_ms)}

    def get_gov(self, _: NoParams) -> dict[str, Any]:
        """Governance parameters, the treasury (balance, past spends) and the scheduled upgrade."""
        state = self.core.snapshot()
        return {"height": state.height, "params": gov_view.gov_params(state),
                "treasury": gov_view.treasury(state, TREASURY), "upgrade": state.get("meta", "upgrade"),
                "software_version": self.core.software_version}

    def mempool(self, p: MempoolParams) -> dict[str, Any]:
        txs = self.core.mempool.transactions(p.limit)
        return {"size": len(self.core.mempool), "txs": [{"hash": tx.hash, **tx.to_dict()} for tx in txs]}


def _envelope(request_id: Any, result: Any = None, error: RpcError | None = None) -> dict[str, Any]:
    if error is not None:
        body: dict[str, Any] = {"code": error.code, "message": error.message}
        if error.data is not None:
            body["data"] = error.data
        return {"jsonrpc": "2.0", "id": request_id, "error": body}
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


async def _one(api: NodeApi, item: Any, rows: RowBudget) -> dict[str, Any] | None:
    if not isinstance(item, dict) or item.get("jsonrpc") != "2.0" or not isinstance(item.get("method"), str):
        return _envelope(item.get("id") if isinstance(item, dict) else None,
                         error=RpcError(INVALID_REQUEST, "not a JSON-RPC 2.0 request (need jsonrpc, method)"))
    request_id = item.get("id")
    try:
        result = await api.call(item["method"], item.get("params"), rows)
    except RpcError as exc:
        return _envelope(request_id, error=exc)
    except Exception:
        log.exception("rpc method failed", extra={"method": item["method"]})
        return _envelope(request_id, error=RpcError(INTERNAL_ERROR, "internal error; see the node's log"))
    if "id" not in item:
        return None  # a notification: no answer
    return _envelope(request_id, result)


def build_app(runtime: NodeRuntime) -> FastAPI:
    """The node's app over a runtime (its ``api`` exists once the runtime started)."""
    settings = runtime.settings
    app = create_app("node", VERSION, max_body_bytes=settings.max_body_bytes,
                     description="AITBC node: JSON-RPC 2.0 on POST /, URI calls on GET /METHOD, events on /v1/events")
    app.include_router(events_router(runtime.hub))

    def metered(request: Request) -> AbstractContextManager[None]:
        """The public door's limits for this caller; the operator's socket is not metered."""
        if door(request) == "operator":
            return nullcontext()
        return runtime.limits.admit(request.client.host if request.client else "unknown")

    @app.post("/", tags=["rpc"])
    async def jsonrpc(request: Request) -> JSONResponse:
        """JSON-RPC 2.0: one request object or a batch (array) of at most ``MAX_BATCH``."""
        try:
            with metered(request):
                return await _serve(await request.body())
        except LimitExceeded as exc:
            return JSONResponse(_envelope(None, error=RpcError(exc.code, exc.message)))

    async def _serve(raw: bytes) -> JSONResponse:
        try:
            payload = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            return JSONResponse(_envelope(None, error=RpcError(PARSE_ERROR, f"parse error: {exc}")))
        rows = RowBudget()
        if isinstance(payload, list):
            if not payload:
                return JSONResponse(_envelope(None, error=RpcError(INVALID_REQUEST, "empty batch")))
            if len(payload) > MAX_BATCH:
                return JSONResponse(_envelope(None, error=RpcError(
                    TOO_LARGE, f"batch of {len(payload)} requests; at most {MAX_BATCH} per batch")))
            answers = [a for a in await asyncio.gather(*(_one(runtime.api, item, rows) for item in payload))
                       if a is not None]
            return JSONResponse(answers)
        answer = await _one(runtime.api, payload, rows)
        return JSONResponse(answer if answer is not None else {})

    @app.get("/{method}", tags=["rpc"], responses={
        status: {"description": f"{what}: a JSON-RPC 2.0 envelope with its error", "content": {"application/json": {
            "schema": {"type": "object", "required": ["jsonrpc", "error"]}}}}
        for status, what in ((400, "invalid parameters"), (404, "no such method or object"))})
    async def uri_call(method: str, request: Request) -> JSONResponse:
        """The same methods as URI calls, for curl: ``GET /get_block?height=5``."""
        params: dict[str, Any] = dict(request.query_params)
        try:
            with metered(request):
                result = await runtime.api.call(method, params)
        except LimitExceeded as exc:
            return JSONResponse(_envelope(-1, error=RpcError(exc.code, exc.message)), status_code=429)
        except RpcError as exc:
            status = 404 if exc.code in (METHOD_NOT_FOUND, NOT_FOUND) else 400
            return JSONResponse(_envelope(-1, error=exc), status_code=status)
        return JSONResponse(_envelope(-1, result))

    return app
