"""The node's method table: each method's params model is read from its handler's signature."""

from __future__ import annotations

from typing import Any

import pytest

from daemons.node.api import METHODS, NodeApi, method_entry
from daemons.node.models import AddressParams, GetBlockParams, MempoolParams, NoParams, ReceiptParams


def test_each_public_method_takes_its_params_model() -> None:
    api = NodeApi.__new__(NodeApi)  # the table needs only the bound handlers, not a core
    table = {name: method_entry(getattr(api, name))[0] for name in METHODS}
    assert table["status"] is NoParams and table["get_params"] is NoParams
    assert table["get_block"] is GetBlockParams
    assert table["get_account"] is AddressParams and table["get_balance"] is AddressParams
    assert table["get_receipt"] is ReceiptParams and table["mempool"] is MempoolParams
    assert set(table) == {"status", "get_block", "get_tx", "broadcast_tx", "get_balance", "get_account",
                          "get_address_txs", "net_info", "validators", "get_receipt", "mempool", "get_params",
                          "get_proposals", "get_proposal", "get_gov", "get_delegations", "genesis"}


def test_a_handler_without_a_params_model_is_refused() -> None:
    def loose(p: dict[str, Any]) -> None: ...

    def two(a: NoParams, b: NoParams) -> None: ...

    with pytest.raises(TypeError, match="not an RpcParams model"):
        method_entry(loose)
    with pytest.raises(TypeError, match="exactly one params model"):
        method_entry(two)
