"""The one kit of process helpers every test folder shares (and the benchmarks in ``bench/``).

Free loopback ports, a hermetic environment for subprocesses, short temporary roots, bounded
waiting, real daemons started as subprocesses (waited on until they answer, stopped with SIGTERM
and killed when they do not exit in time), and a private PostgreSQL schema per test. The kits of
the test folders (``nodekit``, ``walletkit``, ``coordkit``, ...) build on these and add only what
their daemons need.

``tests/conftest.py`` puts ``tests/`` and every test folder on ``sys.path`` once (pytest runs with
``--import-mode=importlib``, which puts no test directory there), so this module and the folder
kits import as plain modules from anywhere in the tree.

Every timeout here is a bound against hangs, never a performance assertion.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import pytest

from daemons.common.client import DaemonClient
from daemons.common.errors import DaemonError
from daemons.node.client import NodeClient

REPO = Path(__file__).resolve().parents[1]
BARE_ENV = ("DATABASE_URL", "LOG_LEVEL", "BLOCK_TIME", "CONSENSUS_MODE", "VALIDATOR_ADDRESS", "API_HOST", "API_PORT",
            "XDG_RUNTIME_DIR")
"""The documented settings names without the AITBC_ prefix: a developer's shell must not leak them in."""
TEST_ENV = ("AITBC_TEST_POSTGRES_URL", "AITBC_TEST_KEEP")
"""Variables meant for the test run itself (never passed on to the daemons under test)."""
POSTGRES_ENV = "AITBC_TEST_POSTGRES_URL"
READY_TIMEOUT_S = 60.0
"""How long a daemon may take to answer: a cold interpreter, a model-free start, an scrypt unlock."""
STOP_TIMEOUT_S = 30.0
"""How long a daemon may take to exit after a signal before it is killed."""

T = TypeVar("T")
D = TypeVar("D", bound="Daemon")
M = TypeVar("M", bound="ThreadedMiner")


# -- ports, environment, temporary roots ------------------------------------------------------------


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports (held open together so that none is handed out twice)."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def is_leaked_setting(name: str) -> bool:
    """An AITBC_* or documented bare settings name that would reconfigure a daemon under test."""
    return (name.startswith("AITBC_") or name in BARE_ENV) and name not in TEST_ENV


