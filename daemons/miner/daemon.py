"""The miner daemon: settings -> catalogue -> runtime -> servers.

``aitbc miner start`` runs :func:`main`. Heavy work (unlocking the key, hashing and loading the
weights, bonding, registering) happens after the sockets are bound, so a port clash or a second
miner on the same home is reported at once, and ``/health`` answers (503, with the reason)
while the model loads.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from daemons.common.logging import setup_logging
from daemons.common.server import run_daemon
from daemons.miner.api import build_app
from daemons.miner.runtime import MinerRuntime
from daemons.miner.serving import build_catalogue
from daemons.miner.settings import MinerSettings

log = logging.getLogger("aitbc.miner")


def build(settings: MinerSettings, config_file: Path | None = None) -> MinerRuntime:
    """The runtime for ``settings``; raises ``CatalogueError`` on a malformed catalogue."""
    return MinerRuntime(settings, build_catalogue(settings, config_file))


def main(settings: MinerSettings, config_file: Path | None = None) -> int:
    """Run the miner until SIGTERM/SIGINT (then drain); the process exit code."""
    setup_logging("miner", settings.home, settings.log_level)
    if settings.log_level != "debug":
        # Heartbeats and polls would be an info line each; the miner logs what they achieved instead.
        logging.getLogger("httpx").setLevel(logging.WARNING)
    runtime = build(settings, config_file)
    app = build_app(runtime)
    code = run_daemon(app, settings, on_startup=[runtime.start], on_shutdown=[runtime.stop])
    if runtime.inference_busy():
        # A forward pass handed back at the end of the drain is still running on its thread;
        # letting the interpreter finalize under it aborts the process (torch's threads call
        # std::terminate). Everything owed is journaled and the logs are flushed: leave now.
        log.info("exiting with an abandoned forward pass still running", extra={"exit_code": code})
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
