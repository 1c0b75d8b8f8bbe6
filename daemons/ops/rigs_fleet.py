"""What a fleet of rigs is doing: one row per rig, polled concurrently over their masters.

A rig's row comes from its miner's operator socket forwarded over SSH (status and telemetry, the
same typed client as everywhere), never from a remote program started per poll: a poll is two
HTTP requests on an open channel. Every rig is polled on its own thread, so a rig that is slow or
gone costs its own time-out only; a rig that cannot be reached keeps its last-seen time and
says why, and the master's back-off decides when it is tried again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any
from concurrent.futures import ThreadPoolExecutor, as_completed

from pydantic import BaseModel

from daemons.common.errors import DaemonError
from daemons.common.home import Home
from daemons.ops.rigs import Rig, RigError
from daemons.ops.rigs_ssh import RigLink

if TYPE_CHECKING:
    from daemons.miner.telemetry.models import GpuSample

POLL_AT_ONCE = 64
"""Rigs polled at the same time: a poll mostly waits on its rig, so tens of threads cost little;
beyond this a refresh of hundreds of rigs goes in waves instead of hundreds of threads."""
POLL_TIMEOUT_S = 5.0
"""How long one rig's miner may take to answer a poll (the connection has its own time-out)."""


class RigRow(BaseModel):
    """One rig in the fleet view (``aitbc rig status --json`` and the TUI's Fleet screen)."""

    name: str
    url: str
    reachable: bool
    error: str | None = None
    miner: str = "unknown"
    """The miner's phase (serving, loading, telemetry_only, draining, failed), ``stopped`` when
    its socket does not answer, ``unknown`` when the rig is unreachable."""
    ready: bool = False
    models: list[str] = []
    gpus: int = 0
    gpu_util: float | None = None
    gpu_temp: float | None = None
    gpu_mem_used: int | None = None
    gpu_mem_total: int | None = None
    jobs_running: int = 0
    jobs_done: int = 0
    earnings: int | None = None
    last_seen_ms: int | None = None
    poll_ms: int = 0


def gpu_summary(gpus: Sequence[GpuSample]) -> dict[str, Any]:
    """A rig's GPUs as one row's fields: every GPU counted, the unreadable ones (``error``) left out
    of the figures; utilization averaged, the hottest temperature, memory summed. A figure no
    GPU reported is None (shown ``-``), never a zero that reads like an idle card."""
    read = [g for g in gpus if not g.error]
    utils = [g.utilization_percent for g in read if g.utilization_percent is not None]
    temps = [g.temperature_celsius for g in read if g.temperature_celsius is not None]
    used = [g.memory_used_bytes for g in read if g.memory_used_bytes is not None]
    total = [g.memory_total_bytes for g in read if g.memory_total_bytes is not None]
    return {"gpus": len(gpus), "gpu_util": sum(utils) / len(utils) if utils else None,
            "gpu_temp": max(temps) if temps else None, "gpu_mem_used": sum(used) if used else None,
            "gpu_mem_total": sum(total) if total else None}


def _now_ms() -> int:
    return int(time.time() * 1000)


def poll_rig(link: RigLink, last_seen_ms: int | None = None, clients: dict[str, Any] | None = None) -> RigRow:
    """One rig's row now (never raises for a rig problem: the row says it). ``clients`` keeps each
    rig's miner client between polls (one HTTP connection on the forward, not one per poll)."""
    from daemons.miner.client import MinerClient

    started = time.monotonic()
    row = RigRow(name=link.rig.name, url=link.rig.url, reachable=False, last_seen_ms=last_seen_ms)
    try:
        sock = link.forward("miner")
    except RigError as exc:
        row.error = str(exc)
        row.poll_ms = int((time.monotonic() - started) * 1000)
        return row
    row.reachable, row.last_seen_ms = True, _now_ms()
    name = link.rig.name
    client = clients.get(name) if clients is not None else None
    if client is None:
        client = MinerClient(sock, timeout=POLL_TIMEOUT_S)
    try:
        status = client.status()
        telemetry = client.telemetry()
    except DaemonError:
        # Which failed, the miner or the connection? The master exits (and removes its control
        # socket) when its connection closes or stops answering keep-alives, so a look at its pid
        # in /proc says it without a process: asking the master itself (``ssh -O check``) cost one
        # ssh start per rig per poll of every rig whose miner is stopped, most of a warm refresh.
        if link.master_pid() is None:  # not the miner: the connection to the rig is gone
            row.reachable, row.last_seen_ms = False, last_seen_ms
            row.error = f"rig {name}: the SSH connection was lost"
        else:
            row.miner = "stopped"
    else:
        row.miner, row.ready = status.phase, status.ready
        row.models = [m.name for m in status.models if m.served]
        row.jobs_running = len(status.tasks)
        row.jobs_done = status.counters.runs_completed
        row.earnings = status.earnings.balance
        for field, value in gpu_summary(telemetry.gpus).items():
            setattr(row, field, value)
    if clients is not None:
        clients[name] = client  # kept, also after a refusal: it reconnects on its next request
    else:
        client.close()
    row.poll_ms = int((time.monotonic() - started) * 1000)
    return row


class Fleet:
    """The links of a home's rigs and their latest rows, polled concurrently."""

    def __init__(self, home: Home, rigs: Sequence[Rig], *, connect_timeout_s: float | None = None) -> None:
        self.home = home
        extra = {} if connect_timeout_s is None else {"connect_timeout_s": connect_timeout_s}
        self.links = {rig.name: RigLink(rig, home, **extra) for rig in rigs}
        self.rows: dict[str, RigRow] = {}
        self._clients: dict[str, Any] = {}
        self._pool: ThreadPoolExecutor | None = None

    def poll_one(self, name: str) -> RigRow:
        previous = self.rows.get(name)
        row = poll_rig(self.links[name], previous.last_seen_ms if previous else None, self._clients)
        self.rows[name] = row
        return row

    def poll(self, names: Sequence[str] | None = None,
             on_row: Callable[[RigRow], None] | None = None) -> list[RigRow]:
        """Poll ``names`` (all by default) at once; rows in the order asked. ``on_row`` sees each
        row as soon as its rig answered."""
        chosen = list(names) if names is not None else list(self.links)
        if not chosen:
            return []
        if self._pool is None:  # kept between refreshes: no thread start-up per rig per refresh
            self._pool = ThreadPoolExecutor(max_workers=max(1, min(POLL_AT_ONCE, len(self.links))),
                                            thread_name_prefix="fleet-poll")
        futures = [self._pool.submit(self.poll_one, name) for name in chosen]
        for future in as_completed(futures):
            row = future.result()
            if on_row is not None:
                on_row(row)
        return [self.rows[name] for name in chosen]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        for link in self.links.values():
            try:
                link.close()
            except (RigError, OSError):
                pass


def fleet_summary(rows: Sequence[RigRow]) -> str:
    """One line for the Dashboard: how many rigs, reachable, serving, GPUs, jobs."""
    if not rows:
        return "fleet: no rigs (add one with `aitbc rig add NAME ssh://user@host`)"
    up = sum(r.reachable for r in rows)
    serving = sum(r.miner == "serving" for r in rows)
    return (f"fleet: {len(rows)} rigs, {up} reachable, {len(rows) - up} unreachable, {serving} serving, "
            f"{sum(r.gpus for r in rows)} GPUs, {sum(r.jobs_running for r in rows)} jobs running, "
            f"{sum(r.jobs_done for r in rows)} done")
