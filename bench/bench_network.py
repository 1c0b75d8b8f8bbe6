"""Network benchmark: finality and throughput of validators on separate hosts, and catch-up speed.

Run (as root: the hosts are network namespaces, ``tests/netkit.py``):
``.venv/bin/python bench/bench_network.py [--seconds 10] [--block-time 1] [--txs 30000] [--delay-ms 50]``

Three chains, one after the other, each on its own lab of namespace hosts, real node daemons:

1. one validator on one host (the anchor);
2. four validators on four hosts, links as they are (0 ms);
3. four validators on four hosts with ``--delay-ms`` one way on every link (a TCP relay in
   front of each node's port adds it to every byte in each direction).

For each: finality (a transfer submitted in commit mode until it is final: p50, p99 over
``--finality`` transfers sent one after another), the same with each transfer sent after a random
pause of up to a block time ("spread": one after another, each is sent just after the block that
made the previous one final, so it waits a whole block time for the next slot by construction;
users arrive at any moment of a slot), and committed tx/s (``--txs`` pre-signed
transfers from 1,000 accounts posted in batches on ``SUBMITTERS`` connections at once, to the
operator sockets of every node in turn, each as fast as they are taken while its node holds at
most ``MAX_BACKLOG`` pending, until the last is committed: a run of some ten blocks or more, since blocks come a block time apart and the run's
end waits for the next one, which in a run of three blocks moved the rate by a third), with the CPU milliseconds every node process spent per committed transfer
meanwhile (user + system, all threads, from ``/proc``), less what it spends idle (consensus
messages, pings: measured over ``IDLE_S`` just before, at the same rate for as long as the run
lasted), so that a slower run is not charged its longer idle time per transfer, and how many cores
the nodes kept busy. On a shared machine the tx/s follow the load, the CPU cost much less; the
load average is printed beside it. After chain 2 has run, a fresh full node joins it with
``aitbc node init --genesis URL --peer URL`` and catches up: its blocks/s, and that as a multiple
of the block rate.

Printed: one line per chain, then the ratios the issue sets targets for: p50 finality under 1 s at
0 ms and under 1.5 s at 50 ms with 1 s blocks; 4-validator tx/s at least 50 % of the
single-validator figure; catch-up at least 20 x the block rate. Then what the cores allow: every
node checks every transfer, so four validators sharing this machine's cores can commit at most
cores / (their CPU per transfer, summed) a second, and on hosts with cores of their own the
busiest node's CPU per transfer against the one validator's bounds the ratio instead. Figures,
never pass/fail.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
for _path in (REPO, REPO / "tests", REPO / "tests" / "node"):  # the product and the test kits it shares
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from netkit import Lab, lab, netns_unavailable  # noqa: E402
from nodekit import UNIT, NetNode, accounts  # noqa: E402
from benchkit import bench_parser  # noqa: E402
from benchkit import process_cpu_seconds  # noqa: E402
from testkit import REPO as _REPO, aitbc_command, hermetic_env, temp_root  # noqa: E402

from chain.params import ChainParams  # noqa: E402
from daemons.common.daemon_key import update_config  # noqa: E402
from daemons.common.home import Home  # noqa: E402
from daemons.node.init import init_validator_network  # noqa: E402
from daemons.node.models import MAX_BATCH  # noqa: E402

RPC, WS, RELAY = 26657, 26658, 26667
WAIT_S = 300.0
IDLE_S = 3.0
"""How long each node's idle CPU rate is measured before the throughput run."""
SENDERS = 1000
"""Accounts the throughput run's transfers come from, each sending its share in nonce order:
enough for blocks of thousands of transfers without a genesis of one account per transfer."""
MAX_BACKLOG = 5000
"""Pending transfers a submitter lets its node hold before it waits (about two blocks of them):
the figure is what a chain commits with its mempools busy, not how it copes with a pile of tens
of thousands (after each block a node re-checks every pending transaction against the new state,
so a 30,000-transfer pile, posted unpaced, cost four validators twice the CPU per transfer)."""
BACKLOG_POLL_S = 0.25
"""How often a waiting submitter asks again: asked every 20 ms, four submitters' status calls
were a node load of their own, charged to the transfers."""
SUBMITTERS = 4
"""Connections posting the throughput run's batches at once, each with its own quarter of the
senders, connection ``i`` to node ``i mod n``: clients reach a network at every node. With one
connection posting one batch after another, a single validator was measured at the pace of that
connection's round trips (0.66 of 2 cores busy), not at what it can commit."""


