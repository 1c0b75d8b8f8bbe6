"""Fixtures of the end-to-end tests: a clean environment for every test (helpers live in ``e2ekit``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# pytest runs with --import-mode=importlib, which puts no test directory on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2ekit import BARE_ENV  # noqa: E402


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No AITBC_* or documented bare variable from the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("AITBC_") or name in BARE_ENV:
            monkeypatch.delenv(name)
