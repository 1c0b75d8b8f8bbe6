"""Transactions: wire form, hashing, and every stateless refusal (and the account checks:
nonce, fee, balance). Each refusal is a typed error and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from chainkit import ALICE, BOB, CHAIN_ID, FEE, FUNDS, Chain, make_genesis
from chain import crypto
from chain.encoding import canonical_json, decode_canonical, sha256
from chain.errors import (
    BadNonce, ChainError, FeeTooLow, FeeUnaffordable, InsufficientFunds, InvalidPayload, InvalidSignature, InvalidTransaction,
    TxTooLarge, WrongChainId,
)
from chain.params import MAX_AMOUNT
from chain.tx import TX_TYPES, check_stateless, make_tx, parse_transaction, signing_bytes


def transfer(chain: Chain, amount: int = 5, **kw: Any):
    return chain.tx(ALICE, "transfer", {"to": BOB.address, "amount": amount}, **kw)


def resign(fields: dict[str, Any], seed: bytes = ALICE.seed) -> dict[str, Any]:
    """Sign ``fields`` as they are (for building transactions the helpers would refuse)."""
    return {**fields, "signature": crypto.sign(seed, signing_bytes(fields)).hex()}


# -- wire form ----------------------------------------------------------------------------------------


def test_wire_form_hash_and_signing_domain(chain: Chain) -> None:
    tx = transfer(chain)
    assert decode_canonical(tx.encoded) == tx.to_dict()
    assert tx.hash == sha256(tx.encoded).hex()
    assert parse_transaction(tx.encoded) == tx
    assert parse_transaction(tx.encoded.decode()).hash == tx.hash
    assert parse_transaction(tx.to_dict()).hash == tx.hash
    signed = decode_canonical(tx.signing_bytes())
    assert signed["domain"] == "aitbc/tx/v1" and "signature" not in signed and signed["chain_id"] == CHAIN_ID
    assert tx.signature_valid()
    assert tx.body.to == BOB.address and tx.body.amount == 5
    check_stateless(tx, CHAIN_ID, chain.genesis.params)


def test_every_type_has_a_payload_model() -> None:
    assert set(TX_TYPES) == {
        "transfer", "stake", "unstake", "claim_rewards", "escrow_deposit", "escrow_withdraw", "job_receipt",
        "miner_bond", "miner_unbond", "slash", "gov_propose", "gov_vote", "validator_update",
        "unjail", "gov_deposit",
    }


# -- stateless refusals ---------------------------------------------------------------------------------


def test_wrong_chain_id(chain: Chain) -> None:
    tx = transfer(chain, chain_id="other-chain")
    assert tx.signature_valid()
    err = chain.assert_rejected(tx, WrongChainId, "other-chain")
    assert "aitbc-test" in err.message


def test_signature_by_another_key(chain: Chain) -> None:
    tx = transfer(chain)
    forged = {**tx.to_dict(), "signature": crypto.sign(BOB.seed, tx.signing_bytes()).hex()}
    chain.assert_rejected(parse_transaction(forged), InvalidSignature, "does not verify")


def test_pubkey_of_another_account(chain: Chain) -> None:
    """Bob signs a transaction that claims Alice as sender: the pubkey does not hash to her address."""
    fields = {**transfer(chain).to_dict(), "pubkey": BOB.pub.hex()}
    del fields["signature"]
    chain.assert_rejected(parse_transaction(resign(fields, BOB.seed)), InvalidSignature)


@pytest.mark.parametrize("field, value", [
    ("nonce", 1), ("fee", FEE + 1), ("type", "stake"), ("chain_id", "aitbc-test2"),
    ("payload", {"to": BOB.address, "amount": 6}), ("payload", {"to": ALICE.address, "amount": 5}),
])
def test_tampered_field_breaks_signature(chain: Chain, field: str, value: Any) -> None:
    tx = transfer(chain)
    data = {**tx.to_dict(), field: value}
    if field == "type":
        data["payload"] = {"validator": BOB.address, "amount": 5}
    tampered = parse_transaction(data)
    assert not tampered.signature_valid()
    with pytest.raises(InvalidSignature):
        check_stateless(tampered, tampered.chain_id, chain.genesis.params)
    if field != "chain_id":
        chain.assert_rejected(tampered, InvalidSignature)


def test_flipped_signature_bit(chain: Chain) -> None:
    tx = transfer(chain)
    sig = bytearray(bytes.fromhex(tx.signature))
    sig[10] ^= 0x01
    chain.assert_rejected(parse_transaction({**tx.to_dict(), "signature": sig.hex()}), InvalidSignature)


def test_fee_below_minimum(chain: Chain) -> None:
    chain.assert_rejected(transfer(chain, fee=9), FeeTooLow, "below the minimum 10")
    chain.assert_rejected(transfer(chain, fee=0), FeeTooLow)
    chain.run(transfer(chain, fee=10))


def test_fee_above_balance() -> None:
    chain = Chain(make_genesis(1, funded=[], fund_validators=False))
    poor = make_tx(ALICE.seed, CHAIN_ID, "transfer", 0, FEE, {"to": BOB.address, "amount": 1})
    refused = chain.assert_rejected(poor, FeeUnaffordable, "fee 100 exceeds the balance 0")
    # Its own code: a client tells "cannot pay the fee" from "the payload's funds are short"
    # without reading a message that may name any address or job id.
    assert refused.code == -32039 != InsufficientFunds.code


def test_nonce_gap_and_replay(chain: Chain) -> None:
    chain.assert_rejected(transfer(chain, nonce=1), BadNonce, "expected 0")
    first = transfer(chain)
    chain.run(first)
    assert chain.nonce(ALICE) == 1
    chain.assert_rejected(first, BadNonce, "nonce 0 is not the next")  # replay of an included tx
    chain.assert_rejected(transfer(chain, nonce=5), BadNonce, "expected 1")
    chain.run(transfer(chain, nonce=1))


def test_same_nonce_twice_in_one_block(chain: Chain) -> None:
    a = transfer(chain, 1)
    b = transfer(chain, 2)
    block = chain.forge([a, b])
    from chain.errors import InvalidBlock
    from chain.execution import apply_block

    with pytest.raises(InvalidBlock, match="transaction 1") as info:
        apply_block(chain.state, block)
    assert isinstance(info.value.__cause__, BadNonce)


def test_oversized_transaction() -> None:
    chain = Chain(make_genesis(1, params={"max_tx_bytes": 1024}))
    from chainkit import VALIDATORS

    big = chain.tx(VALIDATORS[0], "gov_propose",
                   {"title": "t", "description": "x" * 2000, "action": {"kind": "text"}})
    err = chain.assert_rejected(big, TxTooLarge, "the limit is 1024")
    assert str(len(big.encoded)) in err.message
    chain.run(chain.tx(VALIDATORS[0], "gov_propose", {"title": "t", "description": "x" * 100, "action": {"kind": "text"}}))


def test_too_many_receipts_per_tx() -> None:
    from chainkit import COORD, make_receipt

    chain = Chain(make_genesis(1, params={"max_receipts_per_tx": 2}))
    receipts = [make_receipt(f"job-{i}", 10).to_dict() for i in range(3)]
    tx = chain.tx(COORD, "job_receipt", {"receipts": receipts})
    chain.assert_rejected(tx, InvalidPayload, "at most 2 receipts")


# -- schema refusals at parse time ------------------------------------------------------------------------


def base_fields(chain: Chain) -> dict[str, Any]:
    fields = transfer(chain).to_dict()
    del fields["signature"]
    return fields


@pytest.mark.parametrize("field, value", [
    ("nonce", 1.0), ("nonce", True), ("nonce", "0"), ("nonce", -1), ("nonce", None),
    ("fee", 100.0), ("fee", False), ("fee", "100"), ("fee", -1), ("fee", MAX_AMOUNT + 1),
    ("sender", "0x" + "AB" * 20), ("sender", "0x" + "ab" * 19), ("sender", "ab" * 20),
    ("chain_id", "Aitbc-Test"), ("chain_id", ""), ("chain_id", 7),
    ("type", "mint"), ("type", "Transfer"),
    ("pubkey", "AB" * 32), ("pubkey", "ab" * 31),
    ("signature", "ab" * 63), ("signature", "AB" * 64),
    ("payload", [1, 2]), ("payload", "x"),
])
def test_malformed_top_level_fields(chain: Chain, field: str, value: Any) -> None:
    fields = {**resign(base_fields(chain)), field: value}
    with pytest.raises(InvalidTransaction, match=field if field != "type" else "type") as info:
        parse_transaction(fields)
    assert info.value.message.startswith("invalid transaction")


@pytest.mark.parametrize("payload", [
    {"to": BOB.address, "amount": 5.0},
    {"to": BOB.address, "amount": 5.5},
    {"to": BOB.address, "amount": True},
    {"to": BOB.address, "amount": "5"},
    {"to": BOB.address, "amount": 0},
    {"to": BOB.address, "amount": -5},
    {"to": BOB.address, "amount": MAX_AMOUNT + 1},
    {"to": "0x" + BOB.address[2:].upper(), "amount": 5},
    {"to": BOB.address[:-1], "amount": 5},
    {"to": BOB.address + "00", "amount": 5},
    {"to": BOB.address},
    {"to": BOB.address, "amount": 5, "memo": "extra field"},
    {"to": BOB.address, "amount": 5, "n": [0.5]},
])
def test_malformed_payload(chain: Chain, payload: dict[str, Any]) -> None:
    fields = {**transfer(chain).to_dict(), "payload": payload}  # the parse fails before any signature check
    with pytest.raises(InvalidPayload, match="payload") as info:
        parse_transaction(fields)
    assert info.value.message.startswith("invalid transaction")
    # The same, as JSON text (floats never become ints on the way).
    text = '{"chain_id":"%s","fee":%d,"nonce":0,"payload":%s,"pubkey":"%s","sender":"%s","signature":"%s","type":"transfer"}' % (
        CHAIN_ID, FEE, _json(payload), ALICE.pub.hex(), ALICE.address, fields["signature"])
    with pytest.raises(InvalidTransaction):
        parse_transaction(text)


def _json(value: Any) -> str:
    import json

    return json.dumps(value, separators=(",", ":"))


@pytest.mark.parametrize("text", [
    b"", b"{", b"[]", b"null", b'{"chain_id":"aitbc-test"}', b"\xff\xfe",
])
def test_garbage_wire_data(text: bytes) -> None:
    with pytest.raises(InvalidTransaction):
        parse_transaction(text)


def test_json_floats_for_ints_are_refused(chain: Chain) -> None:
    tx = transfer(chain)
    text = tx.encoded.decode().replace('"nonce":0', '"nonce":0.0')
    with pytest.raises(InvalidTransaction, match="nonce"):
        parse_transaction(text)
    text = tx.encoded.decode().replace('"amount":5', '"amount":5.0')
    with pytest.raises(InvalidPayload):
        parse_transaction(text)


def test_every_refusal_is_a_chain_error(chain: Chain) -> None:
    """Bad wire data never escapes as a pydantic or JSON exception."""
    for data in (b"\x00", b"1e400", b'{"payload":{"a":1e400}}', "x" * 10, {"type": object()}):
        with pytest.raises(ChainError):
            parse_transaction(data)  # type: ignore[arg-type]
    wire = transfer(chain).encoded.decode()
    for extra in ("1" * 5000, "[" * 5000 + "]" * 5000, '"\\ud800"', "1e400", "NaN"):
        with pytest.raises(InvalidTransaction):
            parse_transaction(wire.replace('"amount":5', '"amount":5,"x":' + extra))
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    fields = {**transfer(chain).to_dict(), "payload": {"to": BOB.address, "amount": 5, "x": deep}}
    with pytest.raises(InvalidPayload, match="nested too deeply"):
        parse_transaction(fields)


def test_accepted_transfer_moves_funds_and_charges_fee(chain: Chain) -> None:
    chain.run(transfer(chain, 1234))
    assert chain.balance(ALICE) == FUNDS - 1234 - FEE
    assert chain.balance(BOB) == FUNDS + 1234
    assert chain.nonce(ALICE) == 1 and chain.nonce(BOB) == 0


def test_transfer_more_than_balance(chain: Chain) -> None:
    chain.assert_rejected(transfer(chain, FUNDS), InsufficientFunds, "transfer needs")
    chain.run(transfer(chain, FUNDS - FEE))
    assert chain.balance(ALICE) == 0


def test_transfer_to_new_and_to_self(chain: Chain) -> None:
    fresh = "0x" + "12" * 20
    chain.run(chain.tx(ALICE, "transfer", {"to": fresh, "amount": 7}))
    assert chain.balance(fresh) == 7
    chain.run(chain.tx(ALICE, "transfer", {"to": ALICE.address, "amount": 7}))
    assert chain.balance(ALICE) == FUNDS - 7 - 2 * FEE


def test_canonical_signing_bytes_are_stable() -> None:
    """Pin the signing format: changing it silently would fork every wallet from every node."""
    tx = make_tx(ALICE.seed, CHAIN_ID, "transfer", 3, 10, {"to": BOB.address, "amount": 1})
    expected = canonical_json({
        "domain": "aitbc/tx/v1", "chain_id": CHAIN_ID, "type": "transfer", "sender": ALICE.address, "nonce": 3,
        "fee": 10, "payload": {"to": BOB.address, "amount": 1}, "pubkey": ALICE.pub.hex(),
    })
    assert tx.signing_bytes() == expected
    assert crypto.verify(ALICE.pub, expected, bytes.fromhex(tx.signature))
