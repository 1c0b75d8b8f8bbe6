"""Chain core throughput, measured against the raw Ed25519 verify rate of the same run.

    python bench/bench_chain.py [--txs 1000] [--blocks 5]

Prints:

1. raw Ed25519 verifications per second (``chain.crypto.verify_uncached``, public keys already decoded,
   as they are for accounts that signed before);
2. transactions validated per second: parse the canonical wire bytes, stateless checks and the
   signature - what a mempool does before looking at state;
3. blocks of ``--txs`` transfers applied per second (``apply_block`` with every signature
   checked, the commit verified, rewards, state root);
4. the same, applied and stored (``storage.chain_store.ChainStore`` on a temporary SQLite file),
   when that module exists;
5. the time to apply one block (a stake, an unstake, a transfer, ten payouts due; signatures
   already checked, as on a node) on states
   holding 1k, 10k and 100k delegations and as many pending payouts (``--sizes``), side by side:
   the rules reach payouts, delegations, proposals and votes through indexes (``chain.indexes``),
   so these figures should be flat, not growing with the state.

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
from chain.indexes import height_key  # noqa: E402
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
                     for s in [*senders, validator]],
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


def seeded_state(genesis: Genesis, validator: str, size: int, due_now: int) -> State:
    """Genesis plus ``size`` delegations to ``validator`` and ``size`` unbonding payouts, written
    directly in the shapes the rules keep (``chain.staking``, ``chain.payouts``): building them
    with ``size`` signed transactions would take far longer than what is measured. The payouts
    are spread over 1000 future heights, except ``due_now`` of them due at height 1."""
    state = genesis_state(genesis)
    period = genesis.params.unbonding_period
    writes: dict[tuple[str, str], dict[str, Any] | None] = {}
    lists: dict[str, list[str]] = {}
    for i in range(size):
        owner = "0x" + f"{i + 1:040x}"
        writes[("delegation", f"{owner}/{validator}")] = {"shares": UNIT, "rewards": 0, "index": 0}
        release = 1 if i < due_now else period + 2 + i % 1000
        start = max(release - period, 0)
        key = f"{height_key(release)}/{i:064x}/0"
        writes[("pending", key)] = {"kind": "unbond", "owner": owner, "amount": UNIT, "validator": validator,
                                    "start": start, "release": release}
        lists.setdefault(f"due/{height_key(release)}", []).append(key)
        lists.setdefault(f"unbonding/{validator}/{height_key(start)}", []).append(key)
    for key, items in lists.items():
        writes[("index", key)] = {"items": items}
    pool = state.get("validator", validator)
    assert pool is not None
    writes[("validator", validator)] = {**pool, "power": pool["power"] + size * UNIT, "shares": pool["shares"] + size * UNIT}
    supply = state.get("meta", "supply")
    assert supply is not None
    writes[("meta", "supply")] = {"total": supply["total"] + 2 * size * UNIT}
    return state.apply_writes(writes)


def state_size_rows(genesis: Genesis, validator_seed: bytes, senders: list[bytes], sizes: list[int]) -> None:
    validator = crypto.address_from_pubkey(crypto.pubkey_from_seed(validator_seed))
    txs = [make_tx(senders[0], CHAIN_ID, "stake", 0, FEE, {"validator": validator, "amount": 2 * UNIT}),
           make_tx(validator_seed, CHAIN_ID, "unstake", 0, FEE, {"validator": validator, "amount": UNIT}),
           make_tx(senders[1 % len(senders)], CHAIN_ID, "transfer", 0, FEE, {"to": "0x" + "77" * 20, "amount": 1})]
    print()
    print(f"{'delegations + pending payouts':<32} {'set-up':>9} {'apply one block':>16}")
    for size in sizes:
        start = time.perf_counter()
        state = seeded_state(genesis, validator, size, due_now=10)
        built = build_block(state, txs, proposer=next_proposer(state), time_ms=state.time_ms + BLOCK_MS)
        if built.rejected:
            raise SystemExit(f"benchmark set-up failed: {built.rejected[0][1]}")
        setup = time.perf_counter() - start
        # Signatures count as checked at admission (as on a node) so that the figure is the rules'
        # and the state's work, which is what could grow with the state.
        verified = [tx.hash for tx in txs]
        seconds = timed(lambda: apply_block(state, built.block, verified=verified), repeat=20)
        print(f"{f'{size:,} + {size:,}':<32} {setup:>8.2f}s {seconds * 1000:>13.2f} ms")


def report(label: str, figure: str, ratio: float) -> None:
    print(f"{label:<40} {figure:<36} ratio to raw verify {ratio:.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--txs", type=int, default=1000, help="transfers per block (and per micro-benchmark)")
    parser.add_argument("--blocks", type=int, default=5, help="blocks applied in the block benchmarks")
    parser.add_argument("--sizes", default="1000,10000,100000",
                        help="state sizes (delegations and pending payouts each) for the flat-cost rows")
    args = parser.parse_args(argv)
    if args.txs < 1 or args.blocks < 1:
        parser.error("--txs and --blocks must be at least 1")
    try:
        sizes = [int(part) for part in args.sizes.split(",") if part.strip()]
    except ValueError:
        parser.error("--sizes must be a comma-separated list of integers")
    if any(size < 10 for size in sizes):
        parser.error("--sizes must each be at least 10 (ten payouts are due in the measured block)")

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
        assert crypto.verify_uncached(pub, msg, sig)

    def verify_all() -> None:
        for pub, msg, sig in triples:
            crypto.verify_uncached(pub, msg, sig)

    verify_rate = len(triples) / timed(verify_all)

    # 2. transaction validation from wire bytes.
    wires = [tx.encoded for tx in first]

    def validate_all() -> None:
        crypto.forget_verified()  # every round meets these signatures for the first time
        for wire in wires:
            check_stateless(parse_transaction(wire), CHAIN_ID, params)

    validate_rate = len(wires) / timed(validate_all)

    # 3. block application with every check.
    start_state = genesis_state(genesis)

    def apply_all() -> None:
        crypto.forget_verified()
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
        state_size_rows(genesis, validator, senders, sizes)
        return 0
    with tempfile.TemporaryDirectory(prefix="aitbc-bench-") as tmp:
        database = open_database(None, Path(tmp) / "chain.db")
        try:
            store = ChainStore(database)
            store.initialize(start_state, genesis.hash)

            def apply_and_store() -> None:
                crypto.forget_verified()
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

    # 5. one block on states of growing size.
    state_size_rows(genesis, validator, senders, sizes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
