"""The miner's session with the coordinator: register, heartbeat, long-poll for tasks.

Registration retries with back-off until the coordinator answers (or the miner drains), and is
repeated whenever the coordinator says it no longer knows this miner. Heartbeats report free
slots, the tasks held and a telemetry summary; the answer names tasks to drop. The poll loop
asks for as many tasks as there are free slots and hands each to the task book.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from daemons.common.backoff import Backoff
from daemons.common.errors import DaemonError
from daemons.coordinator.client import AsyncCoordinatorClient
from daemons.miner.book import TaskBook
from daemons.miner.models import Registration
from daemons.miner.monitor import HardwareMonitor
from daemons.miner.state import MinerState, now_ms

log = logging.getLogger("aitbc.miner")
BACKOFF_START_S = 0.5
_DEFAULT_HEARTBEAT_S = 5.0
_MAX_POLL_JOBS = 64
_MAX_RUNNING_REPORTED = 1024


class CoordinatorSession:
    """The coordinator client (made by :meth:`open` once the key is known) and its loops."""

    def __init__(self, state: MinerState, book: TaskBook, monitor: HardwareMonitor) -> None:
        self._state = state
        self._book = book
        self._monitor = monitor
        self._client: AsyncCoordinatorClient | None = None
        self._registered = False
        self._register_lock = asyncio.Lock()

    def open(self, api_key: str | None) -> None:
        """Make the client: over HTTP with the API key, or on the coordinator's socket as the
        miner's address."""
        s = self._state.settings
        self._client = AsyncCoordinatorClient(
            s.coordinator_target, api_key=api_key if s.coordinator_is_url else None,
            address=None if s.coordinator_is_url else self._state.address, timeout=s.poll_wait + 15)

    @property
    def opened(self) -> bool:
        return self._client is not None

    @property
    def client(self) -> AsyncCoordinatorClient:
        if self._client is None:
            raise RuntimeError("the coordinator session is opened by the miner's start")
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    def registration_body(self) -> dict[str, Any]:
        state, s = self._state, self._state.settings
        models = [{"name": sv.name, "model_id": sv.model_id} for sv in state.served
                  if sv.model_id and sv.backend is not None and (sv.usable or not sv.reason)]
        return {"address": state.address, "pubkey": _pubkey(state.seed), "models": models, "capacity": s.capacity,
                "price_per_1k_tokens": s.price_per_1k_tokens, "gpus": self._monitor.gpu_infos()}

    async def register(self, force: bool = False) -> None:
        """Register (again); retries with back-off until the coordinator answers or we drain."""
        state, target = self._state, self._state.settings.coordinator_target
        async with self._register_lock:
            if self._registered and not force:
                return
            backoff = Backoff(BACKOFF_START_S, state.settings.retry_max)
            while not state.draining:
                try:
                    reply = await self.client.register(self.registration_body())
                except DaemonError as exc:
                    self._registered = False
                    if state.registration.error != exc.message:
                        log.warning("cannot register with the coordinator; retrying",
                                    extra={"coordinator": target, "error": exc.message})
                    state.registration.registered, state.registration.error = False, exc.message
                    await asyncio.sleep(backoff.next())
                    continue
                self._registered = True
                state.registration = Registration(
                    coordinator=target, registered=True, bonded=reply.bonded,
                    chain_id=reply.chain_id, coordinator_address=reply.coordinator_address,
                    min_miner_bond=reply.min_miner_bond, heartbeat_interval_s=reply.heartbeat_interval_s,
                    last_heartbeat_ms=now_ms())
                state.check_chain(reply.chain_id)
                state.chain_id = reply.chain_id  # proofs are for the coordinator's chain
                if state.bond.status != "disabled" and state.bond.target < reply.min_miner_bond:
                    log.warning("stake_amount is below the chain's minimum miner bond: no work will come",
                                extra={"stake_units": state.bond.target, "min_miner_bond": reply.min_miner_bond})
                log.info("registered with the coordinator", extra={
                    "coordinator": target, "chain_id": reply.chain_id,
                    "bonded": reply.bonded, "models": [m["name"] for m in self.registration_body()["models"]]})
                return

    async def heartbeat_loop(self) -> None:
        state = self._state
        while True:
            interval = state.settings.heartbeat_interval or state.registration.heartbeat_interval_s \
                or _DEFAULT_HEARTBEAT_S
            await asyncio.sleep(interval)
            await self.beat()

    async def beat(self) -> None:
        """One heartbeat. Draining, it says the miner has no room: the coordinator then hands it no
        new work and ends the long poll it has waiting (the drain waits for that poll's answer)."""
        state = self._state
        busy = state.journal.in_state("queued", "running")
        try:
            # Draining: no room for new work, or the coordinator would hand back what we release.
            free = 0 if state.draining else state.free_slots()
            reply = await self.client.heartbeat(free, [e.task_id for e in busy][:_MAX_RUNNING_REPORTED],
                                                self._monitor.summary())
        except DaemonError as exc:
            if exc.code == "not_registered":
                self._registered = False
                await self.register()
            else:
                if state.registration.error != exc.message:
                    log.warning("heartbeat failed", extra={"error": exc.message})
                state.registration.error = exc.message
            return
        state.registration.last_heartbeat_ms, state.registration.error = now_ms(), None
        for task_id in reply.cancel:
            await self._book.cancel(task_id)

    async def poll_loop(self) -> None:
        state = self._state
        backoff = Backoff(BACKOFF_START_S, state.settings.retry_max)
        while not state.draining:
            if not await self._book.wait_for_room():
                return
            try:
                tasks = await self.client.poll(max_jobs=min(_MAX_POLL_JOBS, state.free_slots()),
                                               wait_s=state.settings.poll_wait)
            except DaemonError as exc:
                if exc.code == "not_registered":
                    self._registered = False
                    await self.register()
                    continue
                if state.last_error != f"poll: {exc.message}":
                    log.warning("poll failed; retrying", extra={"error": exc.message})
                state.last_error = f"poll: {exc.message}"
                await asyncio.sleep(backoff.next())
                continue
            backoff.reset()
            for task in tasks:
                await self._book.accept(task)


def _pubkey(seed: bytes) -> str:
    from chain.crypto import pubkey_from_seed

    return pubkey_from_seed(seed).hex()
