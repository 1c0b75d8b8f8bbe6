"""The pieces every daemon's FastAPI app shares: doors, uniform errors, body limit, /health.

A daemon's API is described once and served on two doors (see :mod:`daemons.common.server`):
the Unix socket is the *operator* door (full rights, no API key), TCP is the *public* door. The
server tags every connection with its door, so endpoints decide rights with a dependency rather
than by guessing from addresses. Anything not tagged counts as public: forgetting to wrap an app
must fail closed.

Every error leaves as ``{"error": {"code": ..., "message": "..."}}`` with a 4xx/5xx status, so
that the one client (:mod:`daemons.common.client`) can turn any failure into a one-line message.

The OpenAPI document is the contract (``tests/contract/`` fuzzes every daemon against it): each
route declares every status it can answer with :func:`error_responses`, the statuses every route
shares are declared once by :func:`create_app`, and a 405 names every method of its path.
"""

from __future__ import annotations

import os
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException, WebSocketException
from starlette.requests import HTTPConnection
from starlette.routing import Match
from starlette.status import WS_1008_POLICY_VIOLATION
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from daemons.common.models import Door, ErrorBody, ErrorInfo, Health

DEFAULT_MAX_BODY = 1 << 20
SHARED_ERRORS = (400, 413, 422, 500)
"""Statuses any route of a :func:`create_app` app can answer: a body that is not text (400), too
large (413), invalid input (422), and our own failure (500)."""


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route, router or app: each status with the shared error body.

    Declare on a route (or its router) each refusal it can make, so that the document tells
    clients and the fuzzer the truth: ``@router.get(..., responses=error_responses(404, 409))``.
    """
    return {status: {"model": ErrorBody, "description": HTTPStatus(status).phrase} for status in statuses}


class ApiError(HTTPException):
    """Raise from an endpoint to answer ``status`` with a stable machine ``code`` and a message."""

    def __init__(self, status: int, code: int | str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code=status, detail=message, headers=headers)
        self.code = code
        self.message = message


class DoorApp:
    """ASGI wrapper that tags each HTTP/WebSocket connection with the door it came through."""

    def __init__(self, app: ASGIApp, door: Door) -> None:
        self.app = app
        self.door = door

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = {**scope, "state": {**scope.get("state", {}), "door": self.door}}
        await self.app(scope, receive, send)


def door(conn: HTTPConnection) -> Door:
    """FastAPI dependency: which door this request or WebSocket came through."""
    return "operator" if conn.scope.get("state", {}).get("door") == "operator" else "public"


def require_operator(conn: HTTPConnection) -> None:
    """FastAPI dependency: refuse (403, or WebSocket close 1008) unless on the operator socket.

    Use as ``dependencies=[Depends(require_operator)]`` on a route or router.
    """
    if door(conn) == "operator":
        return
    message = "only available on the operator socket (run this on the daemon's host)"
    if conn.scope["type"] == "websocket":
        raise WebSocketException(code=WS_1008_POLICY_VIOLATION, reason=message)
    raise ApiError(403, "operator_only", message)


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413, before or while they are read.

    A declared Content-Length over the limit is refused without reading anything; a chunked
    body is counted as it arrives, so a lying or absent length cannot get more through.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _error_response(413, "body_too_large", self._message())(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise ApiError(413, "body_too_large", self._message())
            return message

        await self.app(scope, limited, send)

    def _message(self) -> str:
        return f"request body larger than {self.max_bytes} bytes"


def create_app(service: str, version: str = "0", *, max_body_bytes: int = DEFAULT_MAX_BODY,
               **fastapi_kwargs: Any) -> FastAPI:
    """A FastAPI app with the shared error format, body limit and ``GET /health``.

    Lifespan events of the app are not run by :func:`~daemons.common.server.run_daemon` (it
    serves one app on several doors); pass start/stop work as its ``on_startup``/``on_shutdown``.
    """
    responses = {**error_responses(*SHARED_ERRORS), **fastapi_kwargs.pop("responses", {})}
    app = FastAPI(title=f"aitbc {service}", version=version, responses=responses, **fastapi_kwargs)
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _internal_error)

    @app.get("/health", response_model=Health, tags=["meta"])
    async def health(request: Request) -> Health:
        """Liveness: answers as soon as the daemon serves requests."""
        return Health(service=service, version=version, pid=os.getpid(), door=door(request))

    return app


def _error_response(status: int, code: int | str, message: str,
                    headers: dict[str, str] | None = None) -> JSONResponse:
    body = ErrorBody(error=ErrorInfo(code=code, message=message))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = getattr(exc, "code", exc.status_code)
    headers = exc.headers
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": ", ".join(_allowed_methods(request))}
    return _error_response(exc.status_code, code, str(exc.detail), headers)


def _allowed_methods(request: Request) -> list[str]:
    """Every method of every route on this path: Starlette's 405 names only the first route's,
    where one path often has several routes (``GET`` and ``POST /v1/jobs``)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": ""})
        route_methods = getattr(route, "methods", None)
        if match != Match.NONE and route_methods:
            methods |= set(route_methods)
    return sorted(methods)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return _error_response(422, "invalid_request", validation_message(exc.errors()))


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    # Starlette re-raises after this answer, so the server logs the traceback; the client only
    # learns that it was our fault, never internals.
    # "Connection: close": the server drops the connection after an unhandled error, so a
    # keep-alive client must not reuse it for its next request.
    return _error_response(500, "internal", "internal error; see the daemon's log",
                           {"Connection": "close"})


def validation_message(errors: Any) -> str:
    """'amount: input should be a valid integer; query.height: field required' from pydantic errors."""
    parts = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ())]
        if err.get("type") == "json_invalid":
            loc = ["body"]
        elif loc and loc[0] == "body" and len(loc) > 1:
            loc = loc[1:]
        where = ".".join(loc) or "request"
        msg = str(err.get("msg", "invalid"))
        if err.get("type") == "json_invalid":
            msg = "invalid JSON"
        parts.append(f"{where}: {msg[:1].lower()}{msg[1:]}")
    return "; ".join(parts) or "invalid request"
