"""Helpers for the TUI tests: real daemons as subprocesses, and reading the screen as text.

Imported as a plain module (the root ``conftest.py`` puts this directory on ``sys.path``); the
process plumbing is ``testkit``'s. Daemons are started exactly as an operator starts them (``aitbc node init`` / ``aitbc node start`` /
``aitbc wallet start``) on a short home under /tmp (AF_UNIX paths are limited to 107 bytes).
Timeouts here only guard against hangs; no test asserts on how long something took.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testkit import REPO, Daemon, ThreadedMiner, aitbc_command, free_port, hermetic_env, service_daemon
from textual.app import App
from textual.pilot import Pilot

from chain import crypto
from daemons.common.errors import DaemonError

UNIT = 10**6


# -- accounts -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    """A key whose seed the test knows (to import it into the wallet daemon)."""

    seed: bytes

    @property
    def address(self) -> str:
        return crypto.address_from_pubkey(crypto.pubkey_from_seed(self.seed))

    @property
    def private_key(self) -> str:
        return self.seed.hex()


def account(index: int) -> Account:
    return Account(hashlib.sha256(f"aitbc-tui-test/{index}".encode()).digest())


# -- processes ------------------------------------------------------------------------------------


def run_aitbc(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(aitbc_command(*args), env=hermetic_env(), cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise AssertionError(f"aitbc {' '.join(args)} failed ({done.returncode}): {done.stderr}")
    return done


def init_node(home: Path, *, block_time: float = 0.2, funded: dict[str, int] | None = None,
              extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """``aitbc node init`` (funding each address with AMOUNT units); its ``--json`` answer."""
    args = ["node", "init", "--home", str(home), "--block-time", str(block_time), "--json", *extra]
    for address, amount in (funded or {}).items():
        args += ["--fund", f"{address}={amount}u"]
    return json.loads(run_aitbc(*args).stdout)


def node_daemon(home: Path) -> Daemon:
    return service_daemon("node", home, "--rpc-port", str(free_port()), "--ws-port", str(free_port()))


def wallet_daemon(home: Path) -> Daemon:
    """Tiny scrypt cost for speed (never do that with real funds)."""
    return service_daemon("wallet", home, "--scrypt-n", "16", "--idle-lock", "600")


@dataclass
class NodeAndWallet:
    """A home whose node and wallet daemons run (``node_and_wallet``); a test's network extends it."""

    home: Path
    node: Daemon
    wallet: Daemon


@contextmanager
def node_and_wallet(home: Path, funded: dict[str, int], *, params: dict[str, Any] | None = None,
                    extra: tuple[str, ...] = ()) -> Iterator[NodeAndWallet]:
    """``init_node`` on ``home`` (block time 0.2 s; genesis ``params`` overridden where a test needs,
    say, a short voting period), then its node and wallet daemons, both stopped when the block ends
    (also when a test's setup inside it fails, so that no daemon outlives the module)."""
    init_node(home, funded=funded, extra=extra)
    if params:
        genesis = json.loads((home / "genesis.json").read_text())
        genesis["params"].update(params)
        (home / "genesis.json").write_text(json.dumps(genesis))
    with ExitStack() as running:
        node = node_daemon(home).start()
        running.callback(node.stop)
        wallet = wallet_daemon(home).start()
        running.callback(wallet.stop)
        yield NodeAndWallet(home, node, wallet)


# -- the screen ----------------------------------------------------------------------------------


