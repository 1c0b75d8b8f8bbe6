"""Helpers for the TUI tests: real daemons as subprocesses, and reading the screen as text.

Imported as a plain module (``conftest.py`` puts this directory on ``sys.path``). Daemons are
started exactly as an operator starts them (``aitbc node init`` / ``aitbc node start`` /
``aitbc wallet start``) on a short home under /tmp (AF_UNIX paths are limited to 107 bytes).
Timeouts here only guard against hangs; no test asserts on how long something took.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textual.app import App
from textual.pilot import Pilot

from chain import crypto
from daemons.common.client import DaemonClient
from daemons.common.errors import DaemonError

REPO = Path(__file__).resolve().parents[2]
BARE_ENV = ("DATABASE_URL", "LOG_LEVEL", "BLOCK_TIME", "CONSENSUS_MODE", "VALIDATOR_ADDRESS",
            "API_HOST", "API_PORT", "XDG_RUNTIME_DIR")
READY_TIMEOUT_S = 60.0
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hermetic_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AITBC_") and k not in BARE_ENV}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


def aitbc(*args: str) -> list[str]:
    return [sys.executable, "-m", "aitbc_tui.cli", *args]


def run_aitbc(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(aitbc(*args), env=hermetic_env(), cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise AssertionError(f"aitbc {' '.join(args)} failed ({done.returncode}): {done.stderr}")
    return done


def init_node(home: Path, *, block_time: float = 0.2, funded: dict[str, int] | None = None) -> dict[str, Any]:
    """``aitbc node init`` (funding each address with AMOUNT units); its ``--json`` answer."""
    args = ["node", "init", "--home", str(home), "--block-time", str(block_time), "--json"]
    for address, amount in (funded or {}).items():
        args += ["--fund", f"{address}={amount}u"]
    return json.loads(run_aitbc(*args).stdout)


@dataclass
class Daemon:
    """One daemon subprocess (``aitbc <service> start``), restartable with the same arguments."""

    service: str
    home: Path
    args: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def socket(self) -> Path:
        return self.home / "run" / f"{self.service}.sock"

    @property
    def output_file(self) -> Path:
        return self.home.parent / f"{self.service}-output.txt"

    def start(self, wait: bool = True) -> Daemon:
        assert self.proc is None or self.proc.poll() is not None, f"{self.service} is already running"
        with open(self.output_file, "ab") as out:
            self.proc = subprocess.Popen(aitbc(self.service, "start", "--home", str(self.home), *self.args),
                                         env=hermetic_env(), cwd=REPO, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=out)
        self.starts += 1
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.service} exited with {self.proc.returncode}: {self.output()[-3000:]}")
            if self.socket.exists():
                try:
                    with DaemonClient(self.socket, timeout=5) as client:
                        client.get("/health")
                    return
                except DaemonError:
                    pass
            time.sleep(0.05)
        raise AssertionError(f"{self.service} did not become ready: {self.output()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def output(self) -> str:
        try:
            return self.output_file.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""


def node_daemon(home: Path) -> Daemon:
    return Daemon("node", home, ("--rpc-port", str(free_port()), "--ws-port", str(free_port())))


def wallet_daemon(home: Path) -> Daemon:
    """Tiny scrypt cost for speed (never do that with real funds)."""
    return Daemon("wallet", home, ("--scrypt-n", "16", "--idle-lock", "600"))


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
