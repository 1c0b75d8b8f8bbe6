"""The single-machine dev network of ``aitbc up``: what it creates in an empty home, and the
order in which it starts the daemons.

Creation happens once per home (when it has no genesis.json); every later ``up`` resumes the same
chain with the same keys. Everything created is an ordinary artefact an operator could have
made by hand (``aitbc node init``, ``aitbc coordinator init``, ``aitbc miner init``, a wallet,
``aitbc coordinator keys create``, ``aitbc wallet escrow deposit``); ``HOME/devnet.json`` records
which identities play which role.

Extra validators (``--validators N``) live in ``HOME/validators/node-K``: each is a full node home
of its own (own key, database, socket), sharing the genesis, and the validators reach each other
over loopback in bft mode. The CLI talks to the node in HOME itself.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from chain.params import UNIT, ChainParams
from daemons.common.daemon_key import update_config, write_private
from daemons.common.home import Home
from daemons.node.init import init_node, init_validator_network
from daemons.ops.supervisor import ServiceSpec, Supervisor

CLIENT_WALLET = "client"
CLIENT_FUNDS = 1_000_000 * UNIT
MINER_FUNDS = 50_000 * UNIT
COORDINATOR_FUNDS = 10_000 * UNIT
"""Pays the fees of its receipt and slash transactions."""
DEV_ESCROW = 10_000 * UNIT
DEVNET_FILE = "devnet.json"


class DevnetError(Exception):
    """The dev network cannot be created or started."""


@dataclass(frozen=True)
class Ports:
    rpc: int = 26657
    ws: int = 26658
    coordinator: int = 18000
    miner: int = 18001
    explorer: int = 3000
    market: int = 5173


def validator_homes(home: Home) -> list[Home]:
    """The extra validators' homes, in order (empty for a single-validator network)."""
    root = home.root / "validators"
    if not root.is_dir():
        return []
    return [Home.resolve(p) for p in sorted(root.iterdir(), key=lambda p: p.name) if (p / "genesis.json").exists()]


def _record(home: Home) -> dict[str, Any]:
    path = home.root / DEVNET_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _create_client_wallet(home: Home) -> str:
    """The dev client's wallet, in the wallet daemon's keystore, with its password in a 0600 file."""
    from daemons.common.settings import load_settings
    from daemons.wallet.settings import WalletSettings
    from keys import Keystore

    settings = load_settings(WalletSettings, home)
    password = secrets.token_urlsafe(24)
    write_private(home.keys_dir / f"{CLIENT_WALLET}.password", password.encode())
    info = Keystore(settings.keystore_dir, scrypt_n=settings.scrypt_n).create(password, CLIENT_WALLET, words=24)
    return info.address


def _create_miner(home: Home) -> str:
    from daemons.miner.init import init_miner

    return init_miner(home).address


