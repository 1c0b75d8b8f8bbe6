"""The machinery behind ``aitbc up/down/status`` that needs no model: pid locks, stopping, refusals.

Daemons are stood in for by small real processes that hold a pid file's ``flock`` exactly as
``daemons.common.server.PidLock`` does; the CLI runs as a real subprocess.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemons.common.home import Home
from daemons.ops import SERVICES
from daemons.ops.devnet import DEVNET_FILE, stop_order, validator_homes
from daemons.ops.supervisor import (
    ServiceSpec, Supervisor, SupervisorError, health, log_tail, running_pid, stop_process, stop_service,
)
from e2ekit import aitbc, aitbc_json, process_gone

HOLDER = textwrap.dedent("""
    import fcntl, os, signal, sys, time
    path, mode = sys.argv[1], sys.argv[2]
    if mode == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.ftruncate(fd, 0)
    os.write(fd, (str(os.getpid()) if mode != "garbled" else "not-a-pid").encode() + b"\\n")
    if mode == "polite":
        def bye(*_):
            os.unlink(path)  # like PidLock.release: unlink while still locked
            sys.exit(0)
        signal.signal(signal.SIGTERM, bye)
    print("ready", flush=True)
    while True:
        time.sleep(1)
""")


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home.resolve(tmp_path / "home").ensure()


@pytest.fixture
def holders() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def hold(holders: list[subprocess.Popen[str]], home: Home, service: str, mode: str = "polite") -> subprocess.Popen[str]:
    """A process holding ``service``'s pid lock in ``home`` (polite: leaves on SIGTERM)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(home.pid_file(service)), mode],
                            stdout=subprocess.PIPE, text=True)
    holders.append(proc)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


# -- running_pid -------------------------------------------------------------------------------------


def test_running_pid_none_without_a_pid_file(home: Home) -> None:
    assert not home.pid_file("node").exists()
    assert running_pid(home, "node") is None


def test_running_pid_ignores_a_stale_file_nobody_locks(home: Home) -> None:
    # A daemon killed with SIGKILL leaves its pid file behind; the kernel dropped its lock.
    home.pid_file("node").write_text(f"{os.getpid()}\n")
    assert running_pid(home, "node") is None
    assert home.pid_file("node").exists()  # only read, never removed by a status check


def test_running_pid_names_the_lock_holder(home: Home, holders: list[subprocess.Popen[str]]) -> None:
    proc = hold(holders, home, "coordinator")
    assert running_pid(home, "coordinator") == proc.pid
    assert running_pid(home, "node") is None


def test_running_pid_is_minus_one_for_a_locked_file_without_a_pid(home: Home,
                                                                   holders: list[subprocess.Popen[str]]) -> None:
    hold(holders, home, "wallet", mode="garbled")
    assert running_pid(home, "wallet") == -1


def test_running_pid_after_the_holder_dies(home: Home, holders: list[subprocess.Popen[str]]) -> None:
    proc = hold(holders, home, "miner")
    proc.kill()
    proc.wait(10)
    assert running_pid(home, "miner") is None


# -- stop_service / stop_process ------------------------------------------------------------------------


def test_stop_service_on_a_dead_pid_file_touches_nothing(home: Home) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        # The file names a live, unrelated process, but nobody holds the lock: it must not be signalled.
        home.pid_file("node").write_text(f"{sleeper.pid}\n")
        assert stop_service(home, "node", timeout_s=2) is None
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait(10)


def test_stop_service_without_a_pid_file(home: Home) -> None:
    assert stop_service(home, "coordinator", timeout_s=1) is None


def test_stop_service_terminates_the_holder(home: Home, holders: list[subprocess.Popen[str]]) -> None:
    proc = hold(holders, home, "node")
    assert stop_service(home, "node", timeout_s=20) == proc.pid
    assert proc.wait(10) == 0  # it left on SIGTERM, cleanly
    assert running_pid(home, "node") is None and not home.pid_file("node").exists()


def test_stop_service_kills_a_holder_that_ignores_sigterm(home: Home, holders: list[subprocess.Popen[str]]) -> None:
    proc = hold(holders, home, "miner", mode="stubborn")
    assert stop_service(home, "miner", timeout_s=0.5) == proc.pid
    assert proc.wait(10) == -signal.SIGKILL
    assert running_pid(home, "miner") is None


