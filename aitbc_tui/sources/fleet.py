"""The fleet as the console sees it: every rig polled on its own thread, rows kept for the screens.

Each rig has its own loop (:class:`FleetMonitor`), so an unreachable rig waits out only its own
connection time-out and back-off while the others keep refreshing; after each row the app is told
(``on_change("fleet")``) and repaints the Fleet screen and the Dashboard's summary line on its
usual coalesced schedule. The polling itself is :mod:`daemons.ops.rigs_fleet`, shared with
``aitbc rig status``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from daemons.common.home import Home
from daemons.ops.rigs import Rig, RigError, load_rigs
from daemons.ops.rigs_fleet import Fleet, RigRow, fleet_summary

POLL_INTERVAL_S = 3.0


class FleetMonitor:
    """The rows of a home's rigs; ``start`` polls them until ``stop`` (nothing polls without it)."""

    def __init__(self, home: Home, rigs: list[Rig], on_change: Callable[[str], None] | None = None, *,
                 interval_s: float = POLL_INTERVAL_S, connect_timeout_s: float = 10.0) -> None:
        self.home = home
        self.fleet = Fleet(home, rigs, connect_timeout_s=connect_timeout_s)
        self.on_change = on_change
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @classmethod
    def for_home(cls, home: Home, on_change: Callable[[str], None] | None = None) -> FleetMonitor | None:
        """The monitor of ``HOME/rigs.toml``, or None when there are no rigs (or the file is broken)."""
        try:
            rigs = list(load_rigs(home).values())
        except RigError:
            return None
        return cls(home, rigs, on_change) if rigs else None

    @property
    def names(self) -> list[str]:
        return list(self.fleet.links)

    @property
    def rows(self) -> dict[str, RigRow]:
        return self.fleet.rows

    def show(self, rows: list[RigRow]) -> None:
        """Set rows without polling (snapshot tests and fixed data)."""
        self.fleet.rows.update({row.name: row for row in rows})

    def summary(self) -> str:
        if not self.fleet.rows:
            return f"fleet: {len(self.fleet.links)} rigs, polling..."
        return fleet_summary(list(self.fleet.rows.values()))

    def start(self) -> None:
        for name in self.fleet.links:
            thread = threading.Thread(target=self._loop, args=(name,), name=f"fleet:{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _loop(self, name: str) -> None:
        while not self._stop.is_set():
            self.fleet.poll_one(name)
            if self.on_change is not None and not self._stop.is_set():
                self.on_change("fleet")
            self._stop.wait(self.interval_s)

    def poll_now(self, names: list[str]) -> None:
        """Refresh ``names`` at once (after an action), on a thread of its own."""
        def run() -> None:
            self.fleet.poll(names)
            if self.on_change is not None:
                self.on_change("fleet")
        threading.Thread(target=run, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
