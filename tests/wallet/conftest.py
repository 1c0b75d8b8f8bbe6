"""Fixtures for the wallet tests (helpers live in ``walletkit``)."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# Put this directory on sys.path so test modules can import ``walletkit`` in any import mode.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from walletkit import BARE_ENV, Proc, init_node, start_node, start_wallet  # noqa: E402

from daemons.common.home import Home  # noqa: E402
from keys import KeyPair, generate_mnemonic, keypair_from_mnemonic  # noqa: E402


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No AITBC_* or documented bare variable from the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("AITBC_") or name in BARE_ENV:
            monkeypatch.delenv(name)


def _short_root() -> Path:
    """Under /tmp: AF_UNIX socket paths are limited to 107 bytes."""
    return Path(tempfile.mkdtemp(prefix="aw-", dir="/tmp"))


@pytest.fixture
def root() -> Iterator[Path]:
    path = _short_root()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@dataclass
class Net:
    """A node and a wallet daemon on one home; ``rich`` is funded at genesis."""

    home: Home
    node: Proc
    wallet: Proc
    rich_phrase: str
    rich_address: str
    coordinator: str
    validator: str

    def outputs(self) -> str:
        return self.node.text() + self.wallet.text()


@pytest.fixture(scope="module")
def net() -> Iterator[Net]:
    base = _short_root()
    home = Home(root=base / "h")
    phrase = generate_mnemonic(24)
    with keypair_from_mnemonic(phrase) as keypair:
        rich = keypair.address
    coordinator = KeyPair.generate().address
    info = init_node(home, fund={rich: "1000000"}, coordinators=(coordinator,))
    node = start_node(home)
    wallet = None
    try:
        wallet = start_wallet(home)
        yield Net(home, node, wallet, phrase, rich, coordinator, info["validator_address"])
    finally:
        if wallet is not None:
            wallet.stop()
        node.stop()
        shutil.rmtree(base, ignore_errors=True)