def screen_text(app: App[Any]) -> str:
    """The whole visible screen (modals included) as text, one line per terminal row."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def wait_for(pilot: Pilot[Any], predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Let the app run until ``predicate()`` holds; fail with the screen's text otherwise."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; screen:\n{screen_text(pilot.app)}")
        await pilot.pause(0.05)


async def wait_text(pilot: Pilot[Any], text: str, timeout: float = 30.0) -> None:
    await wait_for(pilot, lambda: text in screen_text(pilot.app), repr(text), timeout)


def notifications(app: App[Any]) -> list[str]:
    """Messages of the notifications (toasts) currently raised by the app."""
    return [f"{n.title}: {n.message}" for n in app._notifications]


async def wait_notified(pilot: Pilot[Any], text: str, timeout: float = 30.0) -> None:
    await wait_for(pilot, lambda: any(text in n for n in notifications(pilot.app)),
                   f"a notification with {text!r} (have {notifications(pilot.app)})", timeout)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


Scenario = Callable[[Any, Pilot[Any]], Awaitable[None]]
"""What a test does with the running app: ``scenario(app, pilot)``."""


def drive(app: Path | Callable[[], App[Any]], scenario: Scenario, size: tuple[int, int] = (120, 36)) -> None:
    """Run the TUI headless at ``size`` and drive it with ``scenario(app, pilot)``: the one way these
    tests start the app. ``app`` is a home (the operator's app on it, its settings not saved) or a
    function that makes a particular app; either is made inside the event loop, as Textual expects."""
    from aitbc_tui.app import AitbcApp
    from daemons.common.home import Home

    async def go() -> None:
        made = AitbcApp(Home(root=app), save_settings=False) if isinstance(app, Path) else app()
        async with made.run_test(size=size) as pilot:
            await scenario(made, pilot)

    asyncio.run(go())


# -- coordinator network --------------------------------------------------------------------------

# Short coordinator intervals so that a job's life cycle takes seconds (same knobs as its own tests).
FAST_COORDINATOR = {
    "AITBC_SETTLE_INTERVAL": "0.3", "AITBC_HEARTBEAT_TIMEOUT": "3", "AITBC_HEARTBEAT_INTERVAL": "0.3",
    "AITBC_REAP_INTERVAL": "0.2", "AITBC_BOND_REFRESH": "0.3", "AITBC_ESCROW_CACHE": "0",
    "AITBC_RECHECK_RATE": "0", "AITBC_COMMIT_TIMEOUT": "10",
}
MODEL = "echo-1"
MODEL_ID = hashlib.sha256(b"echo-1 weights").hexdigest()


def coordinator_daemon(home: Path) -> Daemon:
    return service_daemon("coordinator", home, "--no-tcp", env=FAST_COORDINATOR)


def init_coordinator_home(home: Path) -> str:
    """``aitbc coordinator init``; the coordinator's chain address."""
    return json.loads(run_aitbc("coordinator", "init", "--home", str(home), "--json").stdout)["address"]


def signed_tx(node_socket: Path, who: Account, tx_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Sign with a test key and wait until the transaction is final (test setup, not the TUI)."""
    from chain.tx import make_tx
    from daemons.node.client import NodeClient

    with NodeClient(node_socket, timeout=30) as node:
        chain_id = node.status()["chain_id"]
        nonce = node.get_account(who.address)["pending_nonce"]
        return node.broadcast_tx(make_tx(who.seed, chain_id, tx_type, nonce, 10, payload), mode="commit")


class ScriptedMiner(ThreadedMiner):
    """A scripted miner (see ``testkit.ThreadedMiner``) that answers with real signed proofs through
    the coordinator's operator socket (acting for its address).
    Its "model" reverses the prompt's words, deterministically."""

    def __init__(self, socket_path: Path, who: Account, chain_id: str) -> None:
        import threading

        super().__init__()
        self.socket_path, self.who, self.chain_id = socket_path, who, chain_id
        self.hold = threading.Event()
        """While set, tasks are taken but not answered (a job stays running, so it can be cancelled)."""

    def client(self) -> Any:
        from daemons.coordinator.client import CoordinatorClient

        return CoordinatorClient(self.socket_path, address=self.who.address, timeout=30)

    def registration(self) -> dict[str, Any]:
        return {"address": self.who.address, "pubkey": crypto.pubkey_from_seed(self.who.seed).hex(),
                "models": [{"name": MODEL, "model_id": MODEL_ID}], "capacity": self.capacity,
                "price_per_1k_tokens": 1000, "gpus": []}

    def handle(self, client: Any, task: Any) -> None:
        from chain.receipt import ProofBody, sign_proof
        from chain.receipt_verify import params_hash, text_hash

        if self.hold.is_set():
            return
        output = " ".join(reversed(task.prompt.split()))
        tokens_in, tokens_out = len(task.prompt.split()), len(output.split())
        proof = sign_proof(ProofBody(
            chain_id=self.chain_id, job_id=task.job_id, coordinator=self.coordinator_address,
            miner=self.who.address, model=task.model,
            model_id=MODEL_ID, params_hash=params_hash(task.params), prompt_hash=text_hash(task.prompt),
            output_hash=text_hash(output), prompt_tokens=tokens_in, completion_tokens=tokens_out),
            self.who.seed)
        try:
            client.result(task.task_id, {"output": output, "prompt_tokens": tokens_in,
                                         "completion_tokens": tokens_out, "proof": proof.model_dump()})
        except DaemonError as exc:
            self.errors.append(exc.message)


def init_miner_home(home: Path, *, compute: bool = False) -> str:
    """``aitbc miner init`` (telemetry only unless ``compute``); the miner's address."""
    args = ["miner", "init", "--home", str(home), "--stake", "0", "--json"]
    if not compute:
        args.append("--no-compute")
    return json.loads(run_aitbc(*args).stdout)["address"]


def miner_daemon(home: Path, telemetry_interval: float = 0.3) -> Daemon:
    return service_daemon("miner", home, "--no-tcp", env={"AITBC_TELEMETRY_INTERVAL": str(telemetry_interval)})