def create_devnet(home: Home, ports: Ports, block_time: float, validators: int) -> dict[str, Any]:
    """Initialize an empty home: keys for every role, a genesis that funds them, configs."""
    from daemons.coordinator.init import init_coordinator

    home.ensure()
    coordinator = init_coordinator(home).address
    client = _create_client_wallet(home)
    miner = _create_miner(home)
    fund = {client: CLIENT_FUNDS, miner: MINER_FUNDS, coordinator: COORDINATOR_FUNDS}
    params = ChainParams(block_time_ms=int(block_time * 1000))
    if validators == 1:
        validator_addresses = [init_node(home, fund=fund, coordinators=[coordinator], params=params).validator_address]
        update_config(home, "node", {"api_port": ports.rpc, "ws_port": ports.ws})
    else:
        homes = [home] + [Home.resolve(home.root / "validators" / f"node-{k}") for k in range(1, validators)]
        rpc = [ports.rpc + 10 * k for k in range(validators)]
        ws = [ports.ws + 10 * k for k in range(validators)]
        results = init_validator_network(homes, rpc, ws, fund=fund, coordinators=[coordinator], params=params)
        validator_addresses = [r.validator_address for r in results]
    update_config(home, "coordinator", {"api_port": ports.coordinator})
    update_config(home, "mining", {"api_port": ports.miner})
    update_config(home, "explorer", {"api_port": ports.explorer, "market_port": ports.market,
                                     "coordinator_url": f"http://127.0.0.1:{ports.coordinator}"})
    record = {"client": client, "client_wallet": CLIENT_WALLET, "coordinator": coordinator, "miner": miner,
              "validators": validator_addresses}
    (home.root / DEVNET_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record


def _api_keys(home: Home, record: dict[str, Any]) -> None:
    """API keys for the dev client and the miner, created once and kept in HOME/keys (0600)."""
    from daemons.coordinator.client import CoordinatorClient

    wanted = {"client": record["client"], "miner": record["miner"]}
    with CoordinatorClient(home.socket("coordinator")) as coordinator:
        for role, address in wanted.items():
            path = home.keys_dir / f"{role}.apikey"
            if path.exists():
                continue
            created = coordinator.create_key(role, address, f"dev {role} (aitbc up)")
            write_private(path, created.api_key.encode())


def _escrow(home: Home, record: dict[str, Any], progress: Any) -> None:
    """The dev client escrows funds for the coordinator once, so jobs can be paid."""
    from daemons.node.client import NodeClient
    from daemons.wallet.client import WalletClient

    with NodeClient.for_home(home) as node:
        account = node.get_account(record["client"])
    if any(e["coordinator"] == record["coordinator"] for e in account["escrows"]):
        return
    progress(f"client: escrowing {DEV_ESCROW // UNIT:,} AIT for the coordinator")
    password = (home.keys_dir / f"{record['client_wallet']}.password").read_text(encoding="utf-8").strip()
    with WalletClient.for_home(home) as wallet:
        wallet.escrow_deposit(record["coordinator"], DEV_ESCROW, wallet=record["client_wallet"], mode="commit",
                              timeout_s=60, password=password)


def bring_up(home: Home, supervisor: Supervisor, *, ports: Ports, block_time: float, validators: int = 1) -> dict[str, Any]:
    created = not home.genesis_file.exists()
    if created:
        supervisor.progress(f"creating a dev network in {home.root}")
        record = create_devnet(home, ports, block_time, validators)
    else:
        supervisor.progress(f"resuming the network in {home.root}")
        record = _record(home)
        if not record:
            raise DevnetError(f"{home.root} holds a node but no {DEVNET_FILE}: it was not made by `aitbc up`; "
                              "start its daemons one by one (aitbc node start, ...)")
    extra = validator_homes(home)
    for node_home in extra:
        supervisor.start(ServiceSpec("node", home=node_home, label=f"node {node_home.root.name}"))
    supervisor.start(ServiceSpec("node", label="node"))
    supervisor.start(ServiceSpec("wallet"))
    supervisor.start(ServiceSpec("coordinator"))
    _api_keys(home, record)
    _escrow(home, record, supervisor.progress)
    supervisor.start(ServiceSpec("miner", ready_timeout_s=300))
    supervisor.start(ServiceSpec("explorer"))

    from daemons.node.client import NodeClient

    with NodeClient.for_home(home) as node:
        status = node.status()
    return {
        "home": str(home.root), "created": created, "chain_id": status["chain_id"], "height": status["height"],
        "validators": len(record.get("validators", [])),
        "services": {
            "node": f"JSON-RPC {_port_url(home, 'node')}  (socket {home.socket('node')})",
            "wallet": f"socket {home.socket('wallet')}",
            "coordinator": f"REST {_port_url(home, 'coordinator')}/v1  (docs {_port_url(home, 'coordinator')}/docs)",
            "miner": f"health {_port_url(home, 'miner')}/health  metrics {_port_url(home, 'miner')}/metrics",
            "explorer": f"Explorer {_port_url(home, 'explorer')}/  Marketplace {_market_url(home)}/",
        },
        "accounts": {"client": record["client"], "coordinator": record["coordinator"], "miner": record["miner"]},
        "client_api_key_file": str(home.keys_dir / "client.apikey"),
        "next": [
            f'aitbc submit "Which city is the capital of France?" --model smollm2 --wait{_home_flag(home)}',
            f"aitbc jobs{_home_flag(home)}",
            f"aitbc receipts{_home_flag(home)}",
            f"curl -s -H \"X-Api-Key: $(cat {home.keys_dir / 'client.apikey'})\" {_port_url(home, 'coordinator')}/v1/jobs",
            f"aitbc-tui{_home_flag(home)}",
            f"aitbc down{_home_flag(home)}",
        ],
    }


def _home_flag(home: Home) -> str:
    """`` --home ROOT`` for the hints, unless ROOT is the built-in default (~/.aitbc): a home
    given with ``--home`` or ``$AITBC_HOME`` is spelled out, since the terminal where the hint is
    pasted may not have the variable."""
    default = Home.resolve(None, env={})
    return "" if default.root.expanduser() == home.root.expanduser() else f" --home {home.root}"


def _port_url(home: Home, service: str) -> str:
    """The daemon's public URL, from the settings it runs with."""
    from daemons.common.settings import CommonSettings, load_settings

    settings: CommonSettings
    if service == "node":
        from daemons.node.settings import NodeSettings

        settings = load_settings(NodeSettings, home)
    elif service == "coordinator":
        from daemons.coordinator.settings import CoordinatorSettings

        settings = load_settings(CoordinatorSettings, home)
    elif service == "explorer":
        from daemons.web.settings import ExplorerSettings

        settings = load_settings(ExplorerSettings, home)
    else:
        from daemons.miner.settings import load_miner_settings

        settings = load_miner_settings(home)
    return f"http://{settings.api_host}:{settings.api_port}"


def _market_url(home: Home) -> str:
    from daemons.common.settings import load_settings
    from daemons.web.settings import ExplorerSettings

    settings = load_settings(ExplorerSettings, home)
    return f"http://{settings.api_host}:{settings.market_port}"


def stop_order(home: Home) -> list[tuple[str, Home]]:
    """(service, home) pairs for ``aitbc down``: users of the chain first, validators last."""
    pairs = [("explorer", home), ("miner", home), ("coordinator", home), ("wallet", home), ("node", home)]
    return pairs + [("node", extra) for extra in validator_homes(home)]


