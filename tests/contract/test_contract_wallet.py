"""The wallet's OpenAPI document is its contract: Schemathesis, with every check and phase, fuzzes
every operation it lists against a real node and wallet, on the public TCP door with an API key
(where the operator's routes must refuse) and on the operator socket, and finds nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from contractkit import SocketBridge, fuzz
from testkit import Daemon, free_port
from walletkit import init_node, start_node, start_wallet

from daemons.common.home import Home

KEY = "contract-test-key-0123456789"
SEMANTIC_422 = r"^/v1/(wallet/(import|import-backup|delete|send)|stake/.*|escrow/.*|miner/.*|gov/.*)$"
"""Rules JSON Schema cannot state: a recovery phrase's words and checksum, a backup file's contents,
a deletion's confirmation (the wallet's name repeated), and every transaction the chain refuses in
its present state (a fee below its minimum, a balance too small, a coordinator it does not know)."""


@pytest.fixture(scope="module")
def wallet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Home, int]]:
    home = Home(root=tmp_path_factory.mktemp("w") / "h")
    init_node(home)
    daemons: list[Daemon] = [start_node(home)]
    port = free_port()
    try:
        daemons.append(start_wallet(home, "--tcp", "--api-port", str(port), env={"AITBC_API_KEYS": json.dumps([KEY])}))
        yield home, port
    finally:
        for daemon in reversed(daemons):
            daemon.stop()


def test_public_door_keeps_its_contract(wallet: tuple[Home, int], tmp_path: Path) -> None:
    _, port = wallet
    fuzz(f"http://127.0.0.1:{port}/openapi.json", tmp_path, headers={"X-Api-Key": KEY}, semantic_422=SEMANTIC_422,
         complete=True)


def test_operator_socket_keeps_its_contract(wallet: tuple[Home, int], tmp_path: Path) -> None:
    home, _ = wallet
    with SocketBridge(home.socket("wallet")) as bridge:
        fuzz(f"{bridge.url}/openapi.json", tmp_path, semantic_422=SEMANTIC_422)
