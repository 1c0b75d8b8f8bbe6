"""The wallet's in-memory pieces without a daemon: the vault's wiping and idle expiry, the
brute-force guard's doubling delay, the settings' KDF and API-key rules, and the clients' signing options."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from daemons.common.settings import SettingsError, load_settings
from daemons.wallet.client import AsyncWalletClient, WalletClient
from daemons.wallet.guard import Refused, UnlockGuard
from daemons.wallet.models import LockRequest, SendRequest, UnlockRequest
from daemons.wallet.settings import WalletSettings, api_key_digest
from daemons.wallet.vault import Vault
from keys import DEFAULT_SCRYPT_N, KeyPair, KeyWiped, WrongPassword


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_vault_wipes_on_lock_and_on_idle_expiry() -> None:
    clock = Clock()
    vault = Vault(clock)
    short, forever = KeyPair.generate(), KeyPair.generate()
    vault.put(short, timeout_s=10)
    vault.put(forever, timeout_s=0)
    clock.now += 8
    assert vault.use(short.address) is short  # use restarts the idle clock
    clock.now += 8
    assert vault.expire() == []
    assert vault.remaining(short.address) == pytest.approx(2)
    clock.now += 3
    assert vault.expire() == [short.address]
    assert short.wiped and short.address not in vault
    with pytest.raises(KeyWiped):
        short.sign(b"x")
    assert vault.remaining(forever.address) is None and not forever.wiped
    assert vault.lock_all() == [forever.address] and forever.wiped
    assert vault.lock(forever.address) is False


def test_vault_replacing_a_key_wipes_the_old_copy() -> None:
    vault = Vault()
    first = KeyPair.generate()
    second = KeyPair(first.seed_bytes())
    vault.put(first, 60)
    vault.put(second, 60)
    assert first.wiped and not second.wiped and len(vault) == 1


def test_guard_doubles_the_delay_caps_it_and_resets_on_success() -> None:
    guard = UnlockGuard(base_s=0.5, max_s=3.0)
    assert [guard.delay_for(n) for n in range(6)] == [0.0, 0.5, 1.0, 2.0, 3.0, 3.0]
    fast = UnlockGuard(base_s=0.0, max_s=0.0)
    seen: list[Refused] = []

    async def record(address: str, refused: Refused) -> None:
        seen.append(refused)

    fast._on_failure = record

    async def wrong() -> None:
        raise WrongPassword("wrong password for key 0x..")

    async def right() -> str:
        return "ok"

    async def scenario() -> None:
        for _ in range(3):
            with pytest.raises(WrongPassword):
                await fast.attempt("a", wrong)
        assert fast.failures("a") == 3 and fast.failures("b") == 0
        assert await fast.attempt("a", right) == "ok"
        assert fast.failures("a") == 0

    asyncio.run(scenario())
    assert [r.failures for r in seen] == [1, 2, 3]


def test_settings_defaults_and_validation(tmp_path: Path) -> None:
    settings = load_settings(WalletSettings, tmp_path / "h")
    assert settings.tcp_enabled is False and settings.tcp_listeners() == []
    assert settings.api_port == 18002 and settings.scrypt_n == DEFAULT_SCRYPT_N == 2**17
    assert settings.keystore_dir == tmp_path / "h" / "keys" / "wallets"
    with pytest.raises(SettingsError, match="power of two"):
        load_settings(WalletSettings, tmp_path / "h", scrypt_n=1000)
    with pytest.raises(SettingsError, match="needs at least one API key"):
        load_settings(WalletSettings, tmp_path / "h", tcp_enabled=True)
    with pytest.raises(SettingsError, match="at least 16 characters") as short:
        load_settings(WalletSettings, tmp_path / "h", api_keys=["hunter2"])
    assert "hunter2" not in str(short.value)
    key = "k" * 20
    enabled = load_settings(WalletSettings, tmp_path / "h", tcp_enabled=True, api_keys=[api_key_digest(key)])
    assert enabled.tcp_listeners() == [("127.0.0.1", 18002)]
    assert enabled.api_key_digests() == {api_key_digest(key)}


def test_pending_releases_are_named_for_what_they_are() -> None:
    from aitbc_tui.cli.chain import _account_text

    coordinator, validator = "0x" + "c" * 40, "0x" + "v" * 40
    account = {"address": "0x" + "a" * 40, "height": 9, "balance": 2_500_000, "nonce": 3, "pending_nonce": 3,
               "stakes": [], "escrows": [{"coordinator": coordinator, "balance": 1_000_000}], "miner": None,
               "validator": None,
               "unbonding": [{"kind": "escrow_withdraw", "amount": 1_000_000, "release": 40, "coordinator": coordinator},
                             {"kind": "unbond", "amount": 500_000, "release": 41, "validator": validator},
                             {"kind": "miner_unbond", "amount": 7, "release": 42}]}
    text = _account_text(account)
    assert f"escrow withdrawal 1.000000 AIT from {coordinator}, released at height 40" in text
    assert f"unbonding stake 0.500000 AIT from {validator}, released at height 41" in text
    assert "unbonding miner bond 0.000007 AIT, released at height 42" in text
    assert "balance    2.500000 AIT" in text and "2500000" not in text


def test_a_misspelt_signing_option_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    """The signing options are ``**options`` (one definition for every signing call of both
    clients), which Python does not check: a misspelt one must still be a ``TypeError``, not a
    field the daemon refuses or, worse, ignores. No daemon listens on the socket: the call fails
    before it would connect."""
    target = tmp_path / "wallet.sock"
    with WalletClient(target) as blocking, pytest.raises(TypeError, match="walet"):
        blocking.send("0x" + "ab" * 20, 1, walet="rich")  # type: ignore[call-arg]

    async def scenario() -> None:
        async with AsyncWalletClient(target) as client:
            with pytest.raises(TypeError, match="pasword, walet"):
                client.delegate("0x" + "ab" * 20, 1, walet="rich", pasword="x")  # type: ignore[call-arg]

    asyncio.run(scenario())


@pytest.mark.parametrize(("model", "body"), [
    (LockRequest, '{"all": 0}'),
    (UnlockRequest, '{"password": "pw", "timeout_s": false}'),
    (SendRequest, '{"to": "0x%s", "amount": 1, "timeout_s": true}' % ("ab" * 20)),
])
def test_requests_take_only_the_json_types_their_schema_names(model: type[BaseModel], body: str) -> None:
    """The OpenAPI document says boolean and number: a 0 for ``all`` or a ``false`` for a time-out is
    refused, not read as False or 0 seconds (the contract fuzzer's finding)."""
    with pytest.raises(ValidationError):
        model.model_validate_json(body)
    assert UnlockRequest.model_validate_json('{"password": "pw", "timeout_s": 30}').timeout_s == 30.0
    assert LockRequest.model_validate_json('{"all": true}').all is True
    assert SendRequest.model_validate_json('{"to": "0x%s", "amount": 1, "timeout_s": 5}' % ("ab" * 20)).timeout_s == 5.0
