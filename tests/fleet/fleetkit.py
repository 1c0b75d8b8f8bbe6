"""Real OpenSSH servers for the fleet tests: one ``sshd`` per rig on its own loopback port.

Each server has its own temporary host key, accepts one client key (made once per test session)
from an ``authorized_keys`` under its own directory, runs as the current user (root in CI:
``UsePAM no``, ``StrictModes no``), and hands its sessions the test's environment through
``SetEnv`` (this checkout on ``PYTHONPATH``, no downloads), so a rig's ``python3 -m ...`` runs the
code under test. Stopping a server ends its listener *and* its per-connection children (sshd
puts each in its own session, so they are found by parent pid), which is what a rig whose sshd
died looks like to the operator's master connection.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from testkit import REPO, aitbc_command, free_port, hermetic_env, short_root, wait_for

SSHD = "/usr/sbin/sshd"
HAVE_SSH = Path(SSHD).exists() and shutil.which("ssh") is not None and shutil.which("ssh-keygen") is not None
needs_sshd = pytest.mark.skipif(not HAVE_SSH, reason="openssh-server is not installed (apt-get install openssh-server)")
PYTHON = sys.executable
"""The rigs' Python: this interpreter, which has AITBC's dependencies; SetEnv points it at this checkout."""


def keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "aitbc-test", "-f", str(path)],
                   check=True, stdin=subprocess.DEVNULL)
    return path


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


@dataclass
class Sshd:
    """One sshd on 127.0.0.1:``port``; ``start``/``stop`` may be called again (same port, same key
    unless ``new_host_key``)."""

    root: Path
    client_key: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    checkout: bool = True
    """Sessions import this checkout (PYTHONPATH); False for an account that must use what was
    installed in it (provisioning)."""
    bin_dir: Path | None = None
    """A folder put first on the sessions' PATH (a rig whose OS has a :func:`fake_systemctl`)."""
    mounts: tuple[tuple[Path, Path], ...] = ()
    """(folder, path) pairs: sshd runs in a mount namespace of its own where each folder is bound
    over its path, so the rig's sessions write e.g. /etc/systemd/system into a test folder (root
    only: :func:`can_mount`)."""

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.host_key = self.root / "host_ed25519"
        if not self.host_key.exists():
            keygen(self.host_key)
        shutil.copy(f"{self.client_key}.pub", self.root / "authorized_keys")
        self.config = self.root / "sshd_config"
        env = ("HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1"
               + (f" PYTHONPATH={REPO}" if self.checkout else "")
               + (f" PATH={self.bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}" if self.bin_dir else ""))
        self.config.write_text("\n".join([
            f"ListenAddress 127.0.0.1:{self.port}", f"HostKey {self.host_key}", "UsePAM no", "StrictModes no",
            f"AuthorizedKeysFile {self.root / 'authorized_keys'}", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "PermitRootLogin prohibit-password", f"PidFile {self.root / 'sshd.pid'}",
            "AllowTcpForwarding yes", "AllowStreamLocalForwarding yes", "MaxSessions 100", "MaxStartups 200",
            f"SetEnv {env}", "LogLevel ERROR", ""]))

    @property
    def url(self) -> str:
        return f"ssh://{os.environ.get('USER') or 'root'}@127.0.0.1:{self.port}"

    @property
    def public_host_key(self) -> str:
        return " ".join(Path(f"{self.host_key}.pub").read_text().split()[:2])

    def new_host_key(self) -> None:
        for path in (self.host_key, Path(f"{self.host_key}.pub")):
            path.unlink()
        keygen(self.host_key)

    def start(self) -> Sshd:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        log = open(self.root / "sshd.log", "ab")
        argv = [SSHD, "-D", "-f", str(self.config), "-e"]
        if self.mounts:  # unshare and sh exec in turn: the pid stays sshd's
            binds = "".join(f"mount --bind {shlex.quote(str(a))} {shlex.quote(str(b))} && " for a, b in self.mounts)
            argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", f'{binds}exec "$@"', "sh", *argv]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()

        def listening() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"sshd exited: {(self.root / 'sshd.log').read_text()}")
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", self.port)) == 0
        wait_for(listening, f"sshd on port {self.port}", timeout=30)
        return self

    def stop(self) -> None:
        if self.proc is None:
            return
        sessions = _children(self.proc.pid)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for pid in sessions:
            for child in _children(pid):
                _kill(child)
            _kill(pid)
        self.proc = None


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass


