"""A small real chain for the storage tests: genesis, signed blocks, commits and receipts.

Everything is deterministic (keys derive from names, times from heights) so that a writer
subprocess restarted after SIGKILL rebuilds exactly the chain it was writing. Blocks are made
with ``chain.execution.build_block`` and finalized with real validator signatures, so the
replay in ``check_store_integrity`` runs every consensus rule, commits included.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import peewee

from chain import crypto
from chain.block import Block, Commit, CommitSig
from chain.execution import apply_block, build_block, next_proposer
from chain.genesis import Genesis, GenesisAccount, GenesisValidator, genesis_state
from chain.params import UNIT, ChainParams
from chain.receipt import ProofBody, Receipt, ReceiptBody, sign_proof, sign_receipt
from chain.state import State
from chain.tx import Transaction, make_tx
from chain.vote import VoteBody
from storage.chain_store import ChainStore
from storage.database import open_database
from storage.mempool_store import MempoolStore

CHAIN_ID = "aitbc-storage-test"
GENESIS_TIME_MS = 1_700_000_000_000
BLOCK_INTERVAL_MS = 1000
FEE = 10

Opener = Callable[[], peewee.Database]
"""Opens the test's database (again): what a restarting daemon does."""


@dataclass(frozen=True)
class Actor:
    """A key pair derived from a name: the same name gives the same address in every process."""

    name: str
    seed: bytes

    @classmethod
    def named(cls, name: str) -> "Actor":
        return cls(name, hashlib.sha256(f"aitbc-storage-test/{name}".encode()).digest())

    @cached_property
    def pubkey(self) -> str:
        return crypto.pubkey_from_seed(self.seed).hex()

    @cached_property
    def address(self) -> str:
        return crypto.address_from_pubkey(bytes.fromhex(self.pubkey))


VALIDATOR = Actor.named("validator")
COORDINATOR = Actor.named("coordinator")
CLIENT = Actor.named("client")
MINER = Actor.named("miner")
USERS = [Actor.named(f"user{i}") for i in range(40)]


def make_genesis() -> Genesis:
    # Unbonding after one block, so that a short test chain sees pending entries both created
    # and deleted (the deletion half of the state diff).
    params = ChainParams(unbonding_period=1)
    accounts = [GenesisAccount(address=u.address, balance=1_000_000 * UNIT, name=u.name) for u in USERS]
    accounts += [
        GenesisAccount(address=COORDINATOR.address, balance=1_000 * UNIT, name="coordinator"),
        GenesisAccount(address=CLIENT.address, balance=100_000 * UNIT, name="client"),
        GenesisAccount(address=MINER.address, balance=2 * params.min_miner_bond, name="miner"),
    ]
    return Genesis(
        chain_id=CHAIN_ID, genesis_time_ms=GENESIS_TIME_MS, params=params, accounts=accounts,
        validators=[GenesisValidator(address=VALIDATOR.address, pubkey=VALIDATOR.pubkey, stake=10_000 * UNIT,
                                     name="val0")],
        coordinators=[COORDINATOR.address],
    )


def sign_commit(block: Block, validators: list[Actor] = [VALIDATOR]) -> Commit:  # noqa: B006 - read only
    """Precommits of ``validators`` for ``block``: what a node collects before the block is final."""
    sigs = []
    for v in validators:
        body = VoteBody(chain_id=block.header.chain_id, height=block.height, round=block.header.round,
                        type="precommit", block_hash=block.hash, validator=v.address)
        sigs.append(CommitSig(validator=v.address, signature=crypto.sign(v.seed, body.signing_bytes()).hex()))
    return Commit(height=block.height, round=block.header.round, block_hash=block.hash, signatures=sigs)


