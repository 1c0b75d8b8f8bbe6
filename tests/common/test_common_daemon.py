"""Daemon lifecycle as a real subprocess: socket mode, pid lock, signals, stale sockets, failures."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from daemons.common.client import DaemonClient, DaemonError, DaemonUnavailable, target_for
from daemons.common.home import Home

from daemonkit import ExampleDaemon
from testkit import free_port, short_root

Start = Callable[..., ExampleDaemon]


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_socket_is_private_and_pid_file_names_the_process(start_daemon: Start, home: Home) -> None:
    daemon = start_daemon()
    assert target_for(home, "example") == daemon.socket
    assert stat.S_ISSOCK(os.lstat(daemon.socket).st_mode)
    assert mode(daemon.socket) == 0o600
    assert mode(home.run_dir) == 0o700 and mode(home.keys_dir) == 0o700
    assert home.pid_file("example").read_text().strip() == str(daemon.proc.pid)


def test_a_second_daemon_on_the_same_home_is_refused(start_daemon: Start) -> None:
    first = start_daemon()
    second = start_daemon(wait=False)
    assert second.proc.wait(timeout=30) == 1
    assert f"example already running on this home, pid {first.proc.pid}" in second.output()
    with first.operator() as client:  # the first one's socket survived the attempt
        assert client.get("/health")["pid"] == first.proc.pid


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signals_shut_down_gracefully_and_clean_up(start_daemon: Start, home: Home, sig: int) -> None:
    daemon = start_daemon()
    with daemon.operator() as client, client.events(["new_block"]) as stream:
        assert daemon.stop(sig) == 0
        with pytest.raises((StopIteration, DaemonError)):
            stream.receive(timeout=10)
    assert not daemon.socket.exists()
    assert not home.pid_file("example").exists()
    assert (home.data_dir / "shutdown-hook-ran").read_text() == "yes"
    with DaemonClient(daemon.socket) as client, pytest.raises(DaemonUnavailable) as info:
        client.get("/health")
    assert str(info.value) == f"example is not running (no socket at {daemon.socket})"


def test_a_crashed_daemon_leaves_a_stale_socket_that_the_next_start_replaces(start_daemon: Start) -> None:
    crashed = start_daemon()
    crashed.stop(signal.SIGKILL)
    assert crashed.socket.exists()
    with DaemonClient(crashed.socket) as client, pytest.raises(DaemonUnavailable, match="stale socket"):
        client.get("/health")
    again = start_daemon()
    with again.operator() as client:
        assert client.get("/health")["pid"] == again.proc.pid
    assert mode(again.socket) == 0o600


def test_unreachable_targets_say_so(home: Home) -> None:
    with DaemonClient(home.socket("node")) as client, pytest.raises(DaemonUnavailable) as info:
        client.get("/health")
    assert str(info.value) == f"node is not running (no socket at {home.socket('node')})"
    assert (info.value.status, info.value.code) == (0, "unavailable")
    with DaemonClient(f"http://127.0.0.1:{free_port()}", name="coordinator") as client, \
            pytest.raises(DaemonUnavailable, match=r"^coordinator is not running \(connection refused"):
        client.get("/health")
    with DaemonClient(home.socket("node")) as client, pytest.raises(DaemonUnavailable, match="no socket"):
        with client.events(["new_block"]):
            pass


def test_a_busy_port_is_a_clear_start_failure(start_daemon: Start, home: Home) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        daemon = start_daemon(env={"API_PORT": str(port)}, wait=False)
        assert daemon.proc.wait(timeout=30) == 1
    assert f"cannot listen on 127.0.0.1:{port}: address already in use" in daemon.output()
    assert not daemon.socket.exists() and not home.pid_file("example").exists()


def test_bad_settings_stop_the_daemon_with_the_field_named(start_daemon: Start) -> None:
    daemon = start_daemon(env={"BLOCK_TIME": "-1"}, wait=False)
    assert daemon.proc.wait(timeout=30) == 2
    assert "env BLOCK_TIME: input should be greater than 0" in daemon.output()


def test_config_toml_reaches_the_daemon_and_tcp_can_be_off(start_daemon: Start, home: Home) -> None:
    home.root.mkdir(parents=True)
    home.config_file.write_text('log_level = "DEBUG"\n[example]\ngreeting = "hi"\nblock_time = 2.0\n')
    daemon = start_daemon(env={"AITBC_TCP_ENABLED": "0", "BLOCK_TIME": "3"})
    with daemon.operator() as client:
        assert client.get("/v1/whoami") == {"door": "operator", "greeting": "hi", "block_time": 3.0}
    with daemon.public() as client, pytest.raises(DaemonUnavailable):
        client.get("/health")
    entries = [json.loads(line) for line in home.log_file("example").read_text().splitlines()]
    assert any(e["level"] == "debug" and e["msg"] == "debug output is on" for e in entries)


def test_runtime_dir_env_moves_the_socket(start_daemon: Start, home: Home) -> None:
    runtime = short_root("aitbc-rt-")
    try:
        moved = Home(root=home.root, runtime_dir=runtime)
        daemon = start_daemon(env={"AITBC_RUNTIME_DIR": str(runtime)}, on=moved)
        assert (runtime / "example.sock").exists() and not home.socket("example").exists()
        assert daemon.stop() == 0
        assert not (runtime / "example.sock").exists()
    finally:
        os.rmdir(runtime)


def test_an_overlong_socket_path_is_a_clear_start_failure(start_daemon: Start, home: Home) -> None:
    deep = Home(root=home.root / ("d" * 90))
    daemon = start_daemon(on=deep, wait=False)
    assert daemon.proc.wait(timeout=30) == 1
    assert "socket path too long" in daemon.output()


def test_a_failing_startup_hook_exits_1_and_cleans_up(start_daemon: Start, home: Home) -> None:
    daemon = start_daemon(env={"EXAMPLE_FAIL_STARTUP": "database is locked"}, wait=False)
    assert daemon.proc.wait(timeout=30) == 1
    assert "startup failed: database is locked" in daemon.output()
    assert not daemon.socket.exists() and not home.pid_file("example").exists()
    assert not (home.data_dir / "shutdown-hook-ran").exists()


def test_a_non_socket_file_in_the_way_is_refused_and_kept(start_daemon: Start, home: Home) -> None:
    home.ensure()
    home.socket("example").write_text("operator notes")
    daemon = start_daemon(wait=False)
    assert daemon.proc.wait(timeout=30) == 1
    assert "exists and is not a socket" in daemon.output()
    assert home.socket("example").read_text() == "operator notes"


def test_public_tcp_connections_send_without_delay() -> None:
    """Every connection the public door accepts has TCP_NODELAY: asyncio sets it only on sockets
    created with proto IPPROTO_TCP, and without it a keep-alive answer written in two pieces
    waited for the client's delayed ACK (about 40 ms a request, whatever the server's work)."""
    from daemons.common.server import bind_tcp

    listener = bind_tcp("127.0.0.1", 0)
    try:
        with socket.create_connection(listener.getsockname(), timeout=10):
            accepted, _ = listener.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        listener.close()
