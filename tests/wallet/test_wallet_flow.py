"""The wallet daemon against a real node: create, send, stake, escrow, lock, brute force, backup.

One node and one wallet daemon (real subprocesses) serve the whole module; every test works with
its own wallets, funded from the genesis-funded ``rich`` wallet. The last tests scan the home and
the daemons' output for every secret the module used.
"""

from __future__ import annotations

import stat
import threading
from collections.abc import Iterator

import pytest
from testkit import wait_for
from walletkit import PASSWORD, TEST_SCRYPT_N, audit_events, start_wallet, wallet_client

from daemons.common.errors import DaemonError
from daemons.common.home import Home
from daemons.node.client import NodeClient
from daemons.wallet.client import WalletClient
from keys import KeyPair, Keystore, keypair_from_mnemonic

UNIT = 10**6
FEE = 10
SECRETS: list[str] = [PASSWORD]
"""Every phrase and seed the module handled: the scans at the end look for each of them."""


@pytest.fixture(scope="module")
def client(net) -> Iterator[WalletClient]:  # type: ignore[no-untyped-def]
    with wallet_client(net.home) as c:
        yield c


@pytest.fixture(scope="module")
def node(net) -> Iterator[NodeClient]:  # type: ignore[no-untyped-def]
    with NodeClient.for_home(net.home) as n:
        yield n


@pytest.fixture(scope="module")
def rich(net, client: WalletClient) -> str:  # type: ignore[no-untyped-def]
    SECRETS.append(net.rich_phrase)
    with keypair_from_mnemonic(net.rich_phrase) as keypair:
        SECRETS.append(keypair.seed_bytes().hex())
    info = client.import_mnemonic(net.rich_phrase, PASSWORD, "rich")
    assert info.address == net.rich_address
    client.unlock(PASSWORD, "rich", timeout_s=0)
    return info.address


def new_wallet(client: WalletClient, name: str, fund_ait: int = 0, rich: str | None = None) -> str:
    created = client.create(PASSWORD, name)
    SECRETS.append(created.mnemonic)
    if fund_ait:
        assert rich is not None
        client.send(created.wallet.address, fund_ait * UNIT, wallet=rich, mode="commit")
    return created.wallet.address


def test_create_returns_the_phrase_once_and_it_derives_the_address(client: WalletClient) -> None:
    created = client.create(PASSWORD, "fresh", words=12)
    SECRETS.append(created.mnemonic)
    assert len(created.mnemonic.split()) == 12
    assert "shown only now" in created.warning
    with keypair_from_mnemonic(created.mnemonic) as keypair:
        assert keypair.address == created.wallet.address
        assert keypair.pubkey.hex() == created.wallet.pubkey
    listed = {w.name: w for w in client.list()}
    assert listed["fresh"].address == created.wallet.address
    assert listed["fresh"].unlocked is False
    assert created.mnemonic not in client.export("fresh").backup
    assert audit_events(client_home(client), "created")[-1]["address"] == created.wallet.address


def client_home(client: WalletClient) -> Home:
    socket_path = client.http.socket_path
    assert socket_path is not None
    return Home(root=socket_path.parent.parent)


def test_send_moves_funds_and_both_balances_change(client: WalletClient, node: NodeClient, rich: str) -> None:
    bob = new_wallet(client, "bob")
    before_rich, before_bob = client.balance(rich).balance, client.balance("bob").balance
    result = client.send(bob, 25 * UNIT + 7, wallet="rich", mode="commit")
    assert result.status == "committed" and result.height is not None
    assert result.fee == FEE and result.payload == {"to": bob, "amount": 25 * UNIT + 7}
    assert client.balance("bob").balance == before_bob + 25 * UNIT + 7
    assert client.balance("rich").balance == before_rich - 25 * UNIT - 7 - FEE
    assert node.get_balance(bob) == 25 * UNIT + 7
    assert node.get_tx(result.hash)["status"] == "committed"
    sent = [e for e in audit_events(client_home(client), "sent") if e["hash"] == result.hash]
    assert sent and sent[0]["to"] == bob and sent[0]["amount"] == 25 * UNIT + 7


