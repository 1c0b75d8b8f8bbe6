"""``get_delegations``: a validator's delegators, paged by address, on a real node."""

from __future__ import annotations

import pytest

from nodekit import UNIT

from daemons.node.client import NodeRpcError
from daemons.node.models import INVALID_PARAMS, NOT_FOUND


def test_delegators_of_a_validator_paged_by_address(node) -> None:
    first, second = node.take(2)
    with node.client() as client:
        validator = client.validators()["validators"][0]["address"]
        for who, amount in ((first, 10 * UNIT), (second, 20 * UNIT)):
            client.broadcast_tx(who.tx(0, "stake", {"validator": validator, "amount": amount}), mode="commit")
        whole = client.get_delegations(validator)
        by_who = {d["delegator"]: d for d in whole["delegations"]}
        # The operator's self-bond is its own delegation; the two new stakes are worth what was staked.
        assert set(by_who) == {validator, first.address, second.address}
        assert by_who[first.address]["amount"] == 10 * UNIT and by_who[second.address]["amount"] == 20 * UNIT
        assert [d["delegator"] for d in whole["delegations"]] == sorted(by_who)
        assert whole["next_cursor"] is None and whole["power"] == sum(d["amount"] for d in whole["delegations"])

        pages, cursor = [], None
        while True:
            page = client.get_delegations(validator, limit=1, cursor=cursor)
            pages += [d["delegator"] for d in page["delegations"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert pages == sorted(by_who)


def test_unknown_validator_and_bad_params_are_refused(node) -> None:
    (stranger,) = node.take(1)
    with node.client() as client:
        with pytest.raises(NodeRpcError) as unknown:
            client.get_delegations(stranger.address)
        assert unknown.value.code == NOT_FOUND and "not a validator" in unknown.value.message
        for bad in ({"validator": "0xnope"}, {"validator": stranger.address, "limit": 0},
                    {"validator": stranger.address, "limit": 1001}, {"validator": stranger.address, "cursor": "x"}):
            with pytest.raises(NodeRpcError) as refused:
                client.call("get_delegations", **bad)
            assert refused.value.code == INVALID_PARAMS