def wait_gone(pid: int, timeout: float = 10) -> None:
    """Until ``pid`` has exited (a zombie nobody reaped yet counts as exited); a bound, not a check."""
    def gone() -> bool:
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] == "Z"
        except OSError:
            return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not gone():
        time.sleep(0.05)


FAKE_SYSTEMCTL = """#!/bin/sh
# The test rig's service manager: a real program on the far side of SSH that records each call in
# ./calls, knows the units listed in ./units (LoadState), and fails while ./fail exists. Its
# system state is ./state ("running"), else "offline", what systemctl says where PID 1 is not systemd.
here=$(dirname "$0")
printf '%s\\n' "$*" >> "$here/calls"
if [ "$1" = is-system-running ]; then
    if [ -e "$here/state" ]; then cat "$here/state"; exit 0; fi
    echo offline; exit 1
fi
if [ "$1" = show ]; then
    for unit; do :; done
    if grep -qx "$unit" "$here/units" 2>/dev/null; then echo loaded; else echo not-found; fi
    exit 0
fi
if [ -e "$here/fail" ]; then
    echo "Job for $(echo "$*" | awk '{print $NF}') failed because the control process exited with error code." >&2
    exit 1
fi
"""


def fake_systemctl(bin_dir: Path) -> Path:
    """``bin_dir/systemctl``: a stand-in for systemd (the test machine has no systemd as PID 1) that
    answers ``show --property=LoadState`` from ``bin_dir/units`` and records every call in
    ``bin_dir/calls``, so a test sees the exact command lines a rig's agent chose."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / "systemctl"
    path.write_text(FAKE_SYSTEMCTL)
    path.chmod(0o755)
    return path


def can_mount() -> bool:
    """Whether :attr:`Sshd.mounts` can be used here (root, with ``unshare``)."""
    return os.geteuid() == 0 and shutil.which("unshare") is not None


def rig_root() -> Path:
    return short_root("aitbc-fl-")


@dataclass
class FleetEnv:
    root: Path
    home: Path
    client_key: Path
    sshd: dict[str, Sshd]
    rig_homes: dict[str, Path]

    def aitbc(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        """``aitbc ARGS --home HOME`` (the operator's machine), as a program."""
        return subprocess.run(aitbc_command(*args), env=hermetic_env(AITBC_HOME=str(self.home)), capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def wheelhouse(extra: str = "cpu") -> Path:
    """Wheels of every distribution ``aitbc[extra]`` needs, rebuilt from this environment's installed
    files (``rigs_provision.wheel_from_installed``): what a rig without Internet installs from, so
    provisioning in the tests downloads nothing. Built once per environment and kept in /tmp."""
    import hashlib
    from importlib import metadata

    from packaging.requirements import Requirement

    from daemons.ops.rigs_provision import MODEL_DIST, wheel_from_installed

    wanted: dict[str, metadata.Distribution] = {}
    todo = [(Requirement(f"aitbc[{extra}]"), {extra})]
    while todo:
        req, extras = todo.pop()
        dist = metadata.distribution(req.name)
        for text in dist.requires or []:
            sub = Requirement(text)
            if sub.marker is not None and not any(sub.marker.evaluate({"extra": e}) for e in (extras or {""})):
                continue
            name = sub.name.lower().replace("_", "-")
            if name not in wanted and name != "aitbc":
                wanted[name] = metadata.distribution(sub.name)
                todo.append((sub, set(sub.extras)))
    wanted.pop(MODEL_DIST, None)
    stamp = hashlib.sha256(" ".join(sorted(f"{n}=={d.version}" for n, d in wanted.items())).encode()).hexdigest()[:12]
    folder = Path(f"/tmp/aitbc-fleet-wheelhouse-{stamp}")
    if (folder / "complete").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    for dist in wanted.values():
        wheel_from_installed(dist.metadata["Name"], folder)
    (folder / "complete").write_text("\n".join(sorted(wanted)) + "\n")
    return folder
