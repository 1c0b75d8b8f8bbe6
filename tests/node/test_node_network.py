"""A network of hosts: four validators and two full nodes, each in its own network namespace on a
private switch (``tests/netkit.py``), running the real node daemon, put through the
perturbations of CometBFT's end-to-end suite.

Topology: v0, v1, v2, f0 and f1 share the switch; v3's own link is down and it reaches the
network only through f0, over a second private segment (a validator whose only path is a full
node). f1 is where transactions are sent. A seventh host joins late with the documented
commands (``aitbc node init --genesis URL --peer URL``) and catches up.

The tests run in order on one network (starting six nodes is most of the cost) and each leaves
it whole. The four that wait longest are opt-in (``LONG``: ``AITBC_TEST_MULTINODE=1``); the
others run in every suite, about 30 s on a quiet machine. The test process reaches the nodes only through their operator sockets (a namespace
does not separate Unix sockets), never over the test hosts' network.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from chain.params import ChainParams
from daemons.common.daemon_key import update_config
from daemons.common.home import Home
from daemons.node.client import NodeClient
from daemons.node.init import init_validator_network
from netkit import Lab, lab, netns_unavailable
from nodekit import UNIT, NetNode, accounts
from testkit import REPO, aitbc_command, hermetic_env, skip_unless_ci, temp_root

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3000)]
LONG = pytest.mark.skipif(
    os.environ.get("AITBC_TEST_MULTINODE") != "1",
    reason="minutes of waiting (a halt and its time-outs, a 30 s partition, 200 blocks for the late node, a second "
           "network with 100 ms links) that the suite's 25 minutes on two cores cannot hold: set "
           "AITBC_TEST_MULTINODE=1; the six hosts themselves, the full node's transactions, the validator behind a "
           "full node, kill -9 and status run every time")
"""The perturbations that wait longest; the rest of the module runs in every suite."""
RPC, WS = 26657, 26658
BLOCK_MS = 500
WAIT_S = 300.0
"""A bound against hangs on a loaded machine, never a performance check."""
LATE_BY = 200
"""How many blocks behind the late node starts (the issue's 200+)."""
LATE_WAIT_S = 1200.0
"""The bound on the chain reaching LATE_BY: blocks come slowly on a loaded 2-core machine."""
SENDER = accounts(1, "aitbc-network-test")[0]


@dataclass
class Network:
    lab: Lab
    nodes: dict[str, NetNode]
    root: Path

    def client(self, name: str) -> NodeClient:
        return self.nodes[name].client(timeout=30)

    def height(self, name: str) -> int:
        with self.client(name) as client:
            return int(client.status()["height"])

    def wait_all(self, height: int, names: list[str] | None = None) -> None:
        for name in names or list(self.nodes):
            if self.nodes[name].running:
                try:
                    self.nodes[name].wait_height(height, timeout=WAIT_S)
                except AssertionError as exc:
                    raise AssertionError(f"{name}: {exc}\n{self.describe()}") from None

    def describe(self) -> str:
        """Each node's height and consensus step, and the end of its log: what a stall needs."""
        lines = []
        for name, node in self.nodes.items():
            try:
                with node.client(timeout=5) as client:
                    status, peers = client.status(), client.net_info()["peers"]
                lines.append(f"{name}: height {status['height']} consensus {status['consensus']} "
                             f"peers {[p['url'] for p in peers if p['connected']]}")
            except Exception as exc:  # noqa: BLE001 - a stopped or stuck node is part of the picture
                lines.append(f"{name}: no status ({exc!r}), running {node.running}")
            log = node.home / "logs" / "node.log"
            if log.exists():
                lines += [f"  {line[:400]}" for line in log.read_text(errors="replace").splitlines()[-12:]]
        return "\n".join(lines)

    def validators(self) -> list[str]:
        return ["v0", "v1", "v2", "v3"]


@pytest.fixture(scope="module")
def network() -> Iterator[Network]:
    why = netns_unavailable()
    if why:
        skip_unless_ci(f"network namespaces: {why}", module=True)
    with temp_root("aitbc-net-") as root, lab(["v0", "v1", "v2", "v3", "f0", "f1", "late"]) as made:
        hosts = {h.name: h for h in made.hosts}
        made.isolate(hosts["v3"])  # its own link down: ...
        private = made.add_link([hosts["v3"], hosts["f0"]])  # ... it reaches the others through f0
        addresses = {name: h.address for name, h in hosts.items()} | {"v3": private["v3"]}
        names = ["v0", "v1", "v2", "v3"]
        homes = [Home.resolve(root / name) for name in names]
        init_validator_network(homes, [RPC] * 4, [WS] * 4, fund={SENDER.address: 1000 * UNIT},
                               params=ChainParams(block_time_ms=BLOCK_MS), hosts=[addresses[n] for n in names])
        seeds = {"v0": ["v1", "v2", "f0"], "v1": ["v0", "v2", "f0"], "v2": ["v0", "v1", "f1"], "v3": ["f0"]}
        reach = {"v3": {"f0": private["f0"]}}  # v3 sees f0 on the private segment only
        for name, home in zip(names, homes):
            update_config(home, "node", {"api_host": "0.0.0.0", "timeout_propose_ms": 1500, "timeout_vote_ms": 800,
                                         "peers": [f"http://{reach.get(name, addresses).get(s, addresses[s])}:{RPC}"
                                                   for s in seeds[name]]})
        for name, seeds_of in (("f0", ["v0", "v1"]), ("f1", ["v2", "f0"])):
            home = Home.resolve(root / name)
            home.ensure()
            (home.genesis_file).write_bytes(homes[0].genesis_file.read_bytes())
            update_config(home, "node", {"consensus_mode": "bft", "api_host": "0.0.0.0",
                                         "external_url": f"http://{addresses[name]}:{RPC}",
                                         "peers": [f"http://{addresses[s]}:{RPC}" for s in seeds_of]})
        nodes = {name: NetNode(home=root / name, rpc_port=RPC, ws_port=WS, host=hosts[name])
                 for name in [*names, "f0", "f1"]}
        for node in nodes.values():
            node.start(wait=False)
        try:
            for node in nodes.values():
                node.wait_ready(timeout=WAIT_S)
            yield Network(made, nodes, root)
        finally:
            for node in nodes.values():
                node.stop()


def _hashes(net: Network, name: str, top: int) -> dict[int, str]:
    with net.client(name) as client:
        answers = client.batch([("get_block", {"height": h}) for h in range(1, top + 1)])
    return {h: a["hash"] for h, a in zip(range(1, top + 1), answers) if isinstance(a, dict)}


def _no_fork(net: Network, names: list[str]) -> int:
    """Every node's blocks agree at every height they share; the shared top."""
    top = min(net.height(n) for n in names)
    first = _hashes(net, names[0], top)
    assert len(first) == top
    for name in names[1:]:
        assert _hashes(net, name, top) == first, f"{name} disagrees with {names[0]}"
    return top


def _signers(net: Network, name: str, heights: range) -> set[str]:
    with net.client(name) as client:
        answers = client.batch([("get_block", {"height": h}) for h in heights])
    return {s["validator"] for a in answers if isinstance(a, dict) and a.get("commit")
            for s in a["commit"]["signatures"]}


def test_six_hosts_agree_and_a_full_node_takes_transactions(network: Network) -> None:
    network.wait_all(5)
    _no_fork(network, list(network.nodes))
    recipient = accounts(2, "aitbc-network-test")[1]
    tx = SENDER.transfer(recipient, 7 * UNIT, 0)
    with network.client("f1") as f1:
        assert f1.status()["validating"] is False
        committed = f1.broadcast_tx(tx, mode="commit", timeout_s=WAIT_S)
    network.wait_all(committed["height"])
    for name in network.nodes:
        with network.client(name) as client:
            assert client.get_tx(tx.hash)["status"] == "committed"
            assert client.get_balance(recipient.address) == 7 * UNIT
    with network.client("f0") as f0:
        info = f0.net_info()
    connected = [p for p in info["peers"] if p["connected"]]
    assert len(connected) >= 3 and all(p["height"] >= 1 and p["node_id"] and p["rtt_ms"] is not None
                                       for p in connected)


def test_a_validator_reachable_only_through_a_full_node_keeps_voting(network: Network) -> None:
    with network.client("v3") as v3:
        me = v3.status()["validator_address"]
        peers = [p for p in v3.net_info()["peers"] if p["connected"]]
    outbound = [p["url"] for p in peers if p["direction"] == "outbound"]
    assert outbound and all(url.startswith("http://198.18.232.") for url in outbound), outbound
    start = network.height("v0")
    network.wait_all(start + 10, ["v0"])
    assert me in _signers(network, "v0", range(start + 1, start + 11))


def test_kill_9_and_restart_never_signs_twice(network: Network) -> None:
    v1 = network.nodes["v1"]
    v1.stop(signal.SIGKILL)
    start = network.height("v0")
    network.wait_all(start + 5, ["v0", "v2"])  # three of four still finalize
    v1.start()
    network.wait_all(network.height("v0") + 3, ["v1"])
    for name, node in network.nodes.items():  # every node logs any double sign it sees
        assert "double-signed" not in (node.home / "logs" / "node.log").read_text(), f"{name} saw a double sign"


@LONG
def test_two_of_four_down_halts_without_forking_and_resumes(network: Network) -> None:
    v1, v2 = network.nodes["v1"], network.nodes["v2"]
    v1.stop()
    v2.stop()
    stalled = network.height("v0")
    time.sleep(BLOCK_MS / 1000 * 10)  # ten block times without a quorum
    assert network.height("v0") <= stalled + 1  # a block already decided may still be stored
    v1.start()
    network.wait_all(stalled + 3, ["v0", "v1", "v3"])
    v2.start()
    network.wait_all(network.height("v0"), ["v2"])
    _no_fork(network, network.validators())


@LONG
def test_two_two_partition_then_healed_no_fork(network: Network) -> None:
    hosts = {h.name: h for h in network.lab.hosts}
    network.lab.partition([hosts["v0"], hosts["v1"], hosts["f1"]], [hosts["v2"], hosts["f0"]])
    try:
        split = network.height("v0")
        time.sleep(30)
        for name in network.validators():
            assert network.height(name) <= split + 1, f"{name} went on with half the power"
    finally:
        network.lab.heal()
        network.lab.isolate(hosts["v3"])  # back to its only path through f0
    resumed = max(network.height(n) for n in network.validators())
    network.wait_all(resumed + 3)
    _no_fork(network, list(network.nodes))


@LONG
def test_a_late_node_joins_with_the_documented_commands_and_catches_up(network: Network) -> None:
    network.nodes["v0"].wait_height(LATE_BY, timeout=LATE_WAIT_S)
    late = network.lab.host("late")
    home = network.root / "late"
    seed = f"http://{network.lab.host('v0').address}:{RPC}"
    other = f"http://{network.lab.host('f1').address}:{RPC}"
    init = subprocess.run(late.command(*aitbc_command("node", "init", "--home", str(home), "--genesis", seed,
                                                      "--peer", seed, "--peer", other,
                                                      "--external-url", late.url(RPC), "--json")),
                          env=hermetic_env(), cwd=REPO, capture_output=True, text=True, timeout=120)
    assert init.returncode == 0, init.stderr
    update_config(Home.resolve(home), "node", {"api_host": "0.0.0.0"})
    node = NetNode(home=home, rpc_port=RPC, ws_port=WS, host=late)
    node.start(wait=False)
    try:
        node.wait_ready(timeout=WAIT_S)
        target = network.height("v0")
        assert target >= LATE_BY
        node.wait_height(target, timeout=WAIT_S)
        with node.client() as client:
            sync = client.status()["sync"]
        assert sync["target"] >= target and sync["blocks_per_s"] > 0
        node.wait_height(network.height("v0") + 3, timeout=WAIT_S)  # and follows
        with node.client() as client:
            head = client.status()["height"]
            assert client.get_block(height=head - 1)["hash"] == _hashes(network, "v0", head - 1)[head - 1]
    finally:
        node.stop()


def test_status_reports_what_the_operator_asks(network: Network) -> None:
    """Each validator's status says whether its key votes on the next block, as the chain's
    validator set has it. After the opt-in perturbations a validator may have been jailed for
    downtime (seen once, on v0, in an opt-in run); its status then says False, which is the
    right answer, so the test compares with the set."""
    validating = {}
    for name in network.validators():
        with network.client(name) as client:
            for _ in range(50):  # both read at one height: a block may land between them
                status, chain = client.status(), client.validators()
                if chain["height"] == status["height"]:
                    break
            else:
                pytest.fail(f"{name}: status and validators never answered at one height")
        [entry] = [v for v in chain["validators"] if v["address"] == status["validator_address"]]
        assert status["validating"] is entry["active"], (name, status, entry)
        assert (status["voting_power"] > 0) is entry["active"]
        validating[name] = status["validating"]
    assert sum(validating.values()) >= 3, validating  # the chain went on: at least three still vote
    with network.client("f0") as f0:
        full = f0.status()
    assert full["validating"] is False and full["voting_power"] == 0 and full["catching_up"] is False
    assert json.dumps(full["sync"])


@LONG
def test_a_hundred_ms_on_every_link_still_finalizes() -> None:
    """Four validators on four hosts whose every link carries 100 ms each way (a relay in front
    of each node's port; peers dial the relays): blocks are still final, and a transfer lands."""
    why = netns_unavailable()
    if why:
        skip_unless_ci(f"network namespaces: {why}")
    relay_port = RPC + 10
    with temp_root("aitbc-net-") as root, lab(["d0", "d1", "d2", "d3"]) as made:
        homes = [Home.resolve(root / h.name) for h in made.hosts]
        for host in made.hosts:
            made.delay(host, relay_port, RPC, 0.1)
        init_validator_network(homes, [relay_port] * 4, [WS] * 4, fund={SENDER.address: 1000 * UNIT},
                               params=ChainParams(block_time_ms=BLOCK_MS), hosts=[h.address for h in made.hosts])
        for home in homes:
            update_config(home, "node", {"api_host": "0.0.0.0", "api_port": RPC, "timeout_propose_ms": 1500,
                                         "timeout_vote_ms": 800})
        nodes = [NetNode(home=home.root, rpc_port=RPC, ws_port=WS, host=host) for home, host in zip(homes, made.hosts)]
        for node in nodes:
            node.start(wait=False)
        try:
            for node in nodes:
                node.wait_ready(timeout=WAIT_S)
            nodes[0].wait_height(3, timeout=WAIT_S)
            with nodes[0].client() as client:
                committed = client.broadcast_tx(SENDER.transfer(accounts(3, "aitbc-network-test")[2], UNIT, 0),
                                                mode="commit", timeout_s=WAIT_S)
                rtt = [p["rtt_ms"] for p in client.net_info()["peers"] if p["connected"]]
            assert rtt and min(rtt) >= 200  # the delay is really there: 100 ms each way
            for node in nodes:
                node.wait_height(committed["height"], timeout=WAIT_S)
            with nodes[0].client() as a, nodes[3].client() as b:
                assert a.get_block(height=committed["height"])["hash"] == b.get_block(height=committed["height"])["hash"]
        finally:
            for node in nodes:
                node.stop()
