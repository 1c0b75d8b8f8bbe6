"""Governance on a real 4-validator BFT network (issue 17's acceptance run).

The four validators, a wallet daemon and a coordinator start once for the module. A delegator
(not a validator) proposes a parameter change from the CLI (a higher minimum miner bond and a
shorter voting period); it and a validator vote from the CLI, another delegator votes from the TUI
(Pilot), another validator votes against; the change executes at the end of voting and is seen by
every node's ``get_params`` and by the running coordinator (its status, without a restart). Then,
in one (now shorter) voting period: a treasury spend is paid, a vetoed
proposal's deposit goes to the treasury, and a ``software_upgrade`` to a version one node does
not run passes: that node, started with an older installed ``aitbc`` (an older distribution's
metadata first on its path, as after installing an old wheel), stops at the upgrade height with
the message, while the other three go on.

Every wait is on a chain fact (a height, a proposal's status) with a generous bound against
hangs; voting periods are counted in blocks, so a loaded machine makes blocks, and with them the
periods, slower rather than making the test miss a window.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from nodekit import UNIT, Account, accounts
from test_tui_flows import CLIENT, PASSWORD, click, confirm_with_password, painted_dialog
from testkit import (REPO, Daemon, NodeDaemon, aitbc_command, concurrently, free_port, hermetic_env, service_daemon,
                     temp_root, wait_for)
from tuikit import FAST_COORDINATOR, run, wait_notified
from tuikit import wait_for as wait_on_screen

from chain.params import ChainParams
from daemons.common.client import DaemonClient
from daemons.common.daemon_key import daemon_key_password
from daemons.common.home import Home
from daemons.common.version import software_version
from daemons.coordinator.client import CoordinatorClient
from daemons.node.init import VALIDATOR_KEY, init_validator_network
from daemons.wallet.client import WalletClient
from keys import Keystore

from aitbc_tui.app import AitbcApp
from aitbc_tui.screens.dialogs import PickDialog

pytestmark = [pytest.mark.timeout(1500)]
"""A bound against hangs only: the module runs two voting periods of a 4-validator network."""

VOTING = 100
"""Blocks of the genesis voting period: 20 s at the genesis block time, room for three CLI calls
and a TUI vote after voting opens even on a loaded machine (at a load of 6-16 on two cores the
last of them, the TUI's, was in 32 blocks after voting opened); it ends in blocks, however slow
they come."""
SHORT_VOTING = 30
"""The voting period the first test's parameter change sets for the rest of the module: the second
test's votes are four calls to the wallet daemon (no CLI start-up, no screen), made within a few
blocks of their proposals (7 blocks after the height read before proposing, on the loaded machine
above), and the test waits out the whole period (at 100 blocks, 14 s more)."""
UPGRADE_MARGIN = 15
"""Blocks between the end of the upgrade's vote, counted from the height read before proposing,
and the upgrade height: room for the proposals to commit (a few blocks: they and the votes were in
within 7 on the loaded machine above) after that height."""
HANG_S = 300.0
DELEGATION = 250_000 * UNIT
"""Against four validators of 100,000 AIT: 38% of bonded stake, over the 33.4% quorum alone."""
TUI_STAKE = 10_000 * UNIT
NEW_BOND = 2_000 * UNIT
SIZE = (120, 36)


class OldNodeDaemon(NodeDaemon):
    """A node whose installed aitbc reads as 0.0.1: an older distribution's metadata comes first
    on its import path (the code is the same; only the version the node believes it runs).

    ``-P``: ``python -m`` would otherwise put its working directory (the checkout) first on the
    path, and an editable install's ``aitbc.egg-info`` there (0.1.0 or whatever is current) would
    be found before the old metadata."""

    old_site: Path = Path()

    def argv(self, *extra: str) -> list[str]:
        python, *rest = super().argv(*extra)
        return ["env", f"PYTHONPATH={self.old_site}:{REPO}", python, "-P", *rest]


@dataclass
class GovNetwork:
    nodes: list[NodeDaemon]
    wallet: Daemon
    coordinator: Daemon
    home: Path
    """Validator 0's home: the wallet daemon, the coordinator, the CLI and the TUI use it."""
    chain_id: str
    proposer: Account
    target: str
    """Validator 0's address: the delegators' stake goes there (never to the node that stops)."""


def aitbc(net: GovNetwork, *args: str) -> dict[str, Any]:
    """``aitbc ARGS --home HOME --json`` as an operator runs it; its JSON answer."""
    done = subprocess.run(aitbc_command(*args, "--home", str(net.home), "--json"), cwd=REPO, capture_output=True,
                          text=True, timeout=HANG_S, env=hermetic_env(), stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"aitbc {' '.join(args)} failed ({done.returncode}): {done.stderr}"
    return json.loads(done.stdout)


def commit_all(node: NodeDaemon, txs: list[Any]) -> None:
    """Admit ``txs`` together, then wait until each is in a final block."""
    with node.tcp_client(timeout=HANG_S) as client:
        answers = client.broadcast_txs(txs)
        assert not [a for a in answers if isinstance(a, Exception)], answers
        for tx in txs:
            wait_for(lambda: client.get_tx(tx.hash)["status"] == "committed", "a transaction to commit", HANG_S,
                     interval=0.1)


def min_miner_bond_seen_by(coordinator: Daemon) -> int:
    """The minimum miner bond the running coordinator works with (its operator status route)."""
    with CoordinatorClient(coordinator.socket, timeout=30) as client:
        return client.status().min_miner_bond


def wait_status(node: NodeDaemon, pid: int, statuses: set[str]) -> dict[str, Any]:
    with node.tcp_client() as client:
        return wait_for(lambda: (lambda p: p if p["status"] in statuses else None)(client.get_proposal(pid)),
                        f"proposal {pid} to be {'/'.join(sorted(statuses))}", HANG_S, interval=0.2)


@pytest.fixture(scope="module")
def gov() -> Iterator[GovNetwork]:
    proposer, tui_voter = accounts(1, "aitbc-gov-network")[0], CLIENT
    with temp_root("agn-") as root:
        homes = [Home.resolve(root / f"v{i}" / "home") for i in range(4)]
        rpc, ws = [free_port() for _ in homes], [free_port() for _ in homes]
        # no downtime jailing: a validator process starved by a loaded machine must not drop out
        # of the set (and its vote out of the tally) in this test of governance, not of liveness
        params = ChainParams(block_time_ms=200, voting_period=VOTING, min_deposit=UNIT, min_signed_per_window_bps=0)
        made = init_validator_network(homes, rpc, ws, params=params,
                                      fund={proposer.address: 300_000 * UNIT, tui_voter.address: 20_000 * UNIT})
        old_site = root / "old-site"
        (old_site / "aitbc-0.0.1.dist-info").mkdir(parents=True)
        (old_site / "aitbc-0.0.1.dist-info" / "METADATA").write_text(
            "Metadata-Version: 2.1\nName: aitbc\nVersion: 0.0.1\n")
        nodes: list[NodeDaemon] = [NodeDaemon(home=h.root, rpc_port=r, ws_port=w)
                                   for h, r, w in zip(homes[:3], rpc, ws)]
        old = OldNodeDaemon(home=homes[3].root, rpc_port=rpc[3], ws_port=ws[3])
        old.old_site = old_site
        nodes.append(old)
        home = homes[0].root
        subprocess.run(aitbc_command("coordinator", "init", "--home", str(home)), cwd=REPO, env=hermetic_env(),
                       check=True, capture_output=True, timeout=HANG_S)
        # tiny scrypt cost for speed; wallets stay unlocked however slowly a loaded machine runs
        wallet = service_daemon("wallet", home, "--scrypt-n", "16", "--idle-lock", "0")
        coordinator = service_daemon("coordinator", home, "--no-tcp",
                                     env={**FAST_COORDINATOR, "AITBC_PARAMS_REFRESH": "0.5"})
        started: list[Daemon] = []
        try:
            for node in nodes:
                started.append(node.start(wait=False))
            for node in nodes:
                node.wait_ready(HANG_S)
            started += [wallet.start(wait=False), coordinator.start(wait=False)]  # side by side
            wallet.wait_ready()
            coordinator.wait_ready()
            with nodes[0].client() as client:
                status = client.status()
            net = GovNetwork(nodes, wallet, coordinator, home, status["chain_id"], proposer,
                             status["validator_address"])
            # setup through the daemons' clients (no CLI process per step): the votes are what the
            # CLI and the TUI are tested with
            with WalletClient.for_home(home, timeout=HANG_S) as wallets:
                keys = {"proposer": proposer.seed, "client": tui_voter.seed}
                for i in (1, 2):  # two validators vote from the CLI with their own keys
                    keypair = Keystore(made[i].home.keys_dir).load_keypair(made[i].validator_address, daemon_key_password(
                        made[i].home, VALIDATOR_KEY, str(made[i].password_file)))
                    keys[f"validator{i}"] = keypair.seed_bytes()
                    keypair.wipe()
                for name, seed in keys.items():
                    wallets.import_private_key(seed.hex(), PASSWORD, name)
                    if name != "client":  # the TUI's wallet stays locked: its password is typed
                        wallets.unlock(PASSWORD, wallet=name)
            commit_all(nodes[0], [
                proposer.tx(0, "stake", {"validator": net.target, "amount": DELEGATION}, chain_id=net.chain_id),
                Account(tui_voter.seed).tx(0, "stake", {"validator": net.target, "amount": TUI_STAKE},
                                           chain_id=net.chain_id)])
            yield net
        finally:  # the nodes' clients first (started last), then the nodes, each group at once
            concurrently([daemon.stop for daemon in started[len(nodes):]])
            concurrently([daemon.stop for daemon in started[:len(nodes)]])


def test_delegator_param_change_voted_from_cli_and_tui_seen_by_nodes_and_coordinator(gov: GovNetwork) -> None:
    assert min_miner_bond_seen_by(gov.coordinator) == ChainParams().min_miner_bond != NEW_BOND
    voters: list[subprocess.Popen[str]] = []

    def cli_vote(wallet: str, pid: int, option: str) -> None:
        voters.append(subprocess.Popen(
            aitbc_command("gov", "vote", str(pid), option, "-w", wallet, "--wait", "--home", str(gov.home), "--json"),
            cwd=REPO, env=hermetic_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            stdin=subprocess.DEVNULL))

    async def scenario() -> int:
        app = AitbcApp(Home(root=gov.home), save_settings=False)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("8")
            await wait_on_screen(pilot, lambda: app.current_mode == "governance" and app.store.node.gov.loaded,
                                 "the governance data")
            # the screen is ready before voting opens: the whole vote then fits the period
            sent = await asyncio.to_thread(aitbc, gov, "gov", "propose", "param-change", "--title", "dearer miner bonds",
                                           "--set", f"min_miner_bond={NEW_BOND}", "--set",
                                           f"voting_period={SHORT_VOTING}", "--deposit", "1", "-w", "proposer",
                                           "--wait")
            assert sent["status"] == "committed"
            with gov.nodes[0].client() as node:
                [listed] = node.get_proposals("voting")["proposals"]
            pid = int(listed["id"])
            cli_vote("proposer", pid, "yes")
            cli_vote("validator1", pid, "yes")
            cli_vote("validator2", pid, "no")
            await wait_on_screen(pilot, lambda: [p.status for p in app.store.node.gov.proposals] == ["voting"],
                                 "the proposal in its voting period", HANG_S)
            # the screen repaints the store a moment later: vote once it highlights the voting proposal
            await wait_on_screen(pilot, lambda: app.screen.check_action("vote", ()) is True
                                 and getattr(app.screen.selected_proposal(), "status", None) == "voting",
                                 "vote enabled on the highlighted proposal", HANG_S)
            await pilot.press("v")
            await painted_dialog(pilot, app, PickDialog, "the wallet choice")
            which = app.screen
            which.query_one("#choice").value = CLIENT.address  # the second delegator votes from the TUI
            await click(pilot, "#ok")
            await wait_on_screen(pilot, lambda: app.screen is not which and isinstance(app.screen, PickDialog),
                                 "the vote options")
            await painted_dialog(pilot, app, PickDialog, "the vote options")
            app.screen.query_one("#choice").value = "yes"
            await click(pilot, "#ok")
            await confirm_with_password(pilot, app)
            await wait_notified(pilot, f"voted yes on #{pid}: block", HANG_S)
        return pid

    pid = run(scenario())
    for voter in voters:
        out, err = voter.communicate(timeout=HANG_S)
        assert voter.returncode == 0, err
        assert json.loads(out)["status"] == "committed"
    done = wait_status(gov.nodes[0], pid, {"executed", "rejected", "vetoed", "failed"})
    assert done["status"] == "executed" and done["deposit_refunded"] is True, done
    assert done["tally"]["yes"] == DELEGATION + TUI_STAKE + 100_000 * UNIT and done["tally"]["no"] == 100_000 * UNIT, (
        done, [v.args for v in voters])
    # (the tally is the record: both delegators' stakes are in "yes"; per-voter rows are pruned)
    assert {v["name"]: v["option"] for v in done["validator_votes"]} == {
        "validator-0": None, "validator-1": "yes", "validator-2": "no", "validator-3": None}
    for node in gov.nodes:
        node.wait_height(done["end"], HANG_S)
        with node.tcp_client() as client:
            params = client.get_params()["params"]
            assert (params["min_miner_bond"], params["voting_period"]) == (NEW_BOND, SHORT_VOTING)
    # the running coordinator re-reads the parameters in force: no restart
    wait_for(lambda: min_miner_bond_seen_by(gov.coordinator) == NEW_BOND,
             "the coordinator to see the new minimum bond", HANG_S, interval=0.5)
    assert gov.coordinator.running


def test_spend_veto_and_upgrade_stopping_the_old_node(gov: GovNetwork) -> None:
    from chain import crypto

    first, old = gov.nodes[0], gov.nodes[3]
    with DaemonClient(old.socket, timeout=30) as raw:
        assert raw.get("/health")["version"] == "0.0.1", "the old node must believe it runs 0.0.1"
    payee = crypto.address_from_pubkey(crypto.pubkey_from_seed(b"\x07" * 32))
    with first.tcp_client() as client:
        treasury_before = client.get_gov()["treasury"]["balance"]
        # SHORT_VOTING after the first test, VOTING when this test runs alone
        voting = int(client.get_params()["params"]["voting_period"])
        height = int(client.status()["height"]) + voting + UPGRADE_MARGIN  # the vote must be able to end before it
    proposals = [  # signed by the wallet daemon (as the CLI and the TUI do; test 1 ran those)
        ("to the current release", {"kind": "software_upgrade", "name": "current", "version": software_version(),
                                    "height": height}, "yes"),
        ("pay the explorer", {"kind": "treasury_spend", "to": payee, "amount": UNIT}, "yes"),
        ("something the delegator vetoes", {"kind": "text"}, "veto"),
    ]
    with WalletClient.for_home(gov.home, timeout=HANG_S) as wallet, first.client() as node:
        sent = [wallet.gov_propose({"title": title, "description": "", "action": action, "deposit": 3 * UNIT},
                                   wallet="proposer") for title, action, _ in proposals]
        wait_for(lambda: node.get_tx(sent[-1].hash)["status"] == "committed", "the proposals to commit", HANG_S)
        by_title = {p["title"]: p["id"] for p in node.get_proposals(None)["proposals"]}
        upgrade, spend, vetoed = (by_title[title] for title, _, _ in proposals)
        for title, _, option in proposals:
            wallet.gov_vote(by_title[title], option, wallet="proposer")
        wallet.gov_vote(vetoed, "yes", wallet="validator1", mode="commit", timeout_s=HANG_S)
    assert wait_status(first, spend, {"executed", "rejected", "failed"})["status"] == "executed"
    done = wait_status(first, vetoed, {"passed", "rejected", "vetoed"})
    assert done["status"] == "vetoed" and done["deposit_refunded"] is False
    assert wait_status(first, upgrade, {"executed", "rejected", "failed"})["status"] == "executed"
    with first.tcp_client() as client:
        assert client.get_balance(payee) == UNIT
        treasury = client.get_gov()["treasury"]
        assert [(s["proposal_id"], s["to"], s["amount"]) for s in treasury["spends"]] == [(spend, payee, UNIT)]
        # the vetoed deposit came in, the spend went out (fees may add to it in between)
        assert treasury["balance"] >= treasury_before + 3 * UNIT - UNIT

    # the old node (0.0.1) stops at the height with the message; the three others go on
    try:
        old.wait_exit(HANG_S)  # a bound against hangs, not a speed check
    except AssertionError:
        with first.tcp_client() as client:
            reached = client.status()["height"]
        with old.tcp_client() as client:
            stuck = {key: client.status().get(key) for key in ("height", "catching_up", "sync")}
            peers = client.net_info()
        raise AssertionError(f"the 0.0.1 node did not stop for the upgrade at {height} (the chain is at {reached}, "
                             f"that node at {stuck}, peers {peers}); its output ends:\n{old.output()[-6000:]}") from None
    output = old.output()
    assert f"software upgrade 'current' (proposal {upgrade})" in output
    assert f"Install aitbc {software_version()}" in output and "this node runs 0.0.1" in output
    for node in gov.nodes[:3]:
        node.wait_height(height + 3, HANG_S)
        assert node.running
