"""``aitbc node``: initialize a home and run or query the node daemon."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from aitbc_tui.cli.common import command_group, emit, fail, handle_errors, resolve_home, serve
from aitbc_tui.cli.options import ConfigOpt, FeeOpt, HomeOpt, JsonOpt, NodeOpt, NoTcpOpt
from aitbc_tui.format import parse_amount

if TYPE_CHECKING:
    from daemons.common.home import Home

app = command_group("node", "The chain node: init a home, start the daemon, show status.")


@app.command("init")
def init(
    home: HomeOpt = None,
    chain_id: str = typer.Option("aitbc-dev", help="Chain id written into genesis."),
    password_file: Optional[Path] = typer.Option(
        None, help="File with the validator key's password (default: a random one in HOME/keys/validator.password, mode 0600)."),
    fund: list[str] = typer.Option([], help="Fund an account at genesis: ADDRESS=AMOUNT (AMOUNT in AIT, or 250u units). Repeatable."),
    coordinator: list[str] = typer.Option([], help="Register a coordinator address at genesis. Repeatable."),
    block_time: float = typer.Option(1.0, min=0.01, max=600, help="Seconds between blocks (genesis parameter)."),
    genesis: Optional[str] = typer.Option(
        None, help="Join an existing chain: its genesis.json, or any of its nodes' RPC URL (which serves it)."),
    peer: list[str] = typer.Option([], help="With --genesis: RPC URL of a node of that network to connect to. Repeatable."),
    external_url: str = typer.Option("", help="With --genesis: the RPC URL other nodes reach this one at (told to peers)."),
    as_json: JsonOpt = False,
) -> None:
    """Write genesis.json, an encrypted validator key and config.toml into an empty home: a new
    single-validator chain, or with --genesis and --peer a node that joins an existing chain."""
    from chain.crypto import validate_address
    from chain.params import ChainParams
    from daemons.common.daemon_key import InitError
    from daemons.node.init import init_node

    resolved = resolve_home(home)
    if genesis is not None:
        _join(resolved, genesis, peer, external_url, password_file, as_json,
              conflicting=bool(fund or coordinator or chain_id != "aitbc-dev"))
        return
    if peer:
        fail("--peer joins an existing chain and needs its --genesis (a file or a node's URL)")
    funds: dict[str, int] = {}
    for item in fund:
        address, sep, amount = item.partition("=")
        if not sep:
            fail(f"--fund expects ADDRESS=AMOUNT, got {item!r}")
        with handle_errors():
            validate_address(address)
        try:
            funds[address] = funds.get(address, 0) + parse_amount(amount)
        except ValueError as exc:
            fail(str(exc))
    with handle_errors(InitError, ValueError):
        for address in coordinator:
            validate_address(address)
        result = init_node(resolved, chain_id=chain_id, password_file=password_file, fund=funds,
                           coordinators=coordinator, params=ChainParams(block_time_ms=int(block_time * 1000)))
    data = {"home": str(resolved.root), "chain_id": result.chain_id, "validator_address": result.validator_address,
            "genesis_hash": result.genesis_hash, "genesis": str(resolved.genesis_file),
            "config": str(resolved.config_file), "password_file": str(result.password_file)}
    emit(data, as_json, lambda d: "\n".join([
        f"Initialized {d['home']} for chain {d['chain_id']}",
        f"  validator  {d['validator_address']}",
        f"  genesis    {d['genesis']} ({d['genesis_hash'][:16]})",
        f"  config     {d['config']}",
        f"Start it with: aitbc node start --home {d['home']}",
    ]))


def _join(resolved: "Home", source: str, peers: list[str], external_url: str, password_file: Optional[Path],
          as_json: bool, *, conflicting: bool) -> None:
    from daemons.common.daemon_key import InitError
    from daemons.node.init import join_network

    if conflicting:
        fail("--genesis joins an existing chain: --chain-id, --fund and --coordinator come from its genesis")
    with handle_errors(InitError, ValueError):
        result = join_network(resolved, source, peers, external_url=external_url, password_file=password_file)
    data = {"home": str(resolved.root), "chain_id": result.chain_id, "validator_address": result.validator_address,
            "validator_pubkey": result.validator_pubkey, "genesis_hash": result.genesis_hash, "peers": peers, "config": str(resolved.config_file),
            "password_file": str(result.password_file)}
    emit(data, as_json, lambda d: "\n".join([
        f"Joined chain {d['chain_id']} (genesis {d['genesis_hash'][:16]}) in {d['home']}",
        f"  peers      {', '.join(d['peers'])}",
        f"  key        {d['validator_address']} (validates once it is added to the set)",
        f"  pubkey     {d['validator_pubkey']}",
        f"Start it with: aitbc node start --home {d['home']}; it catches up, then follows",
    ]))


@app.command("start")
def start(
    home: HomeOpt = None,
    config: ConfigOpt = None,
    rpc_port: Optional[int] = typer.Option(None, help="JSON-RPC port (default 26657)."),
    ws_port: Optional[int] = typer.Option(None, help="WebSocket events port (default 26658)."),
    block_time: Optional[float] = typer.Option(None, help="Seconds between blocks (default: genesis)."),
    no_tcp: NoTcpOpt = False,
) -> None:
    """Run the node daemon in the foreground until SIGTERM or Ctrl-C."""
    from daemons.common.daemon_key import InitError
    from daemons.node.daemon import main
    from daemons.node.settings import NodeSettings

    serve(NodeSettings, main, home, config, InitError, api_port=rpc_port, ws_port=ws_port, block_time=block_time,
          tcp_enabled=False if no_tcp else None)


@app.command("status")
def status(home: HomeOpt = None, node: NodeOpt = None, as_json: JsonOpt = False) -> None:
    """Chain id, height, latest block and mempool size of the running node."""
    from aitbc_tui.cli.common import format_value
    from daemons.node.client import NodeClient

    with handle_errors(), NodeClient.for_home(resolve_home(home), node) as client:
        data = client.status()
    emit(data, as_json, lambda d: "\n".join(f"{k:22} {format_value(v)}" for k, v in d.items()))


@app.command("unjail")
def unjail(
    home: HomeOpt = None, node: NodeOpt = None, fee: FeeOpt = None, as_json: JsonOpt = False,
) -> None:
    """Ask the chain to let this node's validator vote again after a downtime jail (signed with the
    validator key of HOME once its jail period is over; double signers stay jailed for good)."""
    from aitbc_tui.cli.signing import fee_arg
    from chain.tx import make_tx
    from daemons.common.daemon_key import InitError, unlock_daemon_key
    from daemons.common.logging import configure_audit
    from daemons.node.client import NodeClient
    from daemons.node.init import VALIDATOR_KEY

    resolved = resolve_home(home)
    fee_units = fee_arg(fee)
    configure_audit("cli", resolved)  # unlocking the validator key is audited like a daemon's start
    with handle_errors(), NodeClient.for_home(resolved, node) as client:
        try:
            address, seed = unlock_daemon_key(resolved, VALIDATOR_KEY)
        except InitError as exc:
            fail(str(exc))
        status = client.status()
        account = client.get_account(address)
        tx = make_tx(seed, status["chain_id"], "unjail", account["pending_nonce"],
                     fee_units if fee_units is not None else int(client.get_params()["params"]["min_fee"]), {})
        result = client.broadcast_tx(tx, mode="commit")
    data = {"validator": address, "hash": tx.hash, "height": result.get("height")}
    emit(data, as_json, lambda d: f"validator {d['validator']} unjailed at height {d['height']} (tx {d['hash']})")
