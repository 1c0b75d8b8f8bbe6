"""Helpers for the wallet tests: real node and wallet daemons as subprocesses on a temp home.

Imported as a plain module (the root ``conftest.py`` puts this directory on ``sys.path``). Each
daemon writes stdout/stderr to a file beside its home (never a pipe, so a chatty daemon cannot
block), which the secret-scanning tests read too; the process plumbing is ``testkit``'s.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from testkit import REPO, Daemon, aitbc_command, free_port, hermetic_env, service_daemon

from daemons.common.home import Home
from daemons.wallet.client import WalletClient

TEST_SCRYPT_N = 2**10  # test-only KDF cost; the daemon's default is 2**17
PASSWORD = "Correct-Horse-93-battery"  # distinctive, so a scan of logs finds it if it leaked


def cli(*args: str, env: dict[str, str] | None = None, input: str | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``aitbc ARGS`` in a subprocess, as an operator would."""
    proc = subprocess.run(aitbc_command(*args), env=hermetic_env(**(env or {})),
                          cwd=REPO, input=input, capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"aitbc {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def spawn(name: str, home: Home, args: list[str], env: dict[str, str] | None = None, wait: bool = True) -> Daemon:
    """``aitbc NAME start`` on ``home``; its output goes to a file of its own beside the home."""
    output = home.root.parent / f"{home.root.name}-{name}-{time.monotonic_ns()}.out"
    return service_daemon(name, home.root, *args, env=env, output_file=output).start(wait=wait)


def init_node(home: Home, fund: dict[str, str] | None = None, coordinators: tuple[str, ...] = ()) -> dict[str, str]:
    args = ["node", "init", "--home", str(home.root), "--block-time", "0.2", "--json"]
    for address, amount in (fund or {}).items():
        args += ["--fund", f"{address}={amount}"]
    for address in coordinators:
        args += ["--coordinator", address]
    return json.loads(cli(*args).stdout)


def start_node(home: Home) -> Daemon:
    return spawn("node", home, ["--rpc-port", str(free_port()), "--ws-port", str(free_port())])


def start_wallet(home: Home, *args: str, env: dict[str, str] | None = None, wait: bool = True) -> Daemon:
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


def all_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.is_socket()]
