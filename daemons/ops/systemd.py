"""systemd units for the daemons (``SERVICES``): render the templates in ``configs/systemd`` and install them.

One implementation serves ``aitbc node|coordinator|miner|wallet|explorer install-service``. Rendering is
pure (tested with ``systemd-analyze verify``); installing writes to /etc/systemd/system, creates
the service user and runs ``systemctl``, so it needs root.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from daemons.ops import SERVICES
from daemons.ops.supervisor import cli_command

UNIT_TEMPLATES = Path(__file__).resolve().parents[2] / "configs" / "systemd"
"""``configs/systemd`` of the source tree this package runs from (daemons/ops -> the root)."""
CREDENTIAL_NAMES = {"node": "validator-password", "coordinator": "coordinator-password", "miner": "miner-password"}


class ServiceInstallError(Exception):
    pass


@dataclass(frozen=True)
class UnitOptions:
    daemon: str
    user: str = "aitbc"
    home: Path = Path("/var/lib/aitbc")
    runtime_dir: Path | None = None
    """Where sockets live; None keeps them in HOME/run, where the CLI finds them with just --home."""
    executable: str = ""
    """The command that starts ``aitbc`` (default: this interpreter's ``-P -m aitbc_tui.cli``)."""
    credential_file: Path | None = None
    """Password file handed to the daemon as a systemd credential (node and coordinator keys)."""


def _template(daemon: str) -> str:
    if daemon not in SERVICES:
        raise ServiceInstallError(f"unknown daemon {daemon!r}; one of {', '.join(SERVICES)}")
    path = UNIT_TEMPLATES / f"aitbc-{daemon}.service.in"
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ServiceInstallError(f"unit template {path} is missing: install AITBC from its source tree") from None


def default_executable() -> str:
    """``-P``: the unit's working directory (``/`` unless set) never lands on the import path."""
    return " ".join(cli_command())


HOME_DIRECTORIES = (Path("/home"), Path("/root"), Path("/run/user"))
"""What ``ProtectHome=`` hides."""


def protect_home(options: UnitOptions) -> str:
    """``yes`` (home directories invisible) unless the daemon's home or its interpreter lies in one,
    as a rig provisioned into its account's home does: then ``read-only``. With ``yes`` systemd
    mounts those directories empty, so ``ReadWritePaths=`` below them has nothing to open and the
    unit cannot even find its executable; ``read-only`` keeps every other home unwritable while
    ``ReadWritePaths=HOME`` reopens the daemon's own (systemd/systemd#7153)."""
    executable = (options.executable or default_executable()).split()[0]
    paths = (options.home.absolute(), Path(executable).absolute())
    inside = any(path.is_relative_to(top) for path in paths for top in HOME_DIRECTORIES)
    return "read-only" if inside else "yes"


def render_unit(options: UnitOptions) -> str:
    text = _template(options.daemon)
    credentials = ""
    if options.credential_file is not None:
        name = CREDENTIAL_NAMES.get(options.daemon)
        if name is None:
            raise ServiceInstallError(f"the {options.daemon} daemon takes no credential file")
        credentials = f"LoadCredential={name}:{options.credential_file}\n"
    for placeholder, value in {
        "@USER@": options.user, "@HOME@": str(options.home),
        "@EXEC@": options.executable or default_executable(), "@PROTECT_HOME@": protect_home(options),
    }.items():
        if any(c in value for c in "\n\r"):
            raise ServiceInstallError(f"{placeholder.strip('@').lower()} must be one line")
        text = text.replace(placeholder, value)
    runtime = ""
    if options.runtime_dir is not None:
        if options.runtime_dir.parent != Path("/run") or not options.runtime_dir.name:
            raise ServiceInstallError("--runtime-dir must be a directory directly under /run (systemd RuntimeDirectory)")
        runtime = (f"Environment=AITBC_RUNTIME_DIR={options.runtime_dir}\nRuntimeDirectory={options.runtime_dir.name}\n"
                   "RuntimeDirectoryMode=0750\nRuntimeDirectoryPreserve=yes\n")
    return text.replace("@CREDENTIALS@\n", credentials).replace("@RUNTIME@", runtime)


def unit_name(daemon: str) -> str:
    return f"aitbc-{daemon}.service"


def install_unit(options: UnitOptions, unit_dir: Path = Path("/etc/systemd/system"), *, enable: bool = True) -> Path:
    """Write the unit, create the service user and home, reload systemd and enable the unit."""
    if os.geteuid() != 0 and unit_dir == Path("/etc/systemd/system"):
        raise ServiceInstallError("installing a system service needs root (try sudo, or --output DIR to only write the unit)")
    text = render_unit(options)
    if unit_dir == Path("/etc/systemd/system"):
        _ensure_user(options.user)
        options.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        user = pwd.getpwnam(options.user)
        os.chown(options.home, user.pw_uid, user.pw_gid)
    unit_dir.mkdir(parents=True, exist_ok=True)
    path = unit_dir / unit_name(options.daemon)
    path.write_text(text, encoding="utf-8")
    path.chmod(0o644)  # what systemd expects of a unit, whatever the umask of the shell that installed it
    if enable and unit_dir == Path("/etc/systemd/system"):
        for argv in (["systemctl", "daemon-reload"], ["systemctl", "enable", unit_name(options.daemon)]):
            result = subprocess.run(argv, capture_output=True, text=True)
            if result.returncode != 0:
                raise ServiceInstallError(f"{' '.join(argv)} failed: {result.stderr.strip() or result.stdout.strip()}")
    return path


def _ensure_user(user: str) -> None:
    try:
        pwd.getpwnam(user)
        return
    except KeyError:
        pass
    useradd = shutil.which("useradd")
    if useradd is None:
        raise ServiceInstallError(f"user {user!r} does not exist and useradd is not available")
    result = subprocess.run([useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise ServiceInstallError(f"useradd {user} failed: {result.stderr.strip()}")
