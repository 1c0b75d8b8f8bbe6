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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netkit import Host
from testkit import REPO, NodeDaemon, aitbc_command, free_ports, hermetic_env, temp_root

from chain import crypto
from chain.params import ChainParams
from chain.tx import Transaction, make_tx
from daemons.common.daemon_key import update_config
from daemons.common.home import Home
from daemons.node.init import init_validator_network

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


@contextmanager
def solo_validator(prefix: str, *, fund: dict[str, int] | None = None, config: dict[str, Any] | None = None,
                   params: ChainParams | None = None) -> Iterator[NodeDaemon]:
    """A running chain of one validator (bft mode, 0.2 s blocks unless ``params`` say otherwise)
    in a fresh temp root, stopped on exit; ``config`` is written to the node's config before it
    starts (its public limits)."""
    with temp_root(prefix) as root:
        home = Home.resolve(root / "v")
        rpc, ws = free_ports(2)
        init_validator_network([home], [rpc], [ws], fund=fund, params=params or ChainParams(block_time_ms=200))
        if config:
            update_config(home, "node", config)
        node = NodeDaemon(home=home.root, rpc_port=rpc, ws_port=ws)
        node.start()
        try:
            yield node
        finally:
            node.stop()


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


@dataclass(kw_only=True)
class NetNode(NodeDaemon):
    """A node daemon run inside a lab host's network namespace (``tests/netkit.py``); the test
    still talks to it through its operator socket."""

    host: Host = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        super().__post_init__()
        self.output_file = self.home.parent / f"{self.home.name}-output.txt"  # homes share a parent

    def argv(self, *extra: str) -> list[str]:
        return self.host.command(*super().argv(*extra))
