"""One real example daemon (subprocess) serving both doors: rights, errors, events, logs, audit."""

from __future__ import annotations

import asyncio
import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel
from websockets.sync.client import unix_connect

from daemons.common.client import AsyncDaemonClient, DaemonClient, DaemonError
from daemons.common.home import Home
from daemons.common.models import Event, Health

from daemonkit import ExampleDaemon, run_example
from testkit import temp_root


@pytest.fixture(scope="module")
def daemon() -> Iterator[ExampleDaemon]:
    with temp_root() as root:
        running = run_example(Home(root=root / "h"))
        yield running
        running.stop()


@pytest.fixture
def op(daemon: ExampleDaemon) -> Iterator[DaemonClient]:
    with daemon.operator() as client:
        yield client


@pytest.fixture
def pub(daemon: ExampleDaemon) -> Iterator[DaemonClient]:
    with daemon.public() as client:
        yield client


class Transfer(BaseModel):
    to: str
    amount: int


def test_each_door_knows_itself(op: DaemonClient, pub: DaemonClient, daemon: ExampleDaemon) -> None:
    assert op.get("/health", model=Health) == Health(service="example", version="1.0",
                                                      pid=daemon.proc.pid, door="operator")
    assert pub.get("/health", model=Health).door == "public"
    assert op.get("/v1/whoami")["door"] == "operator"
    assert pub.get("/v1/whoami")["door"] == "public"


def test_operator_only_routes_refuse_the_public_door(op: DaemonClient, pub: DaemonClient) -> None:
    with pytest.raises(DaemonError) as info:
        pub.post("/v1/publish", {"topic": "x"})
    assert (info.value.status, info.value.code) == (403, "operator_only")
    assert "operator socket" in str(info.value)
    assert op.post("/v1/publish", {"topic": "x"}) == {"delivered": 0}


def test_api_errors_have_the_uniform_body(op: DaemonClient, daemon: ExampleDaemon) -> None:
    with pytest.raises(DaemonError) as info:
        op.get("/v1/items/7")
    assert (info.value.status, info.value.code, info.value.message) == (404, "not_found", "item 7 not found")
    raw = httpx.get(f"{daemon.url}/v1/items/7")
    assert raw.json() == {"error": {"code": "not_found", "message": "item 7 not found"}}
    with pytest.raises(DaemonError) as info:
        op.get("/v1/no/such/route")
    assert (info.value.status, info.value.code) == (404, 404)


def test_validation_errors_are_422_naming_the_field(op: DaemonClient) -> None:
    with pytest.raises(DaemonError) as info:
        op.post("/v1/transfer", {"to": "0xabc", "amount": "lots"})
    assert (info.value.status, info.value.code) == (422, "invalid_request")
    assert str(info.value).startswith("amount: input should be a valid integer")
    with pytest.raises(DaemonError, match="^to: field required"):
        op.post("/v1/transfer", {"amount": 1})
    with pytest.raises(DaemonError, match="^path.item_id: input should be a valid integer"):
        op.get("/v1/items/seven")


