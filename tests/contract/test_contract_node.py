"""The node's OpenAPI document (JSON-RPC on ``POST /``, URI calls on ``GET /METHOD``) is its
contract too: Schemathesis, with every check and phase, fuzzes it against a real node and finds
nothing."""

from __future__ import annotations

from pathlib import Path

from contractkit import fuzz
from testkit import free_port
from walletkit import init_node, spawn

from daemons.common.home import Home


def test_rpc_door_keeps_its_contract(tmp_path: Path) -> None:
    home = Home(root=tmp_path / "h")
    init_node(home)
    port = free_port()
    node = spawn("node", home, ["--rpc-port", str(port), "--ws-port", str(free_port())])
    try:
        fuzz(f"http://127.0.0.1:{port}/openapi.json", tmp_path, complete=True)
    finally:
        node.stop()
