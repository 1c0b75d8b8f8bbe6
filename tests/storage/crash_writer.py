"""Writer process for the crash test: commit blocks into a SQLite file until killed.

    python crash_writer.py DB_PATH MAX_HEIGHT [--die-at-statement N]

It resumes from whatever the database holds (as a restarted node does), then for each height:
puts the block's transactions in the persistent mempool, builds and finalizes the block, and
stores it with ``ChainStore.commit_block``. It prints ``committed H`` after each block.

``--die-at-statement N`` makes the process SIGKILL itself before the N-th SQL statement of the
next ``commit_block`` (counting its BEGIN and COMMIT) - a crash guaranteed to land in the middle of a block's transaction, where
a kill from outside only lands by luck. It prints ``dying H`` first.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from store_testkit import TestChain, open_sqlite

from storage.chain_store import ChainStore
from storage.mempool_store import MempoolStore


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("db", type=Path)
    parser.add_argument("max_height", type=int)
    parser.add_argument("--die-at-statement", type=int, default=0)
    args = parser.parse_args()

    database = open_sqlite(args.db)
    store, mempool = ChainStore(database), MempoolStore(database)
    if not store.is_initialized():
        chain = TestChain.fresh()
        store.initialize(chain.state, chain.genesis.hash)
    chain = TestChain.resume(store)
    print(f"ready {chain.state.height}", flush=True)

    while chain.state.height < args.max_height:
        height = chain.state.height + 1
        txs = chain.transfers(60 + (height * 37) % 140, salt=height)
        mempool.add_many(txs)
        block, state, commit = chain.next_block(txs)
        if args.die_at_statement:
            _die_inside_commit(database, args.die_at_statement, height)
        store.commit_block(block, state, commit)
        if args.die_at_statement:
            print(f"survived {height}: commit_block ran fewer than {args.die_at_statement} statements", flush=True)
            return 3
        print(f"committed {height}", flush=True)
    return 0


def _die_inside_commit(database, statement: int, height: int) -> None:  # type: ignore[no-untyped-def]
    """Make the database kill this process when it opens its ``statement``-th cursor from now.

    Every statement peewee runs (``BEGIN`` and ``COMMIT`` included) and every bulk insert goes
    through ``database.cursor()``, so a kill there lands before that statement runs: at the
    start of the block's transaction, between any two of its writes, or just before ``COMMIT``.
    """
    original = database.cursor
    count = 0

    def cursor(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal count
        count += 1
        if count == statement:
            print(f"dying {height}", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        return original(*args, **kwargs)

    database.cursor = cursor


if __name__ == "__main__":
    sys.exit(main())
