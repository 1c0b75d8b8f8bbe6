"""``aitbc rig``: the mining rigs an operator manages over SSH (``HOME/rigs.toml``).

A rig's daemons are reached through its SSH master connection (host key pinned in
``HOME/known_hosts``, one ControlMaster per rig) and OpenSSH Unix-socket forwarding of their
operator sockets, never through a TCP admin port (ARCHITECTURE.md); ``aitbc-tui --rig NAME`` and
the TUI's Fleet screen use the same file and the same connections. The work is in
``daemons/ops/rigs*.py``; these commands parse, call and print.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from aitbc_tui.cli.common import command_group, emit, fail, resolve_home
from aitbc_tui.cli.options import HomeOpt, JsonOpt

app = command_group("rig", "Mining rigs managed over SSH: add, status, miner control, logs, config, exec, provision.")

NamesArg = typer.Argument(None, help="Rig names (see `aitbc rig list`).")
AllOpt = typer.Option(False, "--all", help="Every rig in HOME/rigs.toml.")


def _rigs(home: Any, names: Optional[list[str]], all_rigs: bool) -> list[Any]:
    from daemons.ops.rigs import RigError, find_rig, load_rigs

    try:
        if all_rigs or not names:
            if not all_rigs:
                fail("name one or more rigs, or use --all")
            rigs = list(load_rigs(home).values())
            if not rigs:
                fail("no rigs yet: add one with `aitbc rig add NAME ssh://user@host`")
            return rigs
        return [find_rig(home, name) for name in dict.fromkeys(names)]
    except RigError as exc:
        fail(str(exc))


def _link(home: Any, name: str) -> Any:
    from daemons.ops.rigs import RigError, find_rig
    from daemons.ops.rigs_ssh import RigLink

    try:
        return RigLink(find_rig(home, name), home)
    except RigError as exc:
        fail(str(exc))


@app.command("add")
def add(
    name: str = typer.Argument(..., help="A short name for the rig (letters, digits, - and _)."),
    url: str = typer.Argument(..., help="ssh://user@host[:port]"),
    rig_home: Optional[str] = typer.Option(None, "--rig-home", help="The rig's AITBC home (absolute; default ~user/.aitbc)."),
    runtime_dir: Optional[str] = typer.Option(None, help="The rig's $AITBC_RUNTIME_DIR, e.g. /run/aitbc under systemd."),
    identity_file: Optional[str] = typer.Option(None, help="SSH private key for this rig."),
    python: Optional[str] = typer.Option(None, "--python", help="The rig's Python with AITBC installed (default python3)."),
    host_key: Optional[str] = typer.Option(None, "--host-key", help="Pin this host key ('ssh-ed25519 AAAA...'), as read on the rig."),
    accept_new: bool = typer.Option(False, "--accept-new", help="Read the rig's host key now and pin it (trust on first contact)."),
    force: bool = typer.Option(False, "--force", help="Replace a rig of the same name (and its pinned key)."),
    home: HomeOpt = None, as_json: JsonOpt = False,
) -> None:
    """Remember a rig and pin its host key (--host-key or --accept-new); without either nothing is contacted."""
    from daemons.ops.rigs import Rig, RigError, load_rigs, save_rigs
    from daemons.ops.rigs_ssh import fingerprint, parse_public_key, pin_host_key, pinned_keys, scan_host_key

    resolved = resolve_home(home)
    if host_key and accept_new:
        fail("give --host-key or --accept-new, not both")
    try:
        rigs = load_rigs(resolved)
        rig = Rig.create(name=name, url=url, home=rig_home, runtime_dir=runtime_dir, identity_file=identity_file,
                         python=python)
        if name in rigs and not force:
            fail(f"a rig named {name!r} exists ({rigs[name].url}); use --force to replace it")
        key = parse_public_key(host_key) if host_key else scan_host_key(rig) if accept_new else None
        if key is not None:
            rig = rig.model_copy(update={"host_key": fingerprint(key)})
    except RigError as exc:
        fail(str(exc))
    if key is not None:
        pin_host_key(resolved, rig, key)
    rigs[name] = rig
    path = save_rigs(resolved, rigs)
    pinned = [fingerprint(k) for k in pinned_keys(resolved, rig)]
    note = (f"host key {pinned[0]} pinned" if pinned else
            "no host key pinned: connections are refused until you pin one with --accept-new or --host-key")
    emit({"added": name, **rig.entry(), "host_key_pinned": pinned[0] if pinned else None}, as_json,
         lambda d: f"added rig {name} ({url}) to {path}; {note}")


@app.command("list")
def list_rigs(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """The rigs in HOME/rigs.toml."""
    from daemons.ops.rigs import RigError, load_rigs

    try:
        rigs = load_rigs(resolve_home(home))
    except RigError as exc:
        fail(str(exc))
    data = [{"name": n, **r.entry()} for n, r in sorted(rigs.items())]
    emit(data, as_json, lambda rows: "\n".join(f"{r['name']:16} {r['url']}" for r in rows) or "no rigs yet: "
         "add one with `aitbc rig add NAME ssh://user@host`")


@app.command("remove")
def remove(name: str = typer.Argument(..., help="The rig to forget."),
           home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Forget a rig (nothing on the rig changes; its master connection is closed)."""
    from daemons.ops.rigs import RigError, load_rigs, save_rigs
    from daemons.ops.rigs_ssh import close_all

    resolved = resolve_home(home)
    try:
        rigs = load_rigs(resolved)
    except RigError as exc:
        fail(str(exc))
    if name not in rigs:
        fail(f"no rig named {name!r} (known: {', '.join(sorted(rigs)) or 'none'})")
    close_all(resolved, [rigs.pop(name)])
    save_rigs(resolved, rigs)
    emit({"removed": name}, as_json, lambda d: f"removed rig {name}")


