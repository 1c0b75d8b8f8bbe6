"""Remote rigs: attach the console to another machine's daemons through SSH.

ARCHITECTURE.md: the TUI and CLI reach a rig's sockets through SSH (OpenSSH Unix-socket
forwarding), never through a daemon's TCP admin port. ``aitbc-tui --rig NAME`` reads the rig
from ``HOME/rigs.toml``::

    [rigs.gpu-01]
    url = "ssh://miner@10.0.0.21:22"      # user, host, optional port
    home = "/home/miner/.aitbc"           # the rig's AITBC home (absolute; default ~user/.aitbc)
    runtime_dir = "/run/aitbc"            # optional: the rig's $AITBC_RUNTIME_DIR (default HOME/run)
    identity_file = "~/.ssh/rig_ed25519"  # optional

This module is the registry and its rules: names, users, hosts and remote paths are checked when
the file is read (nothing that ssh could take for an option, nothing the rig's shell could run),
and the ssh command lines put ``--`` before the destination. Connections (pinned host keys, one
ControlMaster per rig, forwarded sockets) are :mod:`daemons.ops.rigs_ssh`; polling a fleet is
:mod:`daemons.ops.rigs_fleet`; actions on a rig are :mod:`daemons.ops.rigs_actions` (run on the
rig by :mod:`daemons.ops.rigs_agent`); installing a rig is :mod:`daemons.ops.rigs_provision`.
SSH runs in batch mode: keys or an agent, never a password prompt hidden behind the console.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from daemons.common.home import Home
from daemons.ops import SERVICES

RIGS_FILE = "rigs.toml"
CONNECT_TIMEOUT_S = 20.0

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
"""A rig name: it becomes a file name under the home's run dir and a word on a command line."""
USER_RE = re.compile(r"^[A-Za-z0-9._][A-Za-z0-9._-]{0,63}$")
"""A login name: never a leading ``-`` (ssh would read ``-oProxyCommand=...`` as an option)."""
HOSTNAME_RE = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                         r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
REMOTE_PATH_RE = re.compile(r"^/[A-Za-z0-9._/@+-]*$")
"""A path on the rig: absolute and made of plain characters only. Every remote argument is quoted
as well; refusing shell metacharacters up front means a hostile ``rigs.toml`` fails loudly at load
instead of relying on the quoting alone."""


class RigError(ValueError):
    """A rig that cannot be used; ``str()`` is one line for the operator. A ValueError so that the
    model's validators can raise it and pydantic reports it as the field's error."""


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise RigError(f"rig name {name!r}: use letters, digits, '-' and '_' (not first), at most 64")
    return name


def check_host(host: str) -> str:
    """A hostname or an IP address, nothing that ssh could read as an option or a path."""
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    if not HOSTNAME_RE.match(host):
        raise RigError(f"host {host!r} is neither a hostname nor an IP address")
    return host


def check_remote_path(path: str, what: str) -> str:
    if not REMOTE_PATH_RE.match(path) or "/../" in f"{path}/":
        raise RigError(f"{what} must be an absolute path on the rig made of letters, digits and ._/@+-, "
                       f"got {path!r}")
    return path


def parse_ssh_url(url: str, name: str = "?") -> tuple[str | None, str, int | None]:
    """(user, host, port) of ``ssh://user@host:port``, each checked (see the module's rules)."""
    parts = urlsplit(url)
    if parts.scheme != "ssh" or not parts.hostname:
        raise RigError(f"rig {name}: url must look like ssh://user@host[:port], got {url!r}")
    try:
        port = parts.port
    except ValueError:
        raise RigError(f"rig {name}: invalid port in {url!r}") from None
    if parts.password is not None or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise RigError(f"rig {name}: url must be ssh://user@host[:port] only (no password, path or query): {url!r}")
    user = parts.username
    if user is not None and not USER_RE.match(user):
        raise RigError(f"rig {name}: user {user!r} must be letters, digits and ._- (not a leading -)")
    try:
        check_host(parts.hostname)
    except RigError as exc:
        raise RigError(f"rig {name}: {exc}") from None
    return user, parts.hostname, port


