"""Restoring wallets on a fresh home: the same phrase or key always gives the same address.

No node is needed: creating and importing are keystore work, so these run on wallet daemons
alone (each on its own home, as a new machine would be).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from walletkit import PASSWORD, start_wallet, wallet_client

from daemons.common.errors import DaemonError
from daemons.common.home import Home
from keys import KeyPair


def test_restore_from_mnemonic_and_private_key_on_a_fresh_home(root: Path) -> None:
    first, second = Home(root=root / "a"), Home(root=root / "b")
    daemons = [start_wallet(first), start_wallet(second)]
    try:
        with wallet_client(first) as a, wallet_client(second) as b:
            created = a.create(PASSWORD, "main")
            restored = b.import_mnemonic(created.mnemonic, "another password", "main")
            assert (restored.address, restored.pubkey) == (created.wallet.address, created.wallet.pubkey)
            assert restored.kind == "mnemonic"
            # Another account of the same phrase is another address (SLIP-0010 path).
            other = b.import_mnemonic(created.mnemonic, PASSWORD, "second", path="m/44'/1024'/1'/0'/0'")
            assert other.address != created.wallet.address
            with pytest.raises(DaemonError) as exists:
                b.import_mnemonic(created.mnemonic, PASSWORD, "dup")
            assert exists.value.code == "wallet_exists"

            keypair = KeyPair.generate()
            seed_hex = keypair.seed_bytes().hex()
            imported = a.import_private_key(seed_hex, PASSWORD, "raw")
            assert imported.address == keypair.address and imported.kind == "seed"
            with pytest.raises(DaemonError) as bad:
                a.import_private_key("zz" * 32, PASSWORD, "bad")
            assert bad.value.code == "invalid_key" and "zz" not in bad.value.message
            with pytest.raises(DaemonError) as both:
                a.http.post("/v1/wallet/import", {"password": PASSWORD, "mnemonic": created.mnemonic,
                                                  "private_key": seed_hex})
            assert both.value.status == 422 and created.mnemonic not in both.value.message
            assert seed_hex not in both.value.message
            with pytest.raises(DaemonError) as offline:
                a.balance("main")
            assert (offline.value.status, offline.value.code) == (503, "node_unavailable")
    finally:
        for daemon in daemons:
            daemon.stop()
    for daemon in daemons:
        assert PASSWORD not in daemon.output()
