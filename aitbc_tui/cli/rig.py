"""``aitbc rig``: the mining rigs an operator manages over SSH (``HOME/rigs.toml``).

A rig's daemons are reached through OpenSSH Unix-socket forwarding of their operator sockets,
never through a TCP admin port (ARCHITECTURE.md); ``aitbc-tui --rig NAME`` uses the same file.
"""

from __future__ import annotations

from typing import Optional

import typer

from aitbc_tui.cli.common import command_group, emit, fail, resolve_home
from aitbc_tui.cli.options import HomeOpt, JsonOpt

app = command_group("rig", "Mining rigs managed over SSH: add, list, status, remove.")


@app.command("add")
def add(
    name: str = typer.Argument(..., help="A short name for the rig (letters, digits, - and _)."),
    url: str = typer.Argument(..., help="ssh://user@host[:port]"),
    rig_home: Optional[str] = typer.Option(None, "--rig-home", help="The rig's AITBC home (absolute; default ~user/.aitbc)."),
    runtime_dir: Optional[str] = typer.Option(None, help="The rig's $AITBC_RUNTIME_DIR, e.g. /run/aitbc under systemd."),
    identity_file: Optional[str] = typer.Option(None, help="SSH private key for this rig."),
    force: bool = typer.Option(False, "--force", help="Replace a rig of the same name."),
    home: HomeOpt = None, as_json: JsonOpt = False,
) -> None:
    """Remember a rig (nothing is contacted; `aitbc rig status NAME` checks it)."""
    from daemons.ops.rigs import Rig, RigError, load_rigs, save_rigs

    resolved = resolve_home(home)
    if not name.replace("-", "").replace("_", "").isalnum():
        fail(f"rig name {name!r}: use letters, digits, '-' and '_'")
    try:
        rigs = load_rigs(resolved)
        rig = Rig(name=name, url=url, home=rig_home, runtime_dir=runtime_dir, identity_file=identity_file)
        rig.target  # noqa: B018 - validates the URL
        rig.remote_home  # noqa: B018 - validates the home path
    except RigError as exc:
        fail(str(exc))
    except ValueError as exc:
        fail(f"rig {name}: {exc}")
    if name in rigs and not force:
        fail(f"a rig named {name!r} exists ({rigs[name].url}); use --force to replace it")
    rigs[name] = rig
    path = save_rigs(resolved, rigs)
    emit({"added": name, **rig.entry()}, as_json, lambda d: f"added rig {name} ({url}) to {path}")


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
    """Forget a rig (nothing on the rig changes)."""
    from daemons.ops.rigs import RigError, load_rigs, save_rigs

    resolved = resolve_home(home)
    try:
        rigs = load_rigs(resolved)
    except RigError as exc:
        fail(str(exc))
    if name not in rigs:
        fail(f"no rig named {name!r} (known: {', '.join(sorted(rigs)) or 'none'})")
    del rigs[name]
    save_rigs(resolved, rigs)
    emit({"removed": name}, as_json, lambda d: f"removed rig {name}")


@app.command("status")
def status(name: str = typer.Argument(..., help="The rig to check."),
           home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Each daemon's state on the rig, through its operator sockets forwarded over SSH."""
    from aitbc_tui.cli.network import collect_status, render_status
    from daemons.ops.rigs import RigError, RigTunnel, find_rig

    try:
        rig = find_rig(resolve_home(home), name)
        with RigTunnel(rig) as tunnel:
            data = collect_status(tunnel.home)
    except RigError as exc:
        fail(str(exc))
    data["home"] = f"{rig.url} {rig.remote_home}"
    emit({"rig": name, **data}, as_json, render_status)
