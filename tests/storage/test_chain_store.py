"""ChainStore against real databases: blocks built and signed by the chain core, stored, reloaded.

Every test runs on SQLite (a file under tmp_path) and on PostgreSQL when
AITBC_TEST_POSTGRES_URL is set (see conftest.py).
"""

from __future__ import annotations

import json

import threading

import pytest
from store_testkit import (
    CHAIN_ID, CLIENT, COORDINATOR, MINER, USERS, VALIDATOR, Opener, TestChain, make_genesis, make_receipt, open_sqlite,
)

from chain.block import Block, Commit
from chain.genesis import genesis_state
from chain.params import MAX_AMOUNT, UNIT
from chain.state import State
from chain.tx import Transaction
from storage.chain_store import ChainStore, StateRow, addresses_of
from storage.database import bind_model
from storage.errors import BlockOutOfOrder, GenesisMismatch, NotInitialized, StateMismatch
from storage.mempool_store import MempoolStore

RECEIPTS = [make_receipt("job-1", 5 * UNIT), make_receipt("job-2", 7 * UNIT)]


def build_scenario() -> TestChain:
    """Five blocks touching every index: stake, escrow, bond, receipts, unbond (a pending entry
    created in block 3 and deleted when released in block 4), transfers, and an empty block."""
    chain = TestChain.fresh()
    min_bond = chain.genesis.params.min_miner_bond
    chain.next_block([
        chain.tx(CLIENT, "stake", {"validator": VALIDATOR.address, "amount": 50 * UNIT}, nonce=0),
        chain.tx(CLIENT, "escrow_deposit", {"coordinator": COORDINATOR.address, "amount": 1000 * UNIT}, nonce=1),
        chain.tx(MINER, "miner_bond", {"amount": min_bond}),
        *chain.transfers(10, salt=1),
    ])
    chain.next_block([
        chain.tx(COORDINATOR, "job_receipt", {"receipts": [r.model_dump() for r in RECEIPTS]}),
        *chain.transfers(10, salt=2),
    ])
    chain.next_block([chain.tx(MINER, "miner_unbond", {"amount": 10 * UNIT}), *chain.transfers(5, salt=3)])
    chain.next_block(chain.transfers(5, salt=4))
    chain.next_block([])
    return chain


@pytest.fixture(scope="module")
def scenario() -> TestChain:
    return build_scenario()


def store_blocks(store: ChainStore, chain: TestChain, upto: int | None = None) -> None:
    if not store.is_initialized():
        genesis = make_genesis()
        store.initialize(genesis_state(genesis), genesis.hash)
    for block, state, commit in chain.blocks[store.latest_height():upto]:
        store.commit_block(block, state, commit)


def test_reload_rebuilds_the_exact_state(reopen: Opener, scenario: TestChain) -> None:
    db = reopen()
    store_blocks(ChainStore(db), scenario)
    db.close()

    store = ChainStore(reopen())
    state = store.load_state(CHAIN_ID)
    assert state is not None
    assert state.root == scenario.state.root
    assert dict(((ns, k), v) for ns, k, v in state.entries()) == dict(((ns, k), v) for ns, k, v in scenario.state.entries())
    assert state.last_block_hash == scenario.state.last_block_hash == scenario.blocks[-1][0].hash
    assert state.height == store.latest_height() == 5
    assert store.verify_head().root == scenario.state.root
    head = store.head()
    assert head is not None and head.commit == scenario.last_commit
    assert head.genesis_hash == make_genesis().hash


