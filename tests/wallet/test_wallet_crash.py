"""SIGKILL of the wallet daemon in the middle of sends (and keystore writes) never leaves a
corrupt keystore: every wallet still opens, and a restarted daemon signs on with the right nonce."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

from testkit import wait_for
from walletkit import PASSWORD, TEST_SCRYPT_N, init_node, start_node, start_wallet, wallet_client

from daemons.common.errors import DaemonError
from daemons.common.home import Home
from daemons.node.client import NodeClient
from keys import KeyPair, Keystore, generate_mnemonic, keypair_from_mnemonic

ROUNDS = 2


def _hammer(home: Home, stop: threading.Event, counts: dict[str, int]) -> None:
    """Sends from the unlocked wallet plus renames and creates (keystore writes), until the
    daemon is gone."""
    target = KeyPair.generate().address
    with wallet_client(home) as client:
        step = 0
        while not stop.is_set():
            step += 1
            try:
                client.send(target, 1, wallet="rich")
                counts["sends"] += 1
                if step % 3 == 0:
                    client.rename("spare" if step % 2 else "spare-renamed",
                                  "spare-renamed" if step % 2 else "spare")
                if step % 5 == 0:
                    client.create(PASSWORD, f"w{counts['sends']}-{step}")
            except DaemonError:
                if stop.is_set():
                    return


def test_sigkill_during_sends_leaves_a_loadable_keystore(root: Path) -> None:
    home = Home(root=root / "h")
    phrase = generate_mnemonic(24)
    with keypair_from_mnemonic(phrase) as keypair:
        rich = keypair.address
    init_node(home, fund={rich: "1000"})
    node = start_node(home)
    try:
        wallet = start_wallet(home)
        with wallet_client(home) as client:
            client.import_mnemonic(phrase, PASSWORD, "rich")
            client.create(PASSWORD, "spare")
        for _ in range(ROUNDS):
            with wallet_client(home) as client:
                client.unlock(PASSWORD, "rich", timeout_s=0)
            stop, counts = threading.Event(), {"sends": 0}
            worker = threading.Thread(target=_hammer, args=(home, stop, counts))
            worker.start()
            wait_for(lambda: counts["sends"] >= 10, "sends to flow")
            wallet.proc.send_signal(signal.SIGKILL)
            wallet.proc.wait(timeout=30)
            stop.set()
            worker.join(timeout=60)

            keystore = Keystore(home.keys_dir / "wallets", scrypt_n=TEST_SCRYPT_N)
            infos = keystore.list()
            assert len(infos) == len(list((home.keys_dir / "wallets").glob("0x*.json")))
            for info in infos:
                keystore.load(info.address, PASSWORD).wipe()
            assert {"rich"} <= {i.name for i in infos}
            assert {"spare", "spare-renamed"} & {i.name for i in infos}

            wallet = start_wallet(home)  # the stale socket and pid file are taken over
        with wallet_client(home) as client, NodeClient.for_home(home) as node_client:
            result = client.send(KeyPair.generate().address, 1, wallet="rich", password=PASSWORD, mode="commit")
            assert result.nonce == node_client.get_account(rich)["nonce"] - 1
        wallet.stop()
    finally:
        node.stop()
