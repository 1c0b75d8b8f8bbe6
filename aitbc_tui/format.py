"""Text formatting shared by every TUI screen.

Amounts are integers in units (1 AIT = 10**6 units) and are rendered with exact integer
arithmetic, never through floats, so the TUI shows the same digits as the chain and the CLI.
Times are rendered from the data's own timestamps (UTC), never from "now", so that a screen
with fixed data always looks the same (snapshot tests depend on that).
"""

from __future__ import annotations

from datetime import UTC, datetime

from chain.params import UNIT


SHOWN_DECIMALS = 2
"""Screens show at least this many decimals; more only where the amount has them (never rounded)."""


def ait(units: int | None, *, full: bool = False, suffix: bool = True) -> str:
    """The one way an amount is written, so the same amount reads the same on every screen.

    Screens (tables, panels, the Dashboard) show it exact with trailing zeros trimmed down to
    two decimals: ``10_000_000`` -> ``'10.00 AIT'``, ``642`` -> ``'0.000642 AIT'`` (a small
    reward is never shown as ``0.00``). ``full=True`` writes all six decimals (``'10.000000 AIT'``):
    confirmations of money, prefilled form values and the CLI, where every digit is checked
    or parsed and columns must stay the same width. Fees are amounts too (in AIT, not units).
    """
    if units is None:
        return "-"
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(int(units)), UNIT)
    digits = f"{frac:06d}"
    if not full:
        digits = digits.rstrip("0").ljust(SHOWN_DECIMALS, "0")
    return f"{sign}{whole:,}.{digits}" + (" AIT" if suffix else "")


def parse_amount(text: str) -> int:
    """``'1.5'``/``'1.5 AIT'`` -> 1_500_000 units, ``'250u'`` -> 250 units. Exact; ValueError otherwise."""
    raw = text.strip().lower().replace(",", "").replace("_", "").replace(" ", "")
    if raw.endswith("u"):
        digits = raw[:-1]
        if not digits.isdigit():
            raise ValueError(f"invalid amount {text!r}")
        return int(digits)
    raw = raw.removesuffix("ait")
    whole, _, frac = raw.partition(".")
    if not (whole.isdigit() or (whole == "" and frac.isdigit())):
        raise ValueError(f"invalid amount {text!r}: use e.g. 12.5 (AIT) or 250u (units)")
    if frac and (not frac.isdigit() or len(frac) > 6):
        raise ValueError(f"invalid amount {text!r}: at most 6 decimals")
    return int(whole or "0") * UNIT + int((frac or "0").ljust(6, "0"))


def short_hash(value: str | None, keep: int = 10) -> str:
    """First ``keep`` hex digits of a hash (``-`` for none)."""
    if not value:
        return "-"
    return value[:keep] + ("…" if len(value) > keep else "")


def short_addr(value: str | None, head: int = 8, tail: int = 4) -> str:
    """``0x1234abcd…9f3e``: enough to recognise an address at a glance."""
    if not value:
        return "-"
    if len(value) <= head + tail + 2:
        return value
    return f"{value[:head]}…{value[-tail:]}"


def clock(time_ms: int | None) -> str:
    """UTC wall time of a timestamp in milliseconds, ``HH:MM:SS``."""
    if not time_ms:
        return "--:--:--"
    return datetime.fromtimestamp(time_ms / 1000, UTC).strftime("%H:%M:%S")


def stamp(time_ms: int | None) -> str:
    """UTC date and time of a timestamp in milliseconds."""
    if not time_ms:
        return "-"
    return datetime.fromtimestamp(time_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def seconds(value: float | None) -> str:
    """A duration for humans: ``0.20 s``, ``12.5 s``, ``3 m 20 s``."""
    if value is None:
        return "-"
    if value < 10:
        return f"{value:.2f} s"
    if value < 120:
        return f"{value:.1f} s"
    minutes, secs = divmod(int(value), 60)
    return f"{minutes} m {secs} s"


def percent_bps(bps: int | None) -> str:
    """Basis points as a percentage: ``1000`` -> ``'10.00%'``."""
    if bps is None:
        return "-"
    return f"{bps // 100}.{bps % 100:02d}%"


def mib(value_bytes: int | None) -> str:
    if value_bytes is None:
        return "-"
    return f"{value_bytes / 2**20:,.0f} MiB"


def gib(value_bytes: int | None) -> str:
    if value_bytes is None:
        return "-"
    return f"{value_bytes / 2**30:,.1f} GiB"
