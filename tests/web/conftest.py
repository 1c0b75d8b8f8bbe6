"""Fixtures of the web daemon tests (helpers live in ``webkit``; the node + coordinator network
comes from the coordinator tests' ``coordkit``; ``sys.path`` and ``clean_env`` from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from webkit import Market, start_market


@pytest.fixture(scope="module")
def market() -> Iterator[Market]:
    yield from start_market(["payer"])
