"""The single-machine dev network of ``aitbc up``: what it creates in an empty home, and the
order in which it starts the daemons.

Creation happens once per home (when it has no genesis.json); every later ``up`` resumes the same
chain with the same keys. Everything created is an ordinary artefact an operator could have
made by hand with ``aitbc node init``, ``aitbc coordinator init`` and so on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aitbc_tui.supervisor import ServiceSpec, Supervisor
from chain.params import UNIT, ChainParams
from daemons.common.home import Home
from daemons.node.init import init_node, update_config


class DevnetError(Exception):
    """The dev network cannot be created or started."""


@dataclass(frozen=True)
class Ports:
    rpc: int = 26657
    ws: int = 26658
    coordinator: int = 18000
    miner: int = 18001


def create_devnet(home: Home, ports: Ports, block_time: float) -> dict[str, str]:
    """Initialize an empty home: chain with funded dev accounts, keys, configs."""
    result = init_node(home, params=ChainParams(block_time_ms=int(block_time * 1000)))
    update_config(home, "node", {"api_port": ports.rpc, "ws_port": ports.ws})
    return {"validator": result.validator_address}


def bring_up(home: Home, supervisor: Supervisor, *, ports: Ports, block_time: float) -> dict[str, Any]:
    created = not home.genesis_file.exists()
    accounts: dict[str, str] = {}
    if created:
        supervisor.progress(f"creating a dev network in {home.root}")
        accounts = create_devnet(home, ports, block_time)
    else:
        supervisor.progress(f"resuming the network in {home.root}")
    supervisor.start(ServiceSpec("node", ready_timeout_s=60))

    from daemons.node.client import NodeClient

    with NodeClient.for_home(home) as node:
        status = node.status()
    return {
        "home": str(home.root), "created": created, "chain_id": status["chain_id"], "height": status["height"],
        "services": {
            "node": f"rpc http://127.0.0.1:{ports.rpc}  ws ws://127.0.0.1:{ports.ws}  socket {home.socket('node')}",
        },
        "accounts": accounts,
        "next": ["aitbc node status", "aitbc chain block", "aitbc down"],
    }
