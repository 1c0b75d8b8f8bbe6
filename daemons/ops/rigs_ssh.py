"""SSH to a rig: pinned host keys, one ControlMaster per rig, quoted remote commands.

Why this shape:

- **Host keys are pinned in the AITBC home** (``HOME/known_hosts``), never in the operator's
  ``~/.ssh``, and every connection runs with ``StrictHostKeyChecking=yes`` against that file only.
  ``aitbc rig add`` pins the key (:func:`pin_host_key`); a rig that later offers another key is
  refused with both fingerprints named (:func:`host_key_changed`), so a man in the middle is an
  error the operator reads, not a silent prompt.
- **One master connection per rig** (OpenSSH ``ControlMaster``): its socket lives in
  ``HOME/run/rigs/NAME/`` (0700), it persists a few minutes after the last use, and every command,
  socket forward and log tail of the CLI and the TUI rides on it, so polling fifty rigs costs fifty
  channels on open connections, not fifty handshakes. A master that cannot be opened is retried
  with back-off (:class:`daemons.common.backoff.Backoff`), so a dead rig costs one failed attempt
  per back-off step, never a hang of every poll.
- **Remote commands are argv lists**: each argument is ``shlex.quote``d on the way into the
  remote shell (:func:`remote_command`), and the destination follows ``--``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from daemons.common.backoff import Backoff
from daemons.common.home import MAX_SOCKET_PATH, Home
from daemons.ops import SERVICES
from daemons.ops.rigs import CONNECT_TIMEOUT_S, Rig, RigError

KNOWN_HOSTS = "known_hosts"
PERSIST_S = 300
"""How long a rig's master connection outlives its last use (seconds)."""
_KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa")
OPENING_AT_ONCE = 16
"""Masters opened at the same time: fifty handshakes at once on a small operator machine would
make some of them miss their time-out; the rest wait their turn (polls of open rigs never wait)."""
_OPENING = threading.BoundedSemaphore(OPENING_AT_ONCE)
_CHANGED = ("REMOTE HOST IDENTIFICATION HAS CHANGED", "Host key verification failed")


def remote_command(argv: Sequence[str]) -> str:
    """The one string ssh hands to the rig's shell, every argument quoted."""
    return " ".join(shlex.quote(str(arg)) for arg in argv)


# -- host keys --------------------------------------------------------------------------------------


def known_hosts_file(home: Home) -> Path:
    return home.root / KNOWN_HOSTS


def fingerprint(key: str) -> str:
    """OpenSSH's ``SHA256:...`` fingerprint of a public key line (``type base64 [comment]``)."""
    parts = key.split()
    blob_text = parts[1] if len(parts) > 1 and parts[0] in _KEY_TYPES else parts[0] if parts else ""
    try:
        blob = base64.b64decode(blob_text, validate=True)
    except ValueError:
        raise RigError(f"not an SSH public key: {key[:40]!r}") from None
    if not blob:
        raise RigError("an empty SSH public key")
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def parse_public_key(text: str) -> str:
    """``type base64`` of an OpenSSH public key line (comment dropped); RigError otherwise."""
    parts = text.strip().split()
    if len(parts) < 2 or parts[0] not in _KEY_TYPES:
        raise RigError(f"not an SSH public key (expected e.g. 'ssh-ed25519 AAAA...'): {text.strip()[:60]!r}")
    fingerprint(" ".join(parts[:2]))
    return f"{parts[0]} {parts[1]}"


