"""The public TCP door: off by default, and when configured it wants an API key and serves only
the seed's REST paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from testkit import free_port
from walletkit import PASSWORD, audit_events, start_wallet, wallet_client

from daemons.common.client import DaemonClient
from daemons.common.errors import DaemonError
from daemons.common.home import Home
from daemons.wallet.client import WalletClient
from daemons.wallet.settings import api_key_digest

KEY = "wallet-test-key-0123456789"
HASHED_KEY = "second-key-abcdefghijklmnop"


def test_tcp_door_requires_a_key_and_serves_only_public_paths(root: Path) -> None:
    home = Home(root=root / "h")
    port = free_port()
    keys = json.dumps([KEY, api_key_digest(HASHED_KEY)])
    daemon = start_wallet(home, "--tcp", "--api-port", str(port), env={"AITBC_API_KEYS": keys})
    url = f"http://127.0.0.1:{port}"
    try:
        with WalletClient(url) as anonymous, WalletClient(url, api_key="wrong-key-wrong-key") as wrong:
            for who in (anonymous, wrong):
                with pytest.raises(DaemonError) as refused:
                    who.create(PASSWORD, "x")
                assert (refused.value.status, refused.value.code) == (401, "unauthorized")
        with WalletClient(url, api_key=KEY) as public, WalletClient(url, api_key=HASHED_KEY) as hashed:
            created = public.create(PASSWORD, "remote")
            assert created.wallet.name == "remote"
            assert hashed.import_private_key("11" * 32, PASSWORD, "raw").kind == "seed"
            with pytest.raises(DaemonError) as offline:
                public.balance("remote")  # served (node not running here), not refused
            assert offline.value.status == 503
            for call in (public.list, lambda: public.export("remote"), lambda: public.unlock(PASSWORD, "remote")):
                with pytest.raises(DaemonError) as closed:
                    call()
                assert (closed.value.status, closed.value.code) == (403, "operator_only")
        with DaemonClient(url) as raw:
            assert raw.get("/health")["door"] == "public"
        with wallet_client(home) as operator:
            assert {w.name for w in operator.list()} == {"remote", "raw"}
        refused_events = audit_events(home, "api_key_refused")
        assert {e["reason"] for e in refused_events} == {"missing", "unknown"}
    finally:
        daemon.stop()
    assert KEY not in daemon.output() and KEY not in home.audit_log.read_text()


def test_tcp_is_off_by_default_and_refused_without_keys(root: Path) -> None:
    home = Home(root=root / "h")
    daemon = start_wallet(home)
    try:
        with wallet_client(home) as operator:
            assert operator.status().tcp_enabled is False
    finally:
        daemon.stop()
    misconfigured = start_wallet(home, "--tcp", wait=False)
    assert misconfigured.proc.wait(timeout=60) != 0
    assert "api_keys" in misconfigured.output()
