"""The coordinator daemon: settings -> storage -> chain view -> core -> servers, plus its loops.

``aitbc coordinator start`` runs :func:`main`. Background work, each in its own task:

- maintenance (every ``reap_interval``): re-queue work of lost or late miners, re-read miners'
  bonds, and match (work queued through another coordinator process is assigned here too);
- settlement (every ``settle_interval``): batch receipts onto the chain and submit slashes,
  in the one process that holds the settlement lease;
- chain parameters (every ``params_refresh``): re-read from the node, so that governance
  changes (minimum bond, fees, receipts per transaction) apply without a restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

from fastapi import FastAPI

from daemons.common.events import EventHub
from daemons.common.logging import setup_logging
from daemons.common.server import run_daemon
from daemons.common.version import VERSION
from daemons.coordinator.api import build_app
from daemons.coordinator.auth import Authenticator
from daemons.coordinator.chain_view import ChainView
from daemons.coordinator.core import CoordinatorCore
from daemons.coordinator.init import unlock_coordinator_key
from daemons.coordinator.settings import CoordinatorSettings
from daemons.coordinator.settlement import Settler
from daemons.coordinator.store import CoordinatorStore
from storage.database import open_database
from storage.schema import startup_backup_dir

log = logging.getLogger("aitbc.coordinator")
NODE_WAIT_S = 30.0


T = TypeVar("T")


class Started(Generic[T]):
    """A part :meth:`CoordinatorRuntime.start` makes (it needs the node or the database): held
    in ``_<name>``, None until then; reading it earlier is a bug, and says so."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, runtime: Any, owner: type | None = None) -> T:
        if runtime is None:
            return self  # type: ignore[return-value]  # looked up on the class
        part = runtime.__dict__[f"_{self.name}"]
        if part is None:
            raise RuntimeError(f"the coordinator is not started: it has no {self.name} yet")
        return part


class CoordinatorRuntime:
    """Owns the store, the chain view, the core, the event hub and the background tasks.

    The chain view, store, core and settler are made by :meth:`start`; :meth:`stop` closes
    whichever of them a start that failed half-way had made."""

    chain = Started[ChainView]()
    store = Started[CoordinatorStore]()
    core = Started[CoordinatorCore]()
    settler = Started[Settler]()

    def __init__(self, settings: CoordinatorSettings) -> None:
        self.settings = settings
        self.hub = EventHub()
        self.auth = Authenticator(settings, lambda: self.store)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._signal = asyncio.Event()
        self._kick_pending = False
        """A :meth:`_kick` is scheduled and has not run yet (see :meth:`kick`)."""
        self._awaiting = 0
        """Polls inside :meth:`awaiting_work` (changed on the event loop only)."""
        self._tasks: list[asyncio.Task[None]] = []
        self._chain: ChainView | None = None
        self._store: CoordinatorStore | None = None
        self._core: CoordinatorCore | None = None
        self._settler: Settler | None = None

    # -- wake-ups for long polls ------------------------------------------------------------------

    @contextmanager
    def awaiting_work(self) -> Iterator[asyncio.Event]:
        """The event the next :meth:`kick` sets: enter before looking for work, then wait on it
        inside. While nobody is inside, kicks cost nothing: there is no poll to wake, and a poll
        that enters later looks for work after entering, so it finds what the skipped kick was for."""
        self._awaiting += 1
        try:
            yield self._signal
        finally:
            self._awaiting -= 1

    def _kick(self) -> None:
        self._kick_pending = False  # before the wake: work added after this point kicks again
        self._signal.set()
        self._signal = asyncio.Event()

    def kick(self) -> None:
        """Wake waiting polls: new work may be theirs. Safe from any thread.

        Kicks coalesce: while one wake-up is scheduled and has not run, another would wake the
        same polls at the same moment, so it is not scheduled (each one cost a submission a
        write to the event loop's wake-up pipe). A race on the flag only ever adds a wake-up.
        With no poll waiting there is nothing to wake (:meth:`awaiting_work`)."""
        if self._loop is not None and self._awaiting and not self._kick_pending:
            self._kick_pending = True
            self._loop.call_soon_threadsafe(self._kick)

    def publish(self, topic: str, data: dict[str, Any]) -> None:
        self.hub.publish_threadsafe(topic, data)

    # -- life cycle -----------------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._signal = asyncio.Event()
        settings = self.settings
        chain = self._chain = ChainView(settings.home, settings.node, settings.genesis_file, settings.escrow_cache,
                                        timeout=max(15.0, settings.commit_timeout + 10))
        await asyncio.to_thread(chain.connect, NODE_WAIT_S)
        if chain.params_from != "node":
            log.warning("the node did not give its chain parameters; using those of %s until it does",
                        "the genesis file" if chain.params_from == "genesis" else "the protocol's defaults")
        address, seed = await asyncio.to_thread(unlock_coordinator_key, settings)
        database = await asyncio.to_thread(open_database, settings.database_url,
                                           settings.home.database_file("coordinator"))
        store = self._store = await asyncio.to_thread(
            CoordinatorStore, database, written_by=f"aitbc {VERSION}",
            backup_dir=startup_backup_dir(database, settings.home.backups_dir))
        if store.schema.backup is not None:
            log.info("coordinator database migrated", extra={"from": store.schema.found, "to": store.schema.version,
                                                             "backup": str(store.schema.backup)})
        self._core = CoordinatorCore(settings, store, chain, address, seed, publish=self.publish,
                                     notify=self.kick, listening=lambda: self.hub.subscriber_count > 0)
        settler = self._settler = Settler(settings, store, chain, address, seed, publish=self.publish)
        self._tasks = [
            asyncio.create_task(self._every(settings.reap_interval, self._maintain), name="maintenance"),
            asyncio.create_task(self._every(settings.settle_interval, settler.tick), name="settlement"),
            asyncio.create_task(self._every(settings.params_refresh, chain.refresh_params, first_after=True),
                                name="chain-params"),
        ]
        log.info("coordinator started", extra={"address": address, "chain_id": chain.chain_id,
                                               "node": str(chain.target),
                                               "min_miner_bond": chain.params.min_miner_bond})

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._settler is not None:
            await asyncio.to_thread(self._settler.release)
        if self._store is not None:
            await asyncio.to_thread(self._store.close)
        if self._chain is not None:
            self._chain.close()
        log.info("coordinator stopped")

    def _maintain(self) -> None:
        self.core.reap()
        self.core.refresh_bonds()
        self.core.match()

    async def _every(self, interval: float, work: Any, first_after: bool = False) -> None:
        if first_after:
            await asyncio.sleep(interval)
        while True:
            try:
                await asyncio.to_thread(work)
            except Exception:
                log.exception("background work failed; retrying next interval", extra={"work": work.__name__})
            await asyncio.sleep(interval)


def build(settings: CoordinatorSettings) -> tuple[CoordinatorRuntime, FastAPI]:
    runtime = CoordinatorRuntime(settings)
    return runtime, build_app(runtime)


def main(settings: CoordinatorSettings) -> int:
    """Run the coordinator until SIGTERM/SIGINT; the process exit code."""
    setup_logging("coordinator", settings.home, settings.log_level)
    if settings.log_level != "debug":
        # Every node call would be an info line; the coordinator logs what they achieved instead.
        logging.getLogger("httpx").setLevel(logging.WARNING)
    runtime, app = build(settings)
    return run_daemon(app, settings, on_startup=[runtime.start], on_shutdown=[runtime.stop])
