"""``aitbc wallet`` and ``aitbc stake`` as an operator runs them: real CLI processes talking to
real node and wallet daemons."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from walletkit import PASSWORD, cli

from keys import keypair_from_mnemonic

UNIT = 10**6


@pytest.fixture(scope="module")
def env(net, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Password and phrase files, the rich wallet imported and unlocked."""
    files = tmp_path_factory.mktemp("cli")
    (files / "pw").write_text(PASSWORD + "\n")
    (files / "phrase").write_text(net.rich_phrase + "\n")
    home = str(net.home.root)
    cli("wallet", "import", "rich", "--mnemonic-file", str(files / "phrase"), "--password-file", str(files / "pw"),
        "--home", home)
    cli("wallet", "unlock", "-w", "rich", "--password-file", str(files / "pw"), "--home", home)
    return {"home": home, "pw": str(files / "pw"), "dir": str(files)}


def run(env: dict[str, str], *args: str, **kwargs: object) -> dict:  # type: ignore[type-arg]
    out = cli(*args, "--home", env["home"], "--json", **kwargs).stdout  # type: ignore[arg-type]
    return json.loads(out)


def test_create_prints_the_phrase_once_with_a_warning(env: dict[str, str]) -> None:
    shown = cli("wallet", "create", "alice", "--words", "12", "--password-file", env["pw"], "--home", env["home"]).stdout
    assert "RECOVERY PHRASE" in shown and "WARNING" in shown
    phrase_line = next(line.strip() for line in shown.splitlines() if len(line.split()) == 12)
    listed = {w["name"]: w for w in run(env, "wallet", "list")}
    with keypair_from_mnemonic(phrase_line) as keypair:
        assert listed["alice"]["address"] == keypair.address
    assert listed["rich"]["unlocked"] is True and listed["alice"]["unlocked"] is False


def test_send_confirms_fee_and_total_then_moves_funds(env: dict[str, str]) -> None:
    alice = run(env, "wallet", "balance", "-w", "alice")
    declined = cli("wallet", "send", alice["address"], "1.5", "-w", "rich", "--home", env["home"], input="n\n",
                   check=False)
    assert declined.returncode == 1
    assert "fee   0.000010 AIT" in declined.stdout and "total 1.500010 AIT" in declined.stdout
    assert "nothing was sent" in declined.stderr
    # No terminal and no --yes: a refusal that names --yes, not a bare "Aborted.".
    unanswered = cli("wallet", "send", alice["address"], "1.5", "-w", "rich", "--home", env["home"], input="",
                     check=False)
    assert unanswered.returncode == 1 and "Aborted" not in unanswered.stderr + unanswered.stdout
    assert "nothing was done" in unanswered.stderr and "--yes" in unanswered.stderr
    sent = run(env, "wallet", "send", alice["address"], "1.5", "-w", "rich", "--yes", "--wait")
    assert sent["status"] == "committed" and sent["payload"]["amount"] == 1_500_000
    assert run(env, "wallet", "balance", "-w", "alice")["balance"] == 1_500_000
    units = run(env, "wallet", "send", alice["address"], "250u", "-w", "rich", "--yes", "--wait", "--fee", "12u")
    assert (units["payload"]["amount"], units["fee"]) == (250, 12)
    history = run(env, "wallet", "history", "-w", "alice")
    assert [t["amount"] for t in history["txs"]] == [250, 1_500_000]


def test_locked_wallet_needs_a_password_source(env: dict[str, str]) -> None:
    refused = cli("wallet", "send", "0x" + "ab" * 20, "1u", "-w", "alice", "--yes", "--home", env["home"], check=False)
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: wallet alice is locked") and refused.stderr.count("\n") == 1
    one_shot = cli("wallet", "send", "0x" + "ab" * 20, "1u", "-w", "alice", "--yes", "--json", "--home", env["home"],
                   env={"AITBC_WALLET_PASSWORD": PASSWORD})
    assert json.loads(one_shot.stdout)["status"] == "pending"
    bad = cli("wallet", "send", "0x" + "ab" * 20, "1.1234567", "--yes", "--home", env["home"], check=False)
    assert bad.returncode == 1 and "at most 6 decimals" in bad.stderr
    wrong = cli("wallet", "unlock", "-w", "alice", "--home", env["home"], env={"AITBC_WALLET_PASSWORD": "nope"},
                check=False)
    assert wrong.returncode == 1 and "wrong password" in wrong.stderr and "nope" not in wrong.stderr


