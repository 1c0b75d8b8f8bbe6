"""The command line the benchmarks share (their process helpers are ``tests/testkit.py``'s).

Every bench is described by the first paragraph of its own docstring, and those that run a node
take its block time the same way; ``--seconds`` is common too, but what it times differs, so
each bench says it in its help.
"""

from __future__ import annotations

import argparse


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
