"""The OpenAI-compatible routes: ``POST /v1/chat/completions``, ``POST /v1/completions``,
``GET /v1/models`` (and ``GET /v1/models/{model}``), so that software written for OpenAI's API
works against a coordinator by changing ``base_url`` and ``api_key`` (docs/client.md).

Nothing here runs a job its own way: a request becomes a job through ``CoordinatorCore.submit``
exactly as ``POST /v1/jobs`` does (escrow reservation, matching, proof, re-check, receipt,
settlement), and the answer is read from the finished job. What this module adds is translation:

- chat messages become the job's prompt in ``daemons.common.chat``'s canonical form, rendered by
  the miner with the model's own chat template (job parameter ``prompt_format``); a completion's
  prompt is given to the model as it is (``raw``);
- OpenAI's float ``temperature``/``top_p`` become the job's integer thousandths;
- the maximum price comes from the ``X-AITBC-Max-Price`` header, else the API key's default max
  price (``aitbc coordinator keys set-max-price``), else the coordinator's default;
- errors leave in OpenAI's shape with OpenAI's statuses (401 key, 404 unserved model, 400 bad
  parameters, 402 escrow too small, 429 rate limit), by the exception handlers installed on the
  app for these paths only;
- ``stream: true`` answers with Server-Sent Events from the miner's pushed output
  (``daemons.coordinator.live``), ending with ``data: [DONE]``.

Payment rule of a stream the client abandons: closing the connection before the job's result
arrived cancels the job, exactly like ``DELETE /v1/jobs/{id}``: the reservation is released, the
client pays nothing, and the miner is told to stop. Once the result has arrived the job is no
longer cancellable: it completes and is paid in full (docs/client.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from daemons.common.api import ApiError, validation_message
from daemons.common.chat import BadMessages, encode_messages
from daemons.coordinator import models as m
from daemons.coordinator import openai_models as o
from daemons.coordinator.auth import ADDRESS_HEADER, Principal
from daemons.coordinator.live import JobFollower, StreamBroken
from daemons.coordinator.live_api import SSE_HEADERS

if TYPE_CHECKING:
    from daemons.coordinator.daemon import CoordinatorRuntime

log = logging.getLogger("aitbc.coordinator")
OPENAI_PATHS = ("/v1/chat/completions", "/v1/completions", "/v1/models")
DEFAULT_MAX_TOKENS = 128
_TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "insufficient_quota",
          403: "permission_error", 404: "invalid_request_error", 409: "invalid_request_error",
          413: "invalid_request_error", 422: "invalid_request_error", 429: "rate_limit_error"}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": o.OpenAIError, "description": "bad parameters (n other than 1, unknown fields, a bad header)"},
    401: {"model": o.OpenAIError, "description": "missing, unknown or revoked API key"},
    402: {"model": o.OpenAIError, "description": "the escrow cannot cover the request's maximum price"},
    403: {"model": o.OpenAIError, "description": "a miner's API key"},
    404: {"model": o.OpenAIError, "description": "no live miner serves the model"},
    409: {"model": o.OpenAIError, "description": "the job was cancelled (DELETE /v1/jobs/{id})"},
    413: {"model": o.OpenAIError, "description": "request body too large"},
    429: {"model": o.OpenAIError, "description": "rate limited"},
    502: {"model": o.OpenAIError, "description": "the job failed on every miner that tried it"},
    503: {"model": o.OpenAIError, "description": "the node is unreachable (escrow cannot be read)"},
}


def openai_error(status: int, message: str, code: str | None = None, param: str | None = None,
                 headers: dict[str, str] | None = None) -> JSONResponse:
    kind = _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    body = o.OpenAIError(error=o.OpenAIErrorInfo(message=message, type=kind, param=param, code=code))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def _is_openai(request: Request) -> bool:
    path = request.url.path
    return any(path == p or path.startswith(p + "/") for p in OPENAI_PATHS)


Handler = Callable[[Request, Exception], Awaitable[Response]]
MaxPrice = Annotated[str, Header(alias=o.MAX_PRICE_HEADER, pattern=r"^[1-9][0-9]{0,14}$",
                                 description="most the job may cost, in units (at most 15 digits, so it stays "
                                             "within the integers JSON carries exactly); default: the API key's "
                                             "default max price, else the coordinator's")]
"""Typed ``str`` with a None default (not ``str | None``), so the schema says "a string of digits"
rather than "or null": a header cannot carry a JSON null."""


def install_openai(app: FastAPI, runtime: CoordinatorRuntime) -> None:
    """Mount the routes and answer their errors in OpenAI's shape (other paths keep theirs)."""
    app.include_router(openai_router(runtime))
    http_handler: Handler = app.exception_handlers[HTTPException]  # type: ignore[assignment]
    validation_handler: Handler = app.exception_handlers[RequestValidationError]  # type: ignore[assignment]

    async def http_error(request: Request, exc: Exception) -> Response:
        if not _is_openai(request):
            return await http_handler(request, exc)
        assert isinstance(exc, HTTPException)
        code = getattr(exc, "code", None)
        return openai_error(exc.status_code, str(exc.detail), str(code) if code is not None else None,
                            headers=exc.headers)

    async def validation_error(request: Request, exc: Exception) -> Response:
        if not _is_openai(request):
            return await validation_handler(request, exc)
        assert isinstance(exc, RequestValidationError)
        errors = exc.errors()
        loc = [str(p) for p in errors[0].get("loc", ())[1:]] if errors else []
        return openai_error(400, validation_message(errors), "invalid_request", ".".join(loc) or None)

    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    build_schema = app.openapi

    def openapi() -> dict[str, Any]:
        """The schema FastAPI makes, less the 422 it adds to every route: these answer 400."""
        schema = build_schema()
        for path, operations in schema.get("paths", {}).items():
            if path.startswith(OPENAI_PATHS):
                for operation in operations.values():
                    operation.get("responses", {}).pop("422", None)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


