"""The command line and the CPU clock the benchmarks share (their process helpers are ``tests/testkit.py``'s).

Every bench is described by the first paragraph of its own docstring, and those that run a node
take its block time the same way; ``--seconds`` is common too, but what it times differs, so
each bench says it in its help.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def bench_parser(doc: str | None, *, block_time: float | None = None,
                 seconds: tuple[float, str] | None = None) -> argparse.ArgumentParser:
    """A parser for a bench whose module docstring is ``doc``; ``--block-time`` when
    ``block_time`` gives its default, ``--seconds`` when ``seconds`` gives (default, help)."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    if block_time is not None:
        parser.add_argument("--block-time", type=float, default=block_time, help="seconds between blocks")
    if seconds is not None:
        parser.add_argument("--seconds", type=float, default=seconds[0], help=seconds[1])
    return parser


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far, all its threads (Linux ``/proc``): the
    stable figure on a shared machine, where rates swing with what else runs."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (fields 14, 15)
