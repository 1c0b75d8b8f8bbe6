"""Wire models shared by the servers and the client (light: no FastAPI import), so the TUI
and CLI can decode daemon answers without pulling in server code."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

Door = Literal["operator", "public"]


class ErrorInfo(BaseModel):
    code: int | str
    message: str


class ErrorBody(BaseModel):
    """The one error shape of every daemon API: ``{"error": {"code": ..., "message": ...}}``."""

    error: ErrorInfo


class Health(BaseModel):
    """``GET /health``: the daemon answers, and through which door it was asked."""

    service: str
    status: Literal["ok"] = "ok"
    version: str
    pid: int
    door: Door


class Event(BaseModel):
    """One pushed event: ``{"topic": "new_block", "data": {...}}``."""

    topic: str
    data: dict[str, Any]


class SubscribeRequest(BaseModel):
    """Client frame on the event socket; both lists may be given at once."""

    subscribe: list[str] = []
    unsubscribe: list[str] = []
