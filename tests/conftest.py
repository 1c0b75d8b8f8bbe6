"""What every test shares: the kits on ``sys.path``, and no settings leaking in from the shell.

pytest runs with ``--import-mode=importlib``, which puts no test directory on ``sys.path``. The
shared ``testkit`` (this directory) and the folder kits (``nodekit``, ``walletkit``, ``coordkit``,
...) are plain modules with distinct names, imported by the tests and by each other (the miner
daemon tests reuse the coordinator's network), so this directory and every test folder go on
``sys.path`` here, once.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

_TESTS = Path(__file__).resolve().parent
for _folder in [_TESTS, *sorted(p for p in _TESTS.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))]:
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))

from testkit import is_leaked_setting  # noqa: E402


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No AITBC_* or documented bare variable from the developer's shell leaks into a test (the
    in-process CLI and settings read them); the test knobs (``AITBC_TEST_*``) stay."""
    for name in list(os.environ):
        if is_leaked_setting(name):
            monkeypatch.delenv(name)