def test_invalid_json_is_422(daemon: ExampleDaemon) -> None:
    response = httpx.post(f"{daemon.url}/v1/transfer", content=b"{nope",
                          headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith("body: invalid JSON")


def test_models_in_and_out(op: DaemonClient) -> None:
    sent = Transfer(to="0xabc", amount=5)
    assert op.post("/v1/transfer", sent, model=Transfer) == sent
    with pytest.raises(DaemonError) as info:
        op.get("/health", model=list[int])
    assert info.value.code == "bad_response"


def test_oversized_bodies_are_413_on_both_doors(op: DaemonClient, pub: DaemonClient) -> None:
    big = {"to": "0xabc", "amount": 1, "pad": "x" * (2 << 20)}
    for client in (op, pub):
        with pytest.raises(DaemonError) as info:
            client.post("/v1/transfer", big)
        assert (info.value.status, info.value.code) == (413, "body_too_large")
    assert op.get("/v1/whoami")["door"] == "operator"  # the daemon is fine afterwards


def test_oversized_chunked_body_is_413_too(daemon: ExampleDaemon) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b"x" * 65536

    with httpx.Client(transport=httpx.HTTPTransport(uds=str(daemon.socket))) as raw:
        response = raw.post("http://aitbc/v1/transfer", content=chunks(),
                            headers={"content-type": "application/json"})
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"


def test_internal_errors_are_500_without_internals(op: DaemonClient) -> None:
    with pytest.raises(DaemonError) as info:
        op.get("/v1/boom")
    assert (info.value.status, info.value.code) == (500, "internal")
    assert "kaboom" not in str(info.value)
    assert op.get("/v1/whoami")["door"] == "operator"  # same client keeps working


def test_events_over_the_socket(op: DaemonClient) -> None:
    with op.events(["new_block", "tx:0xabc", "job:*"]) as stream:
        op.post("/v1/publish", {"topic": "other", "data": {"n": 0}})
        op.post("/v1/publish", {"topic": "new_block", "data": {"height": 1}})
        op.post("/v1/publish", {"topic": "tx:0xabc", "data": {"status": "committed"}})
        op.post("/v1/publish", {"topic": "job:9", "data": {"state": "done"}})
        got = [stream.receive(timeout=10) for _ in range(3)]
    assert got == [Event(topic="new_block", data={"height": 1}),
                   Event(topic="tx:0xabc", data={"status": "committed"}),
                   Event(topic="job:9", data={"state": "done"})]


def test_events_over_tcp_with_the_async_client(daemon: ExampleDaemon) -> None:
    async def scenario() -> list[Event]:
        async with AsyncDaemonClient(daemon.url, name="example") as pub, \
                AsyncDaemonClient(daemon.socket) as op:
            assert (await pub.get("/health", model=Health)).door == "public"
            async with pub.events(["new_block"]) as stream:
                await op.post("/v1/publish", {"topic": "new_block", "data": {"height": 5}, "count": 2})
                return [await asyncio.wait_for(stream.__anext__(), 10) for _ in range(2)]

    assert asyncio.run(scenario()) == [Event(topic="new_block", data={"height": 5})] * 2


def test_a_lagging_event_client_is_told_and_cut_off(op: DaemonClient) -> None:
    with op.events(["flood"]) as stream:
        op.post("/v1/publish", {"topic": "flood", "data": {"x": 1}, "count": 500})
        with pytest.raises(DaemonError) as info:
            for _ in range(501):
                stream.receive(timeout=10)
    assert info.value.code == "lagging"
    assert op.get("/v1/whoami")["door"] == "operator"


def test_an_operator_only_event_stream_refuses_the_public_door(op: DaemonClient, pub: DaemonClient) -> None:
    with pytest.raises(DaemonError) as info, pub.events(["wallet"], path="/v1/private-events"):
        pass
    assert (info.value.status, info.value.code) == (403, "refused")
    with op.events(["wallet"], path="/v1/private-events") as stream:
        op.post("/v1/publish", {"topic": "wallet", "data": {"locked": True}})
        assert stream.receive(timeout=10).data == {"locked": True}


def test_a_bad_subscribe_frame_gets_an_error_frame(daemon: ExampleDaemon) -> None:
    with unix_connect(str(daemon.socket), "ws://localhost/v1/events", legacy=True) as ws:
        ws.send("subscribe me please")
        reply = json.loads(ws.recv(timeout=10))
    assert reply["error"]["code"] == "bad_request"


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def test_daemon_logs_are_json_with_origin_and_no_secrets(op: DaemonClient, daemon: ExampleDaemon) -> None:
    op.post("/v1/log", {"password": "hunter2", "amount": 3, "nested": {"api_key": "k-9"}})
    path = daemon.layout.log_file("example")
    text = path.read_text(encoding="utf-8")
    assert "hunter2" not in text and "k-9" not in text and "in-extra" not in text
    [entry] = [e for e in read_lines(path) if str(e["msg"]).startswith("request logged")]
    assert (entry["service"], entry["module"], entry["function"]) == ("example", "example_daemon", "do_log")
    assert isinstance(entry["line"], int)
    assert entry["request"] == {"password": "***", "amount": 3, "nested": {"api_key": "***"}}
    assert entry["passphrase"] == "***"
    assert "hunter2" not in daemon.output()
    ready = [e for e in read_lines(path) if e["msg"] == "example ready"]
    assert ready and ready[0]["function"] == "started"
    assert not [e for e in read_lines(path) if e["level"] == "debug"]


def test_daemon_audit_log(op: DaemonClient, daemon: ExampleDaemon) -> None:
    op.post("/v1/audit", {"event": "key_unlocked", "fields": {"address": "0xab", "passphrase": "pw-1"}})
    op.post("/v1/audit", {"event": "api_key_refused", "fields": {"api_key": "k-2", "ip": "1.2.3.4"}})
    path = daemon.layout.audit_log
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    events = read_lines(path)[-2:]
    assert [e["event"] for e in events] == ["key_unlocked", "api_key_refused"]
    assert events[0]["passphrase"] == "***" and events[1]["api_key"] == "***"
    assert events[1]["ip"] == "1.2.3.4" and events[0]["service"] == "example"
    assert "pw-1" not in path.read_text() and "k-2" not in path.read_text()
