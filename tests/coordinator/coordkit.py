"""Helpers of the coordinator tests: a real node and coordinator(s) as subprocesses, funded
accounts, on-chain escrow and bonds, and scripted miners.

Scripted miners are plain Python clients (threads in the test process) that register,
heartbeat, long-poll and answer with proofs signed by ``chain.receipt.sign_proof``. Their
"model" is a deterministic function of the prompt, so an honest re-check can recompute it and a
cheating miner's output is refuted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from testkit import REPO, Daemon, ThreadedMiner, free_port, hermetic_env, short_root, wait_for

from chain import crypto
from chain.encoding import sha256
from chain.params import UNIT, ChainParams
from chain.receipt import MinerProof, ProofBody, sign_proof
from chain.receipt_verify import params_hash, text_hash
from chain.tx import make_tx
from chain.verdict import sign_verdict, verdict_about
from daemons.common.errors import DaemonError
from daemons.common.home import Home
from daemons.coordinator.client import CoordinatorClient
from daemons.coordinator.init import init_coordinator
from daemons.node.client import NodeClient
from daemons.node.init import init_node

AITBC = Path(sys.executable).parent / "aitbc"
READY_S = 60
"""Bound against hangs while waiting for a daemon or a state; never a performance assertion."""
MODEL = "echo-1"
MODEL_ID = sha256(b"echo-1 weights").hex()
MINER_BOND = 1000 * UNIT
FEE = 10

# Coordinator settings for tests: short intervals so that the life cycle runs in seconds.
FAST = {
    "AITBC_SETTLE_INTERVAL": "0.3", "AITBC_HEARTBEAT_TIMEOUT": "2", "AITBC_HEARTBEAT_INTERVAL": "0.3",
    "AITBC_REAP_INTERVAL": "0.2", "AITBC_BOND_REFRESH": "0.3", "AITBC_ESCROW_CACHE": "0",
    "AITBC_RECHECK_RATE": "0", "AITBC_COMMIT_TIMEOUT": "10",
}


@dataclass
class Account:
    seed: bytes
    address: str

    @classmethod
    def new(cls, containing: str = "") -> Account:
        """A fresh account; with ``containing``, one whose address has that text in it (about a
        hundred tries for three hex digits), for tests of code that must not read messages."""
        while True:
            seed = crypto.generate_seed()
            account = cls(seed, crypto.address_from_pubkey(crypto.pubkey_from_seed(seed)))
            if containing in account.address[2:]:
                return account

    @property
    def pubkey(self) -> str:
        return crypto.pubkey_from_seed(self.seed).hex()


def spawn(name: str, args: list[str], env: dict[str, str], log_dir: Path) -> Daemon:
    """``aitbc ARGS`` started (not waited on), its output in a file of its own under ``log_dir``."""
    return Daemon(name=name, command=[str(AITBC), *args], env=env,
                  output_file=log_dir / f"{name}-{time.monotonic_ns()}.log").start(wait=False)


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(AITBC), *args], env=env or hermetic_env(), cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


@dataclass
class Network:
    """One node and one or more coordinators sharing the node's home (the first coordinator)."""

    root: Path
    home: Home
    coordinator_address: str
    chain_id: str
    rpc_port: int
    accounts: dict[str, Account]
    procs: list[Daemon] = field(default_factory=list)
    coordinators: list[tuple[Home, int]] = field(default_factory=list)

    # -- clients ----------------------------------------------------------------------------------

    def node(self) -> NodeClient:
        return NodeClient(self.home.socket("node"), timeout=30)

    def operator(self, index: int = 0, address: str | None = None) -> CoordinatorClient:
        home, _ = self.coordinators[index]
        return CoordinatorClient(home.socket("coordinator"), address=address, timeout=30)

    def url(self, index: int = 0) -> str:
        return f"http://127.0.0.1:{self.coordinators[index][1]}"

    def public(self, api_key: str | None, index: int = 0) -> CoordinatorClient:
        return CoordinatorClient(self.url(index), api_key=api_key, timeout=30)

    def api_key(self, role: str, address: str) -> str:
        with self.operator() as op:
            return op.create_key(role, address, f"test {role}").api_key

    # -- chain ------------------------------------------------------------------------------------

    def send(self, account: Account, tx_type: str, payload: dict[str, Any]) -> dict[str, Any]:
        with self.node() as node:
            nonce = node.get_account(account.address)["pending_nonce"]
            tx = make_tx(account.seed, self.chain_id, tx_type, nonce, FEE, payload)
            return node.broadcast_tx(tx, mode="commit", timeout_s=30)

    def escrow(self, client: Account, amount: int) -> None:
        self.send(client, "escrow_deposit", {"coordinator": self.coordinator_address, "amount": amount})

    def bond(self, miner: Account, amount: int = MINER_BOND) -> None:
        self.send(miner, "miner_bond", {"amount": amount})

    def account(self, address: str) -> dict[str, Any]:
        with self.node() as node:
            return node.get_account(address)

    def escrow_balance(self, client: str) -> int:
        return sum(e["balance"] for e in self.account(client)["escrows"] if e["coordinator"] == self.coordinator_address)

    # -- processes -------------------------------------------------------------------------------

    def start_node(self) -> None:
        env = hermetic_env()
        proc = spawn("node", ["node", "start", "--home", str(self.home.root), "--rpc-port", str(self.rpc_port),
                              "--ws-port", "0"], env, self.root)
        self.procs.append(proc)

        def ready() -> bool:
            with self.node() as node:
                return node.status()["height"] >= 1

        proc.wait_until(ready, "the node", READY_S)

    def start_coordinator(self, home: Home | None = None, env: dict[str, str] | None = None) -> int:
        """Start a coordinator on ``home`` (default: the node's home); returns its index."""
        home = home or self.home
        port = free_port()
        full_env = hermetic_env(**{"API_PORT": str(port), **FAST, **(env or {})})
        proc = spawn("coordinator", ["coordinator", "start", "--home", str(home.root)], full_env, self.root)
        self.procs.append(proc)
        self.coordinators.append((home, port))
        index = len(self.coordinators) - 1

        def ready() -> bool:
            with self.operator(index) as op:
                op.status()
            return True

        proc.wait_until(ready, "the coordinator", READY_S)
        return index

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()

    def logs(self) -> str:
        return "\n".join(f"== {p.name} ==\n{p.output()[-4000:]}" for p in self.procs)


