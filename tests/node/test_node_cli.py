"""``aitbc node status`` and ``aitbc chain block|tx|balance|account|validators`` against a real
node: human output, ``--json``, the operator socket by default or ``--node URL``, and one-line
errors with exit status 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from nodekit import MIN_FEE, UNIT
from testkit import free_port

from aitbc_tui.cli import app

runner = CliRunner()


def _ok(*args: str) -> Result:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result


def _json(*args: str) -> dict:
    return json.loads(_ok(*args, "--json").stdout)


def _one_line_error(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 1, (args, result.output)
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.output
    return result.stderr


@pytest.fixture(scope="module")
def landed(node) -> dict:
    """One committed transfer to look at."""
    alice, bob = node.take(2)
    tx = alice.transfer(bob, 12 * UNIT + 345_678, nonce=0)
    with node.client() as client:
        result = client.broadcast_tx(tx, mode="commit")
    return {"tx": tx, "alice": alice, "bob": bob, "height": result["height"]}


def test_node_status(node) -> None:
    home = str(node.home)
    data = _json("node", "status", "--home", home)
    assert data["chain_id"] == "aitbc-dev" and data["validator_address"] == node.init["validator_address"]
    assert data["height"] >= 0 and data["consensus_mode"] == "poa"
    human = _ok("node", "status", "--home", home).stdout
    assert "chain_id" in human and "aitbc-dev" in human and node.init["validator_address"] in human
    # The public door, by URL.
    assert _json("node", "status", "--node", node.rpc_url)["genesis_hash"] == data["genesis_hash"]


def test_chain_block(node, landed) -> None:
    home = str(node.home)
    block = _json("chain", "block", str(landed["height"]), "--home", home)
    assert block["header"]["height"] == landed["height"]
    assert landed["tx"].signature in [t["signature"] for t in block["txs"]]
    by_hash = _json("chain", "block", "--hash", block["hash"], "--home", home)
    assert by_hash == block
    latest = _json("chain", "block", "--home", home)
    assert latest["header"]["height"] >= landed["height"]
    human = _ok("chain", "block", str(landed["height"]), "--home", home).stdout
    assert f"block {landed['height']}  {block['hash']}" in human
    assert "final      yes" in human and landed["alice"].address in human
    assert _json("chain", "block", str(landed["height"]), "--node", node.rpc_url) == block
    assert "no block" in _one_line_error("chain", "block", "999999999", "--home", home)


def test_chain_tx(node, landed) -> None:
    home, tx = str(node.home), landed["tx"]
    data = _json("chain", "tx", tx.hash, "--home", home)
    assert data["status"] == "committed" and data["height"] == landed["height"] and data["hash"] == tx.hash
    human = _ok("chain", "tx", tx.hash, "--home", home).stdout
    assert "committed" in human and landed["bob"].address in human
    assert "no transaction" in _one_line_error("chain", "tx", "ab" * 32, "--home", home)
    assert "hash" in _one_line_error("chain", "tx", "not-a-hash", "--home", home)


def test_chain_balance_and_account(node, landed) -> None:
    home, alice, bob = str(node.home), landed["alice"], landed["bob"]
    expected = 1_000 * UNIT - (12 * UNIT + 345_678) - MIN_FEE
    data = _json("chain", "balance", alice.address, "--home", home)
    assert data["balance"] == expected and data["address"] == alice.address
    human = _ok("chain", "balance", bob.address, "--home", home).stdout
    assert "1,012.345678 AIT" in human and str(1_012_345_678) in human
    acct = _json("chain", "account", alice.address, "--home", home)
    assert (acct["balance"], acct["nonce"], acct["pending_nonce"]) == (expected, 1, 1)
    human = _ok("chain", "account", alice.address, "--home", home).stdout
    # A person reads AIT (the balance as the rule's numbers give it), never raw units; --json keeps units.
    assert "nonce      1" in human and "987.654312 AIT" in human and str(expected) not in human
    assert _json("chain", "balance", bob.address, "--node", node.rpc_url)["balance"] == 1_012_345_678
    # A never-seen (but well-formed) address is simply empty.
    assert _json("chain", "balance", "0x" + "0" * 40, "--home", home)["balance"] == 0


def test_chain_validators(node) -> None:
    home = str(node.home)
    data = _json("chain", "validators", "--home", home)
    validator = node.init["validator_address"]
    assert [v["address"] for v in data["validators"]] == [validator]
    human = _ok("chain", "validators", "--home", home).stdout
    assert validator in human and "active" in human and "validator-0" in human
    assert "commission 10.00%" in human


@pytest.mark.parametrize("bad", ["0x123", "0x" + "G" * 40, "0x" + "AB" * 20, "alice", "0x" + "a" * 41])
def test_bad_address_is_one_line_error(node, bad: str) -> None:
    for command in ("balance", "account"):
        message = _one_line_error("chain", command, bad, "--home", str(node.home))
        assert "invalid address" in message


@pytest.mark.parametrize("bad", ["abcd", "0x" + "a" * 63, "g" * 64, "a" * 65])
def test_bad_hash_is_one_line_error_in_words(node, bad: str) -> None:
    for args in (["chain", "tx", bad], ["chain", "block", "--hash", bad]):
        message = _one_line_error(*args, "--home", str(node.home))
        assert f"{bad!r} is not a" in message and "64 hex digits" in message
        assert "pydantic" not in message and "String should" not in message


def test_hash_in_upper_case_or_with_0x_is_found(node, landed) -> None:
    tx_hash = landed["tx"].hash
    for spelled in (tx_hash.upper(), "0x" + tx_hash):
        assert _json("chain", "tx", spelled, "--home", str(node.home))["hash"] == tx_hash


def test_node_not_running_is_one_line_error(tmp_path: Path) -> None:
    home = str(tmp_path / "nothing-here")
    for args in (["node", "status"], ["chain", "block"], ["chain", "validators"],
                 ["chain", "balance", "0x" + "a" * 40], ["chain", "tx", "ab" * 32]):
        message = _one_line_error(*args, "--home", home)
        assert "node is not running" in message and "node.sock" in message, message
    port = free_port()
    message = _one_line_error("node", "status", "--node", f"http://127.0.0.1:{port}")
    assert "not running" in message and str(port) in message


def test_node_unjail_is_signed_by_the_validator_key_and_refused_when_not_jailed(node) -> None:
    """The chain's downtime jail has a way out from the CLI: ``aitbc node unjail`` signs the
    ``unjail`` transaction with HOME's validator key. This validator is not jailed, so the chain
    refuses it with its own reason, as one line, and nothing changes."""
    home = str(node.home)
    validator = node.init["validator_address"]
    with node.client() as client:
        nonce = client.get_account(validator)["nonce"]
    error = _one_line_error("node", "unjail", "--home", home)
    assert f"validator {validator} is not jailed" in error
    with node.client() as client:
        assert client.get_account(validator)["nonce"] == nonce
    audit = (node.home / "logs" / "audit.log").read_text()
    assert "validator_key_unlocked" in audit and validator in audit
