"""Property tests (hypothesis): tampering, all-or-nothing blocks, state root order
independence, Merkle proofs. (Encoding round-trips are in ``test_chain_encoding``.)"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Any

import pytest
from chainkit import (
    ALICE, BOB, CAROL, CHAIN_ID, CLIENT, COORD, FEE, FUNDED, FUNDS, MINER, VALIDATORS, Chain, Key, make_genesis,
    make_receipt, snapshot,
)
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from chain import crypto
from chain.block import merkle_proof, merkle_root, verify_merkle_proof
from chain.errors import ChainError, InvalidBlock, InvalidSignature
from chain.execution import apply_block
from chain.state import NAMESPACES, State
from chain.tx import Transaction, check_stateless, make_tx, parse_transaction, signing_bytes

PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@lru_cache(maxsize=1)
def base_chain() -> Chain:
    """A chain one block in (so blocks carry a commit), with a bonded miner and escrow. Property
    tests never step it: states are immutable, so every example starts from the same one."""
    chain = Chain(make_genesis(1))
    chain.step([chain.tx(MINER, "miner_bond", {"amount": 1000 * 10**6}),
                chain.tx(CLIENT, "escrow_deposit", {"coordinator": COORD.address, "amount": 50_000})])
    return chain


@lru_cache(maxsize=1)
def sample_txs() -> tuple[Transaction, ...]:
    chain = base_chain()
    return (
        chain.tx(ALICE, "transfer", {"to": BOB.address, "amount": 12345}),
        chain.tx(BOB, "stake", {"validator": VALIDATORS[0].address, "amount": 999}),
        chain.tx(COORD, "job_receipt", {"receipts": [make_receipt("job-p", 700).to_dict()]}),
        chain.tx(VALIDATORS[0], "gov_propose", {"title": "t", "description": "ünïcode ✓",
                                                 "action": {"kind": "param_change", "changes": {"min_fee": 11}}}),
    )


# -- tampering ---------------------------------------------------------------------------------------------------


@PROPS
@given(st.data())
def test_any_tampered_byte_breaks_parse_or_signature(data: st.DataObject) -> None:
    original = data.draw(st.sampled_from(sample_txs()))
    wire = bytearray(original.encoded)
    position = data.draw(st.integers(0, len(wire) - 1))
    value = data.draw(st.integers(0, 255).filter(lambda b: b != wire[position]))
    wire[position] = value
    try:
        tampered = parse_transaction(bytes(wire))
    except ChainError:
        return  # refused at parse time
    if tampered.to_dict() == original.to_dict():
        return  # an equivalent spelling of the same transaction (e.g. an escape), not a new one
    assert not tampered.signature_valid()
    with pytest.raises(InvalidSignature):  # on whichever chain it now claims to be for
        check_stateless(tampered, tampered.chain_id, base_chain().genesis.params)


@PROPS
@given(st.data())
def test_any_tampered_field_value_breaks_signature(data: st.DataObject) -> None:
    """Same at the value level: replace one leaf value anywhere in the signed fields."""
    original = data.draw(st.sampled_from(sample_txs()))
    fields = original.to_dict()
    paths = list(_leaf_paths({k: v for k, v in fields.items() if k != "signature"}))
    path = data.draw(st.sampled_from(paths))
    old = _get(fields, path)
    if isinstance(old, bool):
        new: Any = not old
    elif isinstance(old, int):
        new = data.draw(st.integers(0, 2**40).filter(lambda v: v != old))
    else:
        new = data.draw(st.text(alphabet="0123456789abcdefx", min_size=1, max_size=70).filter(lambda v: v != old))
    try:
        tampered = parse_transaction(_set(fields, path, new))
    except ChainError:
        return
    assert tampered.to_dict() != original.to_dict()
    assert not tampered.signature_valid()


def _leaf_paths(value: Any, prefix: tuple = ()) -> Any:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaf_paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaf_paths(item, prefix + (index,))
    elif value is not None:
        yield prefix


def _get(value: Any, path: tuple) -> Any:
    for step in path:
        value = value[step]
    return value


def _set(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _set(value[head], rest, new)}
    copy = list(value)
    copy[head] = _set(copy[head], rest, new)
    return copy


# -- a block with one invalid transaction changes nothing -------------------------------------------------------------

SENDERS = [ALICE, BOB, CAROL, CLIENT]


def _valid_tx(chain: Chain, sender: Key, index: int) -> Transaction:
    return chain.tx(sender, "transfer", {"to": MINER.address, "amount": 1000 + index}, offset=index)


def _invalid_tx(chain: Chain, kind: str, valid: list[Transaction]) -> Transaction:
    outsider = Key.named("outsider")
    if kind == "bad_signature":
        tx = chain.tx(ALICE, "transfer", {"to": BOB.address, "amount": 1}, nonce=900)
        fields = tx.to_dict()
        fields["signature"] = crypto.sign(BOB.seed, signing_bytes(fields)).hex()
        return parse_transaction(fields)
    if kind == "bad_nonce":
        return chain.tx(CAROL, "transfer", {"to": BOB.address, "amount": 1}, nonce=77)
    if kind == "fee_too_low":
        return make_tx(Key.named("carol").seed, CHAIN_ID, "transfer", 0, 1, {"to": BOB.address, "amount": 1})
    if kind == "no_funds":
        return make_tx(outsider.seed, CHAIN_ID, "transfer", 0, FEE, {"to": BOB.address, "amount": 1})
    if kind == "overspend":
        return make_tx(Key.named("coordinator2").seed, CHAIN_ID, "transfer", 0, FEE, {"to": BOB.address, "amount": FUNDS})
    if kind == "wrong_chain":
        return chain.tx(ALICE, "transfer", {"to": BOB.address, "amount": 1}, chain_id="other-chain")
    if kind == "unknown_validator":
        return make_tx(Key.named("miner1").seed, CHAIN_ID, "stake", 0, FEE, {"validator": BOB.address, "amount": 5})
    if kind == "duplicate_job":
        return chain.tx(COORD, "job_receipt", {"receipts": [make_receipt("dup", 5).to_dict(),
                                                            make_receipt("dup", 5).to_dict()]})
    if kind == "overdrawn_escrow":
        return chain.tx(COORD, "job_receipt", {"receipts": [make_receipt("big", 10**9).to_dict()]})
    assert kind == "replay" and valid
    return valid[0]


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    counts=st.lists(st.integers(0, 3), min_size=len(SENDERS), max_size=len(SENDERS)),
    kind=st.sampled_from(["bad_signature", "bad_nonce", "fee_too_low", "no_funds", "overspend", "wrong_chain",
                          "unknown_validator", "duplicate_job", "overdrawn_escrow", "replay"]),
    data=st.data(),
)
def test_block_with_one_invalid_tx_changes_nothing(counts: list[int], kind: str, data: st.DataObject) -> None:
    chain = base_chain()
    valid: list[Transaction] = []
    for sender, count in zip(SENDERS, counts):
        valid += [_valid_tx(chain, sender, i) for i in range(count)]
    # Interleave senders while keeping each sender's nonces in order.
    order = data.draw(st.permutations(range(len(valid))))
    per_sender: dict[str, list[Transaction]] = {}
    for tx in valid:
        per_sender.setdefault(tx.sender, []).append(tx)
    slots = [valid[i].sender for i in order]
    valid = [per_sender[s].pop(0) for s in slots]
    if kind == "replay":
        assume(valid)
    bad = _invalid_tx(chain, kind, valid)
    position = data.draw(st.integers(0, len(valid)))
    txs = valid[:position] + [bad] + valid[position:]

    before = snapshot(chain.state)
    state = chain.state
    block = chain.forge(txs)
    with pytest.raises(InvalidBlock, match="is invalid") as info:
        apply_block(chain.state, block)
    assert isinstance(info.value.__cause__, ChainError)
    assert chain.state is state
    assert snapshot(chain.state) == before
    # Without the bad transaction the same transactions make a valid block.
    good = chain.build(valid)
    assert good.rejected == []
    assert apply_block(chain.state, good.block).root == good.block.header.state_root
    assert snapshot(chain.state) == before


# -- state root ------------------------------------------------------------------------------------------------------

entry_values = st.dictionaries(st.sampled_from(["balance", "nonce", "x"]), st.integers(0, 10**6) | st.text(max_size=5),
                               min_size=1, max_size=3)
entries_strategy = st.dictionaries(
    st.tuples(st.sampled_from(NAMESPACES), st.text(alphabet="0123456789abcdef/x", min_size=1, max_size=12)),
    entry_values, max_size=40,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries=entries_strategy, data=st.data())
def test_state_root_independent_of_insertion_order(entries: dict, data: st.DataObject) -> None:
    items = [(ns, key, value) for (ns, key), value in entries.items()]
    shuffled = data.draw(st.permutations(items))
    a = State.from_entries(CHAIN_ID, items)
    b = State.from_entries(CHAIN_ID, shuffled)
    assert a.root == b.root
    # Built incrementally: a prefix at construction, the rest as writes in another order.
    split = data.draw(st.integers(0, len(items)))
    c = State.from_entries(CHAIN_ID, shuffled[:split])
    rest = data.draw(st.permutations(shuffled[split:]))
    c2 = c.apply_writes({(ns, key): value for ns, key, value in rest})
    assert c2.root == a.root
    assert c.root == State.from_entries(CHAIN_ID, shuffled[:split]).root  # the original is untouched
    # Scans (which visit only the buckets holding entries) see exactly what was written.
    assert sorted(c2.entries()) == sorted(a.entries()) == sorted(items)
    # Deleting entries gives the root of a state that never had them.
    doomed = data.draw(st.lists(st.sampled_from(items), unique_by=lambda e: (e[0], e[1]))) if items else []
    gone = {(ns, key) for ns, key, _ in doomed}
    d = a.apply_writes({key: None for key in gone})
    assert d.root == State.from_entries(CHAIN_ID, [e for e in items if (e[0], e[1]) not in gone]).root
    assert sorted(d.entries()) == sorted(e for e in items if (e[0], e[1]) not in gone)
    assert sorted(d.apply_writes({(ns, key): value for ns, key, value in doomed}).entries()) == sorted(items)
    # Changing any one value changes the root.
    if items:
        ns, key, value = data.draw(st.sampled_from(items))
        changed = a.apply_writes({(ns, key): {**value, "changed": 1}})
        assert changed.root != a.root


def test_state_root_of_empty_and_deleted_absent_key() -> None:
    empty = State.from_entries(CHAIN_ID, [])
    assert empty.apply_writes({("account", "nobody"): None}).root == empty.root
    one = empty.apply_writes({("account", "a"): {"balance": 1, "nonce": 0}})
    assert one.root != empty.root
    assert one.apply_writes({("account", "a"): None}).root == empty.root
    with pytest.raises(ValueError, match="namespace"):
        State.from_entries(CHAIN_ID, [("nope", "a", {})])


# -- Merkle proofs ---------------------------------------------------------------------------------------------------

leaves_strategy = st.lists(st.binary(min_size=32, max_size=32).map(bytes.hex), min_size=1, max_size=40)


@PROPS
@given(leaves=leaves_strategy, data=st.data())
def test_merkle_proofs_verify_every_leaf_and_refuse_tampering(leaves: list[str], data: st.DataObject) -> None:
    root = merkle_root(leaves)
    for index, leaf in enumerate(leaves):
        path = merkle_proof(leaves, index)
        assert verify_merkle_proof(leaf, path, root)
        assert len(path) <= max(1, len(leaves) - 1).bit_length()
    index = data.draw(st.integers(0, len(leaves) - 1))
    path = merkle_proof(leaves, index)
    bit = data.draw(st.integers(0, 255))
    tampered = bytearray(bytes.fromhex(leaves[index]))
    tampered[bit // 8] ^= 1 << (bit % 8)
    assert not verify_merkle_proof(tampered.hex(), path, root)
    if path:
        step = data.draw(st.integers(0, len(path) - 1))
        side, sibling = path[step]
        flipped = list(path)
        flipped[step] = ("R" if side == "L" else "L", sibling)
        if sibling != _node_on_path(leaves[index], path, step):
            assert not verify_merkle_proof(leaves[index], flipped, root)
        bad_sibling = list(path)
        bad_sibling[step] = (side, hashlib.sha256(bytes.fromhex(sibling)).hexdigest())
        assert not verify_merkle_proof(leaves[index], bad_sibling, root)
    # A leaf is not a node: an inner node's hash never verifies as a leaf.
    if len(leaves) > 1:
        assert merkle_root(leaves) != merkle_root([root])


def _node_on_path(leaf: str, path: list[tuple[str, str]], upto: int) -> str:
    node = hashlib.sha256(b"\x00" + bytes.fromhex(leaf)).digest()
    for side, sibling_hex in path[:upto]:
        sibling = bytes.fromhex(sibling_hex)
        node = hashlib.sha256(b"\x01" + (sibling + node if side == "L" else node + sibling)).digest()
    return node.hex()


def test_merkle_root_edge_cases() -> None:
    assert merkle_root([]) == hashlib.sha256(b"").hexdigest()
    leaf = "ab" * 32
    assert merkle_root([leaf]) == hashlib.sha256(b"\x00" + bytes.fromhex(leaf)).hexdigest()
    assert merkle_proof([leaf], 0) == []
    assert merkle_root([leaf, leaf]) != merkle_root([leaf])
    assert merkle_root(["01" * 32, "02" * 32]) != merkle_root(["02" * 32, "01" * 32])


def test_genesis_accounts_are_funded() -> None:
    chain = base_chain()
    for key in FUNDED:
        assert chain.balance(key) > 0