def test_stake_commands(env: dict[str, str], net) -> None:  # type: ignore[no-untyped-def]
    validators = run(env, "stake", "validators")["validators"]
    assert [v["address"] for v in validators] == [net.validator]
    run(env, "stake", "delegate", net.validator, "3", "-w", "rich", "--wait")
    run(env, "stake", "unbond", net.validator, "1", "-w", "rich", "--wait")
    rewards = run(env, "stake", "rewards", "-w", "rich")
    assert rewards["total_staked"] == 2 * UNIT
    assert [u["amount"] for u in rewards["unbonding_entries"]] == [UNIT]
    human = cli("stake", "rewards", "-w", "rich", "--home", env["home"]).stdout
    assert "staked 2.000000 AIT" in human
    assert f"unbonding stake 1.000000 AIT from {net.validator}, released at height" in human
    claimed = run(env, "stake", "claim", net.validator, "-w", "rich", "--wait")  # the blocks since paid rewards
    assert (claimed["type"], claimed["payload"], claimed["status"]) == (
        "claim_rewards", {"validator": net.validator}, "committed")


def test_escrow_commands(env: dict[str, str], net) -> None:  # type: ignore[no-untyped-def]
    run(env, "wallet", "escrow", "deposit", net.coordinator, "2", "-w", "rich", "--wait")
    shown = run(env, "wallet", "escrow", "show", "-w", "rich")
    assert shown["escrows"] == [{"coordinator": net.coordinator, "balance": 2 * UNIT}]
    # A withdrawal is an escrow coming back, not stake unbonding: named so, and kept out of `stake rewards`.
    run(env, "wallet", "escrow", "withdraw", net.coordinator, "1", "-w", "rich", "--wait")
    balance = run(env, "wallet", "balance", "-w", "rich")
    assert balance["withdrawing"] == UNIT
    assert all(u["kind"] == "unbond" for u in run(env, "stake", "rewards", "-w", "rich")["unbonding_entries"])
    # `chain account` names each pending release for what it is. Rendered from the JSON the node gave,
    # so that a release falling due between two commands cannot make the check race the chain.
    from aitbc_tui.cli.chain import _account_text

    account = run(env, "chain", "account", balance["address"])
    pending = [u for u in account["unbonding"] if u["kind"] == "escrow_withdraw"]
    text = _account_text(account)
    assert "units" not in text and "AIT" in text
    for entry in pending:
        assert f"escrow withdrawal 1.000000 AIT from {net.coordinator}, released at height {entry['release']}" in text
    assert f"unbonding stake 1.000000 AIT from {net.coordinator}" not in text


def test_export_delete_and_restore_from_backup(env: dict[str, str]) -> None:
    out = Path(env["dir"]) / "alice.backup.json"
    exported = run(env, "wallet", "export", "-w", "alice", "--out", str(out))
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    refused = cli("wallet", "delete", "alice", "--confirm", "bob", "--password-file", env["pw"], "--home", env["home"],
                  check=False)
    assert refused.returncode == 1 and "repeat its name or address" in refused.stderr
    run(env, "wallet", "delete", "alice", "--confirm", "alice", "--password-file", env["pw"])
    assert "alice" not in {w["name"] for w in run(env, "wallet", "list")}
    restored = run(env, "wallet", "import", "--backup", str(out), "--password-file", env["pw"])
    assert (restored["name"], restored["address"]) == ("alice", exported["address"])
    assert run(env, "wallet", "rename", "alice", "alice2")["name"] == "alice2"
    assert run(env, "wallet", "lock", "--all")["locked"] == [run(env, "wallet", "balance", "-w", "rich")["address"]]
