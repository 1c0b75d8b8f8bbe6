"""The network-namespace harness itself: hosts reach each other and nothing else, a relay adds
its delay, a partition and an isolated link cut exactly what they should, and everything is
gone after the lab closes."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time

from netkit import LOOPBACK, DelayRelay, lab, netns_unavailable
from testkit import free_port, skip_unless_ci, wait_for

SERVER = "import socket,sys\ns=socket.create_server((sys.argv[1],7000))\nwhile True:\n c,_=s.accept(); c.sendall(c.recv(64)); c.close()\n"
CLIENT = ("import socket,sys,time\nt=time.monotonic()\ntry:\n c=socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=2)"
          "\n c.sendall(b'ping'); print(c.recv(64).decode(), round(time.monotonic()-t,3))\nexcept OSError as e: print('unreachable')\n")


def test_lab_links_partitions_delay_and_teardown() -> None:
    why = netns_unavailable()
    if why:
        skip_unless_ci(f"network namespaces: {why}")
    with lab(["a", "b", "c"]) as made:
        a, b, c = made.hosts
        server = subprocess.Popen(b.command(sys.executable, "-c", SERVER, b.address))

        def ask(host_from, address: str, port: int = 7000) -> str:  # noqa: ANN001
            done = subprocess.run(host_from.command(sys.executable, "-c", CLIENT, address, str(port)),
                                  capture_output=True, text=True, timeout=30)
            return done.stdout.strip()

        try:
            wait_for(lambda: ask(a, b.address).startswith("ping"), "the server in b to answer", 30)
            assert ask(c, b.address).startswith("ping")
            relay = made.delay(b, 7001, 7000, 0.2)
            answer, elapsed = ask(a, b.address, 7001).split()
            assert answer == "ping" and float(elapsed) >= 0.4  # 200 ms each way, really added
            assert relay.url == f"http://{b.address}:7001"
            made.partition([a], [b, c])
            assert ask(a, b.address) == "unreachable" and ask(c, b.address).startswith("ping")
            made.heal()
            wait_for(lambda: ask(a, b.address).startswith("ping"), "a to reach b after the heal", 30)
            made.isolate(c)
            assert ask(c, b.address) == "unreachable"
            made.isolate(c, down=False)  # back (its neighbour cache may need a moment to retry)
            wait_for(lambda: ask(c, b.address).startswith("ping"), "c to reach b again", 30)
            # The test process (the machine's own network) does not reach the lab's server: some
            # sandboxes accept any connection on their gateway, so what counts is who answers.
            assert _from_outside(b.address) != b"ping"
        finally:
            server.kill()
        names = [h.netns for h in made.hosts] + [made.switch]
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not any(name in listed for name in names)


def _from_outside(address: str) -> bytes:
    try:
        with socket.create_connection((address, 7000), timeout=2) as probe:
            probe.settimeout(2)
            probe.sendall(b"ping")
            return probe.recv(64)
    except OSError:
        return b""


def test_a_relay_on_loopback_delays_a_server_of_this_namespace() -> None:
    """No namespace needed (bench_fleet's rigs): the relay runs on 127.0.0.1 in front of a local port."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def echo() -> None:
        conn, _ = server.accept()
        with conn:
            conn.sendall(conn.recv(64))
    threading.Thread(target=echo, daemon=True).start()
    relay = DelayRelay(LOOPBACK, free_port(), port, 0.1)
    try:
        assert relay.url.startswith("http://127.0.0.1:")
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", int(relay.url.rsplit(":", 1)[1])), timeout=5) as client:
            client.sendall(b"ping")
            assert client.recv(64) == b"ping"
        assert time.monotonic() - started >= 0.2  # 100 ms each way, really added
    finally:
        relay.close()
        server.close()
