"""Helpers of the miner daemon tests: a miner home made with the real CLI, the miner daemon as a
subprocess, and waiting on its operator socket.

Each miner process loads the real SmolLM2 model when compute is enabled (tens of seconds on a
small, busy CPU), so the end-to-end module starts one miner and restarts it once; the other
tests run miners that load nothing (compute disabled, or a model that is not installed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from coordkit import run_cli, spawn
from testkit import Daemon, free_port, hermetic_env, wait_for

from daemons.common.home import Home
from daemons.miner.client import MinerClient
from daemons.miner.models import MinerHealth, MinerStatus

LOAD_S = 280
"""Bound on waiting for a model load: never a performance assertion, only against hangs."""


@dataclass
class Miner:
    """One miner home and (while started) its daemon process."""

    home: Home
    address: str
    port: int
    log_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    proc: Daemon | None = None
    procs: list[Daemon] = field(default_factory=list)

    @classmethod
    def init(cls, root: Path, *args: str) -> Miner:
        """``aitbc miner init --home ROOT/miner ARGS --json``, as an operator would run it."""
        home = Home(root=root / "miner")
        done = run_cli("miner", "init", "--home", str(home.root), *args, "--json")
        assert done.returncode == 0, done.stderr
        address = json.loads(done.stdout)["address"]
        return cls(home=home, address=address, port=free_port(), log_dir=root)

    def client(self, timeout: float = 30) -> MinerClient:
        return MinerClient(self.home.socket("miner"), timeout=timeout)

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self, **env: str) -> Daemon:
        """Start the daemon; returns once its operator socket answers /health (ready or not)."""
        full = hermetic_env(**{**self.env, **env})
        proc = spawn("miner", ["miner", "start", "--home", str(self.home.root), "--port", str(self.port)], full,
                     self.log_dir)
        self.proc = proc
        self.procs.append(proc)

        def answering() -> bool:
            with self.client(timeout=5) as c:
                c.health()
            return True

        proc.wait_until(answering, "the miner's socket")
        return proc

    def health(self) -> MinerHealth:
        with self.client() as c:
            return c.health()

    def status(self) -> MinerStatus:
        with self.client() as c:
            return c.status()

    def wait_ready(self, timeout: float = LOAD_S) -> MinerHealth:
        def ready() -> MinerHealth | None:
            health = self.health()
            return health if health.ready else None

        assert self.proc is not None, "the miner was never started"
        return self.proc.wait_until(ready, "the miner to be ready (model loaded, registered, bonded)", timeout,
                                    interval=0.1)

    def wait_task_state(self, task_id: str, states: tuple[str, ...], timeout: float = 60) -> Any:
        def seen() -> Any:
            for task in self.status().tasks:
                if task.task_id == task_id and task.state in states:
                    return task
            return None

        return wait_for(seen, f"task {task_id} to be {'/'.join(states)} on the miner", timeout, interval=0.02)

    def journal(self) -> dict[str, Any]:
        path = self.home.data_dir / "miner-tasks.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"entries": []}

    def public_get(self, path: str) -> httpx.Response:
        return httpx.get(self.url(path), timeout=30)

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        code = self.proc.stop()
        self.proc = None
        return code

    def logs(self) -> str:
        return "\n".join(f"== miner ==\n{p.output()[-6000:]}" for p in self.procs)


def wait_exit(proc: Daemon, timeout: float = 60) -> int:
    return proc.wait_exit(timeout)
