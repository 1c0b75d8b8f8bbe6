"""One small fleet for the whole folder (started once, session-scoped, only when a fleet test runs):
three real sshd rigs on loopback ports, one with a real node and miner home behind it."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator

import pytest
from fleetkit import HAVE_SSH, FleetEnv, Sshd, keygen, rig_root
from tuikit import init_miner_home, init_node, node_daemon

from daemons.common.home import Home
from daemons.ops.rigs import load_rigs
from daemons.ops.rigs_ssh import close_all
from daemons.ops.supervisor import stop_service


@pytest.fixture(scope="session")
def fleet() -> Iterator[FleetEnv]:
    if not HAVE_SSH:
        pytest.skip("openssh-server is not installed (apt-get install openssh-server)")
    root = rig_root()
    key = keygen(root / "client_ed25519")
    env = FleetEnv(root=root, home=root / "op", client_key=key, sshd={}, rig_homes={})
    node = None
    try:
        for name in ("alpha", "beta", "gamma"):
            env.sshd[name] = Sshd(root / f"sshd-{name}", key).start()
            env.rig_homes[name] = root / f"rig-{name}"
        init_node(env.rig_homes["alpha"], block_time=0.5)
        init_miner_home(env.rig_homes["alpha"])
        node = node_daemon(env.rig_homes["alpha"]).start()
        for name, sshd in env.sshd.items():
            done = env.aitbc("rig", "add", name, sshd.url, "--identity-file", str(key), "--rig-home",
                             str(env.rig_homes[name]), "--python", sys.executable, "--accept-new")
            assert done.returncode == 0, done.stderr
        yield env
    finally:
        rigs = list(load_rigs(Home(root=env.home)).values()) if (env.home / "rigs.toml").exists() else []
        stop_service(Home(root=env.rig_homes["alpha"]), "miner")  # the rig is this machine: stop it directly
        close_all(Home(root=env.home), rigs)
        for sshd in env.sshd.values():
            sshd.stop()
        if node is not None:
            node.stop()
        shutil.rmtree(root, ignore_errors=True)
