"""``aitbc gov`` as an operator runs it: real CLI processes signing through a real wallet daemon
and reading a real node. A delegator (not a validator) proposes a parameter change, tops up the
deposit, votes, changes its vote, and the change executes and is seen by ``get_params``."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from testkit import concurrently, wait_for
from walletkit import PASSWORD, cli, init_node, start_node, start_wallet

from daemons.common.home import Home
from daemons.node.client import NodeClient
from keys import generate_mnemonic, keypair_from_mnemonic

UNIT = 10**6
VOTING = 120
"""Blocks a vote lasts: 24 s at the 0.2 s block time, and the test waits for all of it. Four CLI
calls run one after the other while voting is open (the top-up's --wait returns in it; then a
vote, a show, the changed vote, and the two final shows at once): about 1.5 s each here, 4-5 s
each on a machine loaded by other test runs (which slows the blocks too: at a load of 8 on two
cores they took 34 blocks together, 8.8 s). Votes end in blocks, however slow they come."""


@pytest.fixture(scope="module")
def net() -> Iterator[Home]:  # type: ignore[no-untyped-def]
    """A node whose votes last ``VOTING`` blocks, whose deposit period waits far longer than a
    top-up takes, and a wallet."""
    base = Path(tempfile.mkdtemp(prefix="ag-", dir="/tmp"))
    home = Home(root=base / "h")
    phrase = generate_mnemonic(24)
    with keypair_from_mnemonic(phrase) as keypair:
        rich = keypair.address
    info = init_node(home, fund={rich: "1000000"})
    genesis = json.loads(home.root.joinpath("genesis.json").read_text())
    genesis["params"]["voting_period"] = VOTING
    genesis["params"]["deposit_period"] = 2_000  # the top-up must not find it dropped on a loaded machine
    home.root.joinpath("genesis.json").write_text(json.dumps(genesis))
    node = start_node(home)
    wallet = None
    try:
        wallet = start_wallet(home)
        yield type("GovNet", (), {"home": home, "rich_phrase": phrase, "validator": info["validator_address"]})
    finally:
        if wallet is not None:
            wallet.stop()
        node.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def env(net, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The rich genesis account imported as wallet ``gov`` and unlocked."""
    files = tmp_path_factory.mktemp("gov")
    (files / "phrase").write_text(net.rich_phrase + "\n")
    home = str(net.home.root)
    secret = {"AITBC_WALLET_PASSWORD": PASSWORD}
    cli("wallet", "import", "gov", "--mnemonic-file", str(files / "phrase"), "--home", home, env=secret)
    cli("wallet", "unlock", "-w", "gov", "--home", home, env=secret)
    return {"home": home, "validator": net.validator}


def gov(env: dict[str, str], *args: str) -> dict:  # type: ignore[type-arg]
    return json.loads(cli("gov", *args, "--home", env["home"], "--json").stdout)


def test_delegator_proposal_deposit_vote_and_execution(env: dict[str, str], net) -> None:  # type: ignore[no-untyped-def]
    # 60,000 AIT against the validator's 100,000: enough for quorum on its own.
    params, _ = concurrently([lambda: gov(env, "params"), lambda: cli(
        "stake", "delegate", env["validator"], "60000", "-w", "gov", "--wait", "--home", env["home"])])
    assert params["params"]["min_deposit"] == 100 * UNIT and params["upgrade"] is None
    sent = gov(env, "propose", "param-change", "--title", "cheaper fees? no: dearer", "--set", "min_fee=20",
               "--deposit", "40", "-w", "gov", "--wait")
    assert sent["status"] == "committed" and sent["payload"]["action"] == {"kind": "param_change",
                                                                          "changes": {"min_fee": 20}}
    [listed] = gov(env, "list", "--status", "deposit")["proposals"]
    pid = listed["id"]
    assert listed["total_deposit"] == 40 * UNIT and listed["blocks_left"] > 0
    gov(env, "deposit", str(pid), "60", "-w", "gov", "--wait")  # the top-up opens the vote
    gov(env, "vote", str(pid), "no", "-w", "gov", "--wait")
    shown = gov(env, "show", str(pid))
    assert shown["status"] == "voting" and shown["total_deposit"] == 100 * UNIT
    assert shown["tally_so_far"]["would_be"] == "rejected"
    gov(env, "vote", str(pid), "yes", "-w", "gov", "--wait")  # changed before the end
    shown, human = concurrently([lambda: gov(env, "show", str(pid)),
                                 lambda: cli("gov", "show", str(pid), "--home", env["home"]).stdout])
    assert shown["tally_so_far"]["yes"] == 60_000 * UNIT and shown["tally_so_far"]["no"] == 0
    assert shown["tally_so_far"]["would_be"] == "passed"
    assert [v["option"] for v in shown["votes"]] == ["yes"] and shown["votes"][0]["validator"] is False
    assert [v["option"] for v in shown["validator_votes"]] == [None]
    assert "tally so far: yes 60,000.000000 AIT" in human and "quorum 33.4%" in human and "blocks left" in human
    with NodeClient.for_home(net.home) as node:  # waiting on the node: no CLI process per poll
        wait_for(lambda: node.get_proposal(pid)["status"] != "voting", "the vote to end", 300, interval=0.2)  # a bound
        assert node.get_params()["params"]["min_fee"] == 20
    shown, executed = concurrently([lambda: gov(env, "show", str(pid)), lambda: gov(env, "list", "--status", "executed")])
    assert shown["status"] == "executed" and shown["deposit_refunded"] is True
    assert shown["tally"]["yes"] == 60_000 * UNIT
    assert executed["proposals"][0]["id"] == pid


def test_bad_forms_are_refused_with_one_line(env: dict[str, str]) -> None:
    home = env["home"]
    forms = [  # each refused, none changing anything: they run at once
        ["propose", "text", "--title", "t", "--to", "0x" + "ab" * 20],
        ["propose", "software-upgrade", "--title", "t", "--name", "u"],
        ["propose", "param-change", "--title", "t", "--set", "min_fee"],
        ["list", "--status", "open"],
        ["show", "999"],
        ["enact", "999", "-w", "gov"],
        ["vote", "1", "yes", "-w", "gov"],
    ]
    stray, missing, bad_set, status, unknown, no_such, not_staker = concurrently(
        [lambda form=form: cli("gov", *form, "--home", home, check=False) for form in forms])
    assert stray.returncode == 1 and "--to does not apply to a text proposal" in stray.stderr
    assert missing.returncode == 1 and "needs --height, --version" in missing.stderr
    assert bad_set.returncode == 1 and "NAME=INTEGER" in bad_set.stderr
    assert status.returncode == 1 and "--status must be one of" in status.stderr
    assert unknown.returncode == 1 and "no proposal 999" in unknown.stderr
    assert no_such.returncode == 1 and "no validator_update proposal 999" in no_such.stderr, no_such.stderr
    assert not_staker.returncode == 1
