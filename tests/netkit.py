"""Hosts in Linux network namespaces, on a private switch, for tests of many machines on one.

``Lab`` makes a switch namespace holding a bridge and one namespace per host, each joined to the
bridge by a veth pair and given an address on a private /24. Nothing is joined to the machine's
own network: a process in a host namespace reaches the other test hosts and nothing else. A
process is run in a host with ``ip netns exec`` (:meth:`Host.command`); the test itself talks to
daemons through their Unix sockets, which namespaces do not separate.

Perturbations: :meth:`Lab.isolate` takes a host's link down; :meth:`Lab.partition` splits the
hosts over separate bridges (and :meth:`Lab.heal` puts them back on one); the kernel here has no
``netem``, so delay (and dropped connections) come from :class:`DelayRelay`, a small TCP relay
that runs inside a host's namespace in front of one of its ports (or, with :data:`LOOPBACK` as
its host, in the caller's own namespace on 127.0.0.1: a delayed link to a loopback server, such as
the sshd rigs of ``bench/bench_fleet.py``).

Everything is removed when the lab closes (processes still running in its namespaces are
killed), in bounded time. Where namespaces cannot be made (not root, no ``ip``), the tests skip
with the reason (and fail in CI, which runs as root: :func:`testkit.skip_unless_ci`). Used by
the node's network tests and meant for any other many-host test (an sshd per host, say).
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import random
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

CLONE_NEWNET = 0x40000000
SUBNET = "198.18.231"
"""Host i is SUBNET.(10 + i)/24, in the range set aside for network tests (RFC 2544); each lab
has its own switch, so labs never collide."""
_counter = iter(range(1, 1_000_000))


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done


def netns_unavailable() -> str | None:
    """Why namespaces cannot be made here, or None when they can."""
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    if os.geteuid() != 0:
        return "network namespaces need root"
    probe = f"aitbc-probe-{os.getpid()}"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"cannot make a network namespace: {made.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


@dataclass
class Host:
    name: str
    netns: str
    address: str
    veth: str
    """The switch-side end of its link."""

    def command(self, *argv: str) -> list[str]:
        """``argv`` run inside this host's namespace."""
        return ["ip", "netns", "exec", self.netns, *argv]

    def url(self, port: int) -> str:
        return f"http://{self.address}:{port}"


LOOPBACK = Host("loopback", netns="", address="127.0.0.1", veth="")
"""The caller's own namespace as a host (no namespace entered): a :class:`DelayRelay` on loopback."""


@dataclass
class Lab:
    """A switch and hosts; use as a context manager (:func:`lab`)."""

    tag: str
    switch: str
    hosts: list[Host] = field(default_factory=list)
    relays: list[DelayRelay] = field(default_factory=list)
    _bridges: set[str] = field(default_factory=set)

    def add_host(self, name: str) -> Host:
        index = len(self.hosts)
        netns, veth = f"{self.tag}-{name}", f"{self.tag}s{index}"
        inner = f"{self.tag}h{index}"
        _ip("netns", "add", netns)
        host = Host(name, netns, f"{SUBNET}.{10 + index}", veth)
        self.hosts.append(host)
        _ip("link", "add", inner, "netns", netns, "type", "veth", "peer", "name", veth, "netns", self.switch)
        _ip("-n", netns, "link", "set", inner, "name", "eth0")
        _ip("-n", netns, "addr", "add", f"{host.address}/24", "dev", "eth0")
        _ip("-n", netns, "link", "set", "eth0", "up")
        _ip("-n", netns, "link", "set", "lo", "up")
        _ip("-n", self.switch, "link", "set", veth, "master", "br0")
        _ip("-n", self.switch, "link", "set", veth, "up")
        return host

    def add_link(self, hosts: list[Host], bridge: str = "bx", subnet: str = "198.18.232") -> dict[str, str]:
        """A second switch of its own joining only ``hosts`` (as ``eth1`` in each): a private
        segment, such as validators reachable only through a full node. Their addresses on it."""
        _ip("-n", self.switch, "link", "add", bridge, "type", "bridge")
        _ip("-n", self.switch, "link", "set", bridge, "up")
        addresses = {}
        for host in hosts:
            index = self.hosts.index(host)
            outer, inner = f"{self.tag}{bridge}{index}", f"{self.tag}e{index}"
            _ip("link", "add", inner, "netns", host.netns, "type", "veth", "peer", "name", outer, "netns", self.switch)
            _ip("-n", host.netns, "link", "set", inner, "name", "eth1")
            addresses[host.name] = f"{subnet}.{10 + index}"
            _ip("-n", host.netns, "addr", "add", f"{addresses[host.name]}/24", "dev", "eth1")
            _ip("-n", host.netns, "link", "set", "eth1", "up")
            _ip("-n", self.switch, "link", "set", outer, "master", bridge)
            _ip("-n", self.switch, "link", "set", outer, "up")
        return addresses

    def host(self, name: str) -> Host:
        return next(h for h in self.hosts if h.name == name)

    # -- perturbations ----------------------------------------------------------------------------

    def isolate(self, host: Host, down: bool = True) -> None:
        """Take the host's link down (or up again)."""
        _ip("-n", self.switch, "link", "set", host.veth, "down" if down else "up")

    def partition(self, *groups: list[Host]) -> None:
        """Each group on a bridge of its own: hosts reach their own group only."""
        for index, group in enumerate(groups):
            bridge = f"br{index + 1}"
            if bridge not in self._bridges:
                _ip("-n", self.switch, "link", "add", bridge, "type", "bridge")
                _ip("-n", self.switch, "link", "set", bridge, "up")
                self._bridges.add(bridge)
            for host in group:
                _ip("-n", self.switch, "link", "set", host.veth, "master", bridge)

    def heal(self) -> None:
        """Every host back on the one bridge, every link up."""
        for host in self.hosts:
            _ip("-n", self.switch, "link", "set", host.veth, "master", "br0")
            _ip("-n", self.switch, "link", "set", host.veth, "up")

    def delay(self, host: Host, listen_port: int, target_port: int, delay_s: float, drop: float = 0.0) -> DelayRelay:
        """A relay in ``host`` on ``listen_port`` to its ``target_port``, adding ``delay_s`` each way."""
        relay = DelayRelay(host, listen_port, target_port, delay_s, drop)
        self.relays.append(relay)
        return relay

    # -- teardown ---------------------------------------------------------------------------------

    def close(self) -> None:
        for relay in self.relays:
            relay.close()
        for netns in [h.netns for h in self.hosts] + [self.switch]:
            _kill_inside(netns)
            _ip("netns", "del", netns, check=False)