@dataclass
class TestChain:
    """The chain as one validator sees it: its state, and the commit of its newest block."""

    __test__ = False  # not a pytest test class

    genesis: Genesis
    state: State
    last_commit: Commit | None = None
    blocks: list[tuple[Block, State, Commit]] = field(default_factory=list)

    @classmethod
    def fresh(cls) -> "TestChain":
        genesis = make_genesis()
        return cls(genesis, genesis_state(genesis))

    @classmethod
    def resume(cls, store: ChainStore) -> "TestChain":
        """Continue from what ``store`` holds (after a restart)."""
        genesis = make_genesis()
        state = store.verify_head()
        return cls(genesis, state, store.get_commit(state.height))

    def nonce(self, actor: Actor) -> int:
        account = self.state.get("account", actor.address)
        return int(account["nonce"]) if account else 0

    def tx(self, actor: Actor, tx_type: str, payload: dict, nonce: int | None = None) -> Transaction:
        return make_tx(actor.seed, CHAIN_ID, tx_type, self.nonce(actor) if nonce is None else nonce, FEE, payload)

    def next_block(self, txs: list[Transaction]) -> tuple[Block, State, Commit]:
        """Build, finalize and adopt the next block; every candidate must be accepted.

        Signatures were made a moment ago by this kit, so building skips re-verifying them
        (a node does the same for transactions its mempool admitted).
        """
        built = build_block(
            self.state, txs, proposer=next_proposer(self.state),
            time_ms=GENESIS_TIME_MS + (self.state.height + 1) * BLOCK_INTERVAL_MS, last_commit=self.last_commit,
            verified=[tx.hash for tx in txs],
        )
        if built.rejected:
            tx, error = built.rejected[0]
            raise AssertionError(f"test transaction {tx.type} rejected: {error.message}")
        commit = sign_commit(built.block)
        self.state, self.last_commit = built.state, commit
        self.blocks.append((built.block, built.state, commit))
        return built.block, built.state, commit

    def transfers(self, count: int, salt: int = 0) -> list[Transaction]:
        """``count`` transfers between users, several per sender (consecutive nonces)."""
        nonces: dict[str, int] = {}
        txs = []
        for i in range(count):
            sender = USERS[(i + salt) % len(USERS)]
            receiver = USERS[(i * 7 + salt + 1) % len(USERS)]
            nonce = nonces.get(sender.address, self.nonce(sender))
            nonces[sender.address] = nonce + 1
            txs.append(make_tx(sender.seed, CHAIN_ID, "transfer", nonce, FEE,
                               {"to": receiver.address, "amount": 1 + (i + salt) % 1000}))
        return txs


def make_receipt(job_id: str, price: int, created_ms: int = GENESIS_TIME_MS) -> Receipt:
    """A receipt as the coordinator signs it, embedding the miner's signed proof."""

    def h(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    proof = sign_proof(ProofBody(
        chain_id=CHAIN_ID, job_id=job_id, coordinator=COORDINATOR.address, miner=MINER.address, model="smollm2",
        model_id=h("weights"),
        params_hash=h("params"), prompt_hash=h(f"prompt {job_id}"), output_hash=h(f"output {job_id}"),
        prompt_tokens=12, completion_tokens=34,
    ), MINER.seed)
    return sign_receipt(ReceiptBody(proof=proof, client=CLIENT.address, coordinator=COORDINATOR.address,
                                    price=price, created_ms=created_ms), COORDINATOR.seed)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


def check_store_integrity(db_path: Path) -> int:
    """Open the database as a restarting node would and prove it holds whole blocks only.

    Checks: heights 1..head contiguous; each block row parses, hashes to its key and has every
    transaction (rows, positions, address index); the state rows hash to the head block's state
    root; replaying every stored block from genesis (all consensus rules, commit signatures
    included) gives exactly the stored state; no final transaction is still in the mempool.
    Returns the head height.
    """
    database = open_database(sqlite_url(db_path), db_path)
    try:
        store = ChainStore(database)
        head = store.head()
        assert head is not None, "database was never initialized"
        stored = store.verify_head()
        heights = [row[0] for row in database.execute_sql("SELECT height FROM blocks ORDER BY height").fetchall()]
        assert heights == list(range(1, head.height + 1)), f"heights not contiguous: {heights[:5]}...{heights[-5:]}"
        tx_counts = dict(database.execute_sql("SELECT height, COUNT(*) FROM transactions GROUP BY height").fetchall())
        replay = genesis_state(make_genesis())
        for height in heights:
            block = store.get_block(height)
            assert block is not None and block.height == height
            assert tx_counts.get(height, 0) == len(block.txs), f"block {height}: tx rows missing"
            for index, tx in enumerate(block.txs):
                assert store.get_tx(tx.hash) == (tx, height, index)
                indexed = {row[0] for row in database.execute_sql(
                    "SELECT address FROM address_txs WHERE tx_hash = ?", (tx.hash,)).fetchall()}
                assert tx.sender in indexed and len(indexed) >= 2, f"block {height}: address rows missing"
            # Signatures were checked when the block was built; the replay is about state.
            # Commit signatures are still verified by apply_block.
            replay = apply_block(replay, block, verified=[tx.hash for tx in block.txs])
        assert replay.root == stored.root
        assert dict(((ns, k), v) for ns, k, v in replay.entries()) == dict(((ns, k), v) for ns, k, v in stored.entries())
        assert replay.last_block_hash == stored.last_block_hash
        pending = {entry.tx.hash for entry in MempoolStore(database).all()}
        for tx_hash in pending:
            assert store.get_tx(tx_hash) is None, f"final transaction {tx_hash[:12]} is still in the mempool"
        if head.height:
            assert store.get_commit(head.height) is not None, "the head block's commit was not stored"
        return head.height
    finally:
        database.close()


def open_sqlite(path: Path) -> peewee.Database:
    return open_database(sqlite_url(path), path)