def hermetic_env(**extra: str) -> dict[str, str]:
    """os.environ without AITBC_* (the test knobs included) and the bare settings names, with this
    checkout first on PYTHONPATH and unbuffered output, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AITBC_") and k not in BARE_ENV}
    env["PYTHONPATH"] = str(REPO)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def aitbc_command(*args: str) -> list[str]:
    """``aitbc ARGS`` with this interpreter (the console script's module)."""
    return [sys.executable, "-m", "aitbc_tui.cli", *args]


def short_root(prefix: str = "aitbc-") -> Path:
    """A fresh directory directly under /tmp: AF_UNIX socket paths are limited to 107 bytes, and a
    home under pytest's tmp_path can be too deep for its sockets."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


@contextmanager
def temp_root(prefix: str = "aitbc-") -> Iterator[Path]:
    """``short_root`` that is removed afterwards."""
    root = short_root(prefix)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def one_line_error(kind: type[BaseException], match: str) -> Iterator[None]:
    """``pytest.raises(kind, match=match)`` that also holds the project's rule for bad input: one
    clear line (a message that spills a traceback or a pydantic dump over lines fails)."""
    with pytest.raises(kind, match=match) as info:
        yield
    assert "\n" not in str(info.value)


# -- waiting ----------------------------------------------------------------------------------------


def wait_for(predicate: Callable[[], T | None], what: str, timeout: float = READY_TIMEOUT_S, interval: float = 0.05,
             detail: Callable[[], str] | None = None) -> T:
    """Poll ``predicate`` until it returns something true; that value. Fails after ``timeout``, with
    ``detail()`` (a daemon's output, the screen) in the message."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}" + (f": {detail()}" if detail else ""))
        time.sleep(interval)


def concurrently(calls: Iterable[Callable[[], T]]) -> list[T]:
    """Run independent blocking calls (mostly CLI processes that only read, or are refused, and so
    may run in any order) at the same time; their results in order, the first exception raised. A
    CLI process spends about a second importing before it does anything and the machine has more
    than one core: one after the other, a dozen of them is a dozen seconds of waiting."""
    pending = list(calls)
    if not pending:
        return []
    with ThreadPoolExecutor(max_workers=min(len(pending), 4), thread_name_prefix="concurrently") as pool:
        return list(pool.map(lambda call: call(), pending))


def answers_health(sock: Path) -> bool:
    """The daemon's operator socket exists and answers ``GET /health``."""
    if not sock.exists():
        return False
    try:
        with DaemonClient(sock, timeout=5) as client:
            client.get("/health")
        return True
    except DaemonError:
        return False


# -- daemons as subprocesses ------------------------------------------------------------------------


@dataclass(kw_only=True)
class Daemon:
    """One daemon subprocess, restartable, its stdout and stderr appended to ``output_file`` (a file,
    so that a chatty daemon never blocks on a full pipe; the secret-scanning tests read it too).

    ``command`` is what runs; ``start(*extra)`` adds arguments for that start only. It is ready when
    ``ready()`` holds: by default its operator ``socket`` answers ``/health``.
    """

    name: str
    command: list[str]
    output_file: Path
    env: dict[str, str] = field(default_factory=hermetic_env)
    home: Path | None = None
    socket: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def argv(self, *extra: str) -> list[str]:
        """The command line of the next start."""
        return [*self.command, *extra]

    def start(self: D, *extra: str, wait: bool = True) -> D:
        """Start the daemon (a marker line in the output file separates the starts)."""
        assert not self.running, f"{self.name} is already running"
        self.output_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.output_file, "ab") as out:
            out.write(f"--- start {self.starts} ---\n".encode())
            out.flush()
            self.proc = subprocess.Popen(self.argv(*extra), env=self.env, cwd=REPO, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=subprocess.STDOUT)
        self.starts += 1
        if wait:
            self.wait_ready()
        return self

    def ready(self) -> bool:
        """Whether the daemon answers; a DaemonError raised here counts as not yet."""
        assert self.socket is not None, f"{self.name}: no socket to probe; wait_until() with a probe of its own"
        return answers_health(self.socket)

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        self.wait_until(self.ready, f"{self.name} to answer", timeout)

    def wait_until(self, predicate: Callable[[], T], what: str, timeout: float = READY_TIMEOUT_S,
                   interval: float = 0.05) -> T:
        """``wait_for`` that fails at once, with the daemon's output, when the daemon exits."""
        def alive_and(probe: Callable[[], T]) -> T | None:
            assert self.proc is not None, f"{self.name} was never started"
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}: {self.output()[-3000:]}")
            try:
                return probe()
            except DaemonError:
                return None

        return wait_for(lambda: alive_and(predicate), what, timeout, interval, detail=lambda: self.output()[-3000:])

    def wait_exit(self, timeout: float = READY_TIMEOUT_S) -> int:
        """Wait until the daemon exits on its own; its exit status."""
        assert self.proc is not None, f"{self.name} was never started"
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} did not exit within {timeout}s") from None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT_S) -> int | None:
        """Signal the daemon and wait; kill it when it does not exit in time. Its exit status."""
        if self.proc is None:
            return None
        return stop_process(self.proc, sig, timeout)

    def kill(self) -> int | None:
        return self.stop(signal.SIGKILL)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        """Everything the daemon wrote (all starts)."""
        try:
            return self.output_file.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""


def service_daemon(service: str, home: Path, *args: str, env: Mapping[str, str] | None = None,
                   output_file: Path | None = None) -> Daemon:
    """``aitbc SERVICE start --home HOME ARGS`` (not started), as an operator starts it; its output goes
    to ``HOME/../SERVICE-output.txt`` unless ``output_file`` says otherwise."""
    return Daemon(name=service, command=aitbc_command(service, "start", "--home", str(home), *args),
                  output_file=output_file or home.parent / f"{service}-output.txt",
                  env=hermetic_env(**(env or {})), home=home, socket=home / "run" / f"{service}.sock")


@dataclass(kw_only=True)
class NodeDaemon(Daemon):
    """``aitbc node start`` on a home, restartable on the same ports; ``extra`` are arguments of every
    start (a test may change them between starts). Ready once it serves its status."""

    home: Path
    rpc_port: int = field(default_factory=free_port)
    ws_port: int = field(default_factory=free_port)
    extra: tuple[str, ...] = ()
    name: str = "node"
    command: list[str] = field(default_factory=list)
    output_file: Path = field(init=False)
    socket: Path = field(init=False)

    def __post_init__(self) -> None:
        self.output_file = self.home.parent / "node-output.txt"
        self.socket = self.home / "run" / "node.sock"

    @property
    def pid_file(self) -> Path:
        return self.home / "run" / "node.pid"

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.rpc_port}"

    @property
    def ws_url(self) -> str:
        return f"http://127.0.0.1:{self.ws_port}"

    def node_args(self, *extra: str) -> list[str]:
        """The ``aitbc`` arguments of the next start."""
        return ["node", "start", "--home", str(self.home), "--rpc-port", str(self.rpc_port),
                "--ws-port", str(self.ws_port), *self.extra, *extra]

    def argv(self, *extra: str) -> list[str]:
        return aitbc_command(*self.node_args(*extra))

    def ready(self) -> bool:
        """The operator door answers /health and the node serves its status."""
        with DaemonClient(self.socket, timeout=5) as raw, self.client(timeout=5) as client:
            assert raw.get("/health")["status"] == "ok"
            client.status()
        return True

    def client(self, timeout: float = 30) -> NodeClient:
        """Operator door: the Unix socket."""
        return NodeClient(self.socket, timeout=timeout)

    def tcp_client(self, timeout: float = 30) -> NodeClient:
        """Public door: the RPC port."""
        return NodeClient(self.rpc_url, timeout=timeout)

    def wait_height(self, height: int, timeout: float = READY_TIMEOUT_S) -> int:
        """Wait until the chain reaches ``height``; the height reached."""
        with self.client() as client:
            def reached() -> tuple[int] | None:
                current = int(client.status()["height"])
                return (current,) if current >= height else None

            return wait_for(reached, f"the chain to reach height {height}", timeout)[0]


