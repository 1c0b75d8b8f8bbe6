"""Helpers for the daemon-spine tests: hermetic env, real example-daemon subprocesses.

Imported as a plain module (``conftest.py`` puts this directory on ``sys.path``), so it works
under any pytest import mode.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from daemons.common.client import DaemonClient, DaemonError
from daemons.common.home import Home

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = Path(__file__).with_name("example_daemon.py")
BARE_ENV = ("DATABASE_URL", "LOG_LEVEL", "BLOCK_TIME", "CONSENSUS_MODE", "VALIDATOR_ADDRESS",
            "API_HOST", "API_PORT", "XDG_RUNTIME_DIR")
READY_TIMEOUT_S = 30  # a generous bound against hangs, never a performance assertion


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Daemon:
    """One example daemon subprocess on its own home."""

    home: Home
    proc: subprocess.Popen[bytes]
    port: int
    env: dict[str, str] = field(default_factory=dict)

    @property
    def socket(self) -> Path:
        return self.home.socket("example")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def operator(self) -> DaemonClient:
        return DaemonClient(self.socket, timeout=10)

    def public(self, api_key: str | None = None) -> DaemonClient:
        return DaemonClient(self.url, api_key=api_key, timeout=10, name="example")

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited with {self.proc.returncode}: {self.stderr()[-2000:]}")
            if self.socket.exists():
                try:
                    with self.operator() as client:
                        client.get("/health")
                    return
                except DaemonError:
                    pass
            time.sleep(0.05)
        raise AssertionError("daemon did not become ready")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=READY_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.proc.returncode

    @property
    def stderr_path(self) -> Path:
        return self.home.root.parent / f"stderr-{self.proc.pid}.txt"

    def stderr(self) -> str:
        """What the daemon wrote to stderr (a file, so a chatty daemon never blocks on a pipe)."""
        return self.stderr_path.read_text(encoding="utf-8")


def hermetic_env(**extra: str) -> dict[str, str]:
    """os.environ without AITBC_* and the bare settings names, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AITBC_") and k not in BARE_ENV}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


def run_example(home: Home, *args: str, env: dict[str, str] | None = None,
                wait: bool = True) -> Daemon:
    """Start tests/common/example_daemon.py as a real subprocess on ``home``."""
    full_env = hermetic_env(**{"API_PORT": str(free_port()), **(env or {})})
    port = int(full_env["API_PORT"])
    home.root.parent.mkdir(parents=True, exist_ok=True)
    err_file = tempfile.NamedTemporaryFile("wb", dir=home.root.parent, delete=False)
    proc = subprocess.Popen([sys.executable, str(EXAMPLE), "--home", str(home.root), *args],
                            env=full_env, cwd=REPO, stdin=subprocess.DEVNULL,
                            stdout=err_file, stderr=err_file)
    err_file.close()
    os.rename(err_file.name, home.root.parent / f"stderr-{proc.pid}.txt")
    daemon = Daemon(home=home, proc=proc, port=port, env=full_env)
    if wait:
        daemon.wait_ready()
    return daemon
