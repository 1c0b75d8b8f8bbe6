"""The miner's HTTP API: the operator socket serves everything, the public TCP door (port 18001)
only ``/health`` and ``/metrics``, which monitoring and load balancers reach over the network.

- ``GET /health``: ready to take jobs, model loaded, GPU usable, and why not. 200 when ready,
  503 with the same body when not, so that ``curl -f`` and ``aitbc up`` wait for a loaded model.
- ``GET /metrics``: Prometheus text, hardware (telemetry module) plus the miner's own families.
- ``GET /v1/status``, ``GET /v1/telemetry``, ``POST /v1/verify`` and the ``/v1/events``
  WebSocket (topics ``telemetry``, ``job``, ``miner``): operator socket only.

The OpenAPI pages are off on the public door, where they would describe operator routes to
anyone; the operator socket serves the document at ``/openapi.json`` (the contract tests read it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from daemons.common.api import create_app, door, error_responses, require_operator
from daemons.common.events import events_router
from daemons.miner.metrics import miner_metrics
from daemons.miner.models import MinerHealth, MinerStatus, VerifyRequest, VerifyVerdict
from daemons.miner.views import VERSION
from daemons.miner.telemetry import CONTENT_TYPE, TelemetrySnapshot, to_prometheus

if TYPE_CHECKING:
    from daemons.miner.runtime import MinerRuntime


def build_app(runtime: MinerRuntime) -> FastAPI:
    settings = runtime.settings
    app = create_app("miner", VERSION, max_body_bytes=settings.max_body_bytes,
                     docs_url=None, redoc_url=None, openapi_url=None,
                     description="AITBC miner: health, metrics, status, telemetry and job events")
    # The spine's /health only says "alive"; the miner's says whether it can take jobs.
    app.router.routes = [r for r in app.router.routes if getattr(r, "path", None) != "/health"]

    @app.get("/health", response_model=MinerHealth, tags=["meta"],
             responses={503: {"model": MinerHealth, "description": "not ready (the body says why)"}})
    async def health(request: Request) -> JSONResponse:
        """Ready, model loaded, GPU usable; 503 while not ready."""
        body = runtime.health(door(request))
        return JSONResponse(body.model_dump(), status_code=200 if body.ready else 503)

    @app.get("/metrics", response_class=PlainTextResponse, tags=["meta"])
    async def metrics() -> PlainTextResponse:
        """Prometheus text exposition (format 0.0.4)."""
        snapshot = await runtime.telemetry()
        text = to_prometheus(snapshot) + miner_metrics(runtime.status())
        return PlainTextResponse(text, media_type=CONTENT_TYPE)

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(require_operator)])
    async def openapi() -> JSONResponse:
        """This API's OpenAPI document, for the operator only."""
        return JSONResponse(app.openapi())

    operator = APIRouter(prefix="/v1", tags=["operator"], dependencies=[Depends(require_operator)],
                         responses=error_responses(403))

    @operator.get("/status", response_model=MinerStatus)
    async def status() -> MinerStatus:
        """Phase, models, GPUs, tasks, counters, bond, registration, and earnings from the node."""
        return runtime.status(await runtime.earnings())

    @operator.get("/telemetry", response_model=TelemetrySnapshot)
    async def telemetry() -> TelemetrySnapshot:
        """The latest telemetry sample (GPUs through NVML, host CPU/RAM)."""
        return await runtime.telemetry()

    @operator.post("/verify", response_model=VerifyVerdict, responses=error_responses(409))
    async def verify(body: VerifyRequest) -> VerifyVerdict:
        """Re-check a claimed output with one teacher-forced pass, as a re-check task would."""
        return await runtime.verify_claim(body)

    app.include_router(operator)
    app.include_router(events_router(runtime.hub, operator_only=True))
    return app
