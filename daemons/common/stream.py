"""Client side of the ``/v1/events`` WebSocket (protocol: :mod:`daemons.common.events`).

Entering a stream returns only after the daemon confirmed the subscription, so a caller that
then triggers an action cannot miss the event it causes. Error frames (``lagging``) and failed
connects become :class:`~daemons.common.errors.DaemonError` like every other client failure.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from websockets.asyncio import client as ws_async
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidHandshake, InvalidStatus
from websockets.sync import client as ws_sync

from daemons.common.errors import DaemonError, DaemonUnavailable
from daemons.common.models import Event

if TYPE_CHECKING:
    from daemons.common.client import AsyncDaemonClient, DaemonClient, _Base


class EventStream:
    """Blocking event subscription; entering it returns once the daemon confirmed the topics."""

    def __init__(self, client: DaemonClient, topics: Sequence[str], path: str) -> None:
        self._client, self._topics, self._path = client, list(topics), path
        self._ws: ws_sync.ClientConnection | None = None

    def __enter__(self) -> EventStream:
        c = self._client
        kwargs: dict[str, Any] = {"additional_headers": c.headers, "open_timeout": c.timeout,
                                  "legacy": True}
        try:
            if c.socket_path:
                self._ws = ws_sync.unix_connect(os.fspath(c.socket_path), c._ws_uri(self._path), **kwargs)
            else:
                self._ws = ws_sync.connect(c._ws_uri(self._path), **kwargs)
            self._ws.send(json.dumps({"subscribe": self._topics}))
            _expect_ack(self._ws.recv(timeout=c.timeout))
        except BaseException as exc:
            self.close()
            raise _ws_failure(c, exc) from None
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._ws is not None:
            self._ws.close()
            self._ws = None

    def __iter__(self) -> Iterator[Event]:
        return self

    def __next__(self) -> Event:
        return self.receive(None)

    def receive(self, timeout: float | None = None) -> Event:
        """The next event; ``TimeoutError`` after ``timeout`` seconds, ``StopIteration`` on close."""
        if self._ws is None:
            self.__enter__()
        assert self._ws is not None
        try:
            return _event_from(self._ws.recv(timeout=timeout))
        except ConnectionClosedOK:
            raise StopIteration from None
        except ConnectionClosed as exc:
            raise DaemonUnavailable(f"{self._client.name} closed the event stream ({exc})") from None


class AsyncEventStream:
    """Asyncio event subscription; ``async with`` returns once the daemon confirmed the topics."""

    def __init__(self, client: AsyncDaemonClient, topics: Sequence[str], path: str) -> None:
        self._client, self._topics, self._path = client, list(topics), path
        self._ws: ws_async.ClientConnection | None = None

    async def __aenter__(self) -> AsyncEventStream:
        c = self._client
        kwargs: dict[str, Any] = {"additional_headers": c.headers, "open_timeout": c.timeout}
        try:
            if c.socket_path:
                self._ws = await ws_async.unix_connect(os.fspath(c.socket_path), c._ws_uri(self._path), **kwargs)
            else:
                self._ws = await ws_async.connect(c._ws_uri(self._path), **kwargs)
            await self._ws.send(json.dumps({"subscribe": self._topics}))
            _expect_ack(await asyncio.wait_for(self._ws.recv(), c.timeout))
        except BaseException as exc:
            await self.aclose()
            raise _ws_failure(c, exc) from None
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._ws is not None:
            await self._ws.close()
            self._ws = None

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        if self._ws is None:
            await self.__aenter__()
        assert self._ws is not None
        try:
            return _event_from(await self._ws.recv())
        except ConnectionClosedOK:
            raise StopAsyncIteration from None
        except ConnectionClosed as exc:
            raise DaemonUnavailable(f"{self._client.name} closed the event stream ({exc})") from None


def _expect_ack(raw: str | bytes) -> None:
    message = json.loads(raw)
    if "error" in message:
        raise _frame_error(message)
    if "subscribed" not in message:
        raise DaemonError(0, "bad_response", "event stream did not confirm the subscription")


def _event_from(raw: str | bytes) -> Event:
    message = json.loads(raw)
    if "error" in message:
        raise _frame_error(message)
    return Event.model_validate(message)


def _frame_error(message: dict[str, Any]) -> DaemonError:
    err = message.get("error") or {}
    return DaemonError(0, err.get("code", "error"), str(err.get("message", "event stream error")))


def _ws_failure(client: _Base, exc: BaseException) -> BaseException:
    """Map a failed connect/subscribe to DaemonError; anything unexpected passes through."""
    if isinstance(exc, DaemonError):
        return exc
    if isinstance(exc, InvalidStatus):
        response = exc.response
        return DaemonError(response.status_code, "refused",
                           f"{client.name} refused the event stream (HTTP {response.status_code})")
    if isinstance(exc, InvalidHandshake):
        return DaemonError(0, "bad_response", f"event stream handshake failed: {exc}")
    if isinstance(exc, (OSError, TimeoutError, ConnectionClosed)):
        return client._unavailable(exc)
    return exc
