"""Shared helpers for the key tests: a cheap scrypt cost so that each test stays fast."""

from __future__ import annotations

from pathlib import Path

import pytest

from keys import Keystore

# Test-only scrypt cost; the real default (2**17) is checked separately, once.
FAST_N = 2**4


@pytest.fixture
def keystore(tmp_path: Path) -> Keystore:
    return Keystore(tmp_path / "keys", scrypt_n=FAST_N)
