"""The wallet daemon process: settings -> keystore -> core -> servers.

``aitbc wallet start`` runs :func:`main`. Core dumps are switched off first: a dump of this
process could hold unlocked keys, and nothing about a wallet crash needs one.
"""

from __future__ import annotations

import contextlib
import logging
import resource

from daemons.common.logging import setup_logging
from daemons.common.server import run_daemon
from daemons.wallet.api import build_app
from daemons.wallet.core import WalletCore
from daemons.wallet.settings import WalletSettings

log = logging.getLogger("aitbc.wallet")


def _no_core_dumps() -> None:
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def main(settings: WalletSettings) -> int:
    """Run the wallet daemon until SIGTERM/SIGINT; the process exit code."""
    _no_core_dumps()
    setup_logging("wallet", settings.home, settings.log_level)
    if settings.log_level != "debug":
        # One line per node RPC call would double the log of every send; the access log and the
        # audit log already record what happened.
        logging.getLogger("httpx").setLevel(logging.WARNING)
    settings.home.ensure()
    core = WalletCore(settings)
    app = build_app(core)
    return run_daemon(app, settings, on_startup=[core.start], on_shutdown=[core.stop])