def test_blocks_commits_and_entries(reopen: Opener, scenario: TestChain) -> None:
    store = ChainStore(reopen())
    store_blocks(store, scenario)
    for block, state, commit in scenario.blocks:
        assert store.get_block(block.height) == block
        assert store.get_block_json(block.height) == block.encoded()
        assert store.get_block_by_hash(block.hash) == block
        assert store.get_commit(block.height) == commit
        answer = {"hash": block.hash, **block.to_dict(), "commit": commit.model_dump()}
        assert store.get_block_answer(block.height) == store.get_block_answer(block_hash=block.hash) == answer
    assert store.get_block(6) is None and store.get_block(0) is None
    assert store.get_block_by_hash("00" * 32) is None
    assert store.get_block_answer(6) is None and store.get_block_answer(block_hash="00" * 32) is None
    assert store.get_commit(0) is None and store.get_commit(6) is None
    for ns, key, value in scenario.state.entries():
        assert store.get_entry(ns, key) == value
    assert store.get_entry("account", "0x" + "ab" * 20) is None


def test_state_diff_writes_and_deletes(reopen: Opener, scenario: TestChain) -> None:
    store = ChainStore(reopen())
    store_blocks(store, scenario, upto=3)
    pending = dict(scenario.blocks[2][1].items("pending"))
    assert len(pending) == 1, "the unbond in block 3 queues one release"
    key, value = next(iter(pending.items()))
    assert store.get_entry("pending", key) == value
    assert store.verify_head().root == scenario.blocks[2][1].root

    store_blocks(store, scenario, upto=4)
    assert store.get_entry("pending", key) is None, "the release in block 4 deletes the row"
    assert store.verify_head().root == scenario.blocks[3][1].root


def test_transactions_and_address_index(reopen: Opener, scenario: TestChain) -> None:
    store = ChainStore(reopen())
    store_blocks(store, scenario)
    located: dict[str, tuple[Transaction, int, int]] = {}
    for block, _, _ in scenario.blocks:
        for index, tx in enumerate(block.txs):
            found = store.get_tx(tx.hash)
            assert found == (tx, block.height, index)
            assert found is not None and found.tx.encoded == tx.encoded
            located[tx.hash] = (tx, block.height, index)
    assert store.get_tx("ff" * 32) is None

    def expected(address: str) -> list[tuple[str, int, int]]:
        hits = [(h, height, index) for h, (tx, height, index) in located.items() if address in addresses_of(tx)]
        return sorted(hits, key=lambda hit: (hit[1], hit[2]), reverse=True)

    def got(address: str, **kwargs: int) -> list[tuple[str, int, int]]:
        return [(s.tx.hash, s.height, s.index) for s in store.txs_by_address(address, **kwargs)]

    types = {address: {located[h][0].type for h, _, _ in expected(address)}
             for address in (VALIDATOR.address, COORDINATOR.address, MINER.address, CLIENT.address)}
    assert types[VALIDATOR.address] == {"stake"}
    assert types[COORDINATOR.address] == {"escrow_deposit", "job_receipt"}
    assert types[MINER.address] == {"miner_bond", "job_receipt", "miner_unbond"}
    assert types[CLIENT.address] == {"stake", "escrow_deposit", "job_receipt"}
    for address in (VALIDATOR.address, COORDINATOR.address, MINER.address, CLIENT.address, USERS[3].address):
        assert got(address, limit=1000) == expected(address)

    # Paging with a cursor visits every transaction once, newest first, even inside one block.
    busy = max(USERS, key=lambda u: len(expected(u.address))).address
    assert len(expected(busy)) >= 4
    pages: list[tuple[str, int, int]] = []
    page = got(busy, limit=2)
    while page:
        pages += page
        page = got(busy, limit=2, before_height=page[-1][1], before_index=page[-1][2])
    assert pages == expected(busy)
    assert got(busy, limit=1000, before_height=3) == [hit for hit in expected(busy) if hit[1] < 3]
    assert got("0x" + "cd" * 20) == []
    with pytest.raises(ValueError, match="limit"):
        store.txs_by_address(busy, limit=0)


