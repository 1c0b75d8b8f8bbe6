"""The typed coordinator client for the CLI, the TUI, the miner daemon and the tests.

``target`` is the operator socket (``HOME/run/coordinator.sock``: no key; pass ``address`` to
act for a client or miner) or the public URL (``http://127.0.0.1:18000``) with an ``api_key``.
Every failure is a :class:`~daemons.common.errors.DaemonError` with a one-line message.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

import httpx

from daemons.common.client import AsyncClosesOnExit, AsyncDaemonClient, ClosesOnExit, DaemonClient, target_for
from daemons.common.errors import DaemonError
from daemons.common.home import Home
from daemons.common.stream import AsyncEventStream, EventStream
from daemons.coordinator import models as m

DEFAULT_URL = "http://127.0.0.1:18000"
ADDRESS_HEADER = "X-Aitbc-Address"


def coordinator_socket(home: Home) -> os.PathLike[str]:
    return target_for(home, "coordinator")


def _job_body(model: str, prompt: str, max_tokens: int, max_price: int | None, temperature_milli: int,
              top_p_milli: int, seed: int, stop: str | Sequence[str] = ()) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "prompt": prompt, "params": {
        "max_tokens": max_tokens, "temperature_milli": temperature_milli, "top_p_milli": top_p_milli, "seed": seed}}
    if stop:
        body["params"]["stop"] = [stop] if isinstance(stop, str) else list(stop)  # not "END" -> E, N, D
    if max_price is not None:
        body["max_price"] = max_price
    return body


def _act_for(client: DaemonClient | AsyncDaemonClient, address: str) -> None:
    """Name the address an operator-socket request acts for, on HTTP requests and event streams.
    (The shared client has no extra-headers argument, so both header sets are set here.)"""
    client.headers[ADDRESS_HEADER] = address
    client._http.headers[ADDRESS_HEADER] = address


def _clean(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


H = TypeVar("H", DaemonClient, AsyncDaemonClient)


def _connect(http_cls: type[H], target: str | os.PathLike[str], api_key: str | None, address: str | None,
             timeout: float) -> H:
    """The shared transport of both coordinator clients, acting for ``address`` when one is given."""
    http = http_cls(target, api_key=api_key, timeout=timeout, name="coordinator")
    if address:
        _act_for(http, address)
    return http


def _heartbeat_body(free_slots: int, running: list[str] | None, telemetry: dict[str, Any] | None) -> dict[str, Any]:
    return {"free_slots": free_slots, "running": running or [], "telemetry": telemetry or {}}


def sse_events(lines: Iterable[str]) -> Iterator[tuple[str, str]]:
    """(event, data) of each Server-Sent Event in ``lines`` (``event`` is "message" when unnamed)."""
    event, data = "message", []
    for line in lines:
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    if data:
        yield event, "\n".join(data)


def output_items(events: Iterable[tuple[str, str]]) -> Iterator[str | m.Job]:
    """The items of ``GET /v1/jobs/{id}/output``: text pieces, then the finished job."""
    for event, data in events:
        payload = json.loads(data)
        if event == "output":
            yield str(payload["text"])
        elif event == "job":
            yield m.Job.model_validate(payload)
            return
        elif event == "error":
            err = payload.get("error", {})
            raise DaemonError(502, str(err.get("code", "stream_error")), str(err.get("message", "the stream failed")))


class CoordinatorClient(ClosesOnExit):
    """Blocking client; a context manager."""

    def __init__(self, target: str | os.PathLike[str], api_key: str | None = None, address: str | None = None,
                 timeout: float = 40.0) -> None:
        self._http = _connect(DaemonClient, target, api_key, address, timeout)

    def close(self) -> None:
        self._http.close()

    # -- client role ------------------------------------------------------------------------------

    def submit(self, model: str, prompt: str, *, max_tokens: int = 128, max_price: int | None = None,
               temperature_milli: int = 0, top_p_milli: int = 1000, seed: int = 0, stop: str | Sequence[str] = ()) -> m.Job:
        body = _job_body(model, prompt, max_tokens, max_price, temperature_milli, top_p_milli, seed, stop)
        return self._http.post("/v1/jobs", body, model=m.Job)

    def job(self, job_id: str) -> m.Job:
        return self._http.get(f"/v1/jobs/{job_id}", model=m.Job)

    def jobs(self, status: str | None = None, limit: int = 50, cursor: str | None = None) -> m.JobPage:
        return self._http.get("/v1/jobs", _clean({"status": status, "limit": limit, "cursor": cursor}), model=m.JobPage)

    def cancel(self, job_id: str) -> m.Job:
        return self._http.delete(f"/v1/jobs/{job_id}", model=m.Job)

    def follow(self, job_id: str, timeout: float | None = None) -> Iterator[str | m.Job]:
        """The job's output as the miner generates it (text pieces), then the finished job;
        ``timeout`` bounds the wait for each next piece (None: no bound)."""
        http = self._http
        try:
            with http._http.stream("GET", f"/v1/jobs/{job_id}/output",
                                   timeout=httpx.Timeout(http.timeout, read=timeout)) as response:
                if response.status_code >= 400:
                    response.read()
                    http._result(response, None)
                yield from output_items(sse_events(response.iter_lines()))
        except (httpx.TransportError, OSError) as exc:
            raise http._unavailable(exc) from None

    def receipts(self, job_id: str | None = None, limit: int = 50, cursor: str | None = None) -> m.ReceiptPage:
        return self._http.get("/v1/receipts", _clean({"job_id": job_id, "limit": limit, "cursor": cursor}),
                              model=m.ReceiptPage)

    def receipt(self, receipt_id: str) -> m.ReceiptInfo:
        return self._http.get(f"/v1/receipts/{receipt_id}", model=m.ReceiptInfo)

    def models(self) -> m.ModelList:
        return self._http.get("/v1/models", model=m.ModelList)

    def account(self) -> m.Account:
        return self._http.get("/v1/account", model=m.Account)

    # -- miner role -------------------------------------------------------------------------------

    def register(self, registration: m.MinerRegistration | dict[str, Any]) -> m.RegisterReply:
        return self._http.post("/v1/miners/register", registration, model=m.RegisterReply)

    def heartbeat(self, free_slots: int, running: list[str] | None = None,
                  telemetry: dict[str, Any] | None = None) -> m.HeartbeatReply:
        return self._http.post("/v1/miners/heartbeat", _heartbeat_body(free_slots, running, telemetry),
                               model=m.HeartbeatReply)

    def poll(self, max_jobs: int = 1, wait_s: float = 0.0) -> list[m.Task]:
        body = {"max_jobs": max_jobs, "wait_s": wait_s}
        return self._http.post("/v1/miners/jobs", body, model=m.TaskList).tasks

    def result(self, task_id: str, body: m.TaskResult | dict[str, Any]) -> m.ResultReply:
        return self._http.post(f"/v1/miners/jobs/{task_id}/result", body, model=m.ResultReply)

    def release(self, task_id: str) -> m.ReleaseReply:
        """Hand a task back unanswered, without a failure counted (a graceful drain)."""
        return self._http.post(f"/v1/miners/jobs/{task_id}/release", {}, model=m.ReleaseReply)

    def push_output(self, task_id: str, delta: m.OutputDelta | dict[str, Any]) -> m.OutputReply:
        """A piece of a running task's output (``daemons.miner.live``)."""
        return self._http.post(f"/v1/miners/jobs/{task_id}/output", delta, model=m.OutputReply)

    # -- operator ---------------------------------------------------------------------------------

    def create_key(self, role: str, address: str, label: str = "", default_max_price: int | None = None) -> m.KeyCreated:
        body: dict[str, Any] = {"role": role, "address": address, "label": label}
        if default_max_price is not None:
            body["default_max_price"] = default_max_price
        return self._http.post("/v1/admin/keys", body, model=m.KeyCreated)

    def set_key_max_price(self, key_id: str, default_max_price: int | None) -> m.KeyInfo:
        """Set (or, with None, clear) a key's default max price."""
        return self._http.request("PATCH", f"/v1/admin/keys/{key_id}", json={"default_max_price": default_max_price},
                                  model=m.KeyInfo)

    def keys(self) -> m.KeyList:
        return self._http.get("/v1/admin/keys", model=m.KeyList)

    def revoke_key(self, key_id: str) -> m.KeyInfo:
        return self._http.delete(f"/v1/admin/keys/{key_id}", model=m.KeyInfo)

    def miners(self) -> m.MinerList:
        return self._http.get("/v1/admin/miners", model=m.MinerList)

    def status(self) -> m.CoordinatorStatus:
        return self._http.get("/v1/admin/status", model=m.CoordinatorStatus)

    def events(self, topics: list[str]) -> EventStream:
        """Job, receipt and miner events (operator socket only)."""
        return self._http.events(topics)


