"""The spine's part of the contract, on an app made by ``create_app`` (in-process, through the real
ASGI stack): declared refusals carry the shared error body in the document, a 405 names every
method of its path, and a whole number written ``197.0`` is the integer the document allows."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, Field, ValidationError

from daemons.common.api import ApiError, create_app, error_responses
from daemons.common.models import WholeInt


class Body(BaseModel):
    count: WholeInt = Field(ge=1, le=10)


def _app() -> Any:
    app = create_app("spine-test")

    @app.get("/things/{name}", responses=error_responses(404))
    def get_thing(name: str) -> dict[str, str]:
        raise ApiError(404, "not_found", f"no thing {name}")

    @app.post("/things/{name}")
    def put_thing(name: str, body: Body) -> dict[str, int]:
        return {"count": body.count}

    @app.delete("/things/{name}")
    def drop_thing(name: str) -> dict[str, str]:
        return {"dropped": name}

    return app


def _call(method: str, path: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(go())


def test_declared_refusals_and_shared_statuses_carry_the_error_body() -> None:
    document = _app().openapi()
    answers = document["paths"]["/things/{name}"]["get"]["responses"]
    for status in ("404", "400", "413", "422", "500"):
        assert answers[status]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
    assert "HTTPValidationError" not in document["components"]["schemas"]
    refused = _call("GET", "/things/x")
    assert refused.status_code == 404 and refused.json() == {"error": {"code": "not_found", "message": "no thing x"}}


def test_a_405_names_every_method_of_its_path() -> None:
    refused = _call("PUT", "/things/x")
    assert refused.status_code == 405
    assert refused.headers["allow"] == "DELETE, GET, POST"
    assert refused.json()["error"]["code"] == 405


@pytest.mark.parametrize("sent, status", [(7, 200), (7.0, 200), (7.5, 422), ("7", 422), (True, 422), (70.0, 422)])
def test_whole_numbers_are_integers_and_nothing_else_is(sent: object, status: int) -> None:
    answer = _call("POST", "/things/x", json={"count": sent})
    assert answer.status_code == status, answer.text
    if status == 200:
        assert answer.json() == {"count": 7} and isinstance(answer.json()["count"], int)


def test_whole_int_keeps_its_bounds_in_the_document() -> None:
    schema = Body.model_json_schema()["properties"]["count"]
    assert schema == {"maximum": 10, "minimum": 1, "title": "Count", "type": "integer"}
    with pytest.raises(ValidationError):
        Body(count=0.0)
