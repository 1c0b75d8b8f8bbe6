"""The one typed client for every daemon API, used by the CLI, the TUI and the tests.

``target`` is either a Unix socket path (the operator door: ``target_for(home, "node")``) or an
``http(s)://`` base URL (a public door, usually with an API key). Every failure surfaces as a
:class:`DaemonError` with a one-line message; an unreachable daemon is a
:class:`DaemonUnavailable` that says what is missing ("node is not running (no socket at ...)")
rather than a connection traceback, because that is what an operator at a terminal needs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import functools
import os
import ssl
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar, overload

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from daemons.common.errors import DaemonError, DaemonUnavailable, unavailable
from daemons.common.home import Home
from daemons.common.stream import AsyncEventStream, EventStream

T = TypeVar("T")
DEFAULT_TIMEOUT = 10.0
EVENTS_PATH = "/v1/events"
_SOCKET_BASE = "http://aitbc"


@functools.cache
def _tls() -> ssl.SSLContext:
    """The TLS context every client of this process shares. httpx builds a fresh one per client
    (and per transport) unless given one, loading the CA bundle each time: about 0.1 s of CPU on
    a busy machine, paid by every client made even for a Unix socket that never speaks TLS. A
    miner made one per ``/v1/status`` (its earnings from the node), so polling a fleet of rigs
    spent most of each poll there. One context, made on first use, is safe to share."""
    return httpx.create_ssl_context()


def target_for(home: Home, service: str) -> Path:
    """The operator socket of ``service`` in ``home``: what the CLI and TUI connect to."""
    return home.socket(service)


class _Base:
    """What the sync and async clients share: target parsing, the httpx client, errors, decoding."""

    _CLIENT: ClassVar[type[httpx.Client] | type[httpx.AsyncClient]]
    _TRANSPORT: ClassVar[type[httpx.HTTPTransport] | type[httpx.AsyncHTTPTransport]]

    def __init__(self, target: str | os.PathLike[str], api_key: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT, name: str | None = None) -> None:
        text = os.fspath(target)
        self.socket_path = None if text.startswith(("http://", "https://")) else Path(text)
        self.base_url = _SOCKET_BASE if self.socket_path else text.rstrip("/")
        self.name = name or (self.socket_path.stem if self.socket_path else "daemon")
        self.timeout = timeout
        self.headers = {"X-Api-Key": api_key} if api_key else {}
        transport = self._TRANSPORT(uds=os.fspath(self.socket_path), verify=_tls()) if self.socket_path else None
        self._http: Any = self._CLIENT(base_url=self.base_url, transport=transport, verify=_tls(),
                                       headers=self.headers, timeout=timeout)

    def _unavailable(self, exc: BaseException) -> DaemonUnavailable:
        return unavailable(self.name, self.socket_path, self.base_url, self.timeout, exc)

    def _result(self, response: httpx.Response, model: Any) -> Any:
        if response.status_code >= 400:
            raise _error_from(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            payload = response.json()
        except ValueError:
            raise DaemonError(response.status_code, "bad_response",
                              f"{self.name} answered with something that is not JSON") from None
        if model is None:
            return payload
        try:
            return TypeAdapter(model).validate_python(payload)
        except ValidationError as exc:
            raise DaemonError(response.status_code, "bad_response",
                              f"{self.name} answered an unexpected shape: {exc.errors()[0]['msg']}") from None

    def _ws_uri(self, path: str) -> str:
        base = "http://localhost" if self.socket_path else self.base_url
        return "ws" + base.removeprefix("http") + path


class ClosesOnExit(ABC):
    """``with client:`` closes the client on the way out; every blocking client is used this way."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abstractmethod
    def close(self) -> None:
        """Release the client's connections."""


class AsyncClosesOnExit(ABC):
    """``async with client:`` closes the client on the way out (the asyncio twin of :class:`ClosesOnExit`)."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @abstractmethod
    async def aclose(self) -> None:
        """Release the client's connections."""