def test_receipts_by_id_and_by_job(reopen: Opener, scenario: TestChain) -> None:
    store = ChainStore(reopen())
    store_blocks(store, scenario)
    receipt_tx = scenario.blocks[1][0].txs[0]
    for index, receipt in enumerate(RECEIPTS):
        found = store.get_receipt(receipt.receipt_id)
        assert found is not None
        assert (found.job_id, found.height, found.tx_hash, found.index) == (receipt.job_id, 2, receipt_tx.hash, index)
        assert found.receipt == receipt
        assert found.receipt.receipt_id == receipt.receipt_id
        assert found.receipt.coordinator_signature_valid() and found.receipt.body.proof.is_valid()
        assert store.receipts_for_job(receipt.job_id) == [found]
    assert store.get_receipt("00" * 32) is None
    assert store.receipts_for_job("job-unknown") == []


def test_commit_block_refuses_what_does_not_extend_the_head(reopen: Opener, scenario: TestChain) -> None:
    store = ChainStore(reopen())
    store_blocks(store, scenario, upto=2)
    root = store.verify_head().root
    (b2, s2, c2), (b3, s3, c3), (b4, s4, c4) = scenario.blocks[1:4]
    with pytest.raises(BlockOutOfOrder, match="does not follow"):
        store.commit_block(b2, s2, c2)
    with pytest.raises(BlockOutOfOrder, match="does not follow"):
        store.commit_block(b4, s4, c4)
    with pytest.raises(BlockOutOfOrder, match="state root"):
        store.commit_block(b3, s4, c3)
    with pytest.raises(BlockOutOfOrder, match="commit is for block"):
        store.commit_block(b3, s3, c2)
    foreign = Block(header=b3.header.model_copy(update={"prev_hash": "11" * 32}), txs=b3.txs, last_commit=b3.last_commit)
    with pytest.raises(BlockOutOfOrder, match="previous hash"):
        store.commit_block(foreign, s3.with_block_hash(foreign.hash))
    assert store.latest_height() == 2 and store.verify_head().root == root
    assert store.get_block(3) is None and store.get_tx(b3.txs[0].hash) is None

    store.commit_block(b3, s3, None)  # a block stored without its commit (e.g. synced)
    assert store.get_commit(3) is None and store.get_commit(2) == c2


def test_genesis_is_stored_once(reopen: Opener) -> None:
    store = ChainStore(reopen())
    assert not store.is_initialized()
    assert store.load_state(CHAIN_ID) is None and store.head() is None
    with pytest.raises(NotInitialized):
        store.latest_height()
    with pytest.raises(NotInitialized):
        store.verify_head()
    chain = build_small_chain()
    with pytest.raises(NotInitialized):
        store.commit_block(*chain.blocks[0])

    genesis = make_genesis()
    store.initialize(genesis_state(genesis), genesis.hash)
    store.initialize(genesis_state(genesis), genesis.hash)  # a restart: nothing happens
    assert store.latest_height() == 0
    assert store.verify_head().root == genesis_state(genesis).root
    other = genesis.model_copy(update={"chain_id": "another-chain"})
    with pytest.raises(GenesisMismatch):
        store.initialize(genesis_state(other), other.hash)
    with pytest.raises(GenesisMismatch, match="genesis state"):
        store.initialize(genesis_state(genesis), "ab" * 32)
    with pytest.raises(GenesisMismatch):
        store.load_state("another-chain")


def build_small_chain() -> TestChain:
    chain = TestChain.fresh()
    chain.next_block(chain.transfers(3))
    return chain


def test_verify_head_detects_a_damaged_database(reopen: Opener, scenario: TestChain) -> None:
    db = reopen()
    store = ChainStore(db)
    store_blocks(store, scenario, upto=2)
    rows = bind_model(db, StateRow)
    address = USERS[0].address
    rows.update(value='{"balance":1,"nonce":0}').where((rows.namespace == "account") & (rows.key == address)).execute()
    with pytest.raises(StateMismatch, match="commits to"):
        store.verify_head()


