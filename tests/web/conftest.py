"""Fixtures of the web daemon tests (helpers live in ``webkit``; the node + coordinator network
comes from the coordinator tests' ``coordkit``)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# pytest runs with --import-mode=importlib, which puts no test directory on sys.path.
_HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(_HERE))
sys.path.insert(0, str(_HERE.parent / "coordinator"))

from coordkit import BARE_ENV  # noqa: E402
from webkit import Market, start_market  # noqa: E402


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No AITBC_* or documented bare variable from the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("AITBC_") and name != "AITBC_TEST_KEEP" or name in BARE_ENV:
            monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def market() -> Iterator[Market]:
    yield from start_market(["payer"])