def test_concurrent_sends_never_reuse_a_nonce(client: WalletClient, node: NodeClient, rich: str) -> None:
    target = KeyPair.generate().address
    start_nonce = client.balance("rich").pending_nonce
    results, errors = [], []

    def one() -> None:
        with wallet_client(client_home(client)) as own:
            try:
                results.append(own.send(target, 1 * UNIT, wallet="rich"))
            except DaemonError as exc:  # pragma: no cover - reported below
                errors.append(exc.message)

    threads = [threading.Thread(target=one) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(r.nonce for r in results) == list(range(start_nonce, start_nonce + 12))
    wait_for(lambda: node.get_balance(target) == 12 * UNIT, "all 12 sends to commit")


def test_stake_unbond_and_claim(client: WalletClient, node: NodeClient, rich: str, net) -> None:  # type: ignore[no-untyped-def]
    carol = new_wallet(client, "carol", 50, rich)
    client.unlock(PASSWORD, "carol")
    staked = client.delegate(net.validator, 10 * UNIT, wallet="carol", mode="commit")
    assert staked.type == "stake"
    account = node.get_account(carol)
    assert account["stakes"] == [{"validator": net.validator, "amount": 10 * UNIT, "rewards": account["stakes"][0]["rewards"]}]
    client.unbond(net.validator, 4 * UNIT, wallet="carol", mode="commit")
    account = node.get_account(carol)
    assert account["stakes"][0]["amount"] == 6 * UNIT
    assert [(u["kind"], u["amount"]) for u in account["unbonding"]] == [("unbond", 4 * UNIT)]
    balance = client.balance("carol")
    assert (balance.staked, balance.unbonding) == (6 * UNIT, 4 * UNIT)
    wait_for(lambda: client.rewards("carol").total_rewards > 0, "staking rewards to accrue")
    before = client.balance("carol").balance
    claimed = client.claim_rewards(net.validator, wallet="carol", mode="commit")
    assert claimed.type == "claim_rewards"
    assert client.balance("carol").balance > before - FEE
    validators = client.validators().validators
    assert any(v.address == net.validator and v.active for v in validators)
    events = {e["event"] for e in audit_events(client_home(client)) if e.get("address") == carol}
    assert {"staked", "unbonded", "rewards_claimed"} <= events


def test_escrow_and_miner_bond(client: WalletClient, node: NodeClient, rich: str, net) -> None:  # type: ignore[no-untyped-def]
    dan = new_wallet(client, "dan", 20, rich)
    client.escrow_deposit(net.coordinator, 5 * UNIT, wallet="dan", password=PASSWORD, mode="commit")
    assert node.get_account(dan)["escrows"] == [{"coordinator": net.coordinator, "balance": 5 * UNIT}]
    client.escrow_withdraw(net.coordinator, 2 * UNIT, wallet="dan", password=PASSWORD, mode="commit")
    assert [(u["kind"], u["amount"]) for u in node.get_account(dan)["unbonding"]] == [("escrow_withdraw", 2 * UNIT)]
    client.miner_bond(3 * UNIT, wallet="dan", password=PASSWORD, mode="commit")
    assert client.balance("dan").miner is not None and client.balance("dan").miner.bond == 3 * UNIT  # type: ignore[union-attr]
    actions = [e["action"] for e in audit_events(client_home(client), "escrow") if e["address"] == dan]
    assert actions == ["deposit", "withdraw"]
    with pytest.raises(DaemonError) as refused:
        client.escrow_deposit(KeyPair.generate().address, UNIT, wallet="dan", password=PASSWORD)
    assert refused.value.status == 422 and "not a registered coordinator" in refused.value.message


def test_locked_wallet_refuses_to_sign(client: WalletClient, rich: str) -> None:
    erin = new_wallet(client, "erin", 5, rich)
    client.unlock(PASSWORD, "erin")
    assert client.lock("erin") == [erin]
    with pytest.raises(DaemonError) as refused:
        client.send(rich, UNIT, wallet="erin")
    assert (refused.value.status, refused.value.code) == (423, "locked")
    one_shot = client.send(rich, UNIT, wallet="erin", password=PASSWORD)  # signs once, stays locked
    assert one_shot.status == "pending"
    assert not {w.name: w for w in client.list()}["erin"].unlocked
    assert any(e["address"] == erin and e["reason"] == "request" for e in audit_events(client_home(client), "locked"))


def test_wrong_password_is_refused_slowed_and_audited(client: WalletClient) -> None:
    frank = new_wallet(client, "frank")
    for _ in range(3):
        with pytest.raises(DaemonError) as refused:
            client.unlock("not-the-password", "frank")
        assert (refused.value.status, refused.value.code) == (403, "wrong_password")
        assert "not-the-password" not in refused.value.message
    failed = [e for e in audit_events(client_home(client), "unlock_failed") if e["address"] == frank]
    assert [e["failures"] for e in failed] == [1, 2, 3]
    assert [e["delay_s"] for e in failed] == [0.05, 0.1, 0.2]  # doubling per failure (test base 0.05)
    with pytest.raises(DaemonError):
        client.send(frank, UNIT, wallet="frank", password="still-wrong")  # one-shot signing is guarded too
    assert client.unlock(PASSWORD, "frank").unlocked
    with pytest.raises(DaemonError):
        client.unlock("wrong-again", "frank")
    failed = [e for e in audit_events(client_home(client), "unlock_failed") if e["address"] == frank]
    assert [e["failures"] for e in failed][-2:] == [4, 1]  # a right password resets the count


def test_idle_timeout_locks_the_wallet(client: WalletClient) -> None:
    gina = new_wallet(client, "gina")
    info = client.unlock(PASSWORD, "gina", timeout_s=0.3)
    assert info.unlocked and info.locks_in_s is not None
    wait_for(lambda: not {w.name: w for w in client.list()}["gina"].unlocked, "the idle lock")
    assert any(e["address"] == gina and e["reason"] == "idle" for e in audit_events(client_home(client), "locked"))


def test_history_lists_the_wallets_transactions(client: WalletClient, rich: str) -> None:
    hank = new_wallet(client, "hank", 3, rich)
    client.send(rich, UNIT, wallet="hank", password=PASSWORD, mode="commit")
    history = client.history("hank").txs
    assert [(h.direction, h.type) for h in history] == [("out", "transfer"), ("in", "transfer")]
    assert history[1].sender == rich and history[1].amount == 3 * UNIT
    assert history[0].counterparty == rich and history[0].fee == FEE
    assert hank == client.history("hank").address


def test_export_then_import_backup_gives_the_same_keys(client: WalletClient, root) -> None:  # type: ignore[no-untyped-def]
    ivy = new_wallet(client, "ivy")
    backup = client.export("ivy")
    assert backup.address == ivy and backup.filename == f"{ivy}.json"
    other = Home(root=root / "h2")
    daemon = start_wallet(other)
    try:
        with wallet_client(other) as fresh:
            with pytest.raises(DaemonError) as refused:
                fresh.import_backup(backup.backup, "wrong password")
            assert refused.value.code == "wrong_password"
            assert fresh.list() == []
            restored = fresh.import_backup(backup.backup, PASSWORD, name="ivy-restored")
            original = {w.name: w for w in client.list()}["ivy"]
            assert (restored.address, restored.pubkey) == (original.address, original.pubkey)
            assert fresh.unlock(PASSWORD, "ivy-restored").unlocked
    finally:
        daemon.stop()
    with Keystore(other.keys_dir / "wallets", scrypt_n=TEST_SCRYPT_N).load(ivy, PASSWORD).keypair as restored_pair, \
            Keystore(client_home(client).keys_dir / "wallets", scrypt_n=TEST_SCRYPT_N).load(ivy, PASSWORD).keypair \
            as original_pair:
        assert restored_pair.same_secret(original_pair)


def test_rename_and_delete_need_confirmation(client: WalletClient) -> None:
    jay = new_wallet(client, "jay")
    assert client.rename("jay", "jay2").name == "jay2"
    with pytest.raises(DaemonError) as refused:
        client.delete("jay2", confirm="jay", password=PASSWORD)
    assert refused.value.code == "not_confirmed"
    with pytest.raises(DaemonError) as refused:
        client.delete("jay2", confirm="jay2", password="wrong")
    assert refused.value.code == "wrong_password"
    assert client.delete("jay2", confirm=jay, password=PASSWORD).address == jay
    assert "jay2" not in {w.name for w in client.list()}
    assert not (client_home(client).keys_dir / "wallets" / f"{jay}.json").exists()
    assert audit_events(client_home(client), "deleted")[-1]["address"] == jay


def test_several_wallets_need_a_name_and_bad_input_is_one_line(client: WalletClient) -> None:
    with pytest.raises(DaemonError) as refused:
        client.balance()
    assert refused.value.code == "wallet_required"
    with pytest.raises(DaemonError) as refused:
        client.send("0xnot-an-address", UNIT, wallet="rich")
    assert refused.value.status == 422 and "\n" not in refused.value.message
    with pytest.raises(DaemonError) as refused:
        client.import_mnemonic("abandon " * 11 + "wrongword", PASSWORD)
    assert refused.value.code == "invalid_mnemonic" and "wrongword" not in refused.value.message
    status = client.status()
    assert status.node_reachable and status.chain_id == "aitbc-dev" and status.tcp_enabled is False


def test_socket_is_private(net) -> None:  # type: ignore[no-untyped-def]
    mode = stat.S_IMODE(net.home.socket("wallet").stat().st_mode)
    assert mode == 0o600
    assert stat.S_IMODE((net.home.keys_dir / "wallets").stat().st_mode) == 0o700


def test_no_key_material_in_logs(net, client: WalletClient) -> None:  # type: ignore[no-untyped-def]
    client.lock(all=True)
    logs = "".join(p.read_text(encoding="utf-8", errors="replace") for p in net.home.logs_dir.iterdir() if p.is_file())
    logs += net.outputs()
    assert "\"event\": \"sent\"" in logs  # the scan reads the audit log too
    for secret in SECRETS:
        assert secret not in logs
        if " " in secret:  # a phrase: no run of its words either
            words = secret.split()
            assert " ".join(words[:4]) not in logs


def test_no_plaintext_key_on_disk(net, client: WalletClient) -> None:  # type: ignore[no-untyped-def]
    seeds = []
    for secret in SECRETS:
        if " " in secret:
            with keypair_from_mnemonic(secret) as keypair:
                seeds.append(keypair.seed_bytes())
    needles = [s.encode() for s in SECRETS] + seeds + [s.hex().encode() for s in seeds]
    files = [p for p in net.home.root.rglob("*") if p.is_file() and not p.is_socket()]
    assert any(p.parent.name == "wallets" for p in files)
    for path in files:
        data = path.read_bytes()
        for needle in needles:
            assert needle not in data, f"secret material in {path}"
