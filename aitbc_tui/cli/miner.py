"""``aitbc miner`` (alias ``aitbc-miner``): create the miner key, run the daemon, show its state.

``status`` and ``telemetry`` ask the running daemon through its operator socket
(``HOME/run/miner.sock``); nothing here opens the daemon's files or the node directly.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer

from chain.params import UNIT

from aitbc_tui.cli.common import command_group, emit, fail, format_ait, format_value, handle_errors, resolve_home, run_daemon
from aitbc_tui.cli.options import ConfigOpt, CoordinatorOpt, HomeOpt, JsonOpt, NodeOpt, NoTcpOpt

app = command_group("miner", "The miner: GPU telemetry, inference, proofs (settings: the mining table of config.toml).")


def _devices(text: Optional[str]) -> Optional[list[int]]:
    if text is None:
        return None
    if not text.strip():
        return []
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        fail(f"--gpu-devices expects GPU indices like 0,1 (got {text!r})")


@app.command("init")
def init(
    home: HomeOpt = None,
    stake: Optional[int] = typer.Option(None, "--stake", min=0, help="AIT to keep bonded on chain (stake_amount, default 10000)."),
    coordinator: CoordinatorOpt = None,
    node: NodeOpt = None,
    gpu_devices: Optional[str] = typer.Option(None, "--gpu-devices", help="GPU indices, e.g. 0,1 (default 0)."),
    model: list[str] = typer.Option([], "--model", help="Catalogue name to serve (repeatable; default smollm2)."),
    price: Optional[int] = typer.Option(None, "--price", min=0, help="Price in units per 1000 tokens."),
    capacity: Optional[int] = typer.Option(None, "--capacity", min=1, max=1024, help="Tasks run at once."),
    compute: bool = typer.Option(True, "--compute/--no-compute", help="Take jobs (compute_enabled)."),
    password_file: Optional[Path] = typer.Option(
        None, help="File with the key's password (default: a random one in HOME/keys/miner.password, mode 0600)."),
    as_json: JsonOpt = False,
) -> None:
    """Create the miner's chain key and write the mining table of config.toml; prints the address to fund."""
    from daemons.miner.init import init_miner
    from daemons.common.daemon_key import InitError
    from pydantic import ValidationError

    resolved = resolve_home(home)
    config: dict[str, Any] = {"stake_amount": stake, "coordinator": coordinator, "node": node,
                              "gpu_devices": _devices(gpu_devices), "models": model or None,
                              "price_per_1k_tokens": price, "capacity": capacity, "compute_enabled": compute}
    with handle_errors(InitError):
        try:
            result = init_miner(resolved, password_file=password_file, config=config)
        except ValidationError as exc:
            err = exc.errors()[0]
            fail(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}")
    data = {"home": str(resolved.root), "address": result.address, "pubkey": result.pubkey,
            "password_file": str(result.password_file), "config": str(resolved.config_file),
            "mining": result.config}
    stake_units = int(result.config["stake_amount"]) * UNIT
    emit(data, as_json, lambda d: "\n".join([
        f"Miner key {d['address']} created in {d['home']}/keys",
        f"Fund it with at least {format_ait(stake_units)} plus fees (or put it in genesis: "
        f"aitbc node init --fund {d['address']}=AMOUNT)",
        f"Get a miner API key on the coordinator: aitbc coordinator keys create --role miner --address {d['address']}",
        f"  and store it here:                    aitbc miner api-key --home {d['home']} < KEYFILE",
        "  (not needed when the coordinator runs in this home)",
        f"Then start it:                          aitbc miner start --home {d['home']}",
    ]))


@app.command("api-key")
def api_key(
    home: HomeOpt = None,
    from_file: Optional[Path] = typer.Option(None, "--from-file", dir_okay=False,
                                             help="Read the key from this file instead of standard input."),
    as_json: JsonOpt = False,
) -> None:
    """Store the coordinator API key (role miner) in HOME/keys/miner.apikey, mode 0600."""
    from daemons.miner.init import write_api_key
    from daemons.common.daemon_key import InitError

    resolved = resolve_home(home)
    with handle_errors(InitError):
        text = from_file.read_text(encoding="utf-8") if from_file else sys.stdin.read()
        path = write_api_key(resolved, text)
    emit({"api_key_file": str(path)}, as_json, lambda d: f"API key stored in {d['api_key_file']}")


