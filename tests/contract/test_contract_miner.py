"""The miner's OpenAPI document (served on its operator socket only) is its contract: Schemathesis,
with every check and phase, fuzzes every operation it lists against a real miner daemon, through
the operator socket and on the public door (where only ``/health`` and ``/metrics`` answer and the
operator's routes must refuse), and finds nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from contractkit import SocketBridge, fuzz
from minerkit import Miner


@pytest.fixture(scope="module")
def miner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Miner, SocketBridge]]:
    """A miner that loads no model (compute off): every route answers, none waits on inference."""
    miner = Miner.init(tmp_path_factory.mktemp("m"), "--no-compute")
    miner.start()
    try:
        with SocketBridge(miner.home.socket("miner")) as bridge:
            yield miner, bridge
    finally:
        miner.stop()


def test_the_document_is_for_the_operator_only(miner: tuple[Miner, SocketBridge]) -> None:
    daemon, bridge = miner
    assert "/v1/verify" in httpx.get(f"{bridge.url}/openapi.json", timeout=30).json()["paths"]
    refused = daemon.public_get("/openapi.json")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "operator_only"


def test_operator_socket_keeps_its_contract(miner: tuple[Miner, SocketBridge], tmp_path: Path) -> None:
    _, bridge = miner
    fuzz(f"{bridge.url}/openapi.json", tmp_path, complete=True)


def test_public_door_keeps_its_contract(miner: tuple[Miner, SocketBridge], tmp_path: Path) -> None:
    daemon, bridge = miner
    fuzz(f"{bridge.url}/openapi.json", tmp_path, base_url=daemon.url(), complete=True)
