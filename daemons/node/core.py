"""The node's core: committed state, mempool and block production, without any server.

Servers (RPC, WebSocket) and the block-time loop call into this object; tests can drive it
directly. All mutation happens under one lock, so the RPC thread and the producer never see a
half-updated node. Signature checks, the expensive part of admission, run before the lock.

Reads take no lock: the committed ``State`` is immutable and replaced by one reference
assignment after its block is stored, and the mempool swaps its indexes in whole. A query
therefore never waits for a block being built and stored (which holds the lock for as long as
that takes), and never sees half of one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chain import crypto, staking
from chain.block import Block, Commit, CommitSig, check_body
from chain.errors import ChainError, InvalidSignature
from chain.execution import apply_block, build_block, next_proposer
from chain.genesis import Genesis, genesis_state
from chain.ledger import Ledger
from chain.validators import active_set, verify_commit
from chain.params import ChainParams
from chain.protocol import PROTOCOL_VERSION, chain_protocol_version
from chain.state import State
from chain.tx import Transaction, check_stateless, make_tx
from chain.vote import Vote, VoteBody
from daemons.common.version import software_version
from daemons.node import upgrade
from daemons.node.mempool import Mempool
from daemons.node.models import MAX_PEER_TX_BYTES
from storage.chain_store import ChainStore
from storage.mempool_store import MempoolStore


log = logging.getLogger("aitbc.node")
MAX_CLOCK_DRIFT_MS = 10_000


class NodeStateError(Exception):
    """The stored chain does not belong to this genesis or is inconsistent, or this software is
    too old for it (a scheduled upgrade took effect)."""


@dataclass(frozen=True)
class CommittedBlock:
    block: Block
    commit: Commit
    evicted: list[tuple[Transaction, ChainError]]


BlockListener = Callable[[CommittedBlock], None]


class NodeCore:
    def __init__(
        self,
        genesis: Genesis,
        store: ChainStore,
        mempool_store: MempoolStore,
        validator_seed: bytes | None,
        *,
        max_mempool_txs: int = 50_000,
        block_time_ms: int | None = None,
    ) -> None:
        self.genesis = genesis
        self.block_time_ms = block_time_ms or genesis.params.block_time_ms
        self.chain_id = genesis.chain_id
        self.store = store
        self._lock = threading.RLock()
        self._seed = bytes(validator_seed) if validator_seed else None
        self.validator_address = (
            crypto.address_from_pubkey(crypto.pubkey_from_seed(self._seed)) if self._seed else None
        )
        self.software_version = software_version()
        self.state = self._open_state()
        self.halted: str | None = upgrade.halt_reason(self.state, self.software_version)
        """Set once a scheduled upgrade this software is too old for reaches the next height:
        from then on the node applies and produces no block (``daemons.node.upgrade``)."""
        if self.halted:
            raise NodeStateError(self.halted)
        self.last_commit: Commit | None = store.get_commit(self.state.height) if self.state.height else None
        self.mempool = Mempool(self.state, mempool_store, max_txs=max_mempool_txs)
        self.restored_evicted = self.mempool.restore(entry.tx for entry in mempool_store.all())
        self._listeners: list[BlockListener] = []
        self._params_cache: tuple[State, ChainParams] | None = None
        self._candidates: dict[str, State] = {}
        """Blocks of the height being decided that were built or validated here, by hash."""

    def _open_state(self) -> State:
        head = self.store.head()
        stored = head.genesis_hash if head else None
        if stored is None:
            state = genesis_state(self.genesis)
            self.store.initialize(state, self.genesis.hash)
            return state
        self._require_protocol(head.height, stored)
        if stored != self.genesis.hash:
            raise NodeStateError(
                f"the database holds a chain with genesis {stored[:16]}, but genesis.json is {self.genesis.hash[:16]}"
            )
        return self.store.verify_head()

    def _require_protocol(self, height: int, genesis_hash: str) -> None:
        """A chain made under other rules is refused in words, before its genesis or state root
        look "wrong" (both are computed by the rules): this code can neither apply its blocks nor
        rewrite them, which would change every state root. Read from the stored row, unverified."""
        version = chain_protocol_version(self.store.get_entry("meta", "params") or {})
        if version != PROTOCOL_VERSION:
            raise NodeStateError(
                f"this home's chain (genesis {genesis_hash[:16]}, height {height}) runs protocol {version}, made "
                f"by an earlier AITBC release; this release runs protocol {PROTOCOL_VERSION} and cannot apply its "
                "blocks. The chain is untouched. `aitbc home migrate --regenesis` (with this --home) starts a new "
                "chain carrying every balance, stake and validator and archives this one; or keep it running with the "
                "release that made it")

    # -- listeners --------------------------------------------------------------------------------

    def on_block(self, listener: BlockListener) -> None:
        self._listeners.append(listener)

    # -- transactions -----------------------------------------------------------------------------

    def submit(self, txs: list[Transaction]) -> list[ChainError | None]:
        """Admit transactions into the mempool; per transaction, None or the refusal."""
        results = self.precheck(txs)
        checked = [(index, tx) for index, (tx, refusal) in enumerate(zip(txs, results)) if refusal is None]
        if checked:
            admitted = self.admit_checked([tx for _, tx in checked])
            for (index, _), outcome in zip(checked, admitted):
                results[index] = outcome
        return results

    def precheck(self, txs: list[Transaction]) -> list[ChainError | None]:
        """The stateless rules and the signature, per transaction: None or the refusal.

        Takes no lock and touches no shared state, so several threads may run it at once: the
        signature check is most of what admission costs, and its big-number arithmetic runs
        outside the GIL.
        """
        chain_params = self._params()
        results: list[ChainError | None] = []
        for tx in txs:
            try:
                check_stateless(tx, self.chain_id, chain_params, check_signature=False)
                if not tx.signature_valid():
                    raise InvalidSignature("signature does not verify for this sender and public key")
            except ChainError as exc:
                results.append(exc)
                continue
            results.append(None)
        return results

    def admit_checked(self, txs: list[Transaction]) -> list[ChainError | None]:
        """Admit transactions that passed :meth:`precheck`, in order, persisting them at once."""
        with self._lock:
            return self.mempool.admit(txs, signatures_checked=True)

    def _params(self) -> ChainParams:
        state = self.snapshot()
        if self._params_cache is None or self._params_cache[0] is not state:
            self._params_cache = (state, Ledger(state).params)
        return self._params_cache[1]

    # -- blocks -------------------------------------------------------------------------------------

    def is_my_turn(self) -> bool:
        return self._seed is not None and next_proposer(self.snapshot()) == self.validator_address

    def produce(self, now_ms: int) -> CommittedBlock | None:
        """Build, sign, commit and store the next block if this node proposes it.

        Single-validator PoA: this validator's precommit alone is more than 2/3 of the power, so
        the block is final as soon as it is signed and stored.
        """
        if self._seed is None or self.halted:
            return None
        with self._lock:
            if next_proposer(self.state) != self.validator_address:
                return None
            time_ms = max(now_ms, self.state.time_ms + 1)
            built = build_block(
                self.state, self.mempool.candidates(), proposer=self.validator_address or "", time_ms=time_ms,
                last_commit=self.last_commit, verified=self.mempool.hashes(),
            )
            committed = self._advance(built.block, built.state, self._sign_commit(built.block))
        self._notify(committed)
        return committed

    def _advance(self, block: Block, new_state: State, commit: Commit) -> CommittedBlock:
        """Store a final block and move the node onto it. Caller holds the lock."""
        signers = {address: {"pubkey": v["pubkey"], "power": v["power"]}
                   for address, v in active_set(Ledger(self.state)).items()}
        self.store.commit_block(block, new_state, commit, signers=signers)
        self.state = new_state
        self.last_commit = commit
        self._candidates.clear()
        self.halted = upgrade.halt_reason(new_state, self.software_version)
        if self.halted:
            log.critical("%s", self.halted, extra={"height": new_state.height})
        included = [tx.hash for tx in block.txs]
        # Only what the re-check drops is evicted. A transaction the builder skipped (say a
        # transfer tried before the one that funds it, because it pays a higher fee) and
        # that still applies stays pending for the next block: reporting it evicted would
        # fail a commit-mode caller whose transaction then commits anyway.
        evicted = self.mempool.on_commit(self.state, included)
        return CommittedBlock(block, commit, evicted)

    def _notify(self, committed: CommittedBlock) -> None:
        for listener in self._listeners:
            listener(committed)

    # -- multi-validator consensus (driven by daemons.node.bft) -------------------------------------

    def build_candidate(self, round_: int, now_ms: int) -> Block:
        """A block this validator proposes in ``round_`` (not final until consensus decides)."""
        assert self.validator_address is not None
        self._require_running()
        with self._lock:
            built = build_block(
                self.state, self.mempool.candidates(), proposer=self.validator_address, round_=round_,
                time_ms=max(now_ms, self.state.time_ms + 1), last_commit=self.last_commit,
                verified=self.mempool.hashes(), max_tx_bytes=MAX_PEER_TX_BYTES,
            )
            self._candidates[built.block.hash] = built.state
            return built.block

    def validate_block(self, block: Block) -> bool:
        """Would ``block`` apply on the current state? Its resulting state is kept for the commit.

        Deterministic (no clock: see ``block_is_timely``), so consensus may keep the verdict. The
        resulting state is kept by hash, and a body is matched to its header before that cache is
        read: a relayed block with the right header and another body gets no borrowed verdict.
        """
        if self.halted:
            return False
        try:
            check_body(block)
        except ChainError as exc:
            log.warning("proposed block is invalid: %s", exc.message, extra={"height": block.height})
            return False
        with self._lock:
            if block.hash in self._candidates:
                return True
            try:
                new_state = apply_block(self.state, block, verified=self.mempool.hashes())
            except ChainError as exc:
                log.warning("proposed block is invalid: %s", exc.message, extra={"height": block.height})
                return False
            self._candidates[block.hash] = new_state
            return True

    def block_is_timely(self, block: Block, now_ms: int | None = None) -> bool:
        """Is ``block`` stamped no more than ``MAX_CLOCK_DRIFT_MS`` ahead of our clock?

        Otherwise one proposer with a wrong clock could push every later block's time into the
        future. The answer depends on when it is asked, so it is never cached: it only decides
        whether this validator prevotes for a fresh proposal, and a block that more than 2/3
        found timely is still locked and decided here.
        """
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        if block.header.time_ms > now + MAX_CLOCK_DRIFT_MS:
            log.warning("proposed block is too far in the future", extra={"height": block.height})
            return False
        return True

    def commit_decided(self, block: Block, commit: Commit) -> CommittedBlock | None:
        """Store the block consensus decided; None if the node already moved past it."""
        self._require_running()
        check_body(block)
        with self._lock:
            if block.height != self.state.height + 1:
                return None
            new_state = self._candidates.get(block.hash)
            if new_state is None:
                new_state = apply_block(self.state, block, verified=self.mempool.hashes())
            committed = self._advance(block, new_state, commit)
        self._notify(committed)
        return committed

    def apply_synced(self, block: Block, commit: Commit) -> CommittedBlock | None:
        """Catch up with a final block fetched from a peer: its commit must carry more than 2/3
        of the power of the validators that voted on it (the set fixed by our current state)."""
        self._require_running()
        with self._lock:
            if block.height != self.state.height + 1:
                return None
            verify_commit(commit, active_set(Ledger(self.state)), self.chain_id, block.height, block.hash)
            new_state = apply_block(self.state, block)
            committed = self._advance(block, new_state, commit)
        self._notify(committed)
        return committed

    def _require_running(self) -> None:
        if self.halted:
            raise NodeStateError(self.halted)

    def sign_message(self, message: bytes) -> bytes:
        """Sign consensus messages with the validator key (the seed never leaves the core)."""
        if self._seed is None:
            raise RuntimeError("this node has no validator key")
        return crypto.sign(self._seed, message)

    def report_double_sign(self, vote_a: Vote, vote_b: Vote) -> Transaction | None:
        """Put double-sign evidence into the mempool as a ``slash`` transaction signed (and its
        fee paid) by this node's validator key; None when this node has no key to sign with.
        The chain refuses a second report of one offence, so several reporters are harmless."""
        if self._seed is None or self.validator_address is None:
            return None
        with self._lock:
            tx = make_tx(self._seed, self.chain_id, "slash", self.mempool.pending_nonce(self.validator_address),
                         self._params().min_fee,
                         {"evidence": {"kind": "double_sign", "vote_a": vote_a.model_dump(),
                                       "vote_b": vote_b.model_dump()}})
        (refusal,) = self.submit([tx])
        if refusal is not None:
            raise refusal
        return tx

    def _sign_commit(self, block: Block) -> Commit:
        assert self._seed is not None and self.validator_address is not None
        body = VoteBody(chain_id=self.chain_id, height=block.height, round=block.header.round, type="precommit",
                        block_hash=block.hash, validator=self.validator_address)
        signature = crypto.sign(self._seed, body.signing_bytes()).hex()
        return Commit(height=block.height, round=block.header.round, block_hash=block.hash,
                      signatures=[CommitSig(validator=self.validator_address, signature=signature)])

    # -- queries -------------------------------------------------------------------------------------

    def snapshot(self) -> State:
        """The committed state after the newest block (immutable; no lock needed to read it)."""
        return self.state

    def account(self, address: str) -> dict[str, Any]:
        state = self.snapshot()
        crypto.validate_address(address)
        account = state.get("account", address) or {"balance": 0, "nonce": 0}
        pending_nonce = self.mempool.pending_nonce(address)
        stakes = []
        for key, delegation in state.items("delegation"):
            delegator, _, validator = key.partition("/")
            if delegator == address:
                pool = state.get("validator", validator)
                if pool is None:  # a delegation always has its validator; nothing to show otherwise
                    continue
                stakes.append({"validator": validator, "amount": staking.tokens(pool, delegation["shares"]),
                               "rewards": staking.unclaimed_rewards(delegation, pool)})
        unbonding = [
            {"release": e["release"], "kind": e["kind"], "amount": e["amount"],
             **{k: e[k] for k in ("validator", "coordinator") if k in e}}
            for _, e in state.items("pending") if e["owner"] == address
        ]
        escrows = []
        for key, escrow in state.items("escrow"):
            client, _, coordinator = key.partition("/")
            if client == address:
                escrows.append({"coordinator": coordinator, "balance": escrow["balance"]})
        return {
            "address": address, "balance": account["balance"], "nonce": account["nonce"],
            "pending_nonce": pending_nonce, "stakes": stakes, "unbonding": unbonding, "escrows": escrows,
            "miner": state.get("miner", address), "validator": state.get("validator", address),
            "height": state.height,
        }
