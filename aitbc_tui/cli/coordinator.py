"""``aitbc coordinator``: create the coordinator key, run the daemon, manage API keys and miners.

``keys``, ``miners`` and ``status`` talk to the running daemon through its operator socket
(``HOME/run/coordinator.sock``), never to its database.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from aitbc_tui.cli.common import (
    command_group, emit, fail, format_ait, format_value, handle_errors, resolve_home, serve, table,
)
from aitbc_tui.cli.options import ConfigOpt, HomeOpt, JsonOpt, NodeOpt, NoTcpOpt
from aitbc_tui.cli.signing import amount_arg

app = command_group("coordinator", "The coordinator: job market, miner registry, receipts.")
keys_app = command_group("keys", "API keys for clients and miners (shown once, stored hashed).")
app.add_typer(keys_app, name="keys")


def _max_price_arg(text: str) -> int:
    """A key's default max price typed in AIT (or ``250u`` units), checked before anything is
    sent: positive and within the bound every job price has (JSON's exact integers)."""
    from daemons.common.models import JSON_INT_MAX

    units = amount_arg(text, "default max price")
    if units > JSON_INT_MAX:
        fail(f"the default max price must be at most {format_ait(JSON_INT_MAX)}, not {text!r}")
    return units


def _price_shown(units: int | None) -> str:
    """A key's default max price in a listing; ``-`` where it has none (the coordinator's applies)."""
    return "-" if units is None else format_ait(units)


def _operator(home: Optional[Path]) -> Any:
    from daemons.coordinator.client import CoordinatorClient, coordinator_socket

    return CoordinatorClient(coordinator_socket(resolve_home(home)))


@app.command("init")
def init(
    home: HomeOpt = None,
    password_file: Optional[Path] = typer.Option(
        None, help="File with the key's password (default: a random one in HOME/keys/coordinator.password, mode 0600)."),
    as_json: JsonOpt = False,
) -> None:
    """Create the coordinator's chain key; register its address with `aitbc node init --coordinator ADDR`."""
    from daemons.coordinator.init import init_coordinator
    from daemons.common.daemon_key import InitError

    resolved = resolve_home(home)
    with handle_errors(InitError):
        result = init_coordinator(resolved, password_file=password_file)
    data = {"home": str(resolved.root), "address": result.address, "pubkey": result.pubkey,
            "password_file": str(result.password_file), "config": str(resolved.config_file)}
    emit(data, as_json, lambda d: "\n".join([
        f"Coordinator key {d['address']} created in {d['home']}/keys",
        f"Register it in genesis: aitbc node init --home {d['home']} --coordinator {d['address']} "
        f"--fund {d['address']}=10",
        f"Then start it:          aitbc coordinator start --home {d['home']}",
    ]))


@app.command("start")
def start(
    home: HomeOpt = None,
    config: ConfigOpt = None,
    port: Optional[int] = typer.Option(None, "--port", help="Public REST port (default 18000; 0 picks one)."),
    node: NodeOpt = None,
    no_tcp: NoTcpOpt = False,
) -> None:
    """Run the coordinator daemon in the foreground until SIGTERM or Ctrl-C."""
    from daemons.common.daemon_key import InitError
    from daemons.coordinator.chain_view import ChainUnavailable
    from daemons.coordinator.daemon import main
    from daemons.coordinator.settings import CoordinatorSettings

    serve(CoordinatorSettings, main, home, config, InitError, ChainUnavailable, api_port=port, node=node,
          tcp_enabled=False if no_tcp else None)


@app.command("status")
def status(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Chain, jobs by status, receipts by settlement state, miners of the running coordinator."""
    with handle_errors(), _operator(home) as client:
        data = client.status().model_dump()
    emit(data, as_json, lambda d: "\n".join(f"{k:20} {format_value(v)}" for k, v in d.items()))


@app.command("miners")
def miners(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Registered miners: models, load, bond, liveness and reputation."""
    with handle_errors(), _operator(home) as client:
        data = [mi.model_dump() for mi in client.miners().miners]
    emit(data, as_json, table(
        "no miners registered",
        f"{'ADDRESS':42}  {'LIVE':4}  {'BONDED':6}  {'LOAD':7}  {'REP':>5}  {'PRICE/1K':>14}  MODELS",
        lambda r: f"{r['address']:42}  {'yes' if r['live'] else 'no':4}  {'yes' if r['bonded'] else 'no':6}  "
                  f"{str(r['active']) + '/' + str(r['capacity']):7}  {r['reputation']:>5}  "
                  f"{r['price_per_1k_tokens']:>14}  {', '.join(sorted(r['models']))}"))


@keys_app.command("create")
def keys_create(
    role: str = typer.Option(..., "--role", help="client or miner."),
    address: str = typer.Option(..., "--address", help="The client's or miner's chain address."),
    label: str = typer.Option("", "--label", help="A note for the listing (who holds the key)."),
    default_max_price: Optional[str] = typer.Option(
        None, "--default-max-price",
        help="Most a job of this key may cost when the request names no max price, in AIT (or 250u units); "
             "default: the coordinator's."),
    home: HomeOpt = None, as_json: JsonOpt = False,
) -> None:
    """Create an API key; it is printed once, here, and stored only as a hash."""
    from chain.crypto import validate_address

    if role not in ("client", "miner"):
        fail(f"--role must be client or miner, not {role!r}")
    with handle_errors():
        validate_address(address)
    price = None if default_max_price is None else _max_price_arg(default_max_price)
    with handle_errors(), _operator(home) as client:
        created = client.create_key(role, address, label, price).model_dump()
    emit(created, as_json, lambda d: "\n".join([
        f"API key {d['key_id']} ({d['role']}, {d['address']}):",
        f"  {d['api_key']}",
        "Store it now: it is not shown again.",
    ] + ([f"Default max price: {format_ait(d['default_max_price'])}"] if d["default_max_price"] is not None else [])))


@keys_app.command("set-max-price", context_settings={"ignore_unknown_options": True})
def keys_set_max_price(
    key_id: str = typer.Argument(..., help="The key id shown by `keys list`."),
    amount: Optional[str] = typer.Argument(
        None, help="Most a job of this key may cost when the request names no max price, in AIT (or 250u units)."),
    clear: bool = typer.Option(False, "--clear", help="Remove the key's default: the coordinator's applies again."),
    home: HomeOpt = None, as_json: JsonOpt = False,
) -> None:
    """Set (or --clear) an active API key's default max price; a request's own max price still wins."""
    if clear == (amount is not None):
        fail("give either an amount in AIT or --clear")
    price = None if amount is None else _max_price_arg(amount)
    with handle_errors(), _operator(home) as client:
        data = client.set_key_max_price(key_id, price).model_dump()
    emit(data, as_json, lambda d: f"API key {d['key_id']}: default max price "
                                  + (format_ait(d["default_max_price"]) if d["default_max_price"] is not None
                                     else "cleared (the coordinator's applies)"))


@keys_app.command("list")
def keys_list(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """API keys with their role, address, state and default max price (never the keys themselves)."""
    with handle_errors(), _operator(home) as client:
        data = [k.model_dump() for k in client.keys().keys]
    emit(data, as_json, table(
        "no API keys", f"{'KEY ID':12}  {'ROLE':6}  {'STATE':7}  {'ADDRESS':42}  {'DEFAULT MAX PRICE':>22}  LABEL",
        lambda r: f"{r['key_id']:12}  {r['role']:6}  {'active' if r['active'] else 'revoked':7}  {r['address']:42}  "
                  f"{_price_shown(r['default_max_price']):>22}  {r['label']}"))


@keys_app.command("revoke")
def keys_revoke(key_id: str = typer.Argument(..., help="The key id shown by `keys list`."),
                home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Revoke an API key: requests with it are refused (401) from now on."""
    with handle_errors(), _operator(home) as client:
        data = client.revoke_key(key_id).model_dump()
    emit(data, as_json, lambda d: f"API key {d['key_id']} revoked")

