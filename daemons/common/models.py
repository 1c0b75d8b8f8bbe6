"""Wire models shared by the servers and the client (light: no FastAPI import), so the TUI
and CLI can decode daemon answers without pulling in server code."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field, StrictInt, StrictStr

Door = Literal["operator", "public"]


def _whole_number(value: Any) -> Any:
    """``197.0`` -> ``197``: JSON Schema's ``integer`` admits a number with no fraction, so a
    request the document allows must not be refused; ``197.5``, ``true`` and ``"197"`` still are."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


JSON_INT_MAX = 2**53 - 1
"""The largest integer every JSON reader holds exactly (I-JSON, RFC 7493): the bound of integer
fields of request bodies, so that the document's bound means the same to every client and tool
(``2**63 - 1`` read as a double is ``2**63``)."""
WHOLE = BeforeValidator(_whole_number)
WholeInt = Annotated[StrictInt, WHOLE]
"""An integer field of a request body: strict (no strings, no booleans, no fractions), but a
whole number written as ``197.0`` is the integer it is, as the OpenAPI document says. An optional
one with bounds puts them before ``WHOLE`` (``Annotated[StrictInt, Field(ge=0), WHOLE] | None``),
or pydantic writes them into the document under names JSON Schema does not know."""

MAX_STOP_SEQUENCES = 4
MAX_STOP_LENGTH = 64
StopSequence = Annotated[StrictStr, Field(min_length=1, max_length=MAX_STOP_LENGTH)]
"""One stop string of a job (OpenAI's bounds: at most ``MAX_STOP_SEQUENCES`` of them, each 1 to
``MAX_STOP_LENGTH`` characters); the job parameters, the OpenAI routes and the miner's decoding
parameters all take it from here."""


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
