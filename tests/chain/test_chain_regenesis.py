"""The export rule of ``chain.regenesis``, on a hand-made protocol-1 state (numbers from the rule)."""

from __future__ import annotations

from typing import Any

import pytest
from chainkit import ALICE, BOB, CAROL, COORD, VALIDATORS

from chain.errors import InvalidGenesis
from chain.governance import TREASURY
from chain.regenesis import export_protocol_one

V0, V1 = VALIDATORS[0], VALIDATORS[1]
PARAMS = {"block_reward": 2_000_000, "block_time_ms": 1000, "min_fee": 10, "voting_period": 100}


def _validator(key: Any, **extra: Any) -> dict[str, Any]:
    return {"pubkey": key.pub.hex(), "power": 0, "self_bond": 0, "commission_bps": 700, "name": "v",
            "jailed": False, "removed": False, **extra}


def _state(supply: int) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        ("meta", "params", PARAMS), ("meta", "supply", {"total": supply}), ("meta", "coordinators", {"list": [COORD.address]}),
        ("account", ALICE.address, {"balance": 1_000, "nonce": 4}),
        ("account", TREASURY, {"balance": 50, "nonce": 0}),
        ("validator", V0.address, _validator(V0)),
        ("validator", V1.address, _validator(V1, removed=True)),
        ("delegation", f"{V0.address}/{V0.address}", {"amount": 500, "rewards": 7}),
        ("delegation", f"{V1.address}/{V1.address}", {"amount": 300, "rewards": 0}),
        ("delegation", f"{ALICE.address}/{V0.address}", {"amount": 200, "rewards": 3}),
        ("escrow", f"{BOB.address}/{COORD.address}", {"balance": 90}),
        ("miner", CAROL.address, {"bond": 40, "jobs": 2, "slashed": 0}),
        ("pending", "000000000120/aa/0", {"kind": "unbond", "owner": ALICE.address, "amount": 11, "release": 120}),
        ("pending", "000000000121/bb/0", {"kind": "escrow_withdraw", "owner": BOB.address, "amount": 30,
                                          "coordinator": COORD.address, "release": 121}),
        ("job", "j1", {"client": BOB.address}),
    ]


TOTAL = 1_000 + 50 + 500 + 7 + 300 + 200 + 3 + 90 + 40 + 11


def test_every_holding_comes_back_to_its_owner() -> None:
    genesis = export_protocol_one(_state(TOTAL), "next-chain", 5)
    balances = {a.address: a.balance for a in genesis.accounts}
    assert balances == {
        ALICE.address: 1_000 + 200 + 3 + 11,  # balance, delegation and its rewards, unbonding stake
        BOB.address: 90,                       # escrow (its withdrawal in flight counted once)
        CAROL.address: 40,                     # miner bond
        V0.address: 7,                         # the validator's own rewards
        V1.address: 300,                       # a removed validator's bond
    }
    assert [(v.address, v.stake, v.commission_bps) for v in genesis.validators] == [(V0.address, 500, 700)]
    assert genesis.treasury_balance == 50 and genesis.coordinators == [COORD.address]
    assert genesis.params.protocol_version == 2 and genesis.params.block_reward == 2_000_000
    assert (genesis.chain_id, genesis.genesis_time_ms) == ("next-chain", 5)


def test_a_supply_that_does_not_add_up_is_refused() -> None:
    with pytest.raises(InvalidGenesis, match=f"carries {TOTAL} units but the chain records a supply of {TOTAL + 1}"):
        export_protocol_one(_state(TOTAL + 1), "next-chain", 5)


def test_only_a_protocol_one_chain_is_exported() -> None:
    state = [(ns, k, {**v, "protocol_version": 2} if (ns, k) == ("meta", "params") else v) for ns, k, v in _state(TOTAL)]
    with pytest.raises(InvalidGenesis, match="runs protocol 2"):
        export_protocol_one(state, "next-chain", 5)
