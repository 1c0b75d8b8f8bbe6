"""The web daemon process: two sites, one process, told apart by the port a request came in on.

``aitbc explorer start`` runs :func:`main`. The operator socket serves the Explorer (``/health``
there is what ``aitbc up`` and ``aitbc status`` wait on); TCP ``api_port`` serves the Explorer
and ``market_port`` the Marketplace. The daemon holds no key and keeps no database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from daemons.common.logging import setup_logging
from daemons.common.server import run_daemon
from daemons.common.client import target_for
from daemons.web.explorer import build_explorer
from daemons.web.live import BlockRelay
from daemons.web.market import Throughput, build_market
from daemons.web.settings import ExplorerSettings
from daemons.web.sources import Chain, Market, PageError

log = logging.getLogger("aitbc.explorer")
SAMPLE_EVERY_S = 15.0
"""How often the Marketplace samples the miners for its throughput column, page views or not."""


@dataclass(frozen=True)
class BySite:
    """ASGI app that hands each connection to the Marketplace when it arrived on ``market_port``."""

    explorer: ASGIApp
    market: ASGIApp
    market_port: int

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server") or (None, None)
        app = self.market if server[1] == self.market_port else self.explorer
        await app(scope, receive, send)


class Sites:
    """Both apps over one node and one coordinator, plus the throughput sampler and the relay of
    the node's new blocks."""

    def __init__(self, settings: ExplorerSettings) -> None:
        self.settings = settings
        node = settings.node_url or target_for(settings.home, "node")
        self.chain = Chain(node, settings.rpc_timeout_s)
        self.relay = BlockRelay(node, settings.rpc_timeout_s)
        self.market = Market(settings.coordinator_url, settings.rpc_timeout_s)
        self.throughput = Throughput()
        self.explorer_app = build_explorer(settings, self.chain, self.relay.hub)
        self.market_app = build_market(settings, self.market, self.throughput)
        self._tasks: list[asyncio.Task[None]] = []

    def app(self) -> BySite:
        return BySite(self.explorer_app, self.market_app, self.settings.market_port)

    async def _sample(self) -> None:
        while True:
            try:
                listing = await asyncio.to_thread(self.market.miners)
                self.throughput.record(listing.miners, time.monotonic())
            except PageError as exc:
                log.debug("miners not sampled: %s", exc.message)
            await asyncio.sleep(SAMPLE_EVERY_S)

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._sample()), asyncio.create_task(self.relay.run())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.chain.close()
        self.market.close()


def main(settings: ExplorerSettings) -> int:
    """Run both sites until SIGTERM/SIGINT; the process exit code."""
    setup_logging("explorer", settings.home, settings.log_level)
    if settings.log_level != "debug":
        logging.getLogger("httpx").setLevel(logging.WARNING)
    sites = Sites(settings)
    return run_daemon(sites.app(), settings, on_startup=[sites.start], on_shutdown=[sites.stop])  # type: ignore[arg-type]
