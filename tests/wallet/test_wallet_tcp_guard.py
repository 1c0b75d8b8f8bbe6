"""The public door cannot spend, guess passwords or fill the keystore at speed with an API key alone.

- ``/send`` needs the wallet's password, checked even when the wallet is unlocked, unless the key
  is scoped to that wallet (``api_key_wallets``); a refused send signs and broadcasts nothing.
- wallet creation/import and password checks are rate-limited per API key (429, audited, counted);
  a refused creation creates nothing, and another key keeps its own allowance.

No node runs here: a send that passes the door goes on to the node and answers 503 (served, not
refused), which is how these tests tell the door's answer from the node's.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from testkit import free_port
from walletkit import PASSWORD, audit_events, start_wallet, wallet_client

from daemons.common.errors import DaemonError
from daemons.common.home import Home
from daemons.wallet.client import WalletClient
from daemons.wallet.settings import api_key_digest

KEY = "plain-key-0123456789abcdef"
SCOPED = "scoped-key-0123456789abcdef"
RECEIVER = "0x" + "ab" * 20


def status_code(call: object) -> tuple[int, str]:
    with pytest.raises(DaemonError) as refused:
        call()  # type: ignore[operator]
    return refused.value.status, str(refused.value.code)


def test_send_needs_the_password_or_a_scoped_key_and_creation_is_metered(root: Path) -> None:
    home = Home(root=root / "h")
    port = free_port()
    env = {"AITBC_API_KEYS": json.dumps([KEY, api_key_digest(SCOPED)]),
           "AITBC_API_KEY_WALLETS": json.dumps({api_key_digest(SCOPED): ["alice"]}),
           "AITBC_KEY_CREATE_RATE": "0.001", "AITBC_KEY_CREATE_BURST": "2",
           "AITBC_KEY_PASSWORD_RATE": "0.001", "AITBC_KEY_PASSWORD_BURST": "3"}
    daemon = start_wallet(home, "--tcp", "--api-port", str(port), env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        with WalletClient(url, api_key=KEY) as plain, WalletClient(url, api_key=SCOPED) as scoped, \
                wallet_client(home) as operator:
            plain.create(PASSWORD, "alice")
            plain.create(PASSWORD, "bob")
            assert operator.unlock(PASSWORD, "alice").unlocked  # unlocked: still not anyone's to spend
            before = audit_events(home)

            # /send: no password and no scope -> refused before anything is signed
            assert status_code(lambda: plain.send(RECEIVER, 1, wallet="alice")) == (403, "password_required")
            assert status_code(lambda: scoped.send(RECEIVER, 1, wallet="bob")) == (403, "password_required")
            # a wrong password is refused even though alice is unlocked
            assert status_code(lambda: plain.send(RECEIVER, 1, wallet="alice", password="not-it-at-all")) == \
                (403, "wrong_password")
            assert not [e for e in audit_events(home) if e["event"] in ("sent", "signed")]
            assert {w.name: w.unlocked for w in operator.list()} == {"alice": True, "bob": False}
            # the right password, or the scoped key for its wallet, pass the door (and reach the absent node)
            assert status_code(lambda: plain.send(RECEIVER, 1, wallet="bob", password=PASSWORD))[0] == 503
            assert status_code(lambda: scoped.send(RECEIVER, 1, wallet="alice"))[0] == 503
            # password checks are metered per key: the 4th within the burst window is refused unchecked
            assert status_code(lambda: plain.send(RECEIVER, 1, wallet="bob", password=PASSWORD))[0] == 503
            assert status_code(lambda: plain.send(RECEIVER, 1, wallet="bob", password=PASSWORD)) == \
                (429, "rate_limited")

            # creation is metered per key: the third creation with KEY is refused and creates nothing
            assert status_code(lambda: plain.create(PASSWORD, "carol")) == (429, "rate_limited")
            assert status_code(lambda: plain.import_private_key("22" * 32, PASSWORD, "dave")) == \
                (429, "rate_limited")
            assert {w.name for w in operator.list()} == {"alice", "bob"}
            assert scoped.create(PASSWORD, "erin").wallet.name == "erin"  # another key, its own allowance
            # the operator socket is never metered
            operator.create(PASSWORD, "frank")
        limited = [e for e in audit_events(home, "wallet_rate_limited") if e not in before]
        assert {e["what"] for e in limited} == {"password", "wallet creation"}
    finally:
        daemon.stop()


def test_a_scoped_key_must_be_one_of_the_api_keys(root: Path) -> None:
    home = Home(root=root / "h")
    env = {"AITBC_API_KEYS": json.dumps([KEY]), "AITBC_API_KEY_WALLETS": json.dumps({SCOPED: ["alice"]})}
    daemon = start_wallet(home, "--tcp", "--api-port", str(free_port()), env=env, wait=False)
    assert daemon.proc.wait(timeout=60) != 0
    assert "every scoped key must also be listed in api_keys" in daemon.output()
    assert SCOPED not in daemon.output()


def test_the_daemon_refuses_a_wallet_file_below_its_scrypt_floor(root: Path, tmp_path: Path) -> None:
    from keys import Keystore

    weak = Keystore(tmp_path / "elsewhere", scrypt_n=2**4)  # below the test daemon's own cost (2**10)
    weak.create(PASSWORD, "cheap", words=12)
    backup = weak.export("cheap").decode()
    home = Home(root=root / "h")
    daemon = start_wallet(home)
    try:
        with wallet_client(home) as operator:
            assert status_code(lambda: operator.import_backup(backup, PASSWORD, "cheap")) == (422, "weak_wallet_file")
            assert operator.list() == []
    finally:
        daemon.stop()