def stop_process(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT_S) -> int:
    """Send ``sig`` (when the process still runs) and wait; SIGKILL it when it does not exit within
    ``timeout``. Its exit status."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return proc.returncode


def skip_unless_ci(reason: str, *, module: bool = False) -> None:
    """Skip for ``reason`` on a developer's machine that lacks an optional part; in CI (``CI=true``),
    where ``.ci/run`` installs every part, fail instead, so that a broken install cannot pass as a
    run that merely skipped the tests that needed it."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI installs it: see .ci/setup and .ci/run)", pytrace=False)
    pytest.skip(reason, allow_module_level=module)


# -- PostgreSQL ---------------------------------------------------------------------------------


def postgres_url(tmp_path: Path) -> str:
    """The test server's URL (``AITBC_TEST_POSTGRES_URL``); skip when none is set.

    A URL that is set but does not answer fails the test: whoever set it (CI does) expects the
    PostgreSQL tests to run, and a skip would hide that they did not.
    """
    from storage.database import open_database
    from storage.errors import DatabaseUnavailable

    url = os.environ.get(POSTGRES_ENV, "").strip()
    if not url:
        pytest.skip(f"PostgreSQL backend not tested: set {POSTGRES_ENV}=postgresql://USER[:PASS]@HOST:PORT/DB")
    try:
        open_database(url, tmp_path / "unused.db").close()
    except DatabaseUnavailable as exc:
        pytest.fail(f"{POSTGRES_ENV} is set but the server does not answer: {exc}", pytrace=False)
    return url


@contextmanager
def postgres_schema(tmp_path: Path, prefix: str = "aitbc_test") -> Iterator[str]:
    """A URL of the test server scoped to a fresh schema (its ``search_path``), dropped afterwards,
    so that tests never see each other's tables. Skips or fails as ``postgres_url`` does."""
    from storage.database import open_database

    url = postgres_url(tmp_path)
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = open_database(url, tmp_path / "unused.db")
    try:
        admin.execute_sql(f'CREATE SCHEMA "{schema}"')
        try:
            yield url + ("&" if "?" in url else "?") + "options=" + quote(f"-c search_path={schema}")
        finally:
            admin.execute_sql(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        admin.close()


class ThreadedMiner:
    """The loop every scripted miner of the tests shares: register once, then two threads of the
    test process, one heart-beating every 0.3 s and one long-polling and handing each task to
    :meth:`handle`, until :meth:`stop`. A coordinator's failures land in ``errors`` (tests assert it
    stays empty), so a broken call shows in the test instead of killing a thread silently.

    Subclasses say who the miner is (:meth:`client`, :meth:`registration`), what its heartbeat
    reports (:meth:`heartbeat_report`) and how it answers (:meth:`handle`)."""

    capacity: int = 2

    def __init__(self) -> None:
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.coordinator_address = ""
        """Learned at registration, as a real miner does: its proofs name that coordinator."""

    def client(self) -> Any:
        raise NotImplementedError

    def registration(self) -> dict[str, Any]:
        raise NotImplementedError

    def heartbeat_report(self) -> tuple[list[str], dict[str, Any]]:
        """(task ids it holds, its hardware) for the next heartbeat."""
        return [], {}

    def handle(self, client: Any, task: Any) -> None:
        raise NotImplementedError

    def register(self) -> Any:
        with self.client() as c:
            reply = c.register(self.registration())
        self.coordinator_address = reply.coordinator_address
        return reply

    def start(self: M) -> M:
        self.register()
        for target in (self._heartbeats, self._work):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _heartbeats(self) -> None:
        with self.client() as c:
            while not self._stop.is_set():
                try:
                    c.heartbeat(self.capacity, *self.heartbeat_report())
                except DaemonError as exc:
                    self.errors.append(f"heartbeat: {exc.message}")
                self._stop.wait(0.3)

    def _work(self) -> None:
        with self.client() as c:
            while not self._stop.is_set():
                try:
                    tasks = c.poll(max_jobs=self.capacity, wait_s=0.5)
                except DaemonError as exc:
                    self.errors.append(f"poll: {exc.message}")
                    self._stop.wait(0.2)
                    continue
                for task in tasks:
                    self.handle(c, task)

