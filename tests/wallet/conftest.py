"""Fixtures for the wallet tests (helpers live in ``walletkit``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from testkit import Daemon, temp_root
from walletkit import init_node, start_node, start_wallet

from daemons.common.home import Home
from keys import KeyPair, generate_mnemonic, keypair_from_mnemonic


@pytest.fixture
def root() -> Iterator[Path]:
    """Under /tmp: AF_UNIX socket paths are limited to 107 bytes."""
    with temp_root("aw-") as path:
        yield path


@dataclass
class Net:
    """A node and a wallet daemon on one home; ``rich`` is funded at genesis."""

    home: Home
    node: Daemon
    wallet: Daemon
    rich_phrase: str
    rich_address: str
    coordinator: str
    validator: str

    def outputs(self) -> str:
        return self.node.output() + self.wallet.output()


@pytest.fixture(scope="module")
def net() -> Iterator[Net]:
    with temp_root("aw-") as base:
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
