"""Routes of live output: miners push a running job's text, clients follow it as it grows.

- ``POST /v1/miners/jobs/{task_id}/output`` (miner): one piece of a run task's output while it
  is generated; the answer tells the miner to stop when the job is no longer its own.
- ``GET /v1/jobs/{job_id}/output`` (client): Server-Sent Events of one job: ``output`` events
  (``{"text"}``) as the miner generates, then one ``job`` event with the finished job (the same
  shape as ``GET /v1/jobs/{job_id}``), or an ``error`` event. ``aitbc submit --stream`` reads it.
  Closing the connection does not cancel the job (``DELETE /v1/jobs/{id}`` does).

The pieces and their consistency rules are in :mod:`daemons.coordinator.live`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from daemons.common.api import ApiError
from daemons.coordinator import models as m
from daemons.coordinator.auth import ADDRESS_HEADER, Principal
from daemons.coordinator.live import JobFollower, StreamBroken

if TYPE_CHECKING:
    from daemons.coordinator.daemon import CoordinatorRuntime

JobId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "bad request (operator socket without the acting address)"},
    401: {"description": "missing, unknown or revoked API key"},
    403: {"description": "an API key of the other role"},
    404: {"description": "no such job (or not this client's)"},
    409: {"description": "not this miner's task"},
    422: {"description": "malformed body or path"},
    429: {"description": "rate limited"},
}


def sse(event: str, data: Any) -> bytes:
    """One Server-Sent Event."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def live_router(runtime: CoordinatorRuntime) -> APIRouter:
    auth = runtime.auth
    router = APIRouter(prefix="/v1")
    as_client = Depends(auth.dependency("client"))
    as_miner = Depends(auth.dependency("miner"))

    @router.post("/miners/jobs/{task_id}/output", response_model=m.OutputReply, tags=["miner"],
                 responses={k: v for k, v in _ERRORS.items() if k != 404})
    async def push_output(task_id: JobId, body: m.OutputDelta, who: Principal = as_miner) -> m.OutputReply:
        """A piece of a run task's output, while the miner generates it; ``cancel`` in the
        answer: the job is no longer this miner's, stop generating it."""
        if who.address is None:
            raise ApiError(400, "address_required", f"on the operator socket, name the miner in the {ADDRESS_HEADER} header")
        miner, core = who.address, runtime.core
        if not core.live.holds(task_id, miner):
            job = await run_in_threadpool(core.store.get_job, task_id)
            if job is None or not core.live.confirm(job, miner):
                return m.OutputReply(accepted=False, cancel=True)
        event = core.live.add(task_id, miner, body)
        if event is None:
            return m.OutputReply(accepted=False)
        runtime.hub.publish(f"output:{task_id}", event)
        return m.OutputReply(accepted=True)

    @router.get("/jobs/{job_id}/output", tags=["client"], response_class=StreamingResponse,
                responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
                                 "description": "output events as the job runs, then the finished job"},
                           **{k: v for k, v in _ERRORS.items() if k not in (409,)}})
    async def follow_output(job_id: JobId, request: Request, who: Principal = as_client) -> StreamingResponse:
        """Follow a job's output as the miner generates it (Server-Sent Events)."""
        core, client = runtime.core, who.address
        await run_in_threadpool(core.job_for, job_id, client)  # 404 before the stream starts
        follower = JobFollower(runtime.hub, core.live, job_id,
                               lambda: core.job_for(job_id, client).client_view())

        async def stream() -> AsyncIterator[bytes]:
            try:
                async for item in follower.events(request.is_disconnected):
                    if isinstance(item, str):
                        yield sse("output", {"text": item})
                    else:
                        yield sse("job", item.model_dump(mode="json"))
            except StreamBroken as exc:
                yield sse("error", {"error": {"code": "stream_broken", "message": str(exc)}})
            finally:
                follower.close()

        return StreamingResponse(stream(), media_type="text/event-stream", headers=SSE_HEADERS)

    return router
