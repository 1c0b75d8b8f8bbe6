"""Chain core throughput, measured against the raw Ed25519 verify rate of the same run.

    python bench/bench_chain.py [--txs 1000] [--blocks 5]

Prints:

1. raw Ed25519 verifications per second (``chain.crypto.verify``, public keys already decoded,
   as they are for accounts that signed before);
2. transactions validated per second: parse the canonical wire bytes, stateless checks and the
   signature - what a mempool does before looking at state;
3. blocks of ``--txs`` transfers applied per second (``apply_block`` with every signature
   checked, the commit verified, rewards, state root);
4. the same, applied and stored (``storage.chain_store.ChainStore`` on a temporary SQLite file),
   when that module exists.

Each figure is also printed as a ratio of the raw verify rate: transactions per second divided
by verifications per second. A ratio near 1 means signature checking is the whole cost; the gap
below 1 is what parsing, state and hashing add. Ratios travel between machines better than
absolute figures do.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chain import crypto  # noqa: E402
from chain.block import Block, Commit, CommitSig  # noqa: E402
from chain.encoding import sha256  # noqa: E402
from chain.execution import apply_block, build_block, next_proposer  # noqa: E402
from chain.genesis import Genesis, genesis_state, load_genesis  # noqa: E402
from chain.params import UNIT  # noqa: E402
from chain.state import State  # noqa: E402
from chain.tx import Transaction, check_stateless, make_tx, parse_transaction  # noqa: E402

CHAIN_ID = "aitbc-bench"
FEE = 10
BLOCK_MS = 1000


def seed(label: str) -> bytes:
    return sha256(label.encode())


def timed(fn: Callable[[], Any], repeat: int = 3) -> float:
    """Best of ``repeat`` runs, in seconds: the least disturbed measurement."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def make_genesis(senders: list[bytes], validator: bytes, txs_per_block: int) -> Genesis:
    pub = crypto.pubkey_from_seed(validator)
    return load_genesis({
        "chain_id": CHAIN_ID,
        "genesis_time_ms": 1_700_000_000_000,
        "params": {"block_time_ms": BLOCK_MS, "min_fee": FEE, "max_block_txs": max(5000, txs_per_block)},
        "accounts": [{"address": crypto.address_from_pubkey(crypto.pubkey_from_seed(s)), "balance": 1000 * UNIT}
                     for s in senders],
        "validators": [{"address": crypto.address_from_pubkey(pub), "pubkey": pub.hex(), "stake": 1000 * UNIT}],
    })


def sign_commit(block: Block, state_after: State, validator: bytes) -> Commit:
    address = crypto.address_from_pubkey(crypto.pubkey_from_seed(validator))
    unsigned = Commit(height=block.height, round=0, block_hash=block.hash, signatures=[])
    signature = crypto.sign(validator, unsigned.vote_body(state_after.chain_id, address).signing_bytes()).hex()
    return Commit(height=block.height, round=0, block_hash=block.hash,
                  signatures=[CommitSig(validator=address, signature=signature)])


def prepare_chain(genesis: Genesis, batches: list[list[Transaction]], validator: bytes) -> list[tuple[Block, Commit]]:
    """Build the blocks (untimed) the way a proposer does, each with the commit of the last."""
    state = genesis_state(genesis)
    last_commit: Commit | None = None
    out: list[tuple[Block, Commit]] = []
    for txs in batches:
        built = build_block(state, txs, proposer=next_proposer(state), time_ms=state.time_ms + BLOCK_MS,
                            last_commit=last_commit, verified=[tx.hash for tx in txs])
        if built.rejected:
            raise SystemExit(f"benchmark set-up failed: {built.rejected[0][1]}")
        state = built.state
        last_commit = sign_commit(built.block, state, validator)
        out.append((built.block, last_commit))
    return out


def report(label: str, figure: str, ratio: float) -> None:
    print(f"{label:<40} {figure:<36} ratio to raw verify {ratio:.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--txs", type=int, default=1000, help="transfers per block (and per micro-benchmark)")
    parser.add_argument("--blocks", type=int, default=5, help="blocks applied in the block benchmarks")
    args = parser.parse_args(argv)
    if args.txs < 1 or args.blocks < 1:
        parser.error("--txs and --blocks must be at least 1")

    print(f"setting up: {args.txs} senders, {args.blocks} blocks of {args.txs} signed transfers ...", flush=True)
    senders = [seed(f"bench-sender-{i}") for i in range(args.txs)]
    validator = seed("bench-validator")
    recipient = "0x" + "77" * 20
    genesis = make_genesis(senders, validator, args.txs)
    batches = [[make_tx(s, CHAIN_ID, "transfer", height, FEE, {"to": recipient, "amount": 1 + height})
                for s in senders] for height in range(args.blocks)]
    blocks = prepare_chain(genesis, batches, validator)
    params = genesis.params

    # 1. raw Ed25519 verification.
    first = batches[0]
    triples = [(bytes.fromhex(tx.pubkey), tx.signing_bytes(), bytes.fromhex(tx.signature)) for tx in first]
    for pub, msg, sig in triples:  # decode every public key once, as a running node has
        assert crypto.verify(pub, msg, sig)

    def verify_all() -> None:
        for pub, msg, sig in triples:
            crypto.verify(pub, msg, sig)

    verify_rate = len(triples) / timed(verify_all)

    # 2. transaction validation from wire bytes.
    wires = [tx.encoded for tx in first]

    def validate_all() -> None:
        for wire in wires:
            check_stateless(parse_transaction(wire), CHAIN_ID, params)

    validate_rate = len(wires) / timed(validate_all)

    # 3. block application with every check.
    start_state = genesis_state(genesis)

    def apply_all() -> None:
        state = start_state
        for block, _ in blocks:
            state = apply_block(state, block)

    apply_seconds = timed(apply_all, repeat=1)
    blocks_rate = args.blocks / apply_seconds
    applied_tx_rate = blocks_rate * args.txs

    print()
    report("raw Ed25519 verify", f"{verify_rate:,.0f} verifications/s", 1.0)
    report("transactions validated", f"{validate_rate:,.0f} tx/s", validate_rate / verify_rate)
    report(f"blocks of {args.txs} transfers applied", f"{blocks_rate:,.2f} blocks/s = {applied_tx_rate:,.0f} tx/s",
           applied_tx_rate / verify_rate)

    # 4. applied and stored, when the chain store exists.
    try:
        from storage.chain_store import ChainStore
        from storage.database import open_database
    except ImportError as exc:
        print(f"{'blocks applied + stored':<40} skipped: storage.chain_store is not available ({exc})")
        return 0
    with tempfile.TemporaryDirectory(prefix="aitbc-bench-") as tmp:
        database = open_database(None, Path(tmp) / "chain.db")
        try:
            store = ChainStore(database)
            store.initialize(start_state, genesis.hash)

            def apply_and_store() -> None:
                state = start_state
                for block, commit in blocks:
                    state = apply_block(state, block)
                    store.commit_block(block, state, commit)

            stored_seconds = timed(apply_and_store, repeat=1)
        finally:
            database.close()
    stored_rate = args.blocks / stored_seconds
    stored_tx_rate = stored_rate * args.txs
    report(f"blocks of {args.txs} applied + stored", f"{stored_rate:,.2f} blocks/s = {stored_tx_rate:,.0f} tx/s",
           stored_tx_rate / verify_rate)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
