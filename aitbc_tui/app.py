"""Entry point of ``aitbc-tui``."""

from __future__ import annotations


def main() -> None:
    import sys

    sys.stderr.write("aitbc-tui: the dashboard is not available in this build yet\n")
    raise SystemExit(2)