@dataclass
class Figures:
    name: str
    p50_s: float
    p99_s: float
    spread_p50_s: float
    tx_per_s: float
    cpu_ms_per_tx: list[float]
    """Per node, CPU milliseconds spent per committed transfer during the throughput run, less
    its idle rate over the same time."""
    load: float
    cores_busy: float
    """CPU seconds all node processes spent per second of the run (idle rate included)."""


def _start_chain(made: Lab, root: Path, validators: int, block_ms: int, delay_s: float, funded: list[str]) -> list[NetNode]:
    hosts = made.hosts[:validators]
    port = RELAY if delay_s else RPC
    if delay_s:
        for host in hosts:
            made.delay(host, RELAY, RPC, delay_s)
    homes = [Home.resolve(root / h.name) for h in hosts]
    init_validator_network(homes, [port] * validators, [WS] * validators, fund={a: 1000 * UNIT for a in funded},
                           params=ChainParams(block_time_ms=block_ms), hosts=[h.address for h in hosts])
    for home in homes:
        update_config(home, "node", {"api_host": "0.0.0.0", "api_port": RPC})
    nodes = [NetNode(home=home.root, rpc_port=RPC, ws_port=WS, host=host) for home, host in zip(homes, hosts)]
    for node in nodes:
        node.start(wait=False)
    for node in nodes:
        node.wait_ready(timeout=WAIT_S)
    nodes[0].wait_height(2, timeout=WAIT_S)
    return nodes


def _finality(client: Any, senders: list[Any], recipient: Any, pause_s: float) -> list[float]:
    """Seconds from sending each transfer (after a random pause of up to ``pause_s``) until it is final."""
    spread = random.Random(len(senders))
    latencies = []
    for sender in senders:
        time.sleep(spread.uniform(0, pause_s))
        started = time.monotonic()
        client.broadcast_tx(sender.transfer(recipient, UNIT, 0), mode="commit", timeout_s=120)
        latencies.append(time.monotonic() - started)
    return latencies


