"""The typed miner clients (blocking and asyncio) for the CLI, the TUI and the tests.

``target`` is the operator socket (``HOME/run/miner.sock``: everything) or the public URL
(``http://rig:18001``: ``/health`` and ``/metrics`` only). ``/health`` answers 503 while the
miner is not ready; :meth:`MinerClient.health` returns the body either way, because "not ready,
and here is why" is the answer an operator asked for, not an error.

Each client is the daemon client (connection, errors, events, context manager) with the miner's
typed answers added; the answers of ``/health`` and ``/metrics`` are read by one function each,
whichever client fetched them.
"""

from __future__ import annotations

import os
from typing import Any

import httpx
from pydantic import ValidationError

from daemons.common.client import AsyncDaemonClient, DaemonClient, target_for
from daemons.common.errors import DaemonError
from daemons.common.home import Home
from daemons.miner.models import MinerHealth, MinerStatus, VerifyRequest, VerifyVerdict
from daemons.miner.telemetry import TelemetrySnapshot


def miner_socket(home: Home) -> os.PathLike[str]:
    return target_for(home, "miner")


class MinerClient(DaemonClient):
    """Blocking client; a context manager. ``events`` streams topics ``telemetry``, ``job`` and
    ``miner`` (operator socket only)."""

    def __init__(self, target: str | os.PathLike[str], timeout: float = 10.0) -> None:
        super().__init__(target, timeout=timeout, name="miner")

    def _raw(self, path: str) -> httpx.Response:
        try:
            return self._http.get(path)
        except (httpx.TransportError, OSError) as exc:
            raise self._unavailable(exc) from None

    def health(self) -> MinerHealth:
        return _health(self, self._raw("/health"))

    def metrics(self) -> str:
        return _metrics(self, self._raw("/metrics"))

    def status(self) -> MinerStatus:
        return self.get("/v1/status", model=MinerStatus)

    def telemetry(self) -> TelemetrySnapshot:
        return self.get("/v1/telemetry", model=TelemetrySnapshot)

    def verify(self, model: str, prompt: str, output: str, params: dict[str, Any] | None = None) -> VerifyVerdict:
        return self.post("/v1/verify", _verify_body(model, prompt, output, params), model=VerifyVerdict)


class AsyncMinerClient(AsyncDaemonClient):
    """Asyncio client with the same methods."""

    def __init__(self, target: str | os.PathLike[str], timeout: float = 10.0) -> None:
        super().__init__(target, timeout=timeout, name="miner")

    async def _raw(self, path: str) -> httpx.Response:
        try:
            return await self._http.get(path)
        except (httpx.TransportError, OSError) as exc:
            raise self._unavailable(exc) from None

    async def health(self) -> MinerHealth:
        return _health(self, await self._raw("/health"))

    async def metrics(self) -> str:
        return _metrics(self, await self._raw("/metrics"))

    async def status(self) -> MinerStatus:
        return await self.get("/v1/status", model=MinerStatus)

    async def telemetry(self) -> TelemetrySnapshot:
        return await self.get("/v1/telemetry", model=TelemetrySnapshot)

    async def verify(self, model: str, prompt: str, output: str, params: dict[str, Any] | None = None) -> VerifyVerdict:
        return await self.post("/v1/verify", _verify_body(model, prompt, output, params), model=VerifyVerdict)


def _health(client: DaemonClient | AsyncDaemonClient, response: httpx.Response) -> MinerHealth:
    """``/health``'s body, on 200 (ready) and 503 (not ready) alike; other answers are errors."""
    if response.status_code not in (200, 503):
        return client._result(response, MinerHealth)  # raises the daemon's error
    try:
        return MinerHealth.model_validate(response.json())
    except (ValueError, ValidationError):
        raise DaemonError(response.status_code, "bad_response", "miner answered /health with an unexpected body") from None


def _metrics(client: DaemonClient | AsyncDaemonClient, response: httpx.Response) -> str:
    if response.status_code >= 400:
        client._result(response, None)  # raises the daemon's error
    return response.text


def _verify_body(model: str, prompt: str, output: str, params: dict[str, Any] | None) -> VerifyRequest:
    return VerifyRequest.model_validate({"model": model, "prompt": prompt, "output": output, "params": params or {}})
