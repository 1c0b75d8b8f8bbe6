"""How the protocol writes an amount for a person: exact AIT, never floats, never raw units.

Refusals travel from here to every user-facing surface (CLI, TUI, wallet API errors). A person
types AIT, so a refusal that answers in units (``transfer needs 100000000000 units``) makes them
count zeros. Amounts stay integers of units everywhere else; this is only their reading.
"""

from __future__ import annotations

from chain.params import UNIT


def ait(units: int) -> str:
    """``100_000_000_000`` -> ``'100,000 AIT'``; ``1_500`` -> ``'0.0015 AIT'``: every nonzero digit
    kept (exact), trailing zeros dropped, thousands grouped."""
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(int(units)), UNIT)
    digits = f"{frac:0{len(str(UNIT)) - 1}d}".rstrip("0")
    return f"{sign}{whole:,}{'.' + digits if digits else ''} AIT"
