"""The typed miner clients (blocking and asyncio) for the CLI, the TUI and the tests.

``target`` is the operator socket (``HOME/run/miner.sock``: everything) or the public URL
(``http://rig:18001``: ``/health`` and ``/metrics`` only). ``/health`` answers 503 while the
miner is not ready; :meth:`MinerClient.health` returns the body either way, because "not ready,
and here is why" is the answer an operator asked for, not an error.
"""

from __future__ import annotations

import os
from typing import Any

import httpx
from pydantic import ValidationError

from daemons.common.client import AsyncDaemonClient, DaemonClient, target_for
from daemons.common.errors import DaemonError
from daemons.common.home import Home
from daemons.common.stream import AsyncEventStream, EventStream
from daemons.miner.models import MinerHealth, MinerStatus, VerifyRequest, VerifyVerdict
from daemons.miner.telemetry import TelemetrySnapshot


def miner_socket(home: Home) -> os.PathLike[str]:
    return target_for(home, "miner")


class MinerClient:
    """Blocking client; a context manager."""

    def __init__(self, target: str | os.PathLike[str], timeout: float = 10.0) -> None:
        self._http = DaemonClient(target, timeout=timeout, name="miner")

    def __enter__(self) -> MinerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _raw(self, path: str) -> httpx.Response:
        try:
            return self._http._http.get(path)
        except (httpx.TransportError, OSError) as exc:
            raise self._http._unavailable(exc) from None

    def health(self) -> MinerHealth:
        response = self._raw("/health")
        if response.status_code not in (200, 503):
            return self._http._result(response, MinerHealth)  # raises the daemon's error
        try:
            return MinerHealth.model_validate(response.json())
        except (ValueError, ValidationError):
            raise DaemonError(response.status_code, "bad_response", "miner answered /health with an unexpected body") from None

    def metrics(self) -> str:
        response = self._raw("/metrics")
        if response.status_code >= 400:
            self._http._result(response, None)
        return response.text

    def status(self) -> MinerStatus:
        return self._http.get("/v1/status", model=MinerStatus)

    def telemetry(self) -> TelemetrySnapshot:
        return self._http.get("/v1/telemetry", model=TelemetrySnapshot)

    def verify(self, model: str, prompt: str, output: str, params: dict[str, Any] | None = None) -> VerifyVerdict:
        body = VerifyRequest(model=model, prompt=prompt, output=output, params=params or {})
        return self._http.post("/v1/verify", body, model=VerifyVerdict)

    def events(self, topics: list[str]) -> EventStream:
        """``telemetry``, ``job`` and ``miner`` events (operator socket only)."""
        return self._http.events(topics)


class AsyncMinerClient:
    """Asyncio client with the same methods (the TUI uses this one)."""

    def __init__(self, target: str | os.PathLike[str], timeout: float = 10.0) -> None:
        self._http = AsyncDaemonClient(target, timeout=timeout, name="miner")

    async def __aenter__(self) -> AsyncMinerClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _raw(self, path: str) -> httpx.Response:
        try:
            return await self._http._http.get(path)
        except (httpx.TransportError, OSError) as exc:
            raise self._http._unavailable(exc) from None

    async def health(self) -> MinerHealth:
        response = await self._raw("/health")
        if response.status_code not in (200, 503):
            return self._http._result(response, MinerHealth)  # raises the daemon's error
        try:
            return MinerHealth.model_validate(response.json())
        except (ValueError, ValidationError):
            raise DaemonError(response.status_code, "bad_response", "miner answered /health with an unexpected body") from None

    async def metrics(self) -> str:
        response = await self._raw("/metrics")
        if response.status_code >= 400:
            self._http._result(response, None)
        return response.text

    async def status(self) -> MinerStatus:
        return await self._http.get("/v1/status", model=MinerStatus)

    async def telemetry(self) -> TelemetrySnapshot:
        return await self._http.get("/v1/telemetry", model=TelemetrySnapshot)

    async def verify(self, model: str, prompt: str, output: str, params: dict[str, Any] | None = None) -> VerifyVerdict:
        body = VerifyRequest(model=model, prompt=prompt, output=output, params=params or {})
        return await self._http.post("/v1/verify", body, model=VerifyVerdict)

    def events(self, topics: list[str]) -> AsyncEventStream:
        return self._http.events(topics)
