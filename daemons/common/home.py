"""The installation home: one directory that holds everything of one AITBC installation.

Every daemon, the CLI and the TUI resolve the same home the same way (``--home DIR``, else
``$AITBC_HOME``, else ``~/.aitbc``), so that they find each other's sockets and files without
any other configuration.

Runtime directory decision: sockets and pid files go to ``$AITBC_RUNTIME_DIR`` when it is set
(systemd's ``RuntimeDirectory=`` sets it on real rigs), else to ``HOME/run``. We deliberately do
*not* fall back to ``$XDG_RUNTIME_DIR/aitbc``: several homes on one machine (tests, a local
multi-node network, two installations of one operator) would then share one socket directory,
and the second node would find, or worse remove, the first node's ``node.sock``. A per-home
``run/`` keeps homes independent; an operator who wants a shared runtime dir says so explicitly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

#: Longest path the kernel accepts for an AF_UNIX socket (sun_path is 108 bytes incl. NUL).
MAX_SOCKET_PATH = 107

_PRIVATE = 0o700


class Home(BaseModel):
    """Paths of one installation home. Pure path arithmetic; only :meth:`ensure` touches disk."""

    model_config = ConfigDict(frozen=True)

    root: Path
    #: Explicit runtime dir (``$AITBC_RUNTIME_DIR``); ``None`` means ``root/run``.
    runtime_dir: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_path(cls, value: Any) -> Any:
        """Accept a bare path where a Home is expected (settings, CLI options)."""
        if isinstance(value, (str, os.PathLike)):
            return {"root": value}
        return value

    @field_validator("root", "runtime_dir")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        """Store absolute paths so that a later ``chdir`` cannot move the home under us."""
        return None if value is None else Path(os.path.abspath(os.path.expanduser(value)))

    @classmethod
    def resolve(cls, home: str | os.PathLike[str] | None = None,
                env: Mapping[str, str] | None = None) -> Home:
        """The home for ``--home`` (may be None), honouring ``$AITBC_HOME`` and ``$AITBC_RUNTIME_DIR``."""
        environ = os.environ if env is None else env
        chosen = home if home not in (None, "") else environ.get("AITBC_HOME") or "~/.aitbc"
        runtime = environ.get("AITBC_RUNTIME_DIR") or None
        return cls(root=Path(chosen), runtime_dir=Path(runtime) if runtime else None)

    @property
    def config_file(self) -> Path:
        return self.root / "config.toml"

    @property
    def genesis_file(self) -> Path:
        return self.root / "genesis.json"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def keys_dir(self) -> Path:
        return self.root / "keys"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def backups_dir(self) -> Path:
        """Copies of databases taken before a migration (``storage.schema``)."""
        return self.root / "backups"

    @property
    def run_dir(self) -> Path:
        return self.runtime_dir if self.runtime_dir is not None else self.root / "run"

    @property
    def audit_log(self) -> Path:
        return self.logs_dir / "audit.log"

    def socket(self, service: str) -> Path:
        """The operator socket of ``service`` (e.g. ``run/node.sock``)."""
        return self.run_dir / f"{_service_name(service)}.sock"

    def pid_file(self, service: str) -> Path:
        return self.run_dir / f"{_service_name(service)}.pid"

    def log_file(self, service: str) -> Path:
        return self.logs_dir / f"{_service_name(service)}.log"

    def database_file(self, service: str) -> Path:
        return self.data_dir / f"{_service_name(service)}.db"

    def ensure(self) -> Home:
        """Create the home's directories, private to the owner.

        The root, data/, keys/, run/ and logs/ are created 0700. keys/ and a home-local run/ are
        tightened to 0700 even when they already exist, because they are where a loose mode leaks
        key files or lets other users talk to the operator socket. An explicit runtime dir that
        already exists is left as its owner (systemd) made it.
        """
        for path in (self.root, self.data_dir, self.keys_dir, self.logs_dir, self.run_dir):
            path.mkdir(mode=_PRIVATE, parents=True, exist_ok=True)
        tighten = [self.keys_dir] + ([self.run_dir] if self.runtime_dir is None else [])
        for path in tighten:
            if path.stat().st_mode & 0o077:
                path.chmod(_PRIVATE)
        return self


def _service_name(service: str) -> str:
    """Refuse names that would escape the home (``../x``) or make odd file names."""
    if not service or not all(c.isalnum() or c in "-_" for c in service):
        raise ValueError(f"invalid service name {service!r}: use letters, digits, '-' and '_'")
    return service