def test_commit_removes_included_transactions_from_the_mempool(reopen: Opener) -> None:
    db = reopen()
    store, mempool = ChainStore(db), MempoolStore(db)
    chain = TestChain.fresh()
    store.initialize(chain.state, chain.genesis.hash)
    txs = chain.transfers(6)
    later = chain.tx(CLIENT, "transfer", {"to": MINER.address, "amount": 1}, nonce=5)  # not includable yet
    mempool.add_many([*txs, later])
    block, state, commit = chain.next_block(txs[:4])
    store.commit_block(block, state, commit)
    assert [e.tx.hash for e in mempool.all()] == [txs[4].hash, txs[5].hash, later.hash]


def test_integers_up_to_the_64_bit_bound(reopen: Opener) -> None:
    store = ChainStore(reopen())
    rich = "0x" + "12" * 20
    state = State.from_entries(CHAIN_ID, [
        ("account", rich, {"balance": MAX_AMOUNT, "nonce": 2**63 - 1}),
        ("meta", "chain", {"height": 0, "time_ms": 2**63 - 1}),
    ])
    store.initialize(state, "ab" * 32)
    assert store.get_entry("account", rich) == {"balance": MAX_AMOUNT, "nonce": 2**63 - 1}
    loaded = store.load_state(CHAIN_ID)
    assert loaded is not None and loaded.root == state.root


def test_two_databases_in_one_process(tmp_path, scenario: TestChain) -> None:  # type: ignore[no-untyped-def]
    first, second = ChainStore(open_sqlite(tmp_path / "a.db")), ChainStore(open_sqlite(tmp_path / "b.db"))
    store_blocks(first, scenario, upto=4)
    store_blocks(second, scenario, upto=1)
    assert (first.latest_height(), second.latest_height()) == (4, 1)
    assert first.get_block(3) is not None and second.get_block(3) is None
    assert second.verify_head().root == scenario.blocks[0][1].root
    assert first.verify_head().root == scenario.blocks[3][1].root
    store_blocks(second, scenario)
    assert (first.latest_height(), second.latest_height()) == (4, 5)
    assert isinstance(second.get_commit(5), Commit)
    first.database.close()
    second.database.close()


def test_readers_see_whole_blocks_while_a_writer_commits(reopen: Opener, scenario: TestChain) -> None:
    """RPC threads read while consensus writes: every read is of one committed block."""
    db = reopen()
    store = ChainStore(db)
    genesis = make_genesis()
    store.initialize(genesis_state(genesis), genesis.hash)
    roots = {genesis_state(genesis).root} | {state.root for _, state, _ in scenario.blocks}
    done = threading.Event()
    seen: list[int] = []
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            while not done.is_set():
                state = store.verify_head()
                assert state.root in roots
                seen.append(state.height)
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            errors.append(exc)
        finally:
            db.close()  # this thread's connection

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for block, state, commit in scenario.blocks:
            store.commit_block(block, state, commit)
    finally:
        done.set()
        thread.join(timeout=60)
    assert not errors, errors[0]
    assert seen == sorted(seen)


def test_a_blocks_carried_commit_is_read_without_its_transactions() -> None:
    """``get_commit`` reads the next block's ``last_commit`` by decoding the header and the commit
    that follows it in canonical order, not the transactions after them; any other layout of the
    text is parsed whole, with the same answer."""
    from storage.chain_store import _last_commit_in

    commit = {"block_hash": "ab" * 32, "height": 4, "round": 0, "signatures": []}
    header = {"chain_id": "c", "height": 5, "note": "a \"last_commit\": inside a string"}
    canonical = json.dumps({"header": header, "last_commit": commit, "txs": [{"x": 1}]}, sort_keys=True,
                           separators=(",", ":"))
    assert _last_commit_in(canonical) == commit
    assert _last_commit_in(canonical.replace('"txs":[{"x":1}]', '"txs":[{"x":1}')) == commit  # never read
    assert _last_commit_in(json.dumps({"txs": [], "last_commit": commit, "header": header})) == commit
    assert _last_commit_in(json.dumps({"header": header, "last_commit": None, "txs": []}, separators=(",", ":"))) is None