# -- translation ------------------------------------------------------------------------------------


def _max_price(header: str | None) -> int | None:
    """The header's price (its pattern is checked by FastAPI: 1 to 18 digits, no leading zero)."""
    return None if header is None else int(header)


def job_request(body: o.ChatCompletionRequest | o.CompletionRequest, max_price: int | None,
                max_tokens_limit: int = 1_000_000) -> m.JobRequest:
    """The AITBC job an OpenAI request asks for (``max_tokens`` lowered to the coordinator's limit)."""
    if isinstance(body, o.ChatCompletionRequest):
        try:
            prompt = encode_messages([msg.chat_message() for msg in body.messages])
        except BadMessages as exc:
            raise ApiError(400, "invalid_messages", str(exc)) from None
        prompt_format, max_tokens = "messages", body.max_completion_tokens or body.max_tokens
    else:
        prompt, prompt_format, max_tokens = body.prompt, "raw", body.max_tokens
    try:
        params = m.JobParams(max_tokens=min(max_tokens or DEFAULT_MAX_TOKENS, max_tokens_limit),
                             temperature_milli=round(body.temperature * 1000),
                             top_p_milli=max(1, round(body.top_p * 1000)), seed=body.seed or 0,
                             prompt_format=prompt_format, stop=body.stops)
        return m.JobRequest(model=body.model, prompt=prompt, params=params, max_price=max_price)
    except ValidationError as exc:
        raise ApiError(400, "invalid_request", validation_message(exc.errors())) from None


class StopFilter:
    """Cuts text before the first stop sequence, holding back a tail that may begin one."""

    def __init__(self, stops: list[str]) -> None:
        self.stops = stops
        self.stopped = False
        self._held = ""

    def feed(self, text: str) -> str:
        if self.stopped:
            return ""
        self._held += text
        found = [i for i in (self._held.find(s) for s in self.stops) if i >= 0]
        if found:
            out, self._held, self.stopped = self._held[:min(found)], "", True
            return out
        hold = max((k for s in self.stops for k in range(1, len(s)) if self._held.endswith(s[:k])), default=0)
        out = self._held[:len(self._held) - hold]
        self._held = self._held[len(out):]
        return out

    def end(self) -> str:
        out, self._held = ("" if self.stopped else self._held), ""
        return out


def _finish(job: m.Job, stops: StopFilter) -> str:
    if stops.stopped:
        return "stop"
    return "length" if (job.completion_tokens or 0) >= int(job.params.get("max_tokens", 0)) else "stop"