class AsyncCoordinatorClient(AsyncClosesOnExit):
    """Asyncio client with the same methods (the miner daemon and the TUI use this one)."""

    def __init__(self, target: str | os.PathLike[str], api_key: str | None = None, address: str | None = None,
                 timeout: float = 40.0) -> None:
        self._http = _connect(AsyncDaemonClient, target, api_key, address, timeout)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def submit(self, model: str, prompt: str, *, max_tokens: int = 128, max_price: int | None = None,
                     temperature_milli: int = 0, top_p_milli: int = 1000, seed: int = 0, stop: str | Sequence[str] = ()) -> m.Job:
        body = _job_body(model, prompt, max_tokens, max_price, temperature_milli, top_p_milli, seed, stop)
        return await self._http.post("/v1/jobs", body, model=m.Job)

    async def job(self, job_id: str) -> m.Job:
        return await self._http.get(f"/v1/jobs/{job_id}", model=m.Job)

    async def jobs(self, status: str | None = None, limit: int = 50, cursor: str | None = None) -> m.JobPage:
        return await self._http.get("/v1/jobs", _clean({"status": status, "limit": limit, "cursor": cursor}),
                                    model=m.JobPage)

    async def cancel(self, job_id: str) -> m.Job:
        return await self._http.delete(f"/v1/jobs/{job_id}", model=m.Job)

    async def receipts(self, job_id: str | None = None, limit: int = 50, cursor: str | None = None) -> m.ReceiptPage:
        return await self._http.get("/v1/receipts", _clean({"job_id": job_id, "limit": limit, "cursor": cursor}),
                                    model=m.ReceiptPage)

    async def models(self) -> m.ModelList:
        return await self._http.get("/v1/models", model=m.ModelList)

    async def account(self) -> m.Account:
        return await self._http.get("/v1/account", model=m.Account)

    async def register(self, registration: m.MinerRegistration | dict[str, Any]) -> m.RegisterReply:
        return await self._http.post("/v1/miners/register", registration, model=m.RegisterReply)

    async def heartbeat(self, free_slots: int, running: list[str] | None = None,
                        telemetry: dict[str, Any] | None = None) -> m.HeartbeatReply:
        return await self._http.post("/v1/miners/heartbeat", _heartbeat_body(free_slots, running, telemetry),
                                     model=m.HeartbeatReply)

    async def poll(self, max_jobs: int = 1, wait_s: float = 0.0) -> list[m.Task]:
        body = {"max_jobs": max_jobs, "wait_s": wait_s}
        return (await self._http.post("/v1/miners/jobs", body, model=m.TaskList)).tasks

    async def result(self, task_id: str, body: m.TaskResult | dict[str, Any]) -> m.ResultReply:
        return await self._http.post(f"/v1/miners/jobs/{task_id}/result", body, model=m.ResultReply)

    async def release(self, task_id: str) -> m.ReleaseReply:
        """Hand a task back unanswered, without a failure counted (a graceful drain)."""
        return await self._http.post(f"/v1/miners/jobs/{task_id}/release", {}, model=m.ReleaseReply)

    async def push_output(self, task_id: str, delta: m.OutputDelta | dict[str, Any]) -> m.OutputReply:
        """A piece of a running task's output (``daemons.miner.live``)."""
        return await self._http.post(f"/v1/miners/jobs/{task_id}/output", delta, model=m.OutputReply)

    async def miners(self) -> m.MinerList:
        return await self._http.get("/v1/admin/miners", model=m.MinerList)

    async def status(self) -> m.CoordinatorStatus:
        return await self._http.get("/v1/admin/status", model=m.CoordinatorStatus)

    def events(self, topics: list[str]) -> AsyncEventStream:
        return self._http.events(topics)
