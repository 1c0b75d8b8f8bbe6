"""Live blocks for the Explorer: the node's ``new_block`` events relayed on the Explorer's own
``/ws`` WebSocket (same protocol as every ``/v1/events``: :mod:`daemons.common.events`).

Why a relay rather than the browser opening the node's WebSocket (port 26658) itself: the
web daemon reads its node through the operator socket or any RPC URL, and that node's doors
are often not reachable from a visitor's browser (bound to 127.0.0.1, or behind this daemon by
design); the page's Content-Security-Policy can then stay ``connect-src 'self'``; and however
many pages are open, the node sees one subscription. The script of the home page subscribes to
``new_block`` here and, on each event, fetches the rendered rows from ``/fragment/blocks``, so
the HTML of a row is written once, on the server. Without JavaScript nothing of this runs.
"""

from __future__ import annotations

import asyncio
import logging
import os

from daemons.common.errors import DaemonError
from daemons.common.events import EventHub
from daemons.node.client import AsyncNodeClient

log = logging.getLogger("aitbc.explorer")
TOPIC = "new_block"
RETRY_S = 2.0
"""Wait before resubscribing after the node's stream failed or the node went away."""
WS_PATH = "/ws"


class BlockRelay:
    """One subscription to the node's ``new_block``, fanned out to every open page through ``hub``."""

    def __init__(self, target: str | os.PathLike[str], timeout: float) -> None:
        self.target = target
        self.timeout = timeout
        self.hub = EventHub()
        self.connected = False

    async def run(self) -> None:
        """Relay until cancelled; a node that is down or drops the stream is retried, never fatal."""
        while True:
            try:
                async with AsyncNodeClient(self.target, timeout=self.timeout) as node:
                    async with node.events([TOPIC]) as stream:
                        self.connected = True
                        log.info("relaying the node's %s events", TOPIC)
                        async for event in stream:
                            if event.topic == TOPIC:
                                self.hub.publish(TOPIC, event.data)
            except DaemonError as exc:
                log.debug("node event stream unavailable: %s", exc.message)
            finally:
                self.connected = False
            await asyncio.sleep(RETRY_S)
