"""The Marketplace (port 5173): models served now, miners' public facts, job submission.

Models are read from the coordinator's public ``GET /v1/miners`` (live miners only): per model
its miners, the lowest price per 1000 tokens, free slots, the queue and the recent throughput,
which :class:`Throughput` measures from the miners' completed-job counters. The submit form
carries the visitor's own API key (``static/market.js`` keeps it in ``sessionStorage``); the
daemon forwards it to the coordinator for that one request and never stores or logs it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from daemons.common.api import validation_message
from daemons.coordinator import models as cm
from daemons.web.explorer import JOB_ID
from daemons.web.pages import build_site, render
from daemons.web.settings import ExplorerSettings
from daemons.web.sources import Market, PageError

from chain.params import UNIT
THROUGHPUT_WINDOW_S = 600.0
KEY_HEADER = "X-Api-Key"


class Throughput:
    """Jobs completed per minute by each model's miners over the last ten minutes.

    Each look at the miners is a sample of their ``completed`` counters; the rate is the growth
    between the oldest sample still in the window and the newest. A miner serving several models
    counts for each of them, which is why the page says "by its miners".
    """

    def __init__(self, window_s: float = THROUGHPUT_WINDOW_S) -> None:
        self.window_s = window_s
        self._samples: deque[tuple[float, dict[str, tuple[int, list[str]]]]] = deque()
        self._lock = threading.Lock()

    def record(self, miners: list[cm.PublicMiner], now: float) -> None:
        with self._lock:
            self._samples.append((now, {m.address: (m.completed, m.models) for m in miners}))
            while len(self._samples) > 2 and now - self._samples[1][0] >= self.window_s:
                self._samples.popleft()

    def per_minute(self) -> dict[str, float] | None:
        """Jobs/minute by model, or None until two samples at least a second apart exist."""
        with self._lock:
            if len(self._samples) < 2 or self._samples[-1][0] - self._samples[0][0] < 1.0:
                return None
            (t0, old), (t1, new) = self._samples[0], self._samples[-1]
        rates: dict[str, float] = {}
        for address, (done, models) in new.items():
            delta = done - old.get(address, (done, models))[0]
            for model in models:
                rates[model] = rates.get(model, 0.0) + max(0, delta) * 60.0 / (t1 - t0)
        return rates


def model_rows(listing: cm.PublicMinerList, rates: dict[str, float] | None) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for miner in listing.miners:
        if not miner.bonded:
            continue
        for name in miner.models:
            row = rows.setdefault(name, {"name": name, "miners": [], "price": miner.price_per_1k_tokens, "free": 0})
            row["miners"].append(miner.address)
            row["price"] = min(row["price"], miner.price_per_1k_tokens)
            row["free"] += max(0, miner.capacity - miner.active)
    for row in rows.values():
        row["queued"] = listing.queued_jobs.get(row["name"], 0)
        row["per_minute"] = None if rates is None else rates.get(row["name"], 0.0)
    return sorted(rows.values(), key=lambda r: r["name"])


async def form_fields(request: Request) -> dict[str, str]:
    """An url-encoded form body (the only kind these pages send), one value per field."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise PageError(400, "Bad request", "send the form as application/x-www-form-urlencoded")
    try:
        fields = parse_qs((await request.body()).decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError) as exc:
        raise PageError(400, "Bad request", f"unreadable form: {exc}") from None
    return {k: v[-1] for k, v in fields.items()}


def job_request(fields: dict[str, str]) -> cm.JobRequest:
    """The form as the coordinator's own request model: the same limits, checked before sending."""
    try:
        max_tokens = int(fields.get("max_tokens") or 128)
        price = fields.get("max_price", "").strip()
        max_price = round(float(price) * UNIT) if price else None
    except (ValueError, OverflowError):
        raise PageError(400, "Bad request", "max tokens must be a whole number and max price a number of AIT") from None
    try:
        return cm.JobRequest.model_validate({"model": fields.get("model", ""), "prompt": fields.get("prompt", ""),
                                             "params": {"max_tokens": max_tokens}, "max_price": max_price})
    except ValidationError as exc:
        raise PageError(400, "Bad request", validation_message(exc.errors())) from None


def check_job_id(job_id: str) -> str:
    if not JOB_ID.fullmatch(job_id):
        raise PageError(400, "Not a job id", f"{job_id[:80]!r} is not a job id")
    return job_id


def build_market(settings: ExplorerSettings, market: Market, throughput: Throughput) -> FastAPI:
    app = build_site("market", settings)

    def listing() -> cm.PublicMinerList:
        result = market.miners()
        throughput.record(result.miners, time.monotonic())
        return result

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request) -> Response:
        try:
            data = listing()
        except PageError as exc:
            if exc.status != 503:
                raise
            return render(request, "market/home.html", 503, down=exc.message, models=[], miners=[])
        return render(request, "market/home.html", models=model_rows(data, throughput.per_minute()),
                      miners=sorted(data.miners, key=lambda m: (-m.reputation, m.address)), down=None)

    @app.post("/jobs")
    async def submit(request: Request) -> Response:
        fields = await form_fields(request)
        body = job_request(fields)
        job = market.submit(fields.get("api_key", "").strip(), body.model_dump(exclude_none=True))
        return RedirectResponse(f"/jobs/{job.job_id}", status_code=303)

    def job_page(request: Request, job_id: str, api_key: str | None, template: str) -> Response:
        job = market.job(api_key, job_id) if api_key is not None else None
        done = job is not None and (job.status in ("failed", "cancelled") or job.settled_height is not None)
        return render(request, template, job=job, job_id=job_id, done=done)

    @app.get("/jobs/{job_id}", response_class=HTMLResponse)
    def job(request: Request, job_id: str) -> Response:
        """The job page; its state needs the visitor's key (a header from the script, or the form below)."""
        return job_page(request, check_job_id(job_id), request.headers.get(KEY_HEADER), "market/job.html")

    @app.post("/jobs/{job_id}", response_class=HTMLResponse)
    async def job_with_key(request: Request, job_id: str) -> Response:
        """The job page for a visitor without JavaScript, who typed the key into the form."""
        fields = await form_fields(request)
        return job_page(request, check_job_id(job_id), fields.get("api_key", "").strip(), "market/job.html")

    @app.get("/fragment/job/{job_id}", response_class=HTMLResponse)
    def job_fragment(request: Request, job_id: str) -> Response:
        return job_page(request, check_job_id(job_id), request.headers.get(KEY_HEADER, ""), "market/job_state.html")

    return app
