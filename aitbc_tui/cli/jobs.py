"""Top-level job commands: ``aitbc submit | status JOB_ID | jobs | cancel | receipts [verify]``.

Which coordinator and as whom:

- ``--client ADDRESS``: the coordinator's operator socket in HOME (on the coordinator's host),
  acting for that client; no API key needed.
- otherwise an API key, from ``--api-key``, else ``$AITBC_API_KEY``, else the file
  ``HOME/keys/client.apikey``; sent to ``--coordinator URL`` (``$AITBC_COORDINATOR_URL``, default
  ``http://127.0.0.1:18000``).

``aitbc receipts verify ID`` does not ask the coordinator at all: it fetches the receipt's
evidence from a node and checks it with :mod:`chain.receipt_verify` (chain data alone).
"""

from __future__ import annotations

import sys
import time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from aitbc_tui.cli.common import command_group, emit, fail, format_ait, handle_errors, resolve_home, table
from aitbc_tui.cli.options import HomeOpt, JsonOpt, NodeOpt
from aitbc_tui.format import parse_amount

API_KEY_FILE = "client.apikey"

ApiKeyOpt = Annotated[Optional[str], typer.Option(
    "--api-key", envvar="AITBC_API_KEY", show_envvar=True,
    help="Client API key (default: $AITBC_API_KEY, else HOME/keys/client.apikey).")]
UrlOpt = Annotated[Optional[str], typer.Option(
    "--coordinator", envvar="AITBC_COORDINATOR_URL", show_envvar=True,
    help="Coordinator URL (default http://127.0.0.1:18000).")]
ClientOpt = Annotated[Optional[str], typer.Option(
    "--client", help="Act for this client address through the coordinator's operator socket in HOME (no API key).")]

receipts_app = command_group("receipts", "Receipts of your jobs; `receipts verify ID` proves one from chain data.",
                             invoke_without_command=True, no_args_is_help=False)


def client_for(home: Optional[Path], url: Optional[str], api_key: Optional[str], client: Optional[str]) -> Any:
    """The coordinator client these options name (see the module doc)."""
    from chain.crypto import validate_address
    from daemons.coordinator.client import DEFAULT_URL, CoordinatorClient, coordinator_socket

    resolved = resolve_home(home)
    if client:
        with handle_errors():
            validate_address(client)
        return CoordinatorClient(coordinator_socket(resolved), address=client)
    if not api_key:
        key_file = resolved.keys_dir / API_KEY_FILE
        if key_file.is_file():
            api_key = key_file.read_text(encoding="utf-8").strip()
    if not api_key:
        fail(f"no API key: pass --api-key, set AITBC_API_KEY, write {resolved.keys_dir / API_KEY_FILE}, "
             "or use --client ADDRESS on the coordinator's host")
    return CoordinatorClient(url or _home_url(resolved) or DEFAULT_URL, api_key=api_key)


def _home_url(home: Any) -> str | None:
    """The coordinator URL configured in this home (``[coordinator] api_host/api_port``), if any."""
    from daemons.common.settings import SettingsError, load_settings
    from daemons.coordinator.settings import CoordinatorSettings

    if not home.config_file.exists():
        return None
    try:
        settings = load_settings(CoordinatorSettings, home)
    except SettingsError:
        return None
    host = "127.0.0.1" if settings.api_host in ("0.0.0.0", "::", "") else settings.api_host
    return f"http://{host}:{settings.api_port}" if settings.api_port else None


def _milli(text: str, name: str) -> int:
    """'0.7' -> 700, exactly (the job's parameters are integers so that they hash the same everywhere)."""
    try:
        value = Decimal(text) * 1000
    except InvalidOperation:
        fail(f"{name} must be a number, e.g. 0.7")
    if value != value.to_integral_value():
        fail(f"{name} has more than 3 decimals")
    return int(value)


def _job_line(job: dict[str, Any]) -> str:
    price = format_ait(job["price"]) if job.get("price") is not None else "-"
    settled = f"settled@{job['settled_height']}" if job.get("settled_height") else ""
    return (f"{job['job_id']}  {job['status']:9}  {job['model'][:20]:20}  {(job.get('miner') or '-')[:12]:12}  "
            f"{price:>18}  {settled}")


def _job_human(job: dict[str, Any]) -> str:
    lines = [f"job {job['job_id']}: {job['status']}",
             f"  model      {job['model']}",
             f"  miner      {job.get('miner') or '-'}",
             f"  max price  {format_ait(job['max_price'])}"]
    if job.get("price") is not None:
        lines.append(f"  price      {format_ait(job['price'])}")
    if job.get("completion_tokens") is not None:
        lines.append(f"  tokens     {job['prompt_tokens']} prompt + {job['completion_tokens']} completion")
    if job.get("receipt_id"):
        lines.append(f"  receipt    {job['receipt_id']}"
                     + (f" (settled at height {job['settled_height']})" if job.get("settled_height") else " (not settled yet)"))
    if job.get("error"):
        lines.append(f"  error      {job['error']}")
    if job.get("output") is not None:
        lines += ["", job["output"]]
    return "\n".join(lines)