def make_network(names: list[str], *, balance: int = 10_000 * UNIT, params: ChainParams | None = None,
                 coordinator_via_cli: bool = False) -> Network:
    """Homes, keys and genesis (not started). ``names``: funded test accounts to create."""
    root = short_root("aitbc-co-")
    home = Home(root=root / "h")
    if coordinator_via_cli:
        done = run_cli("coordinator", "init", "--home", str(home.root), "--json")
        assert done.returncode == 0, done.stderr
        import json

        coordinator_address = json.loads(done.stdout)["address"]
    else:
        coordinator_address = init_coordinator(home, scrypt_n=1024).address
    accounts = {name: Account.new() for name in names}
    fund = {a.address: balance for a in accounts.values()}
    fund[coordinator_address] = 10 * UNIT  # transaction fees of settlements and slashes
    chain_params = params or ChainParams(block_time_ms=200)
    result = init_node(home, fund=fund, coordinators=[coordinator_address], params=chain_params, scrypt_n=1024)
    return Network(root=root, home=home, coordinator_address=coordinator_address,
                   chain_id=result.chain_id, rpc_port=free_port(), accounts=accounts)


def cleanup(net: Network) -> None:
    """Stop the daemons and remove the homes (kept, with the daemons' logs, when
    ``AITBC_TEST_KEEP`` is set: for debugging a failure)."""
    net.stop()
    if os.environ.get("AITBC_TEST_KEEP"):
        print(f"kept {net.root}")
        return
    shutil.rmtree(net.root, ignore_errors=True)


@contextmanager
def torn_down(net: Network) -> Iterator[Network]:
    """The body of a network fixture: when setting it up fails, print the daemons' logs (they say
    why); always stop the daemons and remove the homes afterwards (``cleanup``)."""
    try:
        yield net
    except BaseException:
        print(net.logs())
        raise
    finally:
        cleanup(net)


# -- scripted miners ----------------------------------------------------------------------------


def honest_output(prompt: str, params: dict[str, Any]) -> str:
    """The scripted "model": deterministic in the prompt and the parameters."""
    words = prompt.split()
    return " ".join(reversed(words))[: params.get("max_tokens", 128) * 8] + " [echo]"


def token_counts(prompt: str, output: str) -> tuple[int, int]:
    return len(prompt.split()), len(output.split())