def _measure(name: str, nodes: list[NetNode], finality_txs: int, txs: int, block_s: float) -> Figures:
    senders = accounts(2 * finality_txs + SENDERS, "aitbc-bench-network")
    recipient = accounts(1, "aitbc-bench-network-to")[0]
    node = nodes[0]
    pids = [n.proc.pid for n in nodes if n.proc is not None]  # `ip netns exec` execs the node itself
    with node.client(timeout=120) as client:
        latencies = _finality(client, senders[:finality_txs], recipient, 0.0)
        spread = _finality(client, senders[finality_txs:2 * finality_txs], recipient, block_s)
        payers = senders[2 * finality_txs:]
        # Nonce rounds: every payer's nonce 0, then every payer's 1, ...: posted in this order by
        # the one connection that has the payer, each one's transfers are admitted and relayed in
        # nonce order. The batches are encoded before the clock starts.
        signed = [payers[i % SENDERS].transfer(recipient, UNIT, i // SENDERS) for i in range(txs)]
        shares = [[tx for i, tx in enumerate(signed) if i % SENDERS % SUBMITTERS == c] for c in range(SUBMITTERS)]
        bodies = [[_batch_body(share[first:first + MAX_BATCH]) for first in range(0, len(share), MAX_BATCH)]
                  for share in shares]
        idle_from = [process_cpu_seconds(pid) for pid in pids]
        time.sleep(IDLE_S)
        cpu_before = [process_cpu_seconds(pid) for pid in pids]
        idle_rate = [(now - then) / IDLE_S for now, then in zip(cpu_before, idle_from)]
        started = time.monotonic()
        with ThreadPoolExecutor(SUBMITTERS) as pool:
            refusals = list(pool.map(_post_batches, [nodes[c % len(nodes)] for c in range(SUBMITTERS)], bodies))
        if any(refusals):  # a rate of transfers that were not all taken would be no rate
            raise SystemExit(f"{name}: transfers refused, the first: {next(r for r in refusals if r)}")
        for c, share in enumerate(shares):  # asked where it was sent: elsewhere it may not have arrived yet
            with nodes[c % len(nodes)].client(timeout=120) as sent_to:
                while sent_to.get_tx(share[-1].hash)["status"] != "committed":
                    time.sleep(0.05)
        while any(_mempool_size(n) for n in nodes):
            time.sleep(0.05)
        elapsed = time.monotonic() - started
        spent = [process_cpu_seconds(pid) - before for pid, before in zip(pids, cpu_before)]
        cpu = [1000 * (used - rate * elapsed) / len(signed) for used, rate in zip(spent, idle_rate)]
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    return Figures(name, statistics.median(latencies), cuts[98], statistics.median(spread), len(signed) / elapsed,
                   cpu, os.getloadavg()[0], sum(spent) / elapsed)


def _batch_body(txs: list[Any]) -> bytes:
    """One JSON-RPC batch of ``broadcast_tx`` calls, as the node's clients send it."""
    return json.dumps([{"jsonrpc": "2.0", "id": i, "method": "broadcast_tx", "params": {"tx": tx.to_dict()}}
                       for i, tx in enumerate(txs)]).encode()


def _post_batches(node: NetNode, bodies: list[bytes]) -> str:
    """Post ``bodies`` one after another over ``node``'s operator socket, waiting while its
    mempool holds more than ``MAX_BACKLOG``; the first refusal, or ''."""
    transport = httpx.HTTPTransport(uds=str(node.socket))
    status = json.dumps({"jsonrpc": "2.0", "id": 0, "method": "status", "params": {}}).encode()
    with httpx.Client(transport=transport, base_url="http://node", timeout=120) as http:
        for body in bodies:
            while http.post("/", content=status, headers={"content-type": "application/json"}).json()[
                    "result"]["mempool_size"] > MAX_BACKLOG:
                time.sleep(BACKLOG_POLL_S)
            answers = http.post("/", content=body, headers={"content-type": "application/json"}).json()
            if not isinstance(answers, list):
                return str(answers)
            refused = [answer["error"] for answer in answers if "error" in answer]
            if refused:
                return f"{len(refused)} in one batch, the first: {refused[0]}"
    return ""


def _mempool_size(node: NetNode) -> int:
    with node.client() as client:
        return int(client.status()["mempool_size"])


def _catch_up(made: Lab, root: Path, seed: NetNode) -> tuple[int, float]:
    """A fresh full node joins on the last lab host; (blocks fetched, blocks/s)."""
    host = made.hosts[-1]
    home = root / "late"
    url = f"http://{seed.host.address}:{RPC}"
    done = subprocess.run(host.command(*aitbc_command("node", "init", "--home", str(home), "--genesis", url,
                                                      "--peer", url)),
                          env=hermetic_env(), cwd=_REPO, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise SystemExit(f"join failed: {done.stderr}")
    update_config(Home.resolve(home), "node", {"api_host": "0.0.0.0"})
    node = NetNode(home=home, rpc_port=RPC, ws_port=WS, host=host)
    node.start(wait=False)
    try:
        node.wait_ready(timeout=WAIT_S)
        with seed.client() as theirs, node.client() as mine:
            target = int(theirs.status()["height"])
            begin, started = int(mine.status()["height"]), time.monotonic()
            while int(mine.status()["height"]) < target:
                time.sleep(0.02)
            return target - begin, (target - begin) / (time.monotonic() - started)
    finally:
        node.stop()


def main() -> None:
    parser = bench_parser(__doc__, block_time=1.0, seconds=(20.0, "how long chain 2 runs before a node joins it"))
    parser.add_argument("--txs", type=int, default=30000,
                        help="transfers for the throughput figure (from 1,000 accounts; enough for some ten "
                             "blocks of one validator, so that where the last block falls moves the rate little: "
                             "10,000 were three or four once a signature check took 60 us)")
    parser.add_argument("--finality", type=int, default=20, help="transfers for the finality figures")
    parser.add_argument("--delay-ms", type=float, default=50.0, help="one-way delay on every link of chain 3")
    args = parser.parse_args()
    why = netns_unavailable()
    if why:
        raise SystemExit(f"bench_network needs network namespaces: {why}")
    block_ms = int(args.block_time * 1000)
    funded = [a.address for a in accounts(2 * args.finality + SENDERS, "aitbc-bench-network")]
    results: list[Figures] = []
    catch: tuple[int, float] = (0, 0.0)
    for name, validators, delay_s in (("1 validator", 1, 0.0), ("4 validators, 0 ms", 4, 0.0),
                                      (f"4 validators, {args.delay_ms:g} ms", 4, args.delay_ms / 1000)):
        with temp_root("aitbc-bench-net-") as root, lab([f"h{i}" for i in range(validators + 1)]) as made:
            nodes = _start_chain(made, root, validators, block_ms, delay_s, funded)
            try:
                got = _measure(name, nodes, args.finality, args.txs, args.block_time)
                results.append(got)
                print(f"{name:24} finality p50 {got.p50_s:6.3f} s  p99 {got.p99_s:6.3f} s  "
                      f"spread p50 {got.spread_p50_s:6.3f} s  committed {got.tx_per_s:8.1f} tx/s  "
                      f"cpu ms/tx per node (less idle) {' '.join(f'{ms:.2f}' for ms in got.cpu_ms_per_tx)}  "
                      f"nodes busy {got.cores_busy:.2f} of {os.cpu_count()} cores  load {got.load:.1f}",
                      flush=True)
                if validators == 4 and not delay_s:
                    deadline = time.monotonic() + args.seconds
                    while time.monotonic() < deadline:
                        time.sleep(0.5)
                    catch = _catch_up(made, root, nodes[0])
                    print(f"{'catch-up':24} {catch[0]} blocks at {catch[1]:.1f} blocks/s", flush=True)
            finally:
                for node in nodes:
                    node.stop()
    single, four, delayed = results
    print()
    print(f"p50 finality, 0 ms:  {four.p50_s:.3f} s, spread {four.spread_p50_s:.3f} s   (target < 1 s with 1 s blocks)")
    print(f"p50 finality, {args.delay_ms:g} ms: {delayed.p50_s:.3f} s, spread {delayed.spread_p50_s:.3f} s   "
          "(target < 1.5 s with 1 s blocks)")
    print(f"4-validator tx/s vs 1: {four.tx_per_s / single.tx_per_s:.0%} at 0 ms, "
          f"{delayed.tx_per_s / single.tx_per_s:.0%} at {args.delay_ms:g} ms   (target >= 50 %)")
    print(f"cpu ms per committed tx, per node, idle rate taken off: {max(single.cpu_ms_per_tx):.2f} with 1 validator, "
          f"{statistics.mean(four.cpu_ms_per_tx):.2f} (mean of 4) at 0 ms, {statistics.mean(delayed.cpu_ms_per_tx):.2f} "
          f"at {args.delay_ms:g} ms")
    print(f"catch-up vs block rate: {catch[1] * args.block_time:.1f} x   (target >= 20 x)")
    # What the cores allow: every node checks every transfer, so four nodes sharing this
    # machine's cores get at most cores / (the four nodes' CPU per transfer) transfers a second,
    # against the one validator's own rate; on hosts with cores of their own the ratio is the
    # one validator's CPU per transfer over the busiest node's.
    cores = os.cpu_count() or 1
    for got in (four, delayed):
        ceiling = 1000 * cores / sum(got.cpu_ms_per_tx)
        own = max(single.cpu_ms_per_tx) / max(got.cpu_ms_per_tx)
        print(f"{got.name}: at most {ceiling:.0f} tx/s on {cores} shared cores ({ceiling / single.tx_per_s:.0%} of "
              f"1 validator's); on hosts of their own, CPU per transfer allows {own:.0%} of it")


if __name__ == "__main__":
    main()
