"""The coordinator's OpenAPI document is its contract: Schemathesis, with every check and phase,
fuzzes every operation the document lists against a real node and coordinator, on the public door
with a client's and a miner's API key (and none for the operator's routes, which must refuse),
and on the operator socket acting for that client and that miner, and finds nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from contractkit import SocketBridge, fuzz
from coordkit import Network, make_network, torn_down

from chain.params import UNIT
from daemons.coordinator.auth import ADDRESS_HEADER

SEMANTIC_422 = r"^(/v1/miners/(register|jobs/\{task_id\}/result)|/v1/jobs)$"
"""A registration's public key must hash to its address and name each model once; a result carries
the miner's signed proof or verdict, chain objects whose integers stay strict; a job whose
``prompt_format`` is ``messages`` needs a prompt that is a JSON list of chat messages."""
GENEROUS = {name: "1000000" for name in ("AITBC_CLIENT_RATE", "AITBC_CLIENT_BURST", "AITBC_MINER_RATE",
                                         "AITBC_MINER_BURST")}
"""Rate limits the fuzzer does not reach: a 429 is declared, but would hide every other answer."""


@pytest.fixture(scope="module")
def net() -> Iterator[Network]:
    network = make_network(["client", "miner"])
    with torn_down(network):
        network.start_node()
        network.start_coordinator(env=GENEROUS)
        network.escrow(network.accounts["client"], 10 * UNIT)
        network.bond(network.accounts["miner"])
        yield network


def test_public_door_keeps_its_contract(net: Network, tmp_path: Path) -> None:
    client = net.api_key("client", net.accounts["client"].address)
    miner = net.api_key("miner", net.accounts["miner"].address)
    fuzz(f"{net.url()}/openapi.json", tmp_path,
         by_tag={"client": {"X-Api-Key": client}, "openai": {"X-Api-Key": client}, "miner": {"X-Api-Key": miner}},
         semantic_422=SEMANTIC_422)


def test_operator_socket_keeps_its_contract(net: Network, tmp_path: Path) -> None:
    with SocketBridge(net.home.socket("coordinator")) as bridge:
        fuzz(f"{bridge.url}/openapi.json", tmp_path, semantic_422=SEMANTIC_422,
             by_tag={"client": {ADDRESS_HEADER: net.accounts["client"].address},
                     "openai": {ADDRESS_HEADER: net.accounts["client"].address},
                     "miner": {ADDRESS_HEADER: net.accounts["miner"].address}})
