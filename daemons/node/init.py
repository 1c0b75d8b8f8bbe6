"""``aitbc node init``: write a dev chain's genesis, the validator key and config.toml.

The validator key is stored encrypted in the home's keystore. A headless daemon must unlock it
without a human, so its password goes to a 0600 file beside it (as geth's ``--password`` file);
operators who want more put the password into a systemd credential instead, which
``validator_password_file`` and ``$CREDENTIALS_DIRECTORY`` support.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chain.genesis import Genesis, GenesisAccount, GenesisValidator, load_genesis
from chain.params import UNIT, ChainParams
from daemons.common.daemon_key import (
    DaemonKey, InitError, create_daemon_key, is_default_password_file, update_config,
)
from daemons.common.home import Home

VALIDATOR_KEY = DaemonKey(service="node", name="validator", password_file="validator.password",
                          credential="validator-password")
DEFAULT_CHAIN_ID = "aitbc-dev"
DEFAULT_VALIDATOR_STAKE = 100_000 * UNIT
DEFAULT_VALIDATOR_BALANCE = 1_000_000 * UNIT


@dataclass(frozen=True)
class InitResult:
    home: Home
    chain_id: str
    validator_address: str
    genesis_hash: str
    password_file: Path
    validator_pubkey: str = ""


def create_validator_key(home: Home, password_file: Path | None = None, scrypt_n: int | None = None) -> tuple[str, str, Path]:
    """A new encrypted validator key in ``home``: (address, pubkey hex, password file)."""
    info, password_file = create_daemon_key(home, VALIDATOR_KEY, password_file=password_file, scrypt_n=scrypt_n)
    return info.address, info.pubkey, password_file


def make_genesis(
    chain_id: str,
    validators: list[tuple[str, str]],
    *,
    fund: dict[str, int] | None = None,
    coordinators: list[str] | None = None,
    validator_stake: int = DEFAULT_VALIDATOR_STAKE,
    params: ChainParams | None = None,
    genesis_time_ms: int | None = None,
) -> Genesis:
    """A dev genesis: each validator (address, pubkey) bonded and funded, plus ``fund``."""
    balances = {address: DEFAULT_VALIDATOR_BALANCE for address, _ in validators}
    for address, amount in (fund or {}).items():
        balances[address] = balances.get(address, 0) + amount
    genesis = Genesis(
        chain_id=chain_id,
        genesis_time_ms=genesis_time_ms if genesis_time_ms is not None else int(time.time() * 1000),
        params=params or ChainParams(),
        accounts=[GenesisAccount(address=a, balance=b) for a, b in balances.items()],
        validators=[GenesisValidator(address=address, pubkey=pubkey, stake=validator_stake, commission_bps=1000,
                                     name=f"validator-{i}") for i, (address, pubkey) in enumerate(validators)],
        coordinators=sorted(coordinators or []),
    )
    return load_genesis(genesis.model_dump())  # the same checks a node runs when it loads the file


def write_genesis(home: Home, genesis: Genesis) -> None:
    home.genesis_file.write_text(genesis.model_dump_json(indent=2) + "\n", encoding="utf-8")


def init_node(
    home: Home,
    *,
    chain_id: str = DEFAULT_CHAIN_ID,
    password_file: Path | None = None,
    fund: dict[str, int] | None = None,
    coordinators: list[str] | None = None,
    validator_stake: int = DEFAULT_VALIDATOR_STAKE,
    params: ChainParams | None = None,
    scrypt_n: int | None = None,
    genesis_time_ms: int | None = None,
) -> InitResult:
    """Create genesis.json, the encrypted validator key and the [node] config in ``home``."""
    if home.genesis_file.exists():
        raise InitError(f"{home.genesis_file} already exists: this home is initialized")
    address, pubkey, password_file = create_validator_key(home, password_file, scrypt_n)
    genesis = make_genesis(chain_id, [(address, pubkey)], fund=fund, coordinators=coordinators,
                           validator_stake=validator_stake, params=params, genesis_time_ms=genesis_time_ms)
    write_genesis(home, genesis)
    settings: dict[str, Any] = {"validator_address": address}
    if not is_default_password_file(home, VALIDATOR_KEY, password_file):
        settings["validator_password_file"] = str(password_file)
    update_config(home, "node", settings)
    return InitResult(home, chain_id, address, genesis.hash, password_file)


def init_validator_network(
    homes: list[Home],
    rpc_ports: list[int],
    ws_ports: list[int],
    *,
    chain_id: str = DEFAULT_CHAIN_ID,
    fund: dict[str, int] | None = None,
    coordinators: list[str] | None = None,
    params: ChainParams | None = None,
    host: str = "127.0.0.1",
    hosts: list[str] | None = None,
) -> list[InitResult]:
    """Several validator homes sharing one genesis, configured as a BFT full mesh on ``host``
    (or each on its own of ``hosts``, one per home: a network of machines)."""
    for home in homes:
        if home.genesis_file.exists():
            raise InitError(f"{home.genesis_file} already exists: this home is initialized")
    keys = [create_validator_key(home) for home in homes]
    genesis = make_genesis(chain_id, [(a, p) for a, p, _ in keys], fund=fund, coordinators=coordinators, params=params)
    addresses = hosts or [host] * len(homes)
    urls = [f"http://{address}:{port}" for address, port in zip(addresses, rpc_ports)]
    results = []
    for i, (home, (address, _, password_file)) in enumerate(zip(homes, keys)):
        write_genesis(home, genesis)
        update_config(home, "node", {
            "validator_address": address, "consensus_mode": "bft", "api_port": rpc_ports[i], "ws_port": ws_ports[i],
            "peers": [url for j, url in enumerate(urls) if j != i], "external_url": urls[i],
        })
        results.append(InitResult(home, chain_id, address, genesis.hash, password_file))
    return results


def read_genesis(home: Home) -> Genesis:
    try:
        data = home.genesis_file.read_bytes()
    except FileNotFoundError:
        raise InitError(f"no genesis at {home.genesis_file}: run `aitbc node init --home {home.root}` first") from None
    return load_genesis(data)


def fetch_genesis(source: str, timeout: float = 15.0) -> Genesis:
    """A genesis from a file, or from a node's RPC (``genesis`` method) when ``source`` is a URL;
    what a node serves is checked against the hash it claims for it."""
    if not source.startswith(("http://", "https://")):
        try:
            return load_genesis(Path(source).read_bytes())
        except FileNotFoundError:
            raise InitError(f"no genesis file {source}") from None
    from daemons.node.client import NodeClient

    with NodeClient(source, timeout=timeout) as client:
        answer = client.call("genesis")
    genesis = load_genesis(answer["genesis"])
    if genesis.hash != answer["genesis_hash"]:
        raise InitError(f"{source} serves a genesis with hash {genesis.hash} but claims {answer['genesis_hash']}")
    return genesis


def check_peers_follow(genesis: Genesis, peers: list[str], timeout: float = 15.0) -> None:
    """Every peer must answer and follow this genesis; else ``InitError`` naming both hashes."""
    from daemons.common.errors import DaemonError
    from daemons.node.client import NodeClient

    for peer in peers:
        try:
            with NodeClient(peer, timeout=timeout) as client:
                status = client.status()
        except DaemonError as exc:
            raise InitError(f"peer {peer} does not answer: {exc}") from None
        if status.get("genesis_hash") != genesis.hash or status.get("chain_id") != genesis.chain_id:
            raise InitError(f"peer {peer} follows chain {status.get('chain_id')} with genesis "
                            f"{status.get('genesis_hash')}, but the genesis given is chain {genesis.chain_id} "
                            f"with genesis {genesis.hash}: refused")


def join_network(home: Home, genesis_source: str, peers: list[str], *, external_url: str = "",
                 password_file: Path | None = None, scrypt_n: int | None = None) -> InitResult:
    """A home that follows an existing chain (``aitbc node init --genesis ... --peer ...``).

    The node starts as a full node: it follows, serves and relays. It gets a validator key all
    the same, so that its operator can bond stake with it and become a validator through the
    chain's own paths (self-bond, governance); it votes from the height its key is in the set.
    """
    if home.genesis_file.exists():
        raise InitError(f"{home.genesis_file} already exists: this home is initialized")
    if not peers:
        raise InitError("give at least one --peer URL: a node of the network to join")
    genesis = fetch_genesis(genesis_source)
    check_peers_follow(genesis, peers)
    address, pubkey, password_file = create_validator_key(home, password_file, scrypt_n)
    write_genesis(home, genesis)
    settings: dict[str, Any] = {"validator_address": address, "consensus_mode": "bft",
                                "peers": [p.rstrip("/") for p in peers], "external_url": external_url}
    if not is_default_password_file(home, VALIDATOR_KEY, password_file):
        settings["validator_password_file"] = str(password_file)
    update_config(home, "node", settings)
    return InitResult(home, genesis.chain_id, address, genesis.hash, password_file, pubkey)
