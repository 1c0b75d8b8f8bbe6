"""Helpers for the node tests: known test accounts, and the real node daemon as a subprocess.

Imported as a plain module (``conftest.py`` puts this directory on ``sys.path``), so it works
under pytest's importlib import mode. Nodes start exactly as an operator starts them:
``aitbc node init`` then ``aitbc node start``, with this interpreter.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chain import crypto
from chain.tx import Transaction, make_tx
from daemons.common.client import DaemonClient
from daemons.common.errors import DaemonError
from daemons.node.client import NodeClient

REPO = Path(__file__).resolve().parents[2]
UNIT = 10**6
CHAIN_ID = "aitbc-dev"
MIN_FEE = 10
BARE_ENV = ("DATABASE_URL", "LOG_LEVEL", "BLOCK_TIME", "CONSENSUS_MODE", "VALIDATOR_ADDRESS",
            "API_HOST", "API_PORT", "XDG_RUNTIME_DIR")
READY_TIMEOUT_S = 60.0
"""A bound against hangs (a cold interpreter plus scrypt unlock), never a performance check."""


# -- accounts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    """A test account whose seed the test knows, so it can sign real transactions."""

    seed: bytes

    @property
    def pubkey(self) -> bytes:
        return crypto.pubkey_from_seed(self.seed)

    @property
    def address(self) -> str:
        return crypto.address_from_pubkey(self.pubkey)

    def tx(self, nonce: int, tx_type: str, payload: dict[str, Any], *, fee: int = MIN_FEE,
           chain_id: str = CHAIN_ID) -> Transaction:
        return make_tx(self.seed, chain_id, tx_type, nonce, fee, payload)

    def transfer(self, to: str | Account, amount: int, nonce: int, *, fee: int = MIN_FEE,
                 chain_id: str = CHAIN_ID) -> Transaction:
        target = to.address if isinstance(to, Account) else to
        return self.tx(nonce, "transfer", {"to": target, "amount": amount}, fee=fee, chain_id=chain_id)


def account(index: int, namespace: str = "aitbc-node-test") -> Account:
    """Deterministic account ``index``: the same seed in every run, nothing stored anywhere."""
    return Account(hashlib.sha256(f"{namespace}/{index}".encode()).digest())


def accounts(count: int, namespace: str = "aitbc-node-test") -> list[Account]:
    return [account(i, namespace) for i in range(count)]


# -- processes ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hermetic_env(**extra: str) -> dict[str, str]:
    """os.environ without AITBC_* and the documented bare settings names, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AITBC_") and k not in BARE_ENV}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


def aitbc_command(*args: str) -> list[str]:
    """``aitbc ARGS`` with this interpreter (the console script's module)."""
    return [sys.executable, "-m", "aitbc_tui.cli", *args]


def run_aitbc(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(aitbc_command(*args), env=hermetic_env(), cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def init_home(home: Path, funded: dict[str, int], *, block_time: float = 0.2,
              extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """``aitbc node init`` with ``--fund ADDRESS=AMOUNT`` per account; returns its ``--json``."""
    args = ["node", "init", "--home", str(home), "--block-time", str(block_time), "--json", *extra]
    for address, amount in funded.items():
        args += ["--fund", f"{address}={amount}u"]
    done = run_aitbc(*args)
    if done.returncode != 0:
        raise AssertionError(f"aitbc node init failed ({done.returncode}): {done.stderr}")
    return json.loads(done.stdout)


@dataclass
class NodeProcess:
    """One ``aitbc node start`` subprocess on a home, restartable on the same ports."""

    home: Path
    rpc_port: int = field(default_factory=free_port)
    ws_port: int = field(default_factory=free_port)
    extra: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def socket(self) -> Path:
        return self.home / "run" / "node.sock"

    @property
    def pid_file(self) -> Path:
        return self.home / "run" / "node.pid"

    @property
    def output_file(self) -> Path:
        return self.home.parent / "node-output.txt"

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.rpc_port}"

    @property
    def ws_url(self) -> str:
        return f"http://127.0.0.1:{self.ws_port}"

    def command(self, *extra: str) -> list[str]:
        return aitbc_command("node", "start", "--home", str(self.home), "--rpc-port", str(self.rpc_port),
                             "--ws-port", str(self.ws_port), *self.extra, *extra)

    def start(self, *extra: str, wait: bool = True) -> NodeProcess:
        """Start the daemon (stdout and stderr appended to a file, so it never blocks on a pipe)."""
        assert self.proc is None or self.proc.poll() is not None, "node is already running"
        with open(self.output_file, "ab") as out:
            out.write(f"--- start {self.starts} ---\n".encode())
            out.flush()
            self.proc = subprocess.Popen(self.command(*extra), env=hermetic_env(), cwd=REPO,
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        self.starts += 1
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"node exited with {self.proc.returncode}: {self.output()[-3000:]}")
            if self.socket.exists():
                try:
                    with DaemonClient(self.socket, timeout=5) as raw, self.client(timeout=5) as client:
                        assert raw.get("/health")["status"] == "ok"
                        client.status()
                    return
                except DaemonError:
                    pass
            time.sleep(0.05)
        raise AssertionError(f"node did not become ready: {self.output()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int | None:
        """Signal the node and wait; kill it when it does not exit in time. The exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.proc.returncode

    def kill(self) -> int | None:
        return self.stop(signal.SIGKILL)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        try:
            return self.output_file.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def client(self, timeout: float = 30) -> NodeClient:
        """Operator door: the Unix socket."""
        return NodeClient(self.socket, timeout=timeout)

    def tcp_client(self, timeout: float = 30) -> NodeClient:
        """Public door: the RPC port."""
        return NodeClient(self.rpc_url, timeout=timeout)

    def wait_height(self, height: int, timeout: float = 60) -> int:
        """Wait until the chain reaches ``height``; the height reached."""
        deadline = time.monotonic() + timeout
        with self.client() as client:
            while True:
                current = int(client.status()["height"])
                if current >= height:
                    return current
                if time.monotonic() > deadline:
                    raise AssertionError(f"chain stuck at height {current}, waited for {height}")
                time.sleep(0.05)


def wait_for_event(stream: Any, topic: str, timeout: float = 30) -> tuple[dict[str, Any], list[Any]]:
    """Read ``stream`` until an event on ``topic``; its data and every event seen before it."""
    deadline = time.monotonic() + timeout
    seen: list[Any] = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {topic} event within {timeout}s; saw {[e.topic for e in seen]}")
        event = stream.receive(timeout=left)
        if event.topic == topic:
            return event.data, seen
        seen.append(event)
