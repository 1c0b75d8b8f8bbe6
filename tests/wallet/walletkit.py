"""Helpers for the wallet tests: real node and wallet daemons as subprocesses on a temp home.

Imported as a plain module (``conftest.py`` puts this directory on ``sys.path``), so it works
under any pytest import mode. Each daemon writes stdout/stderr to a file beside its home (never a
pipe, so a chatty daemon cannot block), which the secret-scanning tests read too.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from daemons.common.client import DaemonClient
from daemons.common.errors import DaemonError
from daemons.common.home import Home
from daemons.wallet.client import WalletClient

REPO = Path(__file__).resolve().parents[2]
BARE_ENV = ("DATABASE_URL", "LOG_LEVEL", "BLOCK_TIME", "CONSENSUS_MODE", "VALIDATOR_ADDRESS",
            "API_HOST", "API_PORT", "XDG_RUNTIME_DIR")
READY_TIMEOUT_S = 60  # a bound against hangs, never a performance assertion
TEST_SCRYPT_N = 2**10  # test-only KDF cost; the daemon's default is 2**17
PASSWORD = "Correct-Horse-93-battery"  # distinctive, so a scan of logs finds it if it leaked


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hermetic_env(**extra: str) -> dict[str, str]:
    """os.environ without AITBC_* and the bare settings names, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AITBC_") and k not in BARE_ENV}
    env["PYTHONPATH"] = str(REPO)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def cli(*args: str, env: dict[str, str] | None = None, input: str | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``aitbc ARGS`` in a subprocess, as an operator would."""
    proc = subprocess.run([sys.executable, "-m", "aitbc_tui.cli", *args], env=hermetic_env(**(env or {})),
                          cwd=REPO, input=input, capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"aitbc {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


@dataclass
class Proc:
    """One daemon subprocess."""

    name: str
    home: Home
    proc: subprocess.Popen[bytes]
    output: Path

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}: {self.text()[-3000:]}")
            if self.home.socket(self.name).exists():
                try:
                    with DaemonClient(self.home.socket(self.name), timeout=5) as client:
                        client.get("/health")
                    return
                except DaemonError:
                    pass
            time.sleep(0.05)
        raise AssertionError(f"{self.name} did not become ready: {self.text()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=READY_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.proc.returncode

    def text(self) -> str:
        return self.output.read_text(encoding="utf-8", errors="replace")


def spawn(name: str, home: Home, args: list[str], env: dict[str, str] | None = None, wait: bool = True) -> Proc:
    home.root.parent.mkdir(parents=True, exist_ok=True)
    output = home.root.parent / f"{home.root.name}-{name}-{time.monotonic_ns()}.out"
    with open(output, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "aitbc_tui.cli", name, "start", "--home", str(home.root), *args],
                                env=hermetic_env(**(env or {})), cwd=REPO, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT)
    daemon = Proc(name, home, proc, output)
    if wait:
        daemon.wait_ready()
    return daemon


def init_node(home: Home, fund: dict[str, str] | None = None, coordinators: tuple[str, ...] = ()) -> dict[str, str]:
    args = ["node", "init", "--home", str(home.root), "--block-time", "0.2", "--json"]
    for address, amount in (fund or {}).items():
        args += ["--fund", f"{address}={amount}"]
    for address in coordinators:
        args += ["--coordinator", address]
    return json.loads(cli(*args).stdout)


def start_node(home: Home) -> Proc:
    return spawn("node", home, ["--rpc-port", str(free_port()), "--ws-port", str(free_port())])


def start_wallet(home: Home, *args: str, env: dict[str, str] | None = None, wait: bool = True) -> Proc:
    """The wallet daemon with a cheap KDF and short brute-force delays (both configurable)."""
    settings_env = {"AITBC_UNLOCK_BACKOFF_S": "0.05", "AITBC_UNLOCK_BACKOFF_MAX_S": "0.4", **(env or {})}
    return spawn("wallet", home, ["--scrypt-n", str(TEST_SCRYPT_N), *args], env=settings_env, wait=wait)


def wallet_client(home: Home) -> WalletClient:
    return WalletClient.for_home(home, timeout=30)


def audit_events(home: Home, event: str | None = None) -> list[dict[str, object]]:
    path = home.audit_log
    if not path.exists():
        return []
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in records if r.get("service") == "wallet" and (event is None or r["event"] == event)]


def wait_until(predicate: object, what: str, timeout_s: float = 30.0) -> None:
    """Poll ``predicate`` (a callable) until true; a bound against hangs, not a timing assertion."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def all_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.is_socket()]
