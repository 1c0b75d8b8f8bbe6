"""Fixtures for the TUI tests (helpers live in ``tuikit``)."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Put this directory on sys.path so test modules can import ``tuikit`` in any import mode.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tuikit import BARE_ENV  # noqa: E402


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No AITBC_* or documented bare variable from the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("AITBC_") or name in BARE_ENV:
            monkeypatch.delenv(name)


@pytest.fixture
def root() -> Iterator[Path]:
    """A short directory under /tmp (AF_UNIX socket paths are limited to 107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="at-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)
