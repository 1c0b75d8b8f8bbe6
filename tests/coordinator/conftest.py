"""Fixtures of the coordinator tests (helpers live in ``coordkit``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# pytest runs with --import-mode=importlib, which puts no test directory on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from coordkit import BARE_ENV  # noqa: E402


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No AITBC_* or documented bare variable from the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("AITBC_") and name not in ("AITBC_TEST_POSTGRES_URL", "AITBC_TEST_KEEP") or name in BARE_ENV:
            monkeypatch.delenv(name)
