"""Fixtures for the TUI tests (helpers live in ``tuikit``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from testkit import temp_root


@pytest.fixture
def root() -> Iterator[Path]:
    """A short directory under /tmp (AF_UNIX socket paths are limited to 107 bytes)."""
    with temp_root("at-") as path:
        yield path
