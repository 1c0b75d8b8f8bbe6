"""The persistent mempool on real databases: what was accepted survives a restart, in order."""

from __future__ import annotations

from store_testkit import CHAIN_ID, USERS, Opener, TestChain

from chain.params import MAX_AMOUNT
from chain.tx import make_tx
from storage.mempool_store import MempoolStore


def test_rows_survive_reopen_in_received_order(reopen: Opener) -> None:
    txs = TestChain.fresh().transfers(8)
    db = reopen()
    mempool = MempoolStore(db)
    assert mempool.count() == 0 and mempool.all() == []
    assert mempool.add(txs[0], received_ms=5_000) is True
    assert mempool.add(txs[0], received_ms=6_000) is False, "gossip repeats are harmless"
    # Later arrivals with an equal (or earlier, clock-stepped) timestamp still sort after.
    assert mempool.add_many(txs[1:], received_ms=4_000) == 7
    assert mempool.add_many(txs[:3]) == 0
    db.close()

    mempool = MempoolStore(reopen())
    entries = mempool.all()
    assert [e.tx for e in entries] == txs
    assert [e.received_ms for e in entries] == [5_000] + [4_000] * 7
    assert all(e.tx.encoded == tx.encoded for e, tx in zip(entries, txs))
    assert mempool.count() == 8 and mempool.contains(txs[3].hash)

    assert mempool.remove([txs[3].hash, txs[3].hash, "ab" * 32, txs[0].hash]) == 2
    assert not mempool.contains(txs[3].hash)
    assert [e.tx for e in MempoolStore(reopen()).all()] == [txs[1], txs[2], *txs[4:]]
    assert mempool.remove([]) == 0


def test_add_stamps_the_receive_time_and_keeps_64_bit_values(reopen: Opener) -> None:
    mempool = MempoolStore(reopen())
    big = make_tx(USERS[0].seed, CHAIN_ID, "transfer", 2**63 - 1, MAX_AMOUNT, {"to": USERS[1].address, "amount": MAX_AMOUNT})
    assert mempool.add(big)
    (entry,) = mempool.all()
    assert entry.tx == big and entry.tx.fee == MAX_AMOUNT and entry.tx.nonce == 2**63 - 1
    assert entry.received_ms > 1_600_000_000_000