def submit(
    prompt: str = typer.Argument(..., help="The prompt."),
    model: str = typer.Option(..., "--model", "-m", help="Model name (see the coordinator's served models)."),
    max_tokens: int = typer.Option(128, "--max-tokens", min=1, help="Most tokens to generate."),
    max_price: Optional[str] = typer.Option(None, "--max-price",
                                            help="Most the job may cost, in AIT (or 250u units); default: the API key's default max price, else the coordinator's."),
    temperature: str = typer.Option("0", "--temperature", help="Sampling temperature; 0 is greedy."),
    top_p: str = typer.Option("1", "--top-p", help="Nucleus sampling mass, (0, 1]."),
    seed: int = typer.Option(0, "--seed", min=0, help="Sampling seed."),
    stop: Optional[list[str]] = typer.Option(None, "--stop", metavar="TEXT", help="Stop generating once the output contains this "
                                                                   "text (repeat for up to 4)."),
    wait: bool = typer.Option(False, "--wait", help="Wait for the result and print it."),
    timeout: float = typer.Option(600.0, "--timeout", min=1, help="Seconds --wait waits at most."),
    stream: bool = typer.Option(False, "--stream", help="Print the output as the miner generates it, then wait "
                                                         "for the result (implies --wait)."),
    home: HomeOpt = None, url: UrlOpt = None, api_key: ApiKeyOpt = None,
    client: ClientOpt = None, as_json: JsonOpt = False,
) -> None:
    """Submit an AI job; with --wait, show progress and then the output; with --stream, print
    tokens as they are generated."""
    from daemons.coordinator.models import JobStatus

    price_units = None
    if max_price is not None:
        try:
            price_units = parse_amount(max_price)
        except ValueError as exc:
            fail(str(exc))
    with handle_errors(), client_for(home, url, api_key, client) as coordinator:
        job = coordinator.submit(model, prompt, max_tokens=max_tokens, max_price=price_units,
                                 temperature_milli=_milli(temperature, "--temperature"),
                                 top_p_milli=_milli(top_p, "--top-p"), seed=seed, stop=stop or ())
        if stream:
            job, wait = _stream(coordinator, job, timeout, show=not as_json), True
        elif wait:
            job = _wait(coordinator, job, timeout, show=not as_json)
    data = job.model_dump()
    if stream and not as_json:
        if data["status"] != JobStatus.COMPLETED:
            typer.echo(_job_human(data), err=True)
            raise typer.Exit(1)
        return
    if not wait:
        emit(data, as_json, lambda d: f"submitted job {d['job_id']} ({d['status']}); "
                                      f"follow it with: aitbc status {d['job_id']}")
        return
    emit(data, as_json, lambda d: d["output"] if d["status"] == JobStatus.COMPLETED and d.get("output") is not None
         else _job_human(d))
    if data["status"] != JobStatus.COMPLETED:
        raise typer.Exit(1)


def _stream(coordinator: Any, job: Any, timeout: float, show: bool) -> Any:
    """Print the output's pieces as they come (when ``show``), then return the finished job;
    ``timeout`` bounds the wait for each next piece."""
    from daemons.coordinator.models import Job

    for item in coordinator.follow(job.job_id, timeout=timeout):
        if isinstance(item, Job):
            if show:
                typer.echo("")
            return item
        if show:
            typer.echo(item, nl=False)
            sys.stdout.flush()
    fail(f"the output stream of job {job.job_id} ended without the job; follow it with: aitbc status {job.job_id}")


def _wait(coordinator: Any, job: Any, timeout: float, show: bool) -> Any:
    """Poll until the job is final, printing each status change on stderr."""
    from daemons.coordinator.models import BUSY, FINAL

    deadline = time.monotonic() + timeout
    last = None
    while True:
        state = (job.status, job.miner)
        if show and state != last:
            where = f" on {job.miner}" if job.miner and job.status in BUSY else ""
            typer.echo(f"[{time.strftime('%H:%M:%S')}] job {job.job_id[:12]} {job.status}{where}", err=True)
            last = state
        if job.status in FINAL:
            return job
        if time.monotonic() >= deadline:
            fail(f"job {job.job_id} is still {job.status} after {timeout:g}s; follow it with: aitbc status {job.job_id}")
        time.sleep(0.3)
        job = coordinator.job(job.job_id)


