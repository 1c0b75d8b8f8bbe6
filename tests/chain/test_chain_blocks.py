"""Block-level rules: header fields, the last commit, proposer rotation, and supply
conservation over many blocks."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from chainkit import (
    ALICE, BOB, CAROL, CLIENT, COORD, MINER, MINER2, MINER_BOND, STAKE, VALIDATORS, Chain, Key, accounted_supply,
    fake_hash, make_genesis, make_proof, make_receipt, snapshot, supply_total, with_header, wrong_result,
)

from chain import crypto
from chain.block import EMPTY_COMMIT_HASH, GENESIS_PREV_HASH, Block, Commit, CommitSig
from chain.encoding import canonical_json
from chain.errors import InvalidBlock
from chain.execution import TREASURY, apply_block, build_block, next_proposer
from chain.validators import advanced_priorities, proposer_for, validators_hash


def assert_invalid(chain: Chain, block: Block, match: str) -> None:
    before = snapshot(chain.state)
    with pytest.raises(InvalidBlock, match=match):
        apply_block(chain.state, block)
    assert snapshot(chain.state) == before


@pytest.fixture
def running(chain4: Chain) -> Chain:
    """Four validators, two blocks in: the next block carries a real commit."""
    chain4.advance(2)
    return chain4


def test_first_block_and_genesis_links(chain: Chain) -> None:
    built = chain.build([chain.tx(ALICE, "transfer", {"to": BOB.address, "amount": 1})])
    header = built.block.header
    assert header.height == 1 and header.prev_hash == GENESIS_PREV_HASH
    assert header.last_commit_hash == EMPTY_COMMIT_HASH and built.block.last_commit is None
    chain.apply(built.block)
    assert chain.state.last_block_hash == built.block.hash
    assert chain.state.height == 1 and chain.state.time_ms == header.time_ms
    assert chain.state.root == header.state_root


@pytest.mark.parametrize("field, value, match", [
    ("chain_id", "other-chain", "block is for chain"),
    ("height", 4, "does not follow 2"),
    ("height", 2, "does not follow 2"),
    ("prev_hash", fake_hash("elsewhere"), "previous hash"),
    ("tx_root", fake_hash("txs"), "tx_root"),
    ("state_root", fake_hash("state"), "state root"),
    ("validators_hash", fake_hash("vals"), "validators_hash"),
    ("last_commit_hash", fake_hash("commit"), "last_commit_hash"),
])
def test_bad_header_fields(running: Chain, field: str, value: object, match: str) -> None:
    block = running.build([running.tx(ALICE, "transfer", {"to": BOB.address, "amount": 1})]).block
    assert_invalid(running, with_header(block, **{field: value}), match)
    running.apply(block)  # the untouched block is fine


def test_block_time_must_advance(running: Chain) -> None:
    block = running.build().block
    assert_invalid(running, with_header(block, time_ms=running.state.time_ms), "block time")
    assert_invalid(running, with_header(block, time_ms=running.state.time_ms - 5), "block time")
    soon = build_block(running.state, [], proposer=next_proposer(running.state), time_ms=running.state.time_ms + 1,
                       last_commit=running.last_commit)
    running.apply(soon.block)  # any later time will do; there is no clock in the chain core


def test_wrong_proposer(running: Chain) -> None:
    block = running.build().block
    expected = next_proposer(running.state)
    for key in VALIDATORS:
        if key.address != expected:
            assert_invalid(running, with_header(block, proposer=key.address), "proposer must be")
    assert_invalid(running, with_header(block, proposer=ALICE.address), "proposer must be")


def test_later_round_has_its_own_proposer(running: Chain) -> None:
    r0, r1 = next_proposer(running.state, 0), next_proposer(running.state, 1)
    assert r0 != r1
    built = running.build(round_=1)
    assert built.block.header.proposer == r1
    assert_invalid(running, with_header(built.block, proposer=r0), "round 1 proposer must be")
    running.apply(built.block)


def test_first_block_carries_no_commit(chain: Chain) -> None:
    block = chain.build().block
    fake = Commit(height=0, round=0, block_hash=fake_hash("g"), signatures=[])
    assert_invalid(chain, Block(header=block.header, txs=[], last_commit=fake), "carries no last commit")


def test_missing_commit(running: Chain) -> None:
    block = running.build().block
    assert_invalid(running, Block(header=block.header, txs=[], last_commit=None), "carries no commit")


def build_with_commit(chain: Chain, commit: Commit) -> Block:
    return build_block(chain.state, [], proposer=next_proposer(chain.state), time_ms=chain.next_time(),
                       last_commit=commit).block


def test_commit_needs_more_than_two_thirds(running: Chain) -> None:
    last = running.blocks[-1]
    signers = sorted(running.state.get("meta", "signers")["set"])
    two = running.commit_for(last, running.state, signers=signers[:2])
    assert_invalid(running, build_with_commit(running, two), "has 2000000000 of 4000000000 voting power")
    none = running.commit_for(last, running.state, signers=[])
    assert_invalid(running, build_with_commit(running, none), "more than 2/3")
    three = running.commit_for(last, running.state, signers=signers[:3])
    running.apply(build_with_commit(running, three))


def test_commit_power_is_stake_weighted() -> None:
    chain = Chain(make_genesis(3, powers=[STAKE, STAKE, 5 * STAKE]))
    chain.advance(1)
    last = chain.blocks[-1]
    small = chain.commit_for(last, chain.state, signers=[VALIDATORS[0].address, VALIDATORS[1].address])
    assert_invalid(chain, build_with_commit(chain, small), "2000000000 of 7000000000")
    big = chain.commit_for(last, chain.state, signers=[VALIDATORS[2].address])
    chain.apply(build_with_commit(chain, big))


def test_commit_with_bad_signature(running: Chain) -> None:
    good = running.last_commit
    assert good is not None
    sigs = list(good.signatures)
    victim = sigs[0]
    body = good.vote_body(running.chain_id, victim.validator)
    sigs[0] = CommitSig(validator=victim.validator,
                        signature=crypto.sign(ALICE.seed, body.signing_bytes()).hex())
    bad = Commit(height=good.height, round=good.round, block_hash=good.block_hash, signatures=sigs)
    assert_invalid(running, build_with_commit(running, bad), "does not verify")
    # A precommit for another round is a different message.
    other_round = Commit(height=good.height, round=1, block_hash=good.block_hash, signatures=list(good.signatures))
    assert_invalid(running, build_with_commit(running, other_round), "does not verify")


def test_commit_with_duplicate_signer(running: Chain) -> None:
    good = running.last_commit
    assert good is not None
    sigs = list(good.signatures[:2]) + [good.signatures[0]]
    dup = Commit(height=good.height, round=good.round, block_hash=good.block_hash, signatures=sigs)
    assert_invalid(running, build_with_commit(running, dup), "two signatures from")


def test_commit_from_non_validator(running: Chain) -> None:
    good = running.last_commit
    assert good is not None
    body = good.vote_body(running.chain_id, ALICE.address)
    extra = CommitSig(validator=ALICE.address, signature=crypto.sign(ALICE.seed, body.signing_bytes()).hex())
    stranger = Commit(height=good.height, round=good.round, block_hash=good.block_hash,
                      signatures=list(good.signatures) + [extra])
    assert_invalid(running, build_with_commit(running, stranger), "was not a validator")


def test_commit_for_another_block(running: Chain) -> None:
    good = running.last_commit
    assert good is not None
    other = running.commit_for(running.blocks[-2], running.state)
    assert_invalid(running, build_with_commit(running, other), "last commit is for block")
    wrong_hash = Commit(height=good.height, round=0, block_hash=fake_hash("x"), signatures=[])
    assert_invalid(running, build_with_commit(running, wrong_hash), "last commit is for block")


def test_too_many_transactions() -> None:
    chain = Chain(make_genesis(1, params={"max_block_txs": 2}))
    txs = chain.txs(ALICE, [("transfer", {"to": BOB.address, "amount": i + 1}) for i in range(3)])
    built = chain.build(txs)
    assert len(built.block.txs) == 2  # the proposer stops at the limit
    assert_invalid(chain, _with_txs(built.block, txs), "the limit is 2")


def _with_txs(block: Block, txs: list) -> Block:
    from chain.block import merkle_root

    return Block(header=with_header(block, tx_root=merkle_root([t.hash for t in txs])).header, txs=txs,
                 last_commit=block.last_commit)


def test_block_with_reordered_transactions_is_invalid(chain: Chain) -> None:
    a = chain.tx(ALICE, "transfer", {"to": BOB.address, "amount": 1})
    b = chain.tx(BOB, "transfer", {"to": ALICE.address, "amount": 1})
    block = chain.build([a, b]).block
    swapped = Block(header=block.header, txs=[b, a], last_commit=block.last_commit)
    assert_invalid(chain, swapped, "tx_root")


def test_apply_is_deterministic_and_pure(chain4: Chain) -> None:
    chain4.advance(1)
    built = chain4.build([chain4.tx(ALICE, "transfer", {"to": BOB.address, "amount": 9})])
    before = snapshot(chain4.state)
    one = apply_block(chain4.state, built.block)
    two = apply_block(chain4.state, built.block)
    assert one.root == two.root == built.block.header.state_root
    assert snapshot(chain4.state) == before
    assert one.last_block_hash == built.block.hash


def test_verified_hint_skips_only_signatures(chain: Chain) -> None:
    """Transactions whose signatures the node already checked skip that check, nothing else."""
    tx = chain.tx(ALICE, "transfer", {"to": BOB.address, "amount": 9})
    built = chain.build([tx])
    state = apply_block(chain.state, built.block, verified=[tx.hash])
    assert state.root == built.state.root


# -- proposer rotation ----------------------------------------------------------------------------------------


def test_priorities_give_exact_proportional_rotation() -> None:
    powers = {"0x" + "a1" * 20: 1, "0x" + "b2" * 20: 2, "0x" + "c3" * 20: 3}
    signers = {a: {"pubkey": "00" * 32, "power": p, "priority": 0} for a, p in powers.items()}
    counts: Counter[str] = Counter()
    for _ in range(6000):
        counts[proposer_for(signers, 0)] += 1
        signers = advanced_priorities(signers)
    assert [counts[a] for a in powers] == [1000, 2000, 3000]
    # Priorities stay bounded.
    assert all(abs(s["priority"]) <= 12 for s in signers.values())


def test_stake_weighted_rotation_on_chain() -> None:
    chain = Chain(make_genesis(3, powers=[STAKE, 2 * STAKE, 3 * STAKE]))
    counts: Counter[str] = Counter()
    order = []
    for _ in range(60):
        proposer = next_proposer(chain.state)
        built = chain.step()
        assert built.block.header.proposer == proposer
        counts[proposer] += 1
        order.append(VALIDATORS.index(next(k for k in VALIDATORS if k.address == proposer)))
    assert [counts[k.address] for k in VALIDATORS[:3]] == [10, 20, 30]
    assert order[:6] == order[6:12]  # one period of the round robin repeats exactly
    assert sorted(Counter(order[:6]).values()) == [1, 2, 3]


def test_validators_hash_tracks_power(chain: Chain) -> None:
    assert chain.state.get("meta", "signers") is None  # genesis has no signer set; block 1 fixes the first
    first = chain.step().block
    assert validators_hash(chain.state.get("meta", "signers")["set"]) == first.header.validators_hash
    chain.run(chain.tx(ALICE, "stake", {"validator": VALIDATORS[0].address, "amount": 5}))
    assert chain.blocks[-1].header.validators_hash == first.header.validators_hash  # fixed before its txs
    assert chain.build().block.header.validators_hash != first.header.validators_hash


# -- supply conservation ----------------------------------------------------------------------------------------

ACTORS = [ALICE, BOB, CAROL, CLIENT, MINER, MINER2]


def random_txs(chain: Chain, rng: random.Random, count: int, jobs: list[int]) -> list:
    txs = []
    offsets: Counter[str] = Counter()

    def tx(key: Key, kind: str, payload: dict) -> None:
        txs.append(chain.tx(key, kind, payload, offset=offsets[key.address]))
        offsets[key.address] += 1

    validators = [k.address for k in VALIDATORS[:3]]
    for _ in range(count):
        who = rng.choice(ACTORS)
        roll = rng.randrange(12)
        amount = rng.randrange(1, 5_000_000)
        if roll == 0:
            tx(who, "transfer", {"to": rng.choice(ACTORS).address, "amount": amount})
        elif roll == 1:
            tx(who, "stake", {"validator": rng.choice(validators), "amount": amount})
        elif roll in (2, 3):
            mine = sorted((k.partition("/")[2], d) for k, d in chain.state.items("delegation")
                          if k.startswith(who.address + "/"))
            validator, held = rng.choice(mine) if mine else (rng.choice(validators), {"shares": 1})
            if roll == 2:
                tx(who, "unstake", {"validator": validator, "amount": rng.randrange(1, held["shares"] + 2)})
            else:
                tx(who, "claim_rewards", {"validator": validator})
        elif roll == 4:
            tx(CLIENT, "escrow_deposit", {"coordinator": COORD.address, "amount": amount})
        elif roll == 5:
            tx(CLIENT, "escrow_withdraw", {"coordinator": COORD.address, "amount": amount // 2 + 1})
        elif roll in (6, 7):
            receipts = []
            for _ in range(rng.randrange(1, 4)):
                jobs[0] += 1
                receipts.append(make_receipt(f"job-{jobs[0]}", rng.randrange(1, 400_000),
                                             miner=rng.choice([MINER, MINER2])).to_dict())
            tx(COORD, "job_receipt", {"receipts": receipts})
        elif roll == 8:
            tx(rng.choice([MINER, MINER2]), "miner_bond", {"amount": amount})
        elif roll == 9:
            tx(rng.choice([MINER, MINER2]), "miner_unbond", {"amount": amount})
        elif roll == 10:
            jobs[0] += 1
            tx(COORD, "slash", wrong_result(make_proof(MINER, f"bad-{jobs[0]}")))
        else:
            tx(rng.choice(VALIDATORS[:3]), "stake", {"validator": rng.choice(validators), "amount": amount})
    return txs


@pytest.mark.parametrize("seed", [1, 2])
def test_supply_is_conserved_over_random_blocks(seed: int) -> None:
    rng = random.Random(seed)
    chain = Chain(make_genesis(3, powers=[STAKE, 2 * STAKE, 3 * STAKE], treasury=10**9))
    chain.step([chain.tx(MINER, "miner_bond", {"amount": 3 * MINER_BOND}),
                chain.tx(MINER2, "miner_bond", {"amount": 3 * MINER_BOND})])
    jobs = [0]
    applied = 0
    minted_blocks = 1
    burned = 0
    for _ in range(30):
        built = chain.step(random_txs(chain, rng, rng.randrange(0, 14), jobs), allow_rejects=True)
        minted_blocks += 1
        applied += len(built.block.txs)
        burned = sum(e["burned"] for _, e in chain.state.items("evidence"))
        assert accounted_supply(chain.state) == supply_total(chain.state)
        assert all(a["balance"] >= 0 for _, a in chain.state.items("account"))
        assert all(d["shares"] >= 0 and d["rewards"] >= 0 for _, d in chain.state.items("delegation"))
        assert all(e["balance"] >= 0 for _, e in chain.state.items("escrow"))
        for address, v in chain.state.items("validator"):
            # Delegations are shares of the validator's pool (slashing shrinks the pool, not them).
            shares = sum(d["shares"] for k, d in chain.state.items("delegation") if k.endswith("/" + address))
            assert v["shares"] == shares and v["power"] >= 0 and v["outstanding"] >= 0
    genesis_supply = sum(a.balance for a in chain.genesis.accounts) + 6 * STAKE + 10**9
    assert supply_total(chain.state) == genesis_supply + minted_blocks * 2_000_000 - burned
    assert applied > 40  # the random mix really exercised the rules
    assert chain.balance(TREASURY) > 10**9
    kinds = {tx.type for block in chain.blocks for tx in block.txs}
    assert kinds == {"transfer", "stake", "unstake", "claim_rewards", "escrow_deposit", "escrow_withdraw",
                     "job_receipt", "miner_bond", "miner_unbond", "slash"}


# -- liveness: the active validator set never becomes empty ---------------------------------------------


def test_last_validator_cannot_unstake_everything(chain: Chain) -> None:
    v = VALIDATORS[0]
    tx = chain.tx(v, "unstake", {"validator": v.address, "amount": STAKE})
    built = chain.step([tx], allow_rejects=True)
    chain.step()  # InvalidBlock: no active validator, if the unstake above was accepted
    assert built.rejected and "no active validator" in built.rejected[0][1].message


def test_chain_survives_slashing_its_last_validator(chain: Chain) -> None:
    from chainkit import make_vote

    v = VALIDATORS[0]
    evidence = {"kind": "double_sign", "vote_a": make_vote(v, 1, fake_hash("a")).model_dump(),
                "vote_b": make_vote(v, 1, fake_hash("b")).model_dump()}
    built = chain.step([chain.tx(ALICE, "slash", {"evidence": evidence})], allow_rejects=True)
    assert not built.rejected
    validator = chain.get("validator", v.address)
    assert validator is not None and not validator["jailed"]  # burned, but not jailed: it is the only one
    assert validator["self_bond"] < STAKE
    chain.step()


def test_a_proposer_byte_budget_leaves_what_does_not_fit_and_its_senders_later_txs_for_later(chain: Chain) -> None:
    """``build_block(max_tx_bytes=...)``: a block a proposer's peers could not receive would stall
    every round it proposes; what does not fit waits, neither included nor rejected."""
    big = chain.tx(ALICE, "gov_propose", {"title": "t", "description": "x" * 9000, "action": {"kind": "text"}})
    after_big = chain.tx(ALICE, "transfer", {"to": BOB.address, "amount": 1}, offset=1)
    small = chain.txs(CAROL, [("transfer", {"to": BOB.address, "amount": 1})] * 3)
    budget = sum(len(tx.encoded) for tx in small) + 10
    built = build_block(chain.state, [big, after_big, *small], proposer=next_proposer(chain.state),
                        time_ms=chain.next_time(), max_tx_bytes=budget)
    assert [tx.hash for tx in built.block.txs] == [tx.hash for tx in small]
    assert built.rejected == []  # ALICE's transfer was not tried on the nonce her proposal left unused
    assert sum(len(tx.encoded) for tx in built.block.txs) <= budget
    chain.apply(built.block)
    roomy = build_block(chain.state, [big, after_big], proposer=next_proposer(chain.state), time_ms=chain.next_time(),
                        max_tx_bytes=len(big.encoded) + len(after_big.encoded))
    assert [tx.hash for tx in roomy.block.txs] == [big.hash, after_big.hash] and roomy.rejected == []


def test_a_blocks_encoding_is_the_canonical_json_of_its_fields() -> None:
    """``Block.encoded`` is assembled from its transactions' own encodings; it must be, byte for
    byte, what encoding the whole block gives (the stored block and ``get_block`` serve it)."""
    rng = random.Random(7)
    chain = Chain(make_genesis(3, powers=[STAKE, 2 * STAKE, 3 * STAKE], treasury=10**9))
    chain.step([chain.tx(MINER, "miner_bond", {"amount": 3 * MINER_BOND})])
    jobs = [0]
    for _ in range(8):
        chain.step(random_txs(chain, rng, rng.randrange(0, 10), jobs), allow_rejects=True)
    chain.step([])
    assert chain.blocks[0].last_commit is None and not chain.blocks[-1].txs
    assert sum(len(block.txs) for block in chain.blocks) > 10
    for block in chain.blocks:
        assert block.encoded() == canonical_json(block.to_dict())