def _kill_inside(netns: str) -> None:
    """Kill what still runs in a namespace of ours (our own test processes), bounded in time."""
    listed = _ip("netns", "pids", netns, check=False).stdout.split()
    for pid in listed:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _ip("netns", "pids", netns, check=False).stdout.strip():
        time.sleep(0.05)


@contextmanager
def lab(host_names: list[str]) -> Iterator[Lab]:
    """A switch with one host per name; all removed on exit."""
    tag = f"a{os.getpid() % 100_000}x{next(_counter)}"
    switch = f"{tag}-sw"
    _ip("netns", "add", switch)
    made = Lab(tag, switch)
    try:
        _ip("-n", switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", switch, "link", "set", "br0", "up")
        for name in host_names:
            made.add_host(name)
        yield made
    finally:
        made.close()


# -- running code inside a namespace ------------------------------------------------------------------


class NetnsLoop:
    """An asyncio loop on a thread that entered a host's namespace (none for ``netns`` ""): sockets
    it makes live there."""

    def __init__(self, netns: str) -> None:
        self.loop = asyncio.new_event_loop()
        entered: Future[None] = Future()

        def run() -> None:
            try:
                if netns:
                    libc = ctypes.CDLL(None, use_errno=True)
                    with open(f"/var/run/netns/{netns}") as handle:
                        if libc.setns(handle.fileno(), CLONE_NEWNET) != 0:
                            raise OSError(ctypes.get_errno(), f"setns into {netns} failed")
            except BaseException as exc:
                entered.set_exception(exc)
                return
            entered.set_result(None)
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, name=f"netns-{netns}", daemon=True)
        self.thread.start()
        entered.result(timeout=10)

    def call(self, coro_factory: Callable[[], Any], timeout: float = 10) -> Any:
        return asyncio.run_coroutine_threadsafe(coro_factory(), self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


class DelayRelay:
    """TCP relay inside a host: ``listen_port`` -> ``target_port`` on the host's address, each
    chunk forwarded ``delay_s`` after it arrived (order kept); with ``drop`` > 0, that fraction of
    connections is cut at once (a lossy link, as TCP sees one)."""

    def __init__(self, host: Host, listen_port: int, target_port: int, delay_s: float, drop: float = 0.0) -> None:
        self.host, self.target_port, self.delay_s, self.drop = host, target_port, delay_s, drop
        self.url = host.url(listen_port)
        self._rng = random.Random(listen_port)
        self._ns = NetnsLoop(host.netns)
        self._server = self._ns.call(lambda: asyncio.start_server(self._handle, host.address, listen_port))

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.drop and self._rng.random() < self.drop:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host.address, self.target_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer), return_exceptions=True)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        async def send() -> None:
            while True:
                due, data = await queue.get()
                await asyncio.sleep(max(0.0, due - loop.time()))
                if not data:
                    writer.close()
                    return
                writer.write(data)
                await writer.drain()

        sender = asyncio.create_task(send())
        try:
            while True:
                data = await reader.read(65536)
                await queue.put((loop.time() + self.delay_s, data))
                if not data:
                    break
            await sender
        finally:
            sender.cancel()

    def close(self) -> None:
        """Stop listening and end the connections still open (their tasks cancelled and awaited on
        the loop, so none is left pending when it stops)."""
        async def shutdown() -> None:
            self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self._ns.call(shutdown)
        finally:
            self._ns.close()