class Rig(BaseModel):
    """One rig of ``rigs.toml``; every field is checked when the file is read, so a rig that could
    inject an ssh option or remote shell never reaches a command line."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    url: str
    home: str | None = None
    runtime_dir: str | None = None
    identity_file: str | None = None
    python: str | None = None
    """The rig's Python with AITBC installed (``aitbc rig provision`` sets it; default ``python3``)."""
    host_key: str | None = None
    """The pinned host key's SHA256 fingerprint (informational; ``HOME/known_hosts`` is what ssh checks)."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value)

    @model_validator(mode="after")
    def _checked(self) -> Rig:
        parse_ssh_url(self.url, self.name)
        if self.home is not None:
            if not self.home.startswith("/"):
                raise RigError(f"rig {self.name}: home must be an absolute path on the rig, got {self.home!r}")
            check_remote_path(self.home, f"rig {self.name}: home")
        for field_name in ("runtime_dir", "python"):
            value = getattr(self, field_name)
            if value is not None:
                check_remote_path(value, f"rig {self.name}: {field_name}")
        if self.identity_file is not None and ("\n" in self.identity_file or self.identity_file.startswith("-")):
            raise RigError(f"rig {self.name}: identity_file {self.identity_file!r} is not a usable path")
        return self

    @classmethod
    def create(cls, **fields: Any) -> Rig:
        """The rig, or a one-line :class:`RigError` naming the first problem."""
        try:
            return cls.model_validate(fields)
        except ValidationError as exc:
            raise RigError(_first_error(exc)) from None

    @property
    def target(self) -> tuple[str | None, str, int | None]:
        """(user, host, port) of ``ssh://user@host:port``."""
        return parse_ssh_url(self.url, self.name)

    @property
    def host_label(self) -> str:
        """How OpenSSH names this host in known_hosts: ``host`` or ``[host]:port``."""
        _, host, port = self.target
        return f"[{host}]:{port}" if port and port != 22 else host

    @property
    def remote_home(self) -> PurePosixPath:
        if self.home:
            return PurePosixPath(self.home)
        user = self.target[0] or os.environ.get("USER", "root")
        return PurePosixPath("/root/.aitbc" if user == "root" else f"/home/{user}/.aitbc")

    @property
    def remote_run(self) -> PurePosixPath:
        return PurePosixPath(self.runtime_dir) if self.runtime_dir else self.remote_home / "run"

    @property
    def remote_python(self) -> str:
        return self.python or "python3"

    def ssh_base(self, *options: str) -> list[str]:
        """``ssh`` with batch mode, time-outs and this rig's port and key, ``options`` added, then
        ``--`` and the destination last (so nothing after the options is ever read as one)."""
        user, host, port = self.target
        command = ["ssh", "-T", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={int(CONNECT_TIMEOUT_S)}",
                   "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=3"]
        if port:
            command += ["-p", str(port)]
        if self.identity_file:
            command += ["-i", os.path.expanduser(self.identity_file), "-o", "IdentitiesOnly=yes"]
        if user:
            command += ["-l", user]
        return [*command, *options, "--", host]

    def forward_command(self, local_run: Path, *options: str) -> list[str]:
        """``ssh -N`` forwarding each daemon's operator socket into ``local_run``."""
        forwards: list[str] = ["-N", "-o", "ExitOnForwardFailure=yes", "-o", "StreamLocalBindUnlink=yes"]
        for service in SERVICES:
            forwards += ["-L", f"{local_run / f'{service}.sock'}:{self.remote_run / f'{service}.sock'}"]
        return self.ssh_base(*options, *forwards)

    def entry(self) -> dict[str, str]:
        """The rig as its table in ``rigs.toml`` (the name is the table's key, unset fields are left out)."""
        return self.model_dump(exclude={"name"}, exclude_none=True)

    def tail_argv(self, lines: int = 300, follow: bool = True, service: str | None = None) -> list[str]:
        """The rig-side argv that prints (and with ``follow`` follows) its daemons' JSON logs, all of
        them or one ``service``'s. The glob is expanded by a fixed ``sh -c`` script; the home and
        the service are passed as its arguments, never pasted into it."""
        if service is not None and service not in SERVICES:
            raise RigError(f"unknown service {service!r} (one of {', '.join(SERVICES)})")
        script = 'exec tail -q -n "$1" ' + ("-F " if follow else "") + '"$2"/' + ('"$3".log' if service else "*.log")
        return ["sh", "-c", script, "sh", str(int(lines)), str(self.remote_home / "logs"), *([service] if service else [])]


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    message = str(error["msg"]).removeprefix("Value error, ")
    where = ".".join(str(p) for p in error.get("loc", ()))
    return message if message.startswith("rig ") or not where else f"{where}: {message}"


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
            reason = _first_error(exc) if isinstance(exc, ValidationError) else str(exc)
            raise RigError(f"{path}: {reason if reason.startswith('rig ') else f'rig {name}: {reason}'}") from None
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
