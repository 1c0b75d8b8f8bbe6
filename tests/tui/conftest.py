"""Fixtures for the TUI tests (helpers live in ``tuikit``)."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from tuikit import BARE_ENV


@pytest.fixture
def root() -> Iterator[Path]:
    """A short directory under /tmp (AF_UNIX socket paths are limited to 107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="at-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)
