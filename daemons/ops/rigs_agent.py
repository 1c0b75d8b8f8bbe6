"""The rig's side of ``aitbc rig miner ...`` and ``aitbc rig config ...``: run ON the rig over SSH.

``python -P -m daemons.ops.rigs_agent --home H miner stop`` is what the operator's machine runs on
the rig (:mod:`daemons.ops.rigs_actions` builds the quoted command). It runs with the rig's own
installed AITBC, so the miner is started, stopped and configured by the code that will read the
configuration: a setting is validated by the rig's own settings classes before ``config.toml``
is written, whatever version the operator's machine has.

Miner control goes through systemd when the rig's systemd has the ``aitbc-miner`` unit loaded, else
through the supervisor's pid lock (a detached ``aitbc miner start``, SIGTERM to stop). ``drain``
is SIGTERM without waiting: the miner stops taking tasks and hands back or finishes what it
holds on its own. One JSON object is printed on success; errors are one line on stderr, exit 1.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from typing import Any

import tomli_w

from daemons.common.home import Home
from daemons.ops import SERVICES
from daemons.ops.supervisor import cli_command, health, running_pid, stop_service
from daemons.ops.systemd import unit_name

START_TIMEOUT_S = 300.0
"""How long a started miner may take to answer: a cold interpreter importing torch on a busy rig."""
SETTINGS: dict[str, tuple[str, str]] = {
    "mining": ("daemons.miner.settings", "MinerSettings"),
    "node": ("daemons.node.settings", "NodeSettings"),
    "coordinator": ("daemons.coordinator.settings", "CoordinatorSettings"),
    "wallet": ("daemons.wallet.settings", "WalletSettings"),
    "explorer": ("daemons.web.settings", "ExplorerSettings"),
}
"""Each ``config.toml`` table an operator may set remotely, and the settings class that checks it."""


class AgentError(Exception):
    pass


def _systemd(service: str) -> bool:
    """Whether the rig's service manager has the unit: asked, not guessed from a file path. A unit
    may live in /etc or /usr/lib, and a unit file on a machine whose PID 1 is not systemd (a
    container with systemctl installed) cannot be started, so only ``LoadState=loaded`` from a
    working systemctl means "control the miner through systemd"; anything else is the supervisor."""
    if shutil.which("systemctl") is None:
        return False
    try:
        done = subprocess.run(["systemctl", "show", "--property=LoadState", "--value", unit_name(service)],
                              capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and done.stdout.strip() == "loaded"


def _systemctl(*args: str) -> None:
    done = subprocess.run(["systemctl", *args], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise AgentError(f"systemctl {' '.join(args)} failed: {done.stderr.strip() or done.stdout.strip()}")


def miner_start(home: Home) -> dict[str, Any]:
    if _systemd("miner"):
        _systemctl("start", unit_name("miner"))
        return {"miner": "started", "via": "systemd"}
    pid = running_pid(home, "miner")
    if pid is not None:
        return {"miner": "already running", "pid": pid, "via": "supervisor"}
    home.ensure()
    out = open(home.logs_dir / "miner.out", "ab")
    proc = subprocess.Popen([*cli_command(), "miner", "start", "--home", str(home.root)], stdin=subprocess.DEVNULL,
                            stdout=out, stderr=out, cwd=home.root, start_new_session=True)
    out.close()
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AgentError(f"the miner exited with {proc.returncode} at start; see {home.logs_dir / 'miner.out'}")
        if health(home, "miner") is not None:
            return {"miner": "started", "pid": proc.pid, "via": "supervisor"}
        time.sleep(0.2)
    raise AgentError(f"the miner did not answer within {START_TIMEOUT_S:g}s; see {home.logs_dir / 'miner.out'}")


def miner_stop(home: Home) -> dict[str, Any]:
    if _systemd("miner"):
        _systemctl("stop", unit_name("miner"))
        return {"miner": "stopped", "via": "systemd"}
    pid = stop_service(home, "miner", timeout_s=60.0)
    return {"miner": "stopped" if pid is not None else "was not running", "pid": pid, "via": "supervisor"}


def miner_drain(home: Home) -> dict[str, Any]:
    if _systemd("miner"):
        _systemctl("stop", "--no-block", unit_name("miner"))
        return {"miner": "draining", "via": "systemd"}
    pid = running_pid(home, "miner")
    if pid is None or pid <= 0:
        return {"miner": "was not running", "via": "supervisor"}
    os.kill(pid, signal.SIGTERM)
    return {"miner": "draining", "pid": pid, "via": "supervisor"}


def parse_value(text: str) -> Any:
    """A TOML value (``8``, ``true``, ``"x"``, ``[0, 1]``), a comma list of them (``0,1``), else the text."""
    def one(item: str) -> Any:
        try:
            return tomllib.loads(f"v = {item}")["v"]
        except tomllib.TOMLDecodeError:
            return item
    if "," in text and not text.lstrip().startswith(("[", '"', "'")):
        return [one(part.strip()) for part in text.split(",") if part.strip()]
    return one(text.strip())


def config_set(home: Home, assignments: list[str]) -> dict[str, Any]:
    """Apply ``table.key=value`` to ``config.toml`` after the rig's settings class accepted the result."""
    from daemons.common.settings import SettingsError, load_settings

    try:
        doc: dict[str, Any] = tomllib.loads(home.config_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        doc = {}
    except tomllib.TOMLDecodeError as exc:
        raise AgentError(f"{home.config_file} is not valid TOML: {exc}") from None
    changed: dict[str, Any] = {}
    for assignment in assignments:
        key, sep, raw = assignment.partition("=")
        table, dot, name = key.strip().partition(".")
        if not sep or not dot or not name or "." in name:
            raise AgentError(f"{assignment!r}: write TABLE.KEY=VALUE, e.g. mining.gpu_devices=0,1")
        if table not in SETTINGS:
            raise AgentError(f"{assignment!r}: unknown table {table!r} (one of {', '.join(SETTINGS)})")
        doc.setdefault(table, {})[name] = parse_value(raw)
        changed[key.strip()] = doc[table][name]
    candidate = home.config_file.with_name(".config.toml.new")
    fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(tomli_w.dumps(doc))
    try:
        for table in {k.split(".")[0] for k in changed}:
            module, cls = SETTINGS[table]
            load_settings(getattr(importlib.import_module(module), cls), home, candidate, section=table)
    except SettingsError as exc:
        candidate.unlink()
        raise AgentError(str(exc).splitlines()[0] if str(exc) else "invalid setting") from None
    os.replace(candidate, home.config_file)
    return {"config": str(home.config_file), "set": changed}


def state(home: Home) -> dict[str, Any]:
    from daemons.common.version import VERSION

    try:
        doc = tomllib.loads(home.config_file.read_text(encoding="utf-8"))
    except (FileNotFoundError, tomllib.TOMLDecodeError):
        doc = {}
    return {"version": VERSION, "miner_key": (doc.get("mining") or {}).get("key"),
            "running": running_pid(home, "miner") is not None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rigs_agent", description="The rig-side half of `aitbc rig` actions.")
    parser.add_argument("--home", required=True)
    sub = parser.add_subparsers(dest="what", required=True)
    miner = sub.add_parser("miner")
    miner.add_argument("action", choices=("start", "stop", "restart", "drain", "status"))
    config = sub.add_parser("config")
    config.add_argument("assignments", nargs="+")
    config.add_argument("--restart", action="store_true")
    sub.add_parser("state", help="version, miner key and whether the miner runs (for provisioning)")
    args = parser.parse_args(argv)
    home = Home.resolve(args.home)
    try:
        if args.what == "miner":
            if args.action == "start":
                result = miner_start(home)
            elif args.action == "stop":
                result = miner_stop(home)
            elif args.action == "drain":
                result = miner_drain(home)
            elif args.action == "restart":
                result = {"stop": miner_stop(home), "start": miner_start(home)}
            else:
                result = {s: {"pid": running_pid(home, s), "healthy": health(home, s) is not None} for s in SERVICES}
        elif args.what == "state":
            result = state(home)
        else:
            result = config_set(home, args.assignments)
            if args.restart and running_pid(home, "miner") is not None:
                result["restart"] = {"stop": miner_stop(home), "start": miner_start(home)}
    except (AgentError, OSError) as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