class DaemonClient(ClosesOnExit, _Base):
    """Blocking client (CLI, tests). Use as a context manager or call :meth:`close`."""

    _CLIENT = httpx.Client
    _TRANSPORT = httpx.HTTPTransport

    def close(self) -> None:
        self._http.close()

    @overload
    def request(self, method: str, path: str, *, params: dict[str, Any] | None = ...,
                json: Any = ..., model: type[T]) -> T: ...
    @overload
    def request(self, method: str, path: str, *, params: dict[str, Any] | None = ...,
                json: Any = ..., model: None = ...) -> Any: ...
    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                json: Any = None, model: Any = None) -> Any:
        try:
            response = self._http.request(method, path, params=params, json=_plain(json))
        except (httpx.TransportError, OSError) as exc:
            raise self._unavailable(exc) from None
        return self._result(response, model)

    @overload
    def get(self, path: str, params: dict[str, Any] | None = ..., *, model: type[T]) -> T: ...
    @overload
    def get(self, path: str, params: dict[str, Any] | None = ..., model: None = ...) -> Any: ...
    def get(self, path: str, params: dict[str, Any] | None = None, model: Any = None) -> Any:
        return self.request("GET", path, params=params, model=model)

    @overload
    def post(self, path: str, json: Any = ..., *, model: type[T]) -> T: ...
    @overload
    def post(self, path: str, json: Any = ..., model: None = ...) -> Any: ...
    def post(self, path: str, json: Any = None, model: Any = None) -> Any:
        return self.request("POST", path, json=json, model=model)

    @overload
    def delete(self, path: str, params: dict[str, Any] | None = ..., *, model: type[T]) -> T: ...
    @overload
    def delete(self, path: str, params: dict[str, Any] | None = ..., model: None = ...) -> Any: ...
    def delete(self, path: str, params: dict[str, Any] | None = None, model: Any = None) -> Any:
        return self.request("DELETE", path, params=params, model=model)

    def events(self, topics: Sequence[str], path: str = EVENTS_PATH) -> EventStream:
        """``with client.events([...]) as stream: for event in stream: ...`` (or ``receive(timeout)``)."""
        return EventStream(self, topics, path)


class AsyncDaemonClient(AsyncClosesOnExit, _Base):
    """Asyncio client (TUI, async tests), same methods as :class:`DaemonClient`."""

    _CLIENT = httpx.AsyncClient
    _TRANSPORT = httpx.AsyncHTTPTransport

    async def aclose(self) -> None:
        await self._http.aclose()

    @overload
    async def request(self, method: str, path: str, *, params: dict[str, Any] | None = ...,
                      json: Any = ..., model: type[T]) -> T: ...
    @overload
    async def request(self, method: str, path: str, *, params: dict[str, Any] | None = ...,
                      json: Any = ..., model: None = ...) -> Any: ...
    async def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                      json: Any = None, model: Any = None) -> Any:
        try:
            response = await self._http.request(method, path, params=params, json=_plain(json))
        except (httpx.TransportError, OSError) as exc:
            raise self._unavailable(exc) from None
        return self._result(response, model)

    @overload
    async def get(self, path: str, params: dict[str, Any] | None = ..., *, model: type[T]) -> T: ...
    @overload
    async def get(self, path: str, params: dict[str, Any] | None = ..., model: None = ...) -> Any: ...
    async def get(self, path: str, params: dict[str, Any] | None = None, model: Any = None) -> Any:
        return await self.request("GET", path, params=params, model=model)

    @overload
    async def post(self, path: str, json: Any = ..., *, model: type[T]) -> T: ...
    @overload
    async def post(self, path: str, json: Any = ..., model: None = ...) -> Any: ...
    async def post(self, path: str, json: Any = None, model: Any = None) -> Any:
        return await self.request("POST", path, json=json, model=model)

    @overload
    async def delete(self, path: str, params: dict[str, Any] | None = ..., *, model: type[T]) -> T: ...
    @overload
    async def delete(self, path: str, params: dict[str, Any] | None = ..., model: None = ...) -> Any: ...
    async def delete(self, path: str, params: dict[str, Any] | None = None, model: Any = None) -> Any:
        return await self.request("DELETE", path, params=params, model=model)

    def events(self, topics: Sequence[str], path: str = EVENTS_PATH) -> AsyncEventStream:
        """``async with client.events([...]) as stream: async for event in stream: ...``"""
        return AsyncEventStream(self, topics, path)


def _error_from(response: httpx.Response) -> DaemonError:
    """Decode the shared ``{"error": {"code", "message"}}`` body; fall back to the raw text."""
    try:
        err = response.json()["error"]
        return DaemonError(response.status_code, err["code"], str(err["message"]))
    except (ValueError, KeyError, TypeError):
        text = response.text.strip().splitlines()[0][:200] if response.text.strip() else response.reason_phrase
        return DaemonError(response.status_code, response.status_code, text)


def _plain(body: Any) -> Any:
    """Accept pydantic models as request bodies."""
    if isinstance(body, BaseModel):
        return body.model_dump(mode="json")
    return body
