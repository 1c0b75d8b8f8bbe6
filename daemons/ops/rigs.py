"""Remote rigs: attach the console to another machine's daemons through SSH.

ARCHITECTURE.md: the TUI and CLI reach a rig's sockets through SSH (OpenSSH Unix-socket
forwarding), never through a daemon's TCP admin port. ``aitbc-tui --rig NAME`` reads the rig
from ``HOME/rigs.toml``::

    [rigs.gpu-01]
    url = "ssh://miner@10.0.0.21:22"      # user, host, optional port
    home = "/home/miner/.aitbc"           # the rig's AITBC home (absolute; default ~user/.aitbc)
    runtime_dir = "/run/aitbc"            # optional: the rig's $AITBC_RUNTIME_DIR (default HOME/run)
    identity_file = "~/.ssh/rig_ed25519"  # optional

then runs one ``ssh -N`` that forwards the rig's four operator sockets to a private local
directory (0700) and points the console at it; the rig's logs are followed with ``tail -F``
over a second SSH session (:meth:`Rig.tail_command`, read by the TUI's
``aitbc_tui.sources.rig_logs``). SSH runs in batch mode: keys or an agent, never a password
prompt hidden behind the console.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from daemons.common.home import Home
from daemons.ops import SERVICES

RIGS_FILE = "rigs.toml"
CONNECT_TIMEOUT_S = 20.0


class RigError(Exception):
    """A rig that cannot be used; ``str()`` is one line for the operator."""


class Rig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    url: str
    home: str | None = None
    runtime_dir: str | None = None
    identity_file: str | None = None

    @property
    def target(self) -> tuple[str | None, str, int | None]:
        """(user, host, port) of ``ssh://user@host:port``."""
        parts = urlsplit(self.url)
        if parts.scheme != "ssh" or not parts.hostname:
            raise RigError(f"rig {self.name}: url must look like ssh://user@host[:port], got {self.url!r}")
        try:
            port = parts.port
        except ValueError:
            raise RigError(f"rig {self.name}: invalid port in {self.url!r}") from None
        return parts.username, parts.hostname, port

    @property
    def remote_home(self) -> PurePosixPath:
        if self.home:
            path = PurePosixPath(self.home)
            if not path.is_absolute():
                raise RigError(f"rig {self.name}: home must be an absolute path on the rig, got {self.home!r}")
            return path
        user = self.target[0] or os.environ.get("USER", "root")
        return PurePosixPath("/root/.aitbc" if user == "root" else f"/home/{user}/.aitbc")

    @property
    def remote_run(self) -> PurePosixPath:
        return PurePosixPath(self.runtime_dir) if self.runtime_dir else self.remote_home / "run"

    def ssh_base(self) -> list[str]:
        user, host, port = self.target
        command = ["ssh", "-T", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={int(CONNECT_TIMEOUT_S)}",
                   "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=3"]
        if port:
            command += ["-p", str(port)]
        if self.identity_file:
            command += ["-i", os.path.expanduser(self.identity_file)]
        return [*command, f"{user}@{host}" if user else host]

    def forward_command(self, local_run: Path) -> list[str]:
        """``ssh -N`` forwarding each daemon's operator socket into ``local_run``."""
        base = self.ssh_base()
        forwards: list[str] = ["-N", "-o", "ExitOnForwardFailure=yes", "-o", "StreamLocalBindUnlink=yes"]
        for service in SERVICES:
            forwards += ["-L", f"{local_run / f'{service}.sock'}:{self.remote_run / f'{service}.sock'}"]
        return [*base[:-1], *forwards, base[-1]]

    def entry(self) -> dict[str, str]:
        """The rig as its table in ``rigs.toml`` (the name is the table's key, unset fields are left out)."""
        return self.model_dump(exclude={"name"}, exclude_none=True)

    def tail_command(self, lines: int = 300) -> list[str]:
        logs = self.remote_home / "logs"
        return [*self.ssh_base(), f"tail -q -n {lines} -F {logs}/*.log"]


def rigs_file(home: Home) -> Path:
    return home.root / RIGS_FILE


def load_rigs(home: Home) -> dict[str, Rig]:
    path = rigs_file(home)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise RigError(f"cannot read {path}: {exc}") from None
    rigs: dict[str, Rig] = {}
    for name, entry in (data.get("rigs") or {}).items():
        try:
            rigs[name] = Rig.model_validate({"name": name, **entry})
        except (ValidationError, TypeError) as exc:
            reason = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            raise RigError(f"{path}: rig {name}: {reason}") from None
    return rigs


def save_rigs(home: Home, rigs: dict[str, Rig]) -> Path:
    """Write ``rigs`` as the ``[rigs]`` tables of ``HOME/rigs.toml``, keeping anything else in the file."""
    path = rigs_file(home)
    doc: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    doc["rigs"] = {name: rig.entry() for name, rig in rigs.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tomli_w.dumps(doc), encoding="utf-8")
    return path


def find_rig(home: Home, name: str) -> Rig:
    rigs = load_rigs(home)
    if name not in rigs:
        known = ", ".join(sorted(rigs)) or "none"
        raise RigError(f"no rig named {name!r} in {rigs_file(home)} (known: {known}); "
                       f"add one with `aitbc rig add {name} ssh://user@host`")
    return rigs[name]


class RigTunnel:
    """The SSH process that forwards a rig's sockets, and the local home that points at them."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.root = Path(tempfile.mkdtemp(prefix=f"aitbc-rig-{rig.name[:16]}-", dir="/tmp"))
        self.run_dir = self.root / "run"
        self.run_dir.mkdir(mode=0o700)
        self.home = Home(root=self.root, runtime_dir=self.run_dir)
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> RigTunnel:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        if shutil.which("ssh") is None:
            raise RigError("ssh is not installed; it is needed to reach a rig")
        err = open(self.root / "ssh.err", "wb")
        self.proc = subprocess.Popen(self.rig.forward_command(self.run_dir), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=err)
        err.close()
        deadline = time.monotonic() + CONNECT_TIMEOUT_S + 5
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                message = (self.root / "ssh.err").read_text(errors="replace").strip().splitlines()
                self.stop()
                raise RigError(f"ssh to rig {self.rig.name} failed: {message[-1] if message else 'no reason given'}")
            if any((self.run_dir / f"{s}.sock").exists() for s in SERVICES):
                return
            time.sleep(0.1)
        self.stop()
        raise RigError(f"ssh to rig {self.rig.name} did not set up its forwards within {CONNECT_TIMEOUT_S:g}s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)