@app.command("start")
def start(
    home: HomeOpt = None,
    config: ConfigOpt = None,
    port: Optional[int] = typer.Option(None, "--port", help="Public /health and /metrics port (default 18001; 0 picks one)."),
    coordinator: CoordinatorOpt = None,
    node: NodeOpt = None,
    no_tcp: NoTcpOpt = False,
) -> None:
    """Run the miner daemon in the foreground until SIGTERM or Ctrl-C (then it drains)."""
    from daemons.common.daemon_key import InitError
    from daemons.miner.daemon import main
    from daemons.miner.inference import CatalogueError
    from daemons.miner.settings import load_miner_settings

    resolved = resolve_home(home)
    run_daemon(lambda: main(load_miner_settings(resolved, config, api_port=port, coordinator=coordinator, node=node,
                                                tcp_enabled=False if no_tcp else None), config),
               InitError, CatalogueError)


def _human_status(d: dict[str, Any]) -> str:
    reg, bond, earn, gpu, c = d["registration"], d["bond"], d["earnings"], d["gpu"], d["counters"]
    lines = [
        f"miner      {d['address']}  ({d['phase']}, {'ready' if d['ready'] else 'NOT ready'})",
    ]
    lines += [f"  why      {r}" for r in d["reasons"]]
    for m in d["models"]:
        state = "loaded" if m["loaded"] and m["served"] else ("loading" if not m["reason"] else "not served")
        lines.append(f"model      {m['name']:12} {state:10} {m['backend'] or '-':8} "
                     f"{(m['model_id'] or '')[:16]} {m['reason'] or ''}".rstrip())
    lines.append(f"gpu        {'ok' if gpu['ok'] else 'not usable'}  devices {gpu['devices']}"
                 + (f"  ({gpu['reason']})" if gpu["reason"] else ""))
    lines.append(f"tasks      {len(d['tasks'])} held, {d['free_slots']}/{d['capacity']} slots free")
    for task in d["tasks"]:
        lines.append(f"  {task['task_id']:40} {task['kind']:6} {task['state']:8} {task['outcome'] or ''}")
    lines.append(f"done       {c['runs_completed']} runs, {c['verifies_accepted']}+{c['verifies_rejected']} re-checks "
                 f"(accepted+rejected), {c['failed']} failed, {c['handed_back']} handed back, "
                 f"{c['completion_tokens']} tokens generated")
    lines.append(f"coord      {reg['coordinator']}  {'registered' if reg['registered'] else 'not registered'}"
                 + (f"  ({reg['error']})" if reg["error"] else ""))
    on_chain = format_ait(bond["on_chain"]) if bond["on_chain"] is not None else "unknown"
    lines.append(f"bond       {on_chain} of {format_ait(bond['target'])}  ({bond['status']})"
                 + (f"  {bond['error']}" if bond["error"] else ""))
    if earn.get("error"):
        lines.append(f"earnings   unknown: {earn['error']}")
    else:
        lines.append(f"earnings   balance {format_ait(earn['balance'])}, {format_value(earn['jobs_settled'])} jobs settled, "
                     f"slashed {format_ait(earn['slashed'])} (height {format_value(earn['height'])})")
    if d.get("last_error"):
        lines.append(f"last error {d['last_error']}")
    return "\n".join(lines)


@app.command("status")
def status(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Ready or not and why, models, GPU, running jobs, bond and earnings of the running miner."""
    from daemons.miner.client import MinerClient, miner_socket

    with handle_errors(), MinerClient(miner_socket(resolve_home(home))) as client:
        data = client.status().model_dump()
    emit(data, as_json, _human_status)


@app.command("telemetry")
def telemetry(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """The latest GPU and host sample of the running miner."""
    from daemons.miner.client import MinerClient, miner_socket

    with handle_errors(), MinerClient(miner_socket(resolve_home(home))) as client:
        data = client.telemetry().model_dump()

    def human(d: dict[str, Any]) -> str:
        host = d["host"]
        lines = [f"nvml       {'available' if d['nvml_available'] else 'unavailable'}"
                 + (f" ({d['nvml_error']})" if d["nvml_error"] else "")]
        for g in d["gpus"]:
            if g["error"]:
                lines.append(f"gpu {g['index']}      {g['error']}")
                continue
            used, total = g["memory_used_bytes"], g["memory_total_bytes"]
            mem = f"{used // 2**20}/{total // 2**20} MiB" if used is not None and total is not None else "memory -"
            lines.append(f"gpu {g['index']}      {g['name'] or '-'}  util {format_value(g['utilization_percent'])}%  "
                         f"{mem}  {format_value(g['temperature_celsius'])} C  {format_value(g['power_watts'])} W")
        ram = (f"{host['ram_used_bytes'] // 2**20}/{host['ram_total_bytes'] // 2**20} MiB"
               if host["ram_used_bytes"] is not None and host["ram_total_bytes"] is not None else "-")
        lines.append(f"host       {format_value(host['cpu_count'])} CPUs, busy {format_value(host['cpu_percent'])}%, "
                     f"RAM {ram}, load {format_value(host['load_avg_1m'])}")
        return "\n".join(lines)

    emit(data, as_json, human)