def render_rows(rows: list[dict[str, Any]]) -> str:
    from aitbc_tui.cli.common import format_ait

    lines = [f"{'RIG':14} {'STATE':12} {'MINER':14} {'GPUS':>4} {'UTIL':>5} {'TEMP':>5} {'JOBS':>5} {'DONE':>6} "
             f"{'EARNED':>14}  MODELS"]
    for r in rows:
        state = "up" if r["reachable"] else "UNREACHABLE"
        util = f"{r['gpu_util']:.0f}%" if r["gpu_util"] is not None else "-"
        temp = f"{r['gpu_temp']:.0f}C" if r["gpu_temp"] is not None else "-"
        earned = format_ait(r["earnings"]) if r["earnings"] is not None else "-"
        lines.append(f"{r['name']:14} {state:12} {r['miner']:14} {r['gpus']:>4} {util:>5} {temp:>5} "
                     f"{r['jobs_running']:>5} {r['jobs_done']:>6} {earned:>14}  {','.join(r['models']) or '-'}")
    return "\n".join(lines)


@app.command("status")
def status(names: Optional[list[str]] = NamesArg, all_rigs: bool = AllOpt,
           timeout: float = typer.Option(10.0, "--timeout", min=1, max=120, help="Seconds to wait for each rig's connection."),
           home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Reachability, miner state, models, GPUs, jobs and earnings of rigs, polled at once; exit 1 if any is unreachable."""
    from daemons.ops.rigs_fleet import Fleet

    resolved = resolve_home(home)
    fleet = Fleet(resolved, _rigs(resolved, names, all_rigs), connect_timeout_s=timeout)
    rows = [r.model_dump() for r in fleet.poll()]
    emit(rows, as_json, render_rows)
    for row in rows:
        if row["error"]:
            typer.echo(row["error"], err=True)
    if not all(r["reachable"] for r in rows):
        raise typer.Exit(1)


@app.command("miner")
def miner(action: str = typer.Argument(..., help="start, stop, restart or drain."),
          names: Optional[list[str]] = NamesArg, all_rigs: bool = AllOpt,
          home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Start, stop, restart or drain the miner of rigs (through systemd units when installed); exit 1 if any failed."""
    from daemons.ops.rigs_actions import MINER_ACTIONS, miner_action, on_rigs
    from daemons.ops.rigs_ssh import RigLink

    if action not in MINER_ACTIONS:
        fail(f"unknown miner action {action!r}: use one of {', '.join(MINER_ACTIONS)}")
    resolved = resolve_home(home)
    links = [RigLink(rig, resolved) for rig in _rigs(resolved, names, all_rigs)]
    results = on_rigs(links, lambda link: miner_action(link, action))
    data = {name: ({"error": str(r)} if isinstance(r, Exception) else r) for name, r in results.items()}
    emit(data, as_json, lambda d: "\n".join(f"{n:14} {v.get('error') or _outcome(v)}" for n, v in d.items()))
    if any(isinstance(r, Exception) for r in results.values()):
        raise typer.Exit(1)


def _outcome(answer: dict[str, Any]) -> str:
    if "start" in answer and "stop" in answer:
        return f"restarted ({answer['stop'].get('miner')}, then {answer['start'].get('miner')})"
    return " ".join(f"{k} {v}" for k, v in answer.items() if v is not None)


@app.command("logs")
def logs(name: str = typer.Argument(..., help="The rig."),
         service: Optional[str] = typer.Option(None, "--service", help="Only this daemon's log (e.g. miner)."),
         follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines until Ctrl-C."),
         lines: int = typer.Option(50, "--lines", "-n", min=1, max=100_000, help="How many last lines to print."),
         home: HomeOpt = None) -> None:
    """The rig's daemon logs (JSON lines), read over SSH."""
    from daemons.ops.rigs import RigError

    link = _link(resolve_home(home), name)
    try:
        argv = link.rig.tail_argv(lines, follow=follow, service=service)
        link.ensure()
    except RigError as exc:
        fail(str(exc))
    try:
        code = subprocess.run(link.command(argv), stdin=subprocess.DEVNULL).returncode
    except KeyboardInterrupt:
        code = 0
    raise typer.Exit(0 if code in (0, 130, -2) else 1)


@app.command("config")
def config(name: str = typer.Argument(..., help="The rig."),
           verb: str = typer.Argument(..., help="set"),
           assignments: list[str] = typer.Argument(..., help="TABLE.KEY=VALUE, e.g. mining.gpu_devices=0,1"),
           no_restart: bool = typer.Option(False, "--no-restart", help="Write only; apply at the miner's next start."),
           home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Change the rig's config.toml (checked by the rig's own settings code first), then restart its miner to apply it."""
    from daemons.ops.rigs import RigError
    from daemons.ops.rigs_actions import config_set

    if verb != "set":
        fail(f"unknown config verb {verb!r}: use `aitbc rig config {name} set TABLE.KEY=VALUE`")
    link = _link(resolve_home(home), name)
    try:
        answer = config_set(link, assignments, restart=not no_restart)
    except RigError as exc:
        fail(str(exc))
    emit(answer, as_json, lambda d: "\n".join([f"set {k} = {v!r} in {d['config']}" for k, v in d["set"].items()]
                                                + (["miner restarted"] if d.get("restart") else [])))


@app.command("exec", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def exec_(name: str = typer.Argument(..., help="The rig."),
          command: list[str] = typer.Argument(..., help="The command and its arguments, after --."),
          timeout: float = typer.Option(600.0, "--timeout", min=1, help="Seconds before the command is given up on."),
          home: HomeOpt = None) -> None:
    """Run one command on the rig (each argument quoted, no shell unless you call one); its output and exit status."""
    from daemons.ops.rigs import RigError

    link = _link(resolve_home(home), name)
    try:
        done = link.run(command, timeout_s=timeout)
    except RigError as exc:
        fail(str(exc))
    sys.stdout.buffer.write(done.stdout)
    sys.stderr.buffer.write(done.stderr)
    raise typer.Exit(done.returncode)


@app.command("disconnect")
def disconnect(names: Optional[list[str]] = NamesArg, all_rigs: bool = AllOpt, home: HomeOpt = None) -> None:
    """Close the SSH master connection of rigs now (they close by themselves a few minutes after the last use)."""
    from daemons.ops.rigs_ssh import close_all

    resolved = resolve_home(home)
    rigs = _rigs(resolved, names, all_rigs)
    close_all(resolved, rigs)
    typer.echo(f"closed {len(rigs)} connection(s)")


@app.command("provision")
def provision(name: str = typer.Argument(..., help="The rig (added with `aitbc rig add`)."),
              coordinator: str = typer.Option(..., "--coordinator", help="The coordinator URL the miner works for."),
              api_key_file: Optional[Path] = typer.Option(None, "--api-key-file", help="File holding the miner's coordinator API key "
                                                          "(without it: install and init only, and say which key to create)."),
              node: Optional[str] = typer.Option(None, "--node", help="Node RPC URL for the miner (default: the rig's own)."),
              gpu: bool = typer.Option(False, "--gpu", help="Install the GPU extra (vLLM) instead of the CPU one."),
              service: bool = typer.Option(False, "--service", help="Also install and enable the systemd unit (rig account must be root)."),
              wheelhouse: Optional[Path] = typer.Option(None, "--wheelhouse", help="Local folder of wheels to install from (offline)."),
              start: bool = typer.Option(True, "--start/--no-start", help="Start the miner at the end."),
              base_python: str = typer.Option("python3", "--base-python", help="The rig's Python 3.11+ that makes the venv."),
              home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Install this exact AITBC version on the rig account over SSH and make it a miner (idempotent, with progress)."""
    from aitbc_tui.cli.common import read_secret_file
    from daemons.ops.rigs import RigError
    from daemons.ops.rigs_provision import ProvisionPlan, provision_rig

    resolved = resolve_home(home)
    link = _link(resolved, name)
    from daemons.ops.rigs import check_remote_path

    key = read_secret_file(api_key_file, "API key file") if api_key_file is not None else None
    try:
        check_remote_path(base_python, "--base-python") if "/" in base_python else None
    except RigError as exc:
        fail(str(exc))
    if "/" not in base_python and not base_python.replace(".", "").replace("-", "").isalnum():
        fail(f"--base-python {base_python!r}: give a command name like python3.11 or an absolute path")
    plan = ProvisionPlan(coordinator=coordinator, api_key=key, node=node, gpu=gpu, service=service,
                         wheelhouse=wheelhouse, start=start, base_python=base_python)
    try:
        summary = provision_rig(link, plan, progress=lambda step: typer.echo(f"  {step}", err=True))
    except RigError as exc:
        fail(str(exc))
    emit(summary, as_json, lambda d: f"rig {name} provisioned: {d['python']} (AITBC {d['version']}), miner {d['address']}"
         + (f", miner {d['miner']}" if d.get("miner") else ""))