def job_status(
    job_id: Optional[str] = typer.Argument(None, help="The job id printed by `aitbc submit`; without it, the "
                                                      "state of every daemon of this home."),
    home: HomeOpt = None, url: UrlOpt = None, api_key: ApiKeyOpt = None,
    client: ClientOpt = None, as_json: JsonOpt = False,
) -> None:
    """Status of a job (and its output once completed), or of the whole network without JOB_ID."""
    if job_id is None:
        from aitbc_tui.cli.network import network_status

        network_status(home, as_json)
        return
    with handle_errors(), client_for(home, url, api_key, client) as coordinator:
        data = coordinator.job(job_id).model_dump()
    emit(data, as_json, _job_human)


def list_jobs(
    status: Optional[str] = typer.Option(None, "--status", help="Only jobs in this state."),
    limit: int = typer.Option(50, "--limit", min=1, max=500),
    home: HomeOpt = None, url: UrlOpt = None, api_key: ApiKeyOpt = None,
    client: ClientOpt = None, as_json: JsonOpt = False,
) -> None:
    """Your jobs, newest first."""
    with handle_errors(), client_for(home, url, api_key, client) as coordinator:
        data = [j.model_dump() for j in coordinator.jobs(status=status, limit=limit).jobs]
    emit(data, as_json, lambda rows: "\n".join(_job_line(r) for r in rows) if rows else "no jobs")


def cancel(
    job_id: str = typer.Argument(..., help="The job to cancel."),
    home: HomeOpt = None, url: UrlOpt = None, api_key: ApiKeyOpt = None,
    client: ClientOpt = None, as_json: JsonOpt = False,
) -> None:
    """Cancel a job that has no result yet; its reservation goes back to your escrow."""
    with handle_errors(), client_for(home, url, api_key, client) as coordinator:
        data = coordinator.cancel(job_id).model_dump()
    emit(data, as_json, lambda d: f"job {d['job_id']} cancelled; {format_ait(d['max_price'])} released")


@receipts_app.callback()
def receipts(
    ctx: typer.Context,
    job_id: Optional[str] = typer.Option(None, "--job-id", help="Only the receipt of this job."),
    limit: int = typer.Option(50, "--limit", min=1, max=500),
    home: HomeOpt = None, url: UrlOpt = None, api_key: ApiKeyOpt = None,
    client: ClientOpt = None, as_json: JsonOpt = False,
) -> None:
    """Receipts the coordinator signed for your jobs, with their settlement state."""
    if ctx.invoked_subcommand is not None:
        return
    with handle_errors(), client_for(home, url, api_key, client) as coordinator:
        data = [r.model_dump() for r in coordinator.receipts(job_id=job_id, limit=limit).receipts]
    emit(data, as_json, table(
        "no receipts", None,
        lambda r: f"{r['receipt_id']}  job {r['job_id']}  {format_ait(r['price']):>18}  {r['status']}"
                  + (f"@{r['settled_height']}" if r.get("settled_height") else "")))


@receipts_app.command("verify")
def verify(
    receipt: str = typer.Argument(..., help="Receipt id (64 hex) or job id."),
    coordinator: Optional[str] = typer.Option(
        None, help="With a job id: the coordinator whose job it is (job ids are scoped to their coordinator)."),
    home: HomeOpt = None, node: NodeOpt = None, as_json: JsonOpt = False,
) -> None:
    """Prove a receipt from chain data alone: signatures, Merkle inclusion, header, finality."""
    import re

    from chain.genesis import load_genesis
    from chain.receipt_verify import verify_settled_receipt
    from daemons.node.client import NodeClient

    resolved = resolve_home(home)
    by_id = re.fullmatch(r"[0-9a-f]{64}", receipt) is not None
    chain_id = None
    if resolved.genesis_file.is_file():
        with handle_errors():
            chain_id = load_genesis(resolved.genesis_file.read_bytes()).chain_id
    with handle_errors(), NodeClient.for_home(resolved, node) as client:
        data = (client.get_receipt(receipt_id=receipt) if by_id
                else client.get_receipt(job_id=receipt, coordinator=coordinator))
    result = verify_settled_receipt(data, receipt_id=receipt if by_id else None, job_id=None if by_id else receipt,
                                    coordinator=coordinator, chain_id=chain_id)
    out = result.model_dump()

    def human(d: dict[str, Any]) -> str:
        head = (f"receipt {d['receipt_id']} for job {d['job_id']}: "
                + (f"VALID (final in block {d['height']})" if d["valid"] else "INVALID"))
        return "\n".join([head] + [f"  {'ok ' if c['ok'] else 'BAD'} {c['name']:22} {c['detail']}" for c in d["checks"]])

    emit(out, as_json, human)
    if not result.valid:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Mount the job commands at the top level of ``aitbc``."""
    app.command("submit")(submit)
    app.command("status")(job_status)
    app.command("jobs")(list_jobs)
    app.command("cancel")(cancel)
    app.add_typer(receipts_app, name="receipts")