Behaviour = Literal["honest", "cheat", "silent", "fail"]
_GPU = {"name": "test-gpu", "memory_total_mb": 24_000, "memory_free_mb": 20_000}


class ScriptedMiner(ThreadedMiner):
    """A scripted miner (see ``testkit.ThreadedMiner``) that answers every task it gets.

    ``honest``: right outputs and re-checks; ``cheat``: wrong outputs with valid signatures;
    ``silent``: takes tasks and never answers (and stops heart-beating once ``stop`` is called);
    ``fail``: reports every task as failed.
    """

    def __init__(self, net: Network, account: Account, api_key: str, *, behaviour: Behaviour = "honest",
                 price_per_1k: int = 1000, capacity: int = 2, coordinator: int = 0, model: str = MODEL,
                 model_id: str = MODEL_ID) -> None:
        super().__init__()
        self.net, self.account, self.api_key, self.behaviour = net, account, api_key, behaviour
        self.price_per_1k, self.capacity, self.coordinator = price_per_1k, capacity, coordinator
        self.model, self.model_id = model, model_id
        self.tasks: list[Any] = []
        self.answers: list[tuple[str, Any]] = []

    @property
    def address(self) -> str:
        return self.account.address

    def client(self) -> CoordinatorClient:
        return self.net.public(self.api_key, self.coordinator)

    def registration(self) -> dict[str, Any]:
        return {"address": self.address, "pubkey": self.account.pubkey,
                "models": [{"name": self.model, "model_id": self.model_id}], "capacity": self.capacity,
                "price_per_1k_tokens": self.price_per_1k, "gpus": [_GPU]}

    def heartbeat_report(self) -> tuple[list[str], dict[str, Any]]:
        return [t.task_id for t in self.tasks][-64:], {"gpus": [_GPU]}

    def handle(self, client: CoordinatorClient, task: Any) -> None:
        self.tasks.append(task)
        if self.behaviour == "silent":
            return
        try:
            reply = client.result(task.task_id, self.answer(task))
            self.answers.append((task.task_id, reply))
        except DaemonError as exc:
            self.errors.append(f"result {task.task_id}: {exc.message}")

    def answer(self, task: Any) -> dict[str, Any]:
        if self.behaviour == "fail":
            return {"error": "scripted failure"}
        if task.kind == "verify":
            expected = honest_output(task.prompt, task.params)
            ok = task.claimed_output == expected
            reason = "" if ok else "claimed output is not what the model produces"
            verdict = verdict_about(MinerProof.model_validate(task.claimed_proof).body, verifier=self.address,
                                    verdict="correct" if ok else "wrong", first_mismatch=None if ok else 0,
                                    reason=reason)
            return {"accepted": ok, "first_mismatch": None if ok else 0, "reason": reason,
                    "verdict": sign_verdict(verdict, self.account.seed).model_dump()}
        output = honest_output(task.prompt, task.params)
        if self.behaviour == "cheat":
            output = "cheap made-up answer"
        prompt_tokens, completion_tokens = token_counts(task.prompt, output)
        return {"output": output, "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                "proof": self.proof(task, output, prompt_tokens, completion_tokens).model_dump()}

    def proof(self, task: Any, output: str, prompt_tokens: int, completion_tokens: int, **override: Any) -> Any:
        body = {
            "chain_id": self.net.chain_id, "job_id": task.job_id, "coordinator": self.coordinator_address,
            "miner": self.address, "model": task.model,
            "model_id": self.model_id, "params_hash": params_hash(task.params), "prompt_hash": text_hash(task.prompt),
            "output_hash": text_hash(output), "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
        }
        body.update(override)
        return sign_proof(ProofBody(**body), self.account.seed)


def start_miner(net: Network, name: str, **kwargs: Any) -> ScriptedMiner:
    """Bond the funded account ``name``, give it a miner API key and start a scripted miner for it."""
    account = net.accounts[name]
    net.bond(account)
    return ScriptedMiner(net, account, net.api_key("miner", account.address), **kwargs).start()


def wait_job(client: CoordinatorClient, job_id: str, status: str | tuple[str, ...], timeout: float = READY_S) -> Any:
    wanted = (status,) if isinstance(status, str) else status
    return wait_for(lambda: (lambda j: j if j.status in wanted else None)(client.job(job_id)),
                    f"job {job_id} to be {'/'.join(wanted)}", timeout)
