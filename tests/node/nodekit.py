"""Helpers for the node tests: known test accounts, and the real node daemon as a subprocess.

Imported as a plain module (the root ``conftest.py`` puts this directory on ``sys.path``). Nodes
start exactly as an operator starts them: ``aitbc node init`` then ``aitbc node start``, with this
interpreter; the process plumbing (hermetic env, start, wait, stop) is ``testkit``'s.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testkit import REPO, Daemon, aitbc_command, free_port, hermetic_env

from chain import crypto
from chain.tx import Transaction, make_tx
from daemons.common.client import DaemonClient
from daemons.node.client import NodeClient

UNIT = 10**6
CHAIN_ID = "aitbc-dev"
MIN_FEE = 10


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


@dataclass(kw_only=True)
class NodeProcess(Daemon):
    """One ``aitbc node start`` subprocess on a home, restartable on the same ports; ``extra`` are
    arguments of every start (a test may change them between starts)."""

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

    def argv(self, *extra: str) -> list[str]:
        return aitbc_command("node", "start", "--home", str(self.home), "--rpc-port", str(self.rpc_port),
                             "--ws-port", str(self.ws_port), *self.extra, *extra)

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
