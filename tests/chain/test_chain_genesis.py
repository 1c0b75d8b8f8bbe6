"""Genesis validation and the height-0 state; mempool admission on top of pending state."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from chainkit import ALICE, BOB, CHAIN_ID, COORD, FEE, FUNDED, FUNDS, STAKE, VALIDATORS, Chain, make_genesis, supply_total

from chain.errors import BadNonce, InsufficientFunds, InvalidGenesis
from chain.execution import TREASURY, check_tx
from chain.genesis import genesis_state, load_genesis
from chain.ledger import Ledger
from chain.params import MAX_AMOUNT


def document() -> dict[str, Any]:
    return json.loads(make_genesis(2, treasury=5).to_json())


def test_round_trip_and_hash() -> None:
    genesis = make_genesis(2, treasury=5)
    again = load_genesis(genesis.to_json())
    assert again == genesis and again.hash == genesis.hash
    assert load_genesis(genesis.to_json().encode()).hash == genesis.hash
    assert make_genesis(2, treasury=6).hash != genesis.hash


def test_genesis_state() -> None:
    genesis = make_genesis(2, treasury=5)
    state = genesis_state(genesis)
    assert state.height == 0 and state.chain_id == CHAIN_ID and state.last_block_hash == ""
    assert state.get("account", ALICE.address) == {"balance": FUNDS, "nonce": 0}
    assert state.get("account", TREASURY)["balance"] == 5
    assert state.get("validator", VALIDATORS[1].address)["power"] == STAKE
    assert state.get("delegation", f"{VALIDATORS[1].address}/{VALIDATORS[1].address}") == {"shares": STAKE, "rewards": 0, "index": 0}
    assert state.get("meta", "coordinators") == {"list": [COORD.address]}
    assert state.get("meta", "genesis") == {"hash": genesis.hash}
    assert supply_total(state) == (len(FUNDED) + 2) * FUNDS + 2 * STAKE + 5
    assert genesis_state(load_genesis(genesis.to_json())).root == state.root


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.update(validators=[]), "validators"),
    (lambda d: d["accounts"].append(dict(d["accounts"][0])), "listed twice"),
    (lambda d: d["validators"].append(dict(d["validators"][0])), "listed twice"),
    (lambda d: d["validators"][0].update(pubkey=d["validators"][1]["pubkey"]), "does not match its public key"),
    (lambda d: d["validators"][0].update(commission_bps=6000), "max_commission_bps"),
    (lambda d: d["validators"][0].update(stake=0), "stake"),
    (lambda d: d["accounts"][0].update(balance=1.5), "balance"),
    (lambda d: d["accounts"][0].update(balance="5"), "balance"),
    (lambda d: d["accounts"][0].update(address=d["accounts"][0]["address"].upper().replace("0X", "0x")), "address"),
    (lambda d: d["accounts"][0].update(balance=MAX_AMOUNT), r"exceeds 2\^63-1"),
    (lambda d: d["params"].update(treasury_share_bps=8000), "10000"),
    (lambda d: d["params"].update(block_time_ms=1), "block_time_ms"),
    (lambda d: d["params"].update(bogus=1), "bogus"),
    (lambda d: d.update(coordinators=[COORD.address, COORD.address]), "coordinator is listed twice"),
    (lambda d: d.update(chain_id="Bad Chain"), "chain_id"),
    (lambda d: d.update(extra=1), "extra"),
])
def test_invalid_genesis(mutate: Any, message: str) -> None:
    doc = copy.deepcopy(document())
    mutate(doc)
    with pytest.raises(InvalidGenesis, match=message) as info:
        load_genesis(doc)
    assert info.value.message.startswith("invalid genesis")
    with pytest.raises(InvalidGenesis):
        load_genesis(json.dumps(doc))


def test_invalid_genesis_json_text() -> None:
    for text in ("", "{", "[]", '{"chain_id": 1.5}'):
        with pytest.raises(InvalidGenesis):
            load_genesis(text)


def test_mempool_admission_on_pending_state(chain: Chain) -> None:
    """check_tx stacks admitted transactions in one ledger; a refused one leaves it as it was."""
    first = chain.tx(ALICE, "transfer", {"to": BOB.address, "amount": FUNDS // 2})
    pending = check_tx(chain.state, first)
    second = chain.tx(ALICE, "transfer", {"to": BOB.address, "amount": 1}, nonce=1)
    assert check_tx(chain.state, second, pending) is pending
    writes = dict(pending.writes)
    with pytest.raises(BadNonce):
        check_tx(chain.state, second, pending)  # same nonce again
    too_much = chain.tx(ALICE, "transfer", {"to": BOB.address, "amount": FUNDS // 2}, nonce=2)
    with pytest.raises(InsufficientFunds):
        check_tx(chain.state, too_much, pending)
    assert pending.writes == writes
    assert pending.account(ALICE.address) == {"balance": FUNDS - FUNDS // 2 - 1 - 2 * FEE, "nonce": 2}
    assert chain.balance(ALICE) == FUNDS  # the state itself never changes
    assert isinstance(pending, Ledger)