def scan_host_key(rig: Rig, timeout_s: float = 10.0) -> str:
    """The key the rig's sshd offers now (``type base64``), ed25519 preferred. Unauthenticated by
    nature: it is what ``--accept-new`` pins and what a changed-key error shows."""
    if shutil.which("ssh-keyscan") is None:
        raise RigError("ssh-keyscan is not installed; it is needed to read a rig's host key")
    _, host, port = rig.target
    try:
        done = subprocess.run(["ssh-keyscan", "-T", str(max(1, int(timeout_s))), "-p", str(port or 22),
                               "-t", "ed25519,ecdsa,rsa", "--", host], capture_output=True, text=True,
                              timeout=timeout_s + 5, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise RigError(f"rig {rig.name}: no host key from {host} within {timeout_s:g}s") from None
    keys: dict[str, str] = {}
    for line in done.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and not line.startswith("#") and parts[1] in _KEY_TYPES:
            keys[parts[1]] = f"{parts[1]} {parts[2]}"
    for kind in _KEY_TYPES:
        if kind in keys:
            return keys[kind]
    reason = done.stderr.strip().splitlines()
    raise RigError(f"rig {rig.name}: could not read the host key of {host}:{port or 22}"
                   + (f" ({reason[-1]})" if reason and not reason[-1].startswith("#") else ""))


def pinned_keys(home: Home, rig: Rig) -> list[str]:
    """The keys ``HOME/known_hosts`` holds for this rig's host and port."""
    try:
        lines = known_hosts_file(home).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    label = rig.host_label
    return [" ".join(p[1:3]) for p in (line.split() for line in lines) if len(p) >= 3 and label in p[0].split(",")]


def pin_host_key(home: Home, rig: Rig, key: str) -> str:
    """Make ``key`` the only pinned key of the rig's host; its fingerprint."""
    key = parse_public_key(key)
    path = known_hosts_file(home)
    label = rig.host_label
    try:
        kept = [line for line in path.read_text(encoding="utf-8").splitlines()
                if line.split() and label not in line.split()[0].split(",")]
    except FileNotFoundError:
        kept = []
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("\n".join([*kept, f"{label} {key}"]) + "\n")
    os.replace(tmp, path)
    return fingerprint(key)


def host_key_changed(home: Home, rig: Rig) -> RigError | None:
    """The refusal to show when the rig offers a key other than the pinned one (None if it does not)."""
    pinned = pinned_keys(home, rig)
    if not pinned:
        return RigError(f"rig {rig.name}: no host key pinned for {rig.host_label} in {known_hosts_file(home)}; "
                        f"pin it with `aitbc rig add {rig.name} {rig.url} --force --accept-new` "
                        f"(or --host-key 'ssh-ed25519 AAAA...')")
    try:
        offered = scan_host_key(rig)
    except RigError:
        return None
    if offered in pinned:
        return None
    return RigError(f"rig {rig.name}: HOST KEY CHANGED for {rig.host_label}: pinned {fingerprint(pinned[0])}, "
                    f"the rig now offers {fingerprint(offered)}; refusing to connect. If the rig was really "
                    f"reinstalled, pin the new key: `aitbc rig add {rig.name} {rig.url} --force --host-key '{offered}'`")


# -- connections ------------------------------------------------------------------------------------


class RigLink:
    """The connection to one rig: its master, its forwarded sockets, its commands.

    Thread-safe enough for the fleet poller: each rig has one link used by one thread at a time.
    """

    def __init__(self, rig: Rig, home: Home, *, connect_timeout_s: float = CONNECT_TIMEOUT_S,
                 persist_s: int = PERSIST_S, backoff: Backoff | None = None) -> None:
        self.rig = rig
        self.home = home
        self.connect_timeout_s = connect_timeout_s
        self.persist_s = persist_s
        self.backoff = backoff or Backoff(1.0, 30.0)
        self.dir = home.run_dir / "rigs" / rig.name
        self.control = self.dir / "ctl"
        self.last_error: str | None = None
        self._retry_at = 0.0
        self._forwards: dict[str, int] = {}
        self._pid: int | None = None
        if len(str(self.control)) + 18 > MAX_SOCKET_PATH:
            raise RigError(f"rig {rig.name}: the control socket path {self.control} is too long for a Unix socket; "
                           f"use a shorter home or $AITBC_RUNTIME_DIR")

    def _prepare_dir(self) -> None:
        for path in (self.home.run_dir, self.dir.parent, self.dir):
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        for path in (self.dir.parent, self.dir):
            if path.stat().st_mode & 0o077:
                path.chmod(0o700)

    def options(self, *, master: bool = False) -> list[str]:
        """The ssh options every connection to this rig carries."""
        opts = ["-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known_hosts_file(self.home)}",
                "-o", "GlobalKnownHostsFile=/dev/null", "-o", "CheckHostIP=no", "-o", "UpdateHostKeys=no",
                "-o", "LogLevel=ERROR", "-o", f"ConnectTimeout={max(1, int(self.connect_timeout_s))}",
                "-o", f"ControlPath={self.control}"]
        if master:
            opts += ["-o", "ControlMaster=yes", "-o", f"ControlPersist={self.persist_s}",
                     "-o", "StreamLocalBindUnlink=yes", "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=2"]
        else:
            opts += ["-o", "ControlMaster=no"]
        return opts

    def command(self, remote_argv: Sequence[str] | None = None, *extra: str) -> list[str]:
        """The local argv that runs ``remote_argv`` (quoted) on the rig through the master."""
        base = self.rig.ssh_base(*self.options(), *extra)
        return [*base, remote_command(remote_argv)] if remote_argv else base

    def master_pid(self, *, fresh: bool = False) -> int | None:
        """The pid of the running master, or None (a local check, no network). A master this link
        already knows is checked by its pid alone, so a warm poll spawns no ssh process at all;
        ``fresh`` asks the master itself (after a failed request: is the connection still there?)."""
        if not self.control.exists():
            self._pid = None
            return None
        if not fresh and self._pid is not None and _alive(self._pid):
            return self._pid
        done = subprocess.run([*self.rig.ssh_base(*self.options(), "-O", "check")], capture_output=True, text=True,
                              timeout=10, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            return None
        found = re.search(r"pid=(\d+)", done.stderr + done.stdout)
        self._pid = int(found.group(1)) if found else None
        return self._pid if self._pid is not None else -1

    def ensure(self) -> int:
        """An open master (opened now if needed); its pid. RigError when the rig cannot be reached,
        at once while the back-off since the last failure has not passed."""
        pid = self.master_pid()
        if pid is not None:
            return pid
        now = time.monotonic()
        if now < self._retry_at:
            raise RigError(f"rig {self.rig.name} unreachable: {self.last_error} "
                           f"(next try in {self._retry_at - now:.0f}s)")
        self._prepare_dir()
        self._forwards.clear()
        err_path = self.dir / "ssh.err"
        with _OPENING, open(err_path, "wb") as err:  # a file, not a pipe: the backgrounded master keeps it open
            try:
                done = subprocess.run(self.rig.ssh_base(*self.options(master=True), "-N", "-f"),
                                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                      timeout=self.connect_timeout_s + 10)
                code = done.returncode
            except subprocess.TimeoutExpired:
                code = -1
        message = err_path.read_text(errors="replace").strip().splitlines()
        if code == 0:
            pid = self.master_pid()
            if pid is not None:
                self.backoff.reset()
                self.last_error = None
                return pid
        reason = message[-1] if message else ("timed out" if code == -1 else f"ssh exited with {code}")
        if any(marker in "\n".join(message) for marker in _CHANGED):
            changed = host_key_changed(self.home, self.rig)
            if changed is not None:
                self._fail(str(changed))
                raise changed
        self._fail(reason)
        raise RigError(f"ssh to rig {self.rig.name} failed: {reason}")

    def _fail(self, reason: str) -> None:
        self.last_error = reason
        self._retry_at = time.monotonic() + self.backoff.next()

    def forward(self, service: str) -> Path:
        """The local socket that reaches ``service``'s operator socket on the rig (added to the
        master once per master)."""
        if service not in SERVICES:
            raise RigError(f"unknown service {service!r} (one of {', '.join(SERVICES)})")
        pid = self.ensure()
        local = self.dir / f"{service}.sock"
        if self._forwards.get(service) == pid and local.exists():
            return local
        spec = f"{local}:{self.rig.remote_run / f'{service}.sock'}"
        done = subprocess.run(self.rig.ssh_base(*self.options(), "-O", "forward", "-L", spec), capture_output=True,
                              text=True, timeout=self.connect_timeout_s + 5, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise RigError(f"rig {self.rig.name}: could not forward the {service} socket: "
                           f"{(done.stderr.strip().splitlines() or ['no reason given'])[-1]}")
        self._forwards[service] = pid
        return local

    def run(self, remote_argv: Sequence[str], *, timeout_s: float = 60.0, input_bytes: bytes | None = None,
            stdin_path: Path | None = None) -> subprocess.CompletedProcess[bytes]:
        """Run ``remote_argv`` on the rig and wait (stdout and stderr captured). An exit status of
        255 is ssh's own failure and raises RigError; any other is the remote command's."""
        self.ensure()
        try:
            if stdin_path is not None:
                with open(stdin_path, "rb") as source:
                    done = subprocess.run(self.command(remote_argv), stdin=source, capture_output=True,
                                          timeout=timeout_s)
            else:
                done = subprocess.run(self.command(remote_argv), input=input_bytes or b"", capture_output=True,
                                      timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise RigError(f"rig {self.rig.name}: {remote_argv[0]} did not finish within {timeout_s:g}s") from None
        if done.returncode == 255:
            reason = (done.stderr.decode(errors="replace").strip().splitlines() or ["connection lost"])[-1]
            self._fail(reason)
            raise RigError(f"ssh to rig {self.rig.name} failed: {reason}")
        return done

    def close(self) -> None:
        """Close the master now (otherwise it lingers ``persist_s`` after its last use)."""
        if self.control.exists():
            subprocess.run(self.rig.ssh_base(*self.options(), "-O", "exit"), capture_output=True, timeout=10,
                           stdin=subprocess.DEVNULL)
        self._forwards.clear()
        self._pid = None


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie (a dead master nobody reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def close_all(home: Home, rigs: Sequence[Rig]) -> None:
    """Close the master of each rig (tests, ``aitbc rig disconnect``)."""
    for rig in rigs:
        try:
            RigLink(rig, home).close()
        except (RigError, OSError, subprocess.TimeoutExpired):
            pass


class RigTunnel:
    """A rig's operator sockets forwarded over its master, and a :class:`Home` that points at them
    (what ``aitbc-tui --rig NAME`` and ``aitbc rig status NAME`` attach to)."""

    def __init__(self, rig: Rig, home: Home) -> None:
        self.rig = rig
        self.link = RigLink(rig, home)
        self.home = Home(root=self.link.dir, runtime_dir=self.link.dir)

    def __enter__(self) -> RigTunnel:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        if shutil.which("ssh") is None:
            raise RigError("ssh is not installed; it is needed to reach a rig")
        for service in SERVICES:
            self.link.forward(service)

    def stop(self) -> None:
        """Nothing to tear down: the master persists for the next command and closes itself."""
