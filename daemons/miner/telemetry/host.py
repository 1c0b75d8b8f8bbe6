"""Host CPU/RAM readings from /proc, without psutil.

CPU utilisation is a rate: it needs two readings of the cumulative /proc/stat counters. The
reader keeps the previous reading and reports the busy share of the time in between; the very
first sample has nothing to compare with, so its ``cpu_percent`` is None rather than a
misleading since-boot average. Fields that cannot be read (non-Linux, restricted /proc) are None.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from daemons.miner.telemetry.models import HostSample

_PROC = Path("/proc")


def read_cpu_times(proc: Path = _PROC) -> tuple[int, int] | None:
    """``(busy, total)`` jiffies over all CPUs since boot, or None when /proc/stat is unreadable."""
    try:
        first = (proc / "stat").read_text(encoding="ascii").splitlines()[0].split()
    except (OSError, IndexError, UnicodeDecodeError):
        return None
    if not first or first[0] != "cpu":
        return None
    try:
        values = [int(v) for v in first[1:]]
    except ValueError:
        return None
    # user nice system idle iowait irq softirq steal [guest guest_nice]; guest time is already
    # counted in user/nice, so only the first eight fields make up the total.
    fields = values[:8]
    if len(fields) < 4:
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    total = sum(fields)
    return total - idle, total


def read_meminfo(proc: Path = _PROC) -> dict[str, int]:
    """``/proc/meminfo`` values in bytes, keyed by field name (empty when unreadable)."""
    result: dict[str, int] = {}
    try:
        lines = (proc / "meminfo").read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError):
        return result
    for line in lines:
        key, _, rest = line.partition(":")
        parts = rest.split()
        if not parts:
            continue
        try:
            value = int(parts[0])
        except ValueError:
            continue
        unit = parts[1].lower() if len(parts) > 1 else ""
        result[key.strip()] = value * 1024 if unit == "kb" else value
    return result


class HostReader:
    """Produces ``HostSample``s; keeps the previous CPU counters to compute utilisation."""

    def __init__(self, proc: Path = _PROC) -> None:
        self._proc = proc
        self._lock = threading.Lock()
        self._previous = read_cpu_times(proc)

    def sample(self) -> HostSample:
        """Read the host now."""
        current = read_cpu_times(self._proc)
        with self._lock:
            previous, self._previous = self._previous, current
        cpu_percent = None
        if current is not None and previous is not None:
            busy = current[0] - previous[0]
            total = current[1] - previous[1]
            if total > 0 and busy >= 0:
                cpu_percent = round(100.0 * busy / total, 2)
        memory = read_meminfo(self._proc)
        total_ram = memory.get("MemTotal")
        available = memory.get("MemAvailable")
        used = total_ram - available if total_ram is not None and available is not None else None
        try:
            load = os.getloadavg()
        except OSError:
            load = None
        return HostSample(
            cpu_count=os.cpu_count(),
            cpu_percent=cpu_percent,
            ram_used_bytes=used,
            ram_total_bytes=total_ram,
            ram_available_bytes=available,
            load_avg_1m=load[0] if load else None,
            load_avg_5m=load[1] if load else None,
            load_avg_15m=load[2] if load else None,
        )
