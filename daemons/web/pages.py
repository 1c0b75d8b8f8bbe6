"""What both sites share: the Jinja2 templates and filters, the app skeleton, and the error page.

Pages are whole HTML documents rendered on the server; the only scripts are small progressive
enhancements (``static/live.js``, ``static/market.js``), so every page reads the same with
JavaScript off. A :class:`~daemons.web.sources.PageError` anywhere becomes an error page with its
status (404 unknown, 400 malformed, 503 upstream down), never a traceback or a dead daemon.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException

from daemons.common.api import create_app, validation_message
from daemons.web.settings import ExplorerSettings
from daemons.web.sources import PageError
from daemons.common.version import VERSION

HERE = Path(__file__).resolve().parent
from chain.params import UNIT
templates = Jinja2Templates(directory=str(HERE / "templates"))
SECURITY_HEADERS = {
    # Only our own stylesheet and scripts, no inline code, no framing: data from the chain (memo
    # fields, prompts, outputs) is escaped by the templates, and this is the second fence.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                               "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def amount(units: int | None) -> str:
    """Units as AIT with exact integer arithmetic (``1500000`` -> ``1.5 AIT``)."""
    if units is None:
        return "-"
    whole, frac = divmod(abs(int(units)), UNIT)
    decimals = f".{frac:06d}".rstrip("0").rstrip(".")
    return f"{'-' if units < 0 else ''}{whole:,}{decimals} AIT"


def when(ms: int | None) -> str:
    if not ms:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def short(value: str | None, keep: int = 12) -> str:
    if not value:
        return "-"
    return value if len(value) <= keep + 4 else f"{value[:keep]}…"


templates.env.filters.update(amount=amount, when=when, short=short)


def site_url(request: Request, port: int, path: str = "/") -> str:
    """The other site's URL as this visitor reaches this one (same host, the other port)."""
    host = request.url.hostname or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"{request.url.scheme}://{host}:{port}{path}"


def render(request: Request, template: str, http_status: int = 200, **context: Any) -> HTMLResponse:
    """The page, with the links to both sites that every page's header carries."""
    settings: ExplorerSettings = request.app.state.settings
    context.setdefault("explorer_url", site_url(request, settings.api_port))
    context.setdefault("market_url", site_url(request, settings.market_port))
    return templates.TemplateResponse(request, template, context, status_code=http_status)


def error_page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    return render(request, "error.html", status, code=status, title=title, message=message)


def build_site(site: str, settings: ExplorerSettings) -> FastAPI:
    """An app with ``/health``, ``/static`` and HTML error pages; the site adds its routes."""
    app = create_app(f"explorer {site}", VERSION, max_body_bytes=min(settings.max_body_bytes, 64 * 1024),
                     docs_url=None, redoc_url=None, openapi_url=None)
    app.state.site = site
    app.state.settings = settings
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    async def page_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageError)
        return error_page(request, exc.status, exc.title, exc.message)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        titles = {404: "Page not found", 405: "Method not allowed", 413: "Request too large"}
        message = "there is no such page here" if exc.status_code == 404 else str(exc.detail)
        return error_page(request, exc.status_code, titles.get(exc.status_code, "Request refused"), message)

    async def bad_input(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return error_page(request, 400, "Bad request", validation_message(exc.errors()))

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        if site == "market":  # job pages show a visitor's prompt and output: never keep them in a cache
            response.headers["Cache-Control"] = "no-store"
        return response

    app.add_exception_handler(PageError, page_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, bad_input)
    return app
