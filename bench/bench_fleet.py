"""Fleet benchmark: how long one refresh of the fleet takes for 1, 10 and 50 rigs.

Run: ``.venv/bin/python bench/bench_fleet.py [--servers 5] [--rounds 5]`` (needs openssh-server;
running as root is simplest: the sshd servers accept the current user with a temporary key).

The rigs are entries of one operator home spread over a few real ``sshd`` servers on loopback
ports (``tests/fleet/fleetkit.py``), each entry with its own SSH master connection, exactly as a
real fleet of that size. By default the rig homes run no miner, so a refresh measures the SSH side
of polling (a channel over each rig's master to its miner socket, refused on the rig). With
``--with-miner`` all entries point at one rig home where a real node and miner (telemetry only)
run, so each poll fetches real status and telemetry; that one miner then answers for fifty
rigs and becomes the bottleneck, which a real fleet (one miner per rig) does not have. A refresh
is ``Fleet.poll()`` (``daemons/ops/rigs_fleet.py``: every rig at once). Printed per size: the first refresh (which opens the masters and
pins nothing: keys were pinned by ``rig add``) and the median of ``--rounds`` warm refreshes, and
the ratio of each size's warm refresh to the one-rig refresh (target: 50 rigs under 5x one).

Figures depend on the machine and on what else runs on it; the load average is printed with
them. Nothing here is asserted: tests never assert on timings.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for _path in (REPO, REPO / "tests", REPO / "tests" / "fleet", REPO / "tests" / "tui"):  # the product, and the test helpers
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from fleetkit import HAVE_SSH, Sshd, keygen, rig_root  # noqa: E402
from tuikit import init_miner_home, init_node, miner_daemon, node_daemon  # noqa: E402

from daemons.common.home import Home  # noqa: E402
from daemons.ops.rigs import Rig, save_rigs  # noqa: E402
from daemons.ops.rigs_fleet import Fleet  # noqa: E402
from daemons.ops.rigs_ssh import close_all, pin_host_key  # noqa: E402


def refresh(home: Home, rigs: list[Rig], rounds: int, with_miner: bool) -> tuple[float, float]:
    fleet = Fleet(home, rigs, connect_timeout_s=30)
    try:
        started = time.perf_counter()
        rows = fleet.poll()
        cold = time.perf_counter() - started
        unreachable = [r.error for r in rows if not r.reachable]
        if unreachable:
            raise SystemExit(f"{len(unreachable)} rigs unreachable: {unreachable[0]}")
        if with_miner and any(r.miner == "stopped" for r in rows):
            raise SystemExit("a rig's miner did not answer")
        warm = []
        for _ in range(rounds):
            started = time.perf_counter()
            fleet.poll()
            warm.append(time.perf_counter() - started)
        return cold, statistics.median(warm)
    finally:
        fleet.close()
        close_all(home, rigs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=5, help="sshd servers the rigs are spread over")
    parser.add_argument("--rounds", type=int, default=5, help="warm refreshes per size (median printed)")
    parser.add_argument("--sizes", default="1,10,50", help="fleet sizes, comma-separated")
    parser.add_argument("--with-miner", action="store_true", help="poll a real (shared) miner behind every rig")
    args = parser.parse_args()
    if not HAVE_SSH:
        raise SystemExit("openssh-server is not installed (apt-get install openssh-server)")
    sizes = [int(s) for s in args.sizes.split(",")]
    root = rig_root()
    key = keygen(root / "client_ed25519")
    servers = [Sshd(root / f"sshd-{i}", key).start() for i in range(args.servers)]
    rig_home = root / "rig"
    daemons = []
    if args.with_miner:
        init_node(rig_home, block_time=1.0)
        init_miner_home(rig_home)
        daemons = [node_daemon(rig_home).start(), miner_daemon(rig_home, telemetry_interval=1.0).start()]
    try:
        home = Home(root=root / "op")
        rigs = []
        for i in range(max(sizes)):
            server = servers[i % len(servers)]
            rig = Rig.create(name=f"rig-{i:03d}", url=server.url, identity_file=str(key),
                             home=str(rig_home if args.with_miner else root / "rigs" / f"r{i:03d}"))
            pin_host_key(home, rig, server.public_host_key)
            rigs.append(rig)
        save_rigs(home, {r.name: r for r in rigs})
        print(f"fleet refresh over {len(servers)} sshd servers on 127.0.0.1, "
              f"{'one shared real miner' if args.with_miner else 'no miner on the rigs'}, {os.cpu_count()} CPUs, "
              f"load {os.getloadavg()[0]:.2f}")
        print(f"{'rigs':>5} {'first (s)':>10} {'warm (s)':>10} {'warm / 1 rig':>13} {'load':>6}")
        base = None
        for size in sizes:
            cold, warm = refresh(home, rigs[:size], args.rounds, args.with_miner)
            base = base or warm
            print(f"{size:>5} {cold:>10.3f} {warm:>10.3f} {warm / base:>12.1f}x {os.getloadavg()[0]:>6.2f}", flush=True)
    finally:
        for daemon in reversed(daemons):
            daemon.stop()
        for server in servers:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