def _usage(job: m.Job) -> o.Usage:
    prompt, completion = job.prompt_tokens or 0, job.completion_tokens or 0
    return o.Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


def _facts(job: m.Job) -> o.AitbcFacts:
    return o.AitbcFacts(job_id=job.job_id, receipt_id=job.receipt_id, price=job.price, miner=job.miner)


def _ended_badly(job: m.Job) -> ApiError:
    if job.status == m.JobStatus.CANCELLED:
        return ApiError(409, "job_cancelled", f"job {job.job_id} was cancelled")
    return ApiError(502, "job_failed", f"job {job.job_id} failed: {job.error or 'no miner could run it'}")


# -- the routes --------------------------------------------------------------------------------------


def openai_router(runtime: CoordinatorRuntime) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["openai"])
    as_client = Depends(runtime.auth.dependency("client"))

    def client_of(who: Principal) -> str:
        if who.address is None:
            raise ApiError(400, "address_required", f"on the operator socket, name the client in the {ADDRESS_HEADER} header")
        return who.address

    def read(job_id: str, client: str) -> Callable[[], m.Job]:
        return lambda: runtime.core.job_for(job_id, client).client_view()

    async def submit(client: str, request: m.JobRequest, default_max_price: int | None) -> m.Job:
        try:
            job = await run_in_threadpool(runtime.core.submit, client, request, default_max_price)
        except ApiError as exc:
            if getattr(exc, "code", None) == "model_not_served":
                raise ApiError(404, "model_not_found", str(exc.detail)) from None
            if exc.status_code == 422:  # a limit of this coordinator (max_tokens, prompt length): OpenAI says 400
                raise ApiError(400, str(getattr(exc, "code", "invalid_request")), str(exc.detail)) from None
            raise
        return job.client_view()

    def cancel_later(job_id: str, client: str) -> None:
        """Cancel an abandoned job without waiting (this task may itself be being cancelled)."""
        def cancel() -> None:
            with contextlib.suppress(ApiError):
                runtime.core.cancel(job_id, client)
                log.info("streaming client went away; job cancelled", extra={"job_id": job_id})

        asyncio.get_running_loop().run_in_executor(None, cancel)

    async def finished(job: m.Job, client: str, request: Request) -> m.Job:
        follower = JobFollower(runtime.hub, runtime.core.live, job.job_id, read(job.job_id, client))
        try:
            async for item in follower.events(request.is_disconnected):
                if isinstance(item, m.Job):
                    return item
        except StreamBroken:
            pass  # not streaming: only the final output counts
        finally:
            follower.close()
        cancel_later(job.job_id, client)
        raise ApiError(499, "client_closed", "the client closed the connection; the job was cancelled")

    def stream(job: m.Job, client: str, body: o.ChatCompletionRequest | o.CompletionRequest,
               request: Request) -> StreamingResponse:
        chat = isinstance(body, o.ChatCompletionRequest)
        ident, created = f"{'chatcmpl' if chat else 'cmpl'}-{job.job_id}", int(time.time())
        head = {"id": ident, "object": "chat.completion.chunk" if chat else "text_completion", "created": created,
                "model": job.model}

        def chunk(text: str | None, finish: str | None = None, **extra: Any) -> bytes:
            if chat:
                delta: dict[str, Any] = {} if text is None else {"content": text}
                if text == "" and finish is None:
                    delta["role"] = "assistant"
                choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
            else:
                choice = {"index": 0, "text": text or "", "finish_reason": finish, "logprobs": None}
            return _data({**head, "choices": [choice], **extra})

        follower = JobFollower(runtime.hub, runtime.core.live, job.job_id, read(job.job_id, client))
        stops = StopFilter(body.stops)

        async def events() -> AsyncIterator[bytes]:
            done = False
            try:
                if chat:
                    yield chunk("")
                async for item in follower.events(request.is_disconnected):
                    if isinstance(item, str):
                        text = stops.feed(item)
                        if text:
                            yield chunk(text)
                        continue
                    done = True
                    if item.status != m.JobStatus.COMPLETED:
                        problem = _ended_badly(item)
                        yield _data(o.OpenAIError(error=o.OpenAIErrorInfo(
                            message=str(problem.detail), type="server_error", code=str(problem.code))).model_dump())
                        return
                    tail = stops.end()
                    if tail:
                        yield chunk(tail)
                    yield chunk(None, _finish(item, stops), aitbc=_facts(item).model_dump())
                    if body.include_usage:
                        yield _data({**head, "choices": [], "usage": _usage(item).model_dump(),
                                     "aitbc": _facts(item).model_dump()})
                    yield b"data: [DONE]\n\n"
            except StreamBroken as exc:
                yield _data(o.OpenAIError(error=o.OpenAIErrorInfo(message=str(exc), type="server_error",
                                                                  code="stream_broken")).model_dump())
            finally:
                follower.close()
                if not done:
                    cancel_later(job.job_id, client)

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={**SSE_HEADERS, o.JOB_ID_HEADER: job.job_id})

    def headers(response: Response, job: m.Job) -> None:
        response.headers[o.JOB_ID_HEADER] = job.job_id
        if job.receipt_id:
            response.headers[o.RECEIPT_ID_HEADER] = job.receipt_id

    stream_doc = {200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
                        "description": "with stream: true, chunks as Server-Sent Events ending with data: [DONE]"}}

    async def answer(body: o.ChatCompletionRequest | o.CompletionRequest, request: Request, response: Response,
                     max_price: str | None, who: Principal) -> Any:
        client = client_of(who)
        job = await submit(client, job_request(body, _max_price(max_price), runtime.settings.max_tokens_limit),
                           who.default_max_price)
        if body.stream:
            return stream(job, client, body, request)
        job = await finished(job, client, request)
        if job.status != m.JobStatus.COMPLETED:
            raise _ended_badly(job)
        stops = StopFilter(body.stops)
        text = stops.feed(job.output or "") + stops.end()
        headers(response, job)
        common: dict[str, Any] = {"created": job.created_ms // 1000, "model": job.model, "usage": _usage(job),
                                  "aitbc": _facts(job)}
        if isinstance(body, o.ChatCompletionRequest):
            return o.ChatCompletion(id=f"chatcmpl-{job.job_id}", **common, choices=[o.ChatChoice(
                message=o.AssistantMessage(content=text), finish_reason=_finish(job, stops))])
        return o.Completion(id=f"cmpl-{job.job_id}", **common,
                            choices=[o.TextChoice(text=text, finish_reason=_finish(job, stops))])

    @router.post("/chat/completions", response_model=o.ChatCompletion, responses={**_RESPONSES, **stream_doc})
    async def chat_completions(body: o.ChatCompletionRequest, request: Request, response: Response,
                               max_price: MaxPrice = None, who: Principal = as_client) -> Any:
        """A chat completion, run as a paid, proven, receipted AITBC job (OpenAI's shape)."""
        return await answer(body, request, response, max_price, who)

    @router.post("/completions", response_model=o.Completion, responses={**_RESPONSES, **stream_doc})
    async def completions(body: o.CompletionRequest, request: Request, response: Response,
                          max_price: MaxPrice = None, who: Principal = as_client) -> Any:
        """A text completion of a raw prompt (no chat template), run as an AITBC job."""
        return await answer(body, request, response, max_price, who)

    model_errors = {k: v for k, v in _RESPONSES.items() if k in (400, 401, 403, 429)}

    @router.get("/models", response_model=m.ModelList, responses=model_errors)
    def list_models(who: Principal = as_client) -> m.ModelList:
        """Models that live, bonded miners serve now, in OpenAI's list shape; ``aitbc`` in each
        entry: live miners, free slots, the lowest price per 1000 tokens, the weights' ids."""
        return runtime.core.models()

    @router.get("/models/{model}", response_model=m.ModelInfo,
                responses={**model_errors, 404: _RESPONSES[404]})
    def get_model(model: Annotated[str, Path(min_length=1, max_length=64)], who: Principal = as_client) -> m.ModelInfo:
        """One served model (404 when no live miner serves it)."""
        for info in runtime.core.models().data:
            if info.id == model:
                return info
        raise ApiError(404, "model_not_found", f"no live miner serves model {model!r}")

    return router


def _data(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()