def test_stop_process_terminates_then_kills() -> None:
    polite = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    stop_process(polite, timeout_s=10)
    assert polite.returncode == -signal.SIGTERM
    stubborn = subprocess.Popen([sys.executable, "-c",
                                 "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                                 "print('ready', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    assert stubborn.stdout is not None and stubborn.stdout.readline().strip() == "ready"
    stop_process(stubborn, timeout_s=0.5)
    assert stubborn.returncode == -signal.SIGKILL
    stop_process(stubborn, timeout_s=0.5)  # already gone: nothing to do


# -- Supervisor ---------------------------------------------------------------------------------------


def test_supervisor_does_not_start_what_already_runs(home: Home, holders: list[subprocess.Popen[str]]) -> None:
    proc = hold(holders, home, "wallet")
    lines: list[str] = []
    supervisor = Supervisor(home, detach=True, progress=lines.append)
    supervisor.start(ServiceSpec("wallet"))
    assert lines == [f"wallet: already running (pid {proc.pid})"]
    assert supervisor.children == {}


def test_supervisor_reports_a_daemon_that_dies_while_starting(home: Home) -> None:
    # A node cannot start on a home without genesis.json: the error names it and shows the log.
    lines: list[str] = []
    supervisor = Supervisor(home, detach=True, progress=lines.append)
    with pytest.raises(SupervisorError, match=r"node exited with status \d+ while starting") as caught:
        supervisor.start(ServiceSpec("node", ready_timeout_s=120))
    assert str(home.logs_dir / "node.out") in str(caught.value)
    assert "genesis" in str(caught.value).lower()
    assert lines[0].startswith("node: starting (pid ")
    assert running_pid(home, "node") is None
    assert health(home, "node", timeout=0.5) is None


def test_log_tail(tmp_path: Path) -> None:
    log = tmp_path / "x.out"
    assert log_tail(log) == ""
    log.write_text("".join(f"line {i}\n" for i in range(30)))
    assert log_tail(log, 3) == "line 27\nline 28\nline 29"


# -- devnet layout --------------------------------------------------------------------------------------


def test_stop_order_stops_users_of_the_chain_before_the_nodes(home: Home) -> None:
    assert validator_homes(home) == []
    for k in (2, 1):
        extra = home.root / "validators" / f"node-{k}"
        extra.mkdir(parents=True)
        (extra / "genesis.json").write_text("{}")
    (home.root / "validators" / "not-a-node").mkdir()
    extras = validator_homes(home)
    assert [h.root.name for h in extras] == ["node-1", "node-2"]
    order = [(service, h.root.name) for service, h in stop_order(home)]
    assert order == [("explorer", "home"), ("miner", "home"), ("coordinator", "home"), ("wallet", "home"),
                     ("node", "home"), ("node", "node-1"), ("node", "node-2")]
    assert [s for s, _ in stop_order(home)[:5]] == list(reversed(SERVICES))


# -- the CLI --------------------------------------------------------------------------------------------


def test_down_when_nothing_runs(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    result = aitbc("down", "--home", str(root))
    assert result.stdout.strip() == f"nothing was running in {root}"
    assert aitbc_json("down", "--home", str(root)) == {"stopped": {}}


def test_down_stops_every_daemon_of_the_home(home: Home, holders: list[subprocess.Popen[str]]) -> None:
    procs = {service: hold(holders, home, service) for service in SERVICES}
    stopped = aitbc_json("down", "--home", str(home.root))["stopped"]
    assert stopped == {service: proc.pid for service, proc in procs.items()}
    for service, proc in procs.items():
        assert proc.wait(10) == 0 and running_pid(home, service) is None


def test_status_of_a_home_where_nothing_runs(tmp_path: Path) -> None:
    data = aitbc_json("status", "--home", str(tmp_path / "h"))
    assert set(data["services"]) == set(SERVICES)
    assert all(not s["running"] and not s["healthy"] and s["pid"] is None for s in data["services"].values())
    assert "chain" not in data
    assert aitbc("status", "--home", str(tmp_path / "h")).stdout.count("stopped") == len(SERVICES)


def test_status_shows_a_daemon_that_runs_but_does_not_answer(home: Home,
                                                              holders: list[subprocess.Popen[str]]) -> None:
    proc = hold(holders, home, "coordinator")
    data = aitbc_json("status", "--home", str(home.root))
    assert data["services"]["coordinator"] == {"running": True, "pid": proc.pid, "healthy": False,
                                               "socket": str(home.socket("coordinator")), "failure": None}
    assert "running, not answering" in aitbc("status", "--home", str(home.root)).stdout


def test_up_refuses_a_home_initialized_by_hand(tmp_path: Path) -> None:
    root = tmp_path / "byhand"
    aitbc("node", "init", "--home", str(root))
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    result = aitbc("up", "--home", str(root), "--detach", check=False)
    assert result.returncode != 0
    message = result.stderr.strip().splitlines()[-1]
    assert DEVNET_FILE in message and "not made by `aitbc up`" in message
    assert "aitbc node start" in message
    home = Home.resolve(root)
    assert all(running_pid(home, s) is None for s in SERVICES)
    assert not (root / DEVNET_FILE).exists()
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before  # nothing created or started
    assert not any(json.loads(aitbc("status", "--home", str(root), "--json").stdout)["services"][s]["running"]
                   for s in SERVICES)


def test_process_gone_helper() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(10)
    assert process_gone(proc.pid)
    assert not process_gone(os.getpid())
