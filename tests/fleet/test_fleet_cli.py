"""``aitbc rig`` against real sshd servers: pinned keys, quoting, miner control, settings, logs."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from fleetkit import FleetEnv
from testkit import wait_for

from daemons.common.home import Home
from daemons.ops.rigs import load_rigs


def rows(env: FleetEnv, *names: str) -> dict[str, dict]:
    done = env.aitbc("rig", "status", *(names or ("--all",)), "--json", "--timeout", "5")
    return {r["name"]: r for r in json.loads(done.stdout)}


def test_add_pins_the_host_key_shown(fleet: FleetEnv) -> None:
    known = (fleet.home / "known_hosts").read_text()
    for name, sshd in fleet.sshd.items():
        assert f"[127.0.0.1]:{sshd.port} {sshd.public_host_key}" in known
    rig = load_rigs(Home(root=fleet.home))["alpha"]
    assert rig.host_key and rig.host_key.startswith("SHA256:")


def test_exec_quotes_every_argument(fleet: FleetEnv) -> None:
    done = fleet.aitbc("rig", "exec", "beta", "--", "echo", "a;id", "$(id -u)", "`id`", "x y")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "a;id $(id -u) `id` x y\n"
    done = fleet.aitbc("rig", "exec", "beta", "--", "sh", "-c", "exit 7")
    assert done.returncode == 7


def test_miner_control_status_config_and_logs(fleet: FleetEnv) -> None:
    alpha = Home(root=fleet.rig_homes["alpha"])
    before = alpha.config_file.read_text()
    bad = fleet.aitbc("rig", "config", "alpha", "set", "mining.gpu_devices=-3")
    assert bad.returncode == 1 and "gpu_devices" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert alpha.config_file.read_text() == before  # refused by the rig's settings code: nothing written
    done = fleet.aitbc("rig", "config", "alpha", "set", "mining.tcp_enabled=false", "mining.gpu_devices=0,1",
                       "--no-restart", "--json")
    assert done.returncode == 0, done.stderr
    mining = tomllib.loads(alpha.config_file.read_text())["mining"]
    assert mining["tcp_enabled"] is False and mining["gpu_devices"] == [0, 1]

    assert rows(fleet, "alpha")["alpha"]["miner"] == "stopped"
    done = fleet.aitbc("rig", "miner", "start", "alpha", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["alpha"]["miner"] == "started"
    row = wait_for(lambda: (r := rows(fleet, "alpha")["alpha"])["miner"] == "telemetry_only" and r, "the rig's miner")
    assert row["reachable"] and row["last_seen_ms"]

    done = fleet.aitbc("rig", "miner", "restart", "alpha", "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)["alpha"]
    assert answer["stop"]["miner"] == "stopped" and answer["start"]["miner"] == "started"

    logs = fleet.aitbc("rig", "logs", "alpha", "--service", "miner", "--lines", "20")
    assert logs.returncode == 0 and logs.stdout.strip()
    assert all(json.loads(line)["service"] == "miner" for line in logs.stdout.splitlines() if line.strip())

    done = fleet.aitbc("rig", "miner", "drain", "alpha", "--json")
    assert json.loads(done.stdout)["alpha"]["miner"] == "draining"
    wait_for(lambda: rows(fleet, "alpha")["alpha"]["miner"] == "stopped", "the drained miner to exit")
    done = fleet.aitbc("rig", "miner", "stop", "alpha", "--json")
    assert json.loads(done.stdout)["alpha"]["miner"] == "was not running"


def test_changed_host_key_is_refused_naming_both(fleet: FleetEnv) -> None:
    gamma = fleet.sshd["gamma"]
    old = gamma.public_host_key
    fleet.aitbc("rig", "disconnect", "gamma")
    gamma.stop()
    gamma.new_host_key()
    gamma.start()
    try:
        done = fleet.aitbc("rig", "exec", "gamma", "--", "touch", str(fleet.root / "ran"))
        assert done.returncode == 1 and "HOST KEY CHANGED" in done.stderr
        from daemons.ops.rigs_ssh import fingerprint

        assert fingerprint(old) in done.stderr and fingerprint(gamma.public_host_key) in done.stderr
        assert not (fleet.root / "ran").exists()
    finally:
        done = fleet.aitbc("rig", "add", "gamma", gamma.url, "--identity-file", str(fleet.client_key), "--rig-home",
                           str(fleet.rig_homes["gamma"]), "--force", "--host-key", gamma.public_host_key)
        assert done.returncode == 0, done.stderr
    assert fleet.aitbc("rig", "exec", "gamma", "--", "true").returncode == 0


def test_injection_is_refused_before_ssh_runs(fleet: FleetEnv, tmp_path: Path) -> None:
    sentinel = tmp_path / "pwned"
    port = fleet.sshd["beta"].port
    ok_url = f"ssh://root@127.0.0.1:{port}"
    for name, url, extra in (("x", f"ssh://-oProxyCommand=touch {sentinel}@127.0.0.1:{port}", []),
                             ("-x", ok_url, []), ("x;id", ok_url, []),
                             ("x", f"ssh://root@-oProxyCommand=touch:{port}", []),
                             ("x", ok_url, ["--rig-home", f"/x;touch {sentinel};#"]),
                             ("x", ok_url, ["--python", f"/usr/bin/python3;touch {sentinel}"])):
        done = fleet.aitbc("rig", "add", "--accept-new", "--home", str(tmp_path / "h"), *extra, "--", name, url)
        assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1, (name, url, done.stderr)
        assert not (tmp_path / "h" / "rigs.toml").exists()
    (tmp_path / "h").mkdir()
    (tmp_path / "h" / "rigs.toml").write_text(f'[rigs.evil]\nurl = "ssh://root@127.0.0.1:{port}"\n'
                                              f'home = "/x;touch {sentinel};#"\n')
    done = fleet.aitbc("rig", "status", "evil", "--home", str(tmp_path / "h"))
    assert done.returncode == 1 and "home must be an absolute path" in done.stderr
    assert not sentinel.exists()
