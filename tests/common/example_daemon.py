"""A tiny daemon built only from ``daemons.common``; the tests run it as a real subprocess.

Usage: ``python tests/common/example_daemon.py --home DIR [--config FILE]``. It shows the whole
shape of a real daemon's ``main``: settings -> logging -> app -> run_daemon.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any, ClassVar

from fastapi import APIRouter, Depends, FastAPI
from pydantic import BaseModel, Field

from daemons.common.api import ApiError, create_app, door, require_operator
from daemons.common.events import EventHub, events_router
from daemons.common.home import Home
from daemons.common.logging import audit, setup_logging
from daemons.common.models import Door
from daemons.common.server import run_daemon
from daemons.common.settings import CommonSettings, SettingsError, bare_env, load_settings

log = logging.getLogger("example")


class ExampleSettings(CommonSettings):
    """What a daemon's own settings class looks like (NodeSettings will be like this)."""

    service: ClassVar[str] = "example"
    block_time: float = Field(1.0, gt=0, validation_alias=bare_env("BLOCK_TIME"))
    greeting: str = "hello"


class Transfer(BaseModel):
    to: str = Field(min_length=3)
    amount: int = Field(gt=0)


class WhoAmI(BaseModel):
    door: Door
    greeting: str
    block_time: float


class Publish(BaseModel):
    topic: str
    data: dict[str, Any] = {}
    count: int = Field(1, ge=1, le=10_000)


class AuditRequest(BaseModel):
    event: str
    fields: dict[str, Any] = {}


def build(settings: ExampleSettings, hub: EventHub) -> FastAPI:
    app = create_app("example", "1.0", max_body_bytes=settings.max_body_bytes)
    public = APIRouter(prefix="/v1")
    operator = APIRouter(prefix="/v1", dependencies=[Depends(require_operator)])

    @public.get("/whoami", response_model=WhoAmI)
    def whoami(which: Door = Depends(door)) -> WhoAmI:
        return WhoAmI(door=which, greeting=settings.greeting, block_time=settings.block_time)

    @public.post("/transfer", response_model=Transfer)
    def transfer(body: Transfer) -> Transfer:
        return body

    @public.get("/items/{item_id}")
    def item(item_id: int) -> dict[str, int]:
        raise ApiError(404, "not_found", f"item {item_id} not found")

    @public.get("/boom")
    def boom() -> None:
        raise RuntimeError("kaboom")

    @operator.post("/publish")
    async def publish(body: Publish) -> dict[str, int]:
        # async def: EventHub.publish must run on the event loop's thread.
        return {"delivered": sum(hub.publish(body.topic, body.data) for _ in range(body.count))}

    @operator.post("/audit")
    def do_audit(body: AuditRequest) -> dict[str, bool]:
        audit(body.event, **body.fields)
        return {"ok": True}

    @operator.post("/log")
    def do_log(body: dict[str, Any]) -> dict[str, bool]:
        log.info("request logged: %s", body, extra={"request": body, "passphrase": "in-extra"})
        return {"ok": True}

    app.include_router(public)
    app.include_router(operator)
    app.include_router(events_router(hub))
    app.include_router(events_router(hub, "/v1/private-events", operator_only=True))
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="example-daemon")
    parser.add_argument("--home")
    parser.add_argument("--config")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(ExampleSettings, Home.resolve(args.home), args.config)
    except SettingsError as exc:
        print(f"example: {exc}", file=sys.stderr)
        return 2
    setup_logging("example", settings.home, settings.log_level)
    hub = EventHub(queue_size=64)
    app = build(settings, hub)

    async def started() -> None:
        if os.environ.get("EXAMPLE_FAIL_STARTUP"):
            raise RuntimeError(os.environ["EXAMPLE_FAIL_STARTUP"])
        log.debug("debug output is on")
        log.info("example ready", extra={"greeting": settings.greeting})

    async def stopped() -> None:
        (settings.home.data_dir / "shutdown-hook-ran").write_text("yes")

    return run_daemon(app, settings, on_startup=[started], on_shutdown=[stopped])


if __name__ == "__main__":
    sys.exit(main())
