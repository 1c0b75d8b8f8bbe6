"""``aitbc up`` / ``aitbc down``: the whole single-machine network in one command."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any, Optional

import typer

from aitbc_tui.cli.common import emit, fail, handle_errors, resolve_home
from aitbc_tui.cli.options import HomeOpt, JsonOpt


def _say(message: str) -> None:
    """Progress on stderr. A closed pipe (``aitbc up | tee log`` after Ctrl-C killed tee) must
    never stop us from stopping the daemons, so writing may fail silently."""
    try:
        typer.echo(message, err=True)
    except (BrokenPipeError, OSError):
        pass


def _progress(message: str) -> None:
    _say(f"  {message}")


def up(
    home: HomeOpt = None,
    detach: bool = typer.Option(False, "--detach", "-d", help="Start in the background and return."),
    validators: int = typer.Option(1, "--validators", min=1, max=16,
                                   help="Validators of a new dev chain: 1 is single-authority PoA; more run BFT "
                                        "consensus between local nodes (extra ones in HOME/validators)."),
    block_time: float = typer.Option(1.0, min=0.05, max=60, help="Seconds between blocks for a new home."),
    rpc_port: int = typer.Option(26657, help="Node JSON-RPC port."),
    ws_port: int = typer.Option(26658, help="Node WebSocket port."),
    coordinator_port: int = typer.Option(18000, help="Coordinator REST port."),
    miner_port: int = typer.Option(18001, help="Miner /health and /metrics port."),
    explorer_port: int = typer.Option(3000, help="Explorer web port."),
    market_port: int = typer.Option(5173, help="Marketplace web port."),
    as_json: JsonOpt = False,
) -> None:
    """Create (on an empty home) and start node, wallet, coordinator, miner and the web daemon; Ctrl-C stops all."""
    from daemons.ops.devnet import DevnetError, Ports, bring_up
    from daemons.ops.supervisor import Supervisor, SupervisorError

    resolved = resolve_home(home)
    supervisor = Supervisor(resolved, detach=detach, progress=_progress)
    ports = Ports(rpc=rpc_port, ws=ws_port, coordinator=coordinator_port, miner=miner_port, explorer=explorer_port,
                  market=market_port)

    def _interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _interrupt)
    keep_running = False
    code = 1
    try:
        try:
            with handle_errors():
                summary = bring_up(resolved, supervisor, ports=ports, block_time=block_time, validators=validators)
        except (SupervisorError, DevnetError) as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            _say("\ninterrupted: stopping what was started")
            code = 130
            raise typer.Exit(code) from None
        emit(summary, as_json, _render_summary)
        if detach:
            keep_running = True
            return
        _say("Running in the foreground; Ctrl-C stops every daemon.")
        try:
            exited = supervisor.watch()
            _say(f"{exited} exited; stopping the others (see {resolved.logs_dir / (exited + '.out')})")
        except KeyboardInterrupt:
            _say("\nstopping...")
            code = 0
        raise typer.Exit(code)
    finally:
        # Whatever happened (an error, Ctrl-C, a closed stdout), a foreground `up` leaves nothing
        # running behind it; only a successful --detach does.
        if not keep_running:
            supervisor.stop_children()


def _render_summary(s: dict[str, Any]) -> str:
    lines = [f"AITBC dev network up in {s['home']} (chain {s['chain_id']}, height {s['height']})", ""]
    for name, info in s["services"].items():
        lines.append(f"  {name:12} {info}")
    if s.get("client_api_key_file"):
        lines.append(f"  {'client key':12} {s['client_api_key_file']} (X-Api-Key for curl)")
    if s.get("accounts"):
        lines.append("")
        for name, address in s["accounts"].items():
            lines.append(f"  {name:12} {address}")
    if s.get("next"):
        lines += ["", "Try:"] + [f"  {cmd}" for cmd in s["next"]]
    return "\n".join(lines)


def down(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Stop every daemon of this home (web, miner, coordinator, wallet, then the node(s))."""
    from daemons.ops.devnet import stop_order
    from daemons.ops.supervisor import stop_service

    resolved = resolve_home(home)
    stopped: dict[str, int | None] = {}
    for service, service_home in stop_order(resolved):
        name = service if service_home == resolved else f"{service} {service_home.root.name}"
        pid = stop_service(service_home, service)
        stopped[name] = pid
        if pid is not None and not as_json:
            typer.echo(f"  {name}: stopped (pid {pid})", err=True)
    if as_json:
        emit({"stopped": {k: v for k, v in stopped.items() if v is not None}}, True)
    elif not any(stopped.values()):
        typer.echo(f"nothing was running in {resolved.root}")


def collect_status(resolved: Any) -> dict[str, Any]:
    """Each daemon's state on one home (a local home, or a rig's sockets forwarded over SSH)."""
    from daemons.ops import SERVICES
    from daemons.ops.supervisor import health, permanent_failure, running_pid

    data: dict[str, Any] = {"home": str(resolved.root), "services": {}}
    for service in SERVICES:
        pid = running_pid(resolved, service)
        answer = health(resolved, service)
        data["services"][service] = {"running": pid is not None or answer is not None, "pid": pid,
                                     "healthy": answer is not None, "socket": str(resolved.socket(service)),
                                     "failure": None if answer is not None else permanent_failure(resolved, service)}
    from daemons.ops.devnet import validator_homes

    for extra in validator_homes(resolved):
        answer = health(extra, "node")
        data["services"][f"node {extra.root.name}"] = {
            "running": running_pid(extra, "node") is not None or answer is not None,
            "pid": running_pid(extra, "node"), "healthy": answer is not None, "socket": str(extra.socket("node"))}
    if data["services"]["node"]["healthy"]:
        from daemons.node.client import NodeClient

        with handle_errors(), NodeClient.for_home(resolved) as client:
            status = client.status()
        data["chain"] = {"chain_id": status["chain_id"], "height": status["height"],
                         "mempool_size": status["mempool_size"]}
    return data


def render_status(d: dict[str, Any]) -> str:
    lines = [f"home {d['home']}"]
    for name, s in d["services"].items():
        state = "healthy" if s["healthy"] else ("running, not answering" if s["running"] else "stopped")
        state = "failed" if s.get("failure") else state
        lines.append(f"  {name:12} {state}{'  pid ' + str(s['pid']) if s['pid'] else ''}")
        lines += [f"    {line.strip()}" for line in (s.get("failure") or "").splitlines()]
    if "chain" in d:
        c = d["chain"]
        lines.append(f"  chain        {c['chain_id']} height {c['height']}, {c['mempool_size']} pending txs")
    return "\n".join(lines)


def network_status(home: Optional[Path], as_json: bool) -> None:
    """Each daemon's state on this home."""
    emit(collect_status(resolve_home(home)), as_json, render_status)
