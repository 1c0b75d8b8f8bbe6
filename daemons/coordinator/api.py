"""The coordinator's REST API (JOBS_API.md), served on the operator socket and on port 18000.

Routes are thin: authenticate (``auth``), validate (pydantic models in ``models``), call the
core. Blocking work (database, node RPC) runs in FastAPI's worker threads (plain ``def``
routes); only the miners' long poll is ``async``, so that a hundred waiting miners hold no
threads. OpenAPI docs are at ``/docs`` and ``/openapi.json``.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query
from starlette.concurrency import run_in_threadpool

from daemons.common.api import ApiError, create_app, error_responses, require_operator
from daemons.common.events import events_router
from daemons.common.logging import audit
from daemons.coordinator import models as m
from daemons.coordinator.auth import ADDRESS_HEADER, Principal, new_api_key, hash_key
from daemons.coordinator.core import CoordinatorCore, receipt_view
from daemons.coordinator.live_api import live_router
from daemons.coordinator.openai_api import install_openai
from daemons.common.version import VERSION

if TYPE_CHECKING:
    from daemons.coordinator.daemon import CoordinatorRuntime
    from daemons.coordinator.settings import CoordinatorSettings

JobId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]
Cursor = Annotated[str | None, Query(max_length=200, pattern=r"^[0-9]{1,18}:[A-Za-z0-9_.:-]{1,128}$",
                                     description="the ``next_cursor`` of the previous page")]
"""A page cursor (``created_ms:id``, see ``core.cursor_after``): its pattern is what the core
reads back, so that every cursor the document allows is one the API accepts."""
KeyId = Annotated[str, Path(pattern=r"^[0-9a-f]{1,32}$")]
_AUTH = error_responses(400, 401, 403, 429)
"""What a keyed route can refuse: a bad acting address on the operator socket (400), no or an
unknown key (401), a key of another role (403), a key over its rate (429)."""
_POLL_TICK_S = 0.5
"""Longest a waiting poll sleeps between looks at the database: work queued by *another*
coordinator process reaches a miner waiting here within this time."""


def build_app(runtime: CoordinatorRuntime) -> FastAPI:
    settings = runtime.settings
    app = create_app("coordinator", VERSION, max_body_bytes=settings.max_body_bytes,
                     description="AITBC coordinator: AI jobs, miners, matching, receipts (see JOBS_API.md). "
                                 "Public door: X-Api-Key (or Authorization: Bearer). Operator socket: no key; act for an address with "
                                 f"{ADDRESS_HEADER}.")
    auth = runtime.auth
    as_client = Depends(auth.dependency("client"))
    as_miner = Depends(auth.dependency("miner"))

    def core() -> CoordinatorCore:
        return runtime.core

    def acting_client(who: Principal, required: bool) -> str | None:
        if who.address is None and required:
            raise ApiError(400, "address_required", f"on the operator socket, name the client in the {ADDRESS_HEADER} header")
        return who.address

    def acting_miner(who: Principal) -> str:
        if who.address is None:
            raise ApiError(400, "address_required", f"on the operator socket, name the miner in the {ADDRESS_HEADER} header")
        return who.address

    jobs = APIRouter(prefix="/v1", tags=["client"], responses=_AUTH)

    @jobs.post("/jobs", response_model=m.Job, status_code=201, responses=error_responses(402, 409, 503))
    async def submit_job(body: m.JobRequest, who: Principal = as_client) -> m.Job:
        """Queue a job; it reserves ``max_price`` from the client's escrow until it finishes."""
        client = acting_client(who, True)
        assert client is not None
        # The database and node work in one worker thread, the answer checked here on the event
        # loop: a plain ``def`` route hops to a worker thread a second time just to check it.
        return await run_in_threadpool(lambda: core().submit(client, body, who.default_max_price).client_view())

    @jobs.get("/jobs/{job_id}", response_model=m.Job, responses=error_responses(404))
    def get_job(job_id: JobId, who: Principal = as_client) -> m.Job:
        return core().job_for(job_id, acting_client(who, False)).client_view()

    @jobs.get("/jobs", response_model=m.JobPage)
    def list_jobs(who: Principal = as_client,
                  status: m.JobStatus | None = None,
                  limit: int = Query(50, ge=1, le=500), cursor: Cursor = None) -> m.JobPage:
        """The client's jobs, newest first; pass ``next_cursor`` back as ``cursor`` for the next page."""
        return core().list_jobs(acting_client(who, False), status, limit, cursor)

    @jobs.delete("/jobs/{job_id}", response_model=m.Job, responses=error_responses(404, 409))
    def cancel_job(job_id: JobId, who: Principal = as_client) -> m.Job:
        """Cancel a job that has no result yet; its reservation is released at once."""
        return core().cancel(job_id, acting_client(who, False)).client_view()

    @jobs.get("/receipts", response_model=m.ReceiptPage)
    def list_receipts(who: Principal = as_client, job_id: str | None = Query(None, max_length=128),
                      limit: int = Query(50, ge=1, le=500), cursor: Cursor = None) -> m.ReceiptPage:
        return core().list_receipts(acting_client(who, False), job_id, limit, cursor)

    @jobs.get("/receipts/{receipt_id}", response_model=m.ReceiptInfo, responses=error_responses(404))
    def get_receipt(receipt_id: JobId, who: Principal = as_client) -> m.ReceiptInfo:
        """A receipt by its id (or by its job's id), with its settlement state."""
        return receipt_view(core().receipt_for(receipt_id, acting_client(who, False)))

    @jobs.get("/account", response_model=m.Account, responses=error_responses(503))
    def account(who: Principal = as_client) -> m.Account:
        """Escrow on chain for this coordinator, what unfinished jobs reserve, and what is left."""
        client = acting_client(who, True)
        assert client is not None
        return core().account(client)

    miners = APIRouter(prefix="/v1/miners", tags=["miner"], responses=_AUTH)

    @miners.get("", response_model=m.PublicMinerList, tags=["public"])
    def public_miners() -> m.PublicMinerList:
        """Live miners with their public facts, and the queue by model; no key needed."""
        return core().public_miners()

    @miners.post("/register", response_model=m.RegisterReply)
    def register(body: m.MinerRegistration, who: Principal = as_miner) -> m.RegisterReply:
        return core().register(who.address, body)

    @miners.post("/heartbeat", response_model=m.HeartbeatReply, responses=error_responses(409))
    def heartbeat(body: m.Heartbeat, who: Principal = as_miner) -> m.HeartbeatReply:
        """Sign of life; the answer lists reported tasks that are no longer the miner's."""
        return core().heartbeat(acting_miner(who), body)

    @miners.post("/jobs", response_model=m.TaskList, responses=error_responses(409))
    async def poll(body: m.PollRequest, who: Principal = as_miner) -> m.TaskList:
        """Long poll for work: answers as soon as there is a task, or after ``wait_s`` with none, or
        at once with none when the miner's heartbeat says it has no free slot (it drains)."""
        miner = acting_miner(who)
        started = time.monotonic()
        deadline = started + min(body.wait_s, settings.max_wait)
        while True:
            with runtime.awaiting_work() as waiter:
                tasks = await run_in_threadpool(core().poll, miner, body.max_jobs)
                remaining = deadline - time.monotonic()
                # ends early once the miner said it has no room (it drains): see CoordinatorCore.full_since
                if tasks or remaining <= 0 or core().full_since(miner) >= started:
                    return m.TaskList(tasks=tasks)
                try:
                    await asyncio.wait_for(waiter.wait(), min(remaining, _POLL_TICK_S))
                except asyncio.TimeoutError:
                    pass

    @miners.post("/jobs/{task_id}/result", response_model=m.ResultReply, responses=error_responses(404, 409))
    def result(task_id: JobId, body: m.TaskResult, who: Principal = as_miner) -> m.ResultReply:
        """A run task's output and proof, a re-check's verdict, or a failure report."""
        return core().result(acting_miner(who), task_id, body)

    @miners.post("/jobs/{task_id}/release", response_model=m.ReleaseReply, responses=error_responses(404, 409))
    def release(task_id: JobId, who: Principal = as_miner) -> m.ReleaseReply:
        """Hand an unanswered task back (graceful shutdown): it is re-queued at once and, unlike a
        failure report, counts nothing against the miner; no new work until its next heartbeat."""
        return core().release(acting_miner(who), task_id)

    admin = APIRouter(prefix="/v1/admin", tags=["operator"], dependencies=[Depends(require_operator)],
                      responses=error_responses(403))

    @admin.post("/keys", response_model=m.KeyCreated, status_code=201)
    def create_key(body: m.KeyRequest) -> m.KeyCreated:
        """A new API key bound to an address and a role; the key is shown in this answer only."""
        key_id, api_key = new_api_key()
        record = runtime.store.add_key(key_id, hash_key(api_key), body.role, body.address, body.label,
                                       runtime.core.now_ms(), body.default_max_price)
        audit("api_key_created", key_id=key_id, role=body.role, address=body.address, label=body.label,
              default_max_price=body.default_max_price)
        return m.KeyCreated(key_id=record.key_id, api_key=api_key, role=body.role, address=body.address,
                            label=body.label, default_max_price=record.default_max_price)

    @admin.get("/keys", response_model=m.KeyList)
    def list_keys() -> m.KeyList:
        return m.KeyList(keys=[m.KeyInfo(**k.model_dump(), active=k.revoked_ms is None)
                               for k in runtime.store.list_keys()])

    @admin.patch("/keys/{key_id}", response_model=m.KeyInfo, responses=error_responses(404, 409))
    def update_key(key_id: KeyId, body: m.KeyUpdate) -> m.KeyInfo:
        """Set or clear an active key's default max price: what its jobs reserve when a request
        names none. A revoked key is refused (409): it can never be used again."""
        if not runtime.store.set_key_max_price(key_id, body.default_max_price):
            if runtime.store.get_key(key_id) is None:
                raise ApiError(404, "not_found", f"no API key {key_id}")
            raise ApiError(409, "revoked_api_key", f"API key {key_id} was revoked; create a new one")
        audit("api_key_updated", key_id=key_id, default_max_price=body.default_max_price)
        auth.forget(key_id)  # committed: its next request reads the new default
        record = runtime.store.get_key(key_id)
        assert record is not None
        return m.KeyInfo(**record.model_dump(), active=True)

    @admin.delete("/keys/{key_id}", response_model=m.KeyInfo, responses=error_responses(404))
    def revoke_key(key_id: KeyId) -> m.KeyInfo:
        if runtime.store.get_key(key_id) is None:
            raise ApiError(404, "not_found", f"no API key {key_id}")
        if runtime.store.revoke_key(key_id, runtime.core.now_ms()):
            audit("api_key_revoked", key_id=key_id)
        auth.forget(key_id)  # committed: refused from its next request on
        record = runtime.store.get_key(key_id)
        assert record is not None
        return m.KeyInfo(**record.model_dump(), active=False)

    @admin.get("/miners", response_model=m.MinerList)
    def list_miners() -> m.MinerList:
        return runtime.core.miners()

    @admin.get("/status", response_model=m.CoordinatorStatus)
    def status() -> m.CoordinatorStatus:
        c = runtime.core
        now = c.now_ms()
        miners_all = runtime.store.list_miners()
        live = [mi for mi in miners_all if mi.last_seen_ms >= c.live_since(now)]
        return m.CoordinatorStatus(
            chain_id=runtime.chain.chain_id, coordinator_address=c.address, node=str(runtime.chain.target),
            min_miner_bond=runtime.chain.params.min_miner_bond, recheck_rate=settings.recheck_rate,
            jobs=runtime.store.count_jobs(), receipts=runtime.store.count_receipts(), miners=len(miners_all),
            live_miners=len(live), models=sorted({name for mi in live for name in mi.models}),
            settler=runtime.settler.leader)

    app.include_router(jobs)
    app.include_router(miners)
    app.include_router(admin)
    app.include_router(events_router(runtime.hub, operator_only=True))
    app.include_router(live_router(runtime))
    install_openai(app, runtime)  # /v1/chat/completions, /v1/completions, /v1/models
    _document_limits(app, settings)
    return app


def _document_limits(app: FastAPI, settings: CoordinatorSettings) -> None:
    """Write this coordinator's configured job limits into its OpenAPI document: the models state
    only the protocol's bounds, and a request the document allows must not be refused."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()  # FastAPI's, cached until the routes change
        schemas = document.get("components", {}).get("schemas", {})
        for model, field, keyword, limit in (("JobParams", "max_tokens", "maximum", settings.max_tokens_limit),
                                             ("JobRequest", "prompt", "maxLength", settings.max_prompt_chars)):
            prop = schemas.get(model, {}).get("properties", {}).get(field)
            if prop is not None:
                prop[keyword] = min(limit, prop.get(keyword, limit))
        return document

    app.openapi = openapi  # type: ignore[method-assign]
