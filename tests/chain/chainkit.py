"""Helpers for the chain tests: deterministic keys, genesis documents, signed objects, and a
small driver that builds, commits and applies blocks the way a node does.

Everything here is deterministic (seeds are SHA-256 of a name), so that exact figures (proposer
counts, balances) can be asserted and a failing example reproduces byte for byte.

The module has a distinct name (not ``helpers``) because test directories are not packages and
share one ``sys.path``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from chain import crypto
from chain.block import Block, Commit, CommitSig, Header, merkle_root
from chain.encoding import sha256
from chain.errors import ChainError, InvalidBlock
from chain.execution import BuiltBlock, apply_block, build_block, check_tx, next_proposer
from chain.genesis import Genesis, genesis_state, load_genesis
from chain.params import UNIT
from chain.receipt import MinerProof, ProofBody, Receipt, ReceiptBody, sign_proof, sign_receipt
from chain.state import State
from chain.tx import Transaction, make_tx
from chain.verdict import SignedVerdict, VerdictBody, verdict_about
from chain.vote import Vote, VoteBody, sign_vote

CHAIN_ID = "aitbc-test"
GENESIS_MS = 1_700_000_000_000
BLOCK_MS = 1000
FEE = 100
FUNDS = 1_000_000 * UNIT
STAKE = 1_000 * UNIT
MINER_BOND = 1_000 * UNIT

TEST_PARAMS: dict[str, int] = {
    "block_time_ms": BLOCK_MS,
    "unbonding_period": 3,
    "escrow_withdraw_delay": 3,
    "voting_period": 3,
    "min_miner_bond": MINER_BOND,
    "min_stake": 1,
    "min_unbond": 1,
    "min_escrow_withdraw": 1,
}
"""Short periods so that unbonding, escrow delays and votes finish within a few blocks; minimum
entry sizes of one unit so that tests can move small amounts (their rule has its own tests)."""


@dataclass(frozen=True)
class Key:
    name: str
    seed: bytes
    pub: bytes
    address: str

    @classmethod
    def named(cls, name: str) -> "Key":
        seed = sha256(name.encode())
        pub = crypto.pubkey_from_seed(seed)
        return cls(name, seed, pub, crypto.address_from_pubkey(pub))


VALIDATORS = [Key.named(f"val{i}") for i in range(4)]
ALICE = Key.named("alice")
BOB = Key.named("bob")
CAROL = Key.named("carol")
CLIENT = Key.named("client")
COORD = Key.named("coordinator")
COORD2 = Key.named("coordinator2")
MINER = Key.named("miner0")
MINER2 = Key.named("miner1")
OUTSIDER = Key.named("outsider")
FUNDED = [ALICE, BOB, CAROL, CLIENT, COORD, COORD2, MINER, MINER2]


def make_genesis(
    n_validators: int = 1,
    *,
    powers: Sequence[int] | None = None,
    params: dict[str, int] | None = None,
    funded: Iterable[Key] = FUNDED,
    extra_accounts: dict[str, int] | None = None,
    coordinators: Sequence[str] = (COORD.address,),
    treasury: int = 0,
    commission_bps: int = 1000,
    chain_id: str = CHAIN_ID,
    fund_validators: bool = True,
) -> Genesis:
    powers = list(powers) if powers is not None else [STAKE] * n_validators
    funded = list(funded) + (VALIDATORS[: len(powers)] if fund_validators else [])
    accounts = [{"address": k.address, "balance": FUNDS, "name": k.name} for k in funded]
    for address, balance in (extra_accounts or {}).items():
        accounts.append({"address": address, "balance": balance})
    return load_genesis({
        "chain_id": chain_id,
        "genesis_time_ms": GENESIS_MS,
        "params": {**TEST_PARAMS, **(params or {})},
        "accounts": accounts,
        "validators": [
            {"address": k.address, "pubkey": k.pub.hex(), "stake": power, "commission_bps": commission_bps,
             "name": k.name}
            for k, power in zip(VALIDATORS, powers)
        ],
        "coordinators": list(coordinators),
        "treasury_balance": treasury,
    })


# -- signed objects -------------------------------------------------------------------------------


def proof_body(miner: Key | str, job_id: str, *, chain_id: str = CHAIN_ID, coordinator: Key = COORD) -> ProofBody:
    address = miner.address if isinstance(miner, Key) else miner
    return ProofBody(
        chain_id=chain_id, job_id=job_id, coordinator=coordinator.address, miner=address, model="smollm2",
        model_id=sha256(b"weights").hex(), params_hash=sha256(b"params").hex(),
        prompt_hash=sha256(job_id.encode()).hex(), output_hash=sha256(b"out" + job_id.encode()).hex(),
        prompt_tokens=12, completion_tokens=34,
    )


def make_proof(miner: Key, job_id: str, *, chain_id: str = CHAIN_ID, signer: Key | None = None,
               coordinator: Key = COORD) -> MinerProof:
    """A miner proof; ``signer`` other than ``miner`` gives a proof whose signature is wrong."""
    body = proof_body(miner, job_id, chain_id=chain_id, coordinator=coordinator)
    if signer is None:
        return sign_proof(body, miner.seed)
    return MinerProof(body=body, pubkey=miner.pub.hex(),
                      signature=crypto.sign(signer.seed, body.signing_bytes()).hex())


def make_receipt(
    job_id: str,
    price: int,
    *,
    miner: Key = MINER,
    client: Key = CLIENT,
    coordinator: Key = COORD,
    chain_id: str = CHAIN_ID,
    proof: MinerProof | None = None,
    coordinator_signer: Key | None = None,
) -> Receipt:
    body = ReceiptBody(proof=proof or make_proof(miner, job_id, chain_id=chain_id, coordinator=coordinator),
                       client=client.address,
                       coordinator=coordinator.address, price=price, created_ms=GENESIS_MS)
    if coordinator_signer is None:
        return sign_receipt(body, coordinator.seed)
    return Receipt(body=body, pubkey=coordinator.pub.hex(),
                   signature=crypto.sign(coordinator_signer.seed, body.signing_bytes()).hex())


def make_verdict(proof: MinerProof, verifier: Key = MINER2, *, verdict: str = "wrong",
                 signer: Key | None = None, **changes: Any) -> SignedVerdict:
    """``verifier``'s signed verdict about ``proof``; ``changes`` override body fields (a verdict
    about another claim), ``signer`` other than ``verifier`` gives a wrong signature."""
    body = verdict_about(proof.body, verifier=verifier.address, verdict=verdict,  # type: ignore[arg-type]
                         first_mismatch=3, reason="teacher-forced check failed at token 3")
    if changes:
        body = VerdictBody(**{**body.model_dump(), **changes})
    return SignedVerdict(body=body, pubkey=verifier.pub.hex(),
                         signature=crypto.sign((signer or verifier).seed, body.signing_bytes()).hex())


def wrong_result(proof: MinerProof, verdict: SignedVerdict | None = None) -> dict[str, Any]:
    """A ``slash`` payload: ``proof`` refuted by ``verdict`` (by default MINER2's)."""
    return {"evidence": {"kind": "wrong_result", "proof": proof.model_dump(),
                         "verdict": (verdict or make_verdict(proof)).model_dump()}}


def make_vote(key: Key, height: int, block_hash: str | None, *, round_: int = 0, vote_type: str = "precommit",
              chain_id: str = CHAIN_ID) -> Vote:
    body = VoteBody(chain_id=chain_id, height=height, round=round_, type=vote_type, block_hash=block_hash,
                    validator=key.address)
    return sign_vote(body, key.seed)


def fake_hash(label: str) -> str:
    return sha256(label.encode()).hex()


# -- state inspection -----------------------------------------------------------------------------


def snapshot(state: State) -> tuple[str, str, list[tuple[str, str, dict[str, Any]]]]:
    """Everything observable about a state, deep-copied so later mutation would show."""
    return state.root, state.last_block_hash, copy.deepcopy(list(state.entries()))


def accounted_supply(state: State) -> int:
    """Every unit the state holds somewhere. Pending escrow withdrawals are left out: they are
    claims on an escrow balance that is still counted in the escrow itself."""
    total = sum(a["balance"] for _, a in state.items("account"))
    # Bonded units are the validators' pools (delegations are shares of them); rewards are either
    # settled into a delegation or still outstanding at the validator.
    total += sum(v["power"] + v["outstanding"] for _, v in state.items("validator"))
    total += sum(d["rewards"] for _, d in state.items("delegation"))
    total += sum(e["balance"] for _, e in state.items("escrow"))
    total += sum(m["bond"] for _, m in state.items("miner"))
    total += sum(p["amount"] for _, p in state.items("pending") if p["kind"] != "escrow_withdraw")
    return total


def supply_total(state: State) -> int:
    entry = state.get("meta", "supply")
    assert entry is not None
    return int(entry["total"])


def with_header(block: Block, **changes: Any) -> Block:
    """A copy of ``block`` with header fields replaced (the header is rebuilt so its cached hash
    is recomputed, which ``model_copy`` would not do)."""
    header = Header(**{**block.header.model_dump(), **changes})
    return Block(header=header, txs=list(block.txs), last_commit=block.last_commit)


# -- the driver -----------------------------------------------------------------------------------


class Chain:
    """Drives one chain the way a validator node would: build, commit (precommits of every
    validator whose key it holds), apply with full checks, move on."""

    def __init__(self, genesis: Genesis, keys: Iterable[Key] = VALIDATORS) -> None:
        self.genesis = genesis
        self.state = genesis_state(genesis)
        self.keys = {k.address: k for k in keys}
        self.last_commit: Commit | None = None
        self.blocks: list[Block] = []

    @property
    def chain_id(self) -> str:
        return self.state.chain_id

    # -- reading ----------------------------------------------------------------------------------

    def account(self, address: str) -> dict[str, Any]:
        return self.state.get("account", address) or {"balance": 0, "nonce": 0}

    def balance(self, who: Key | str) -> int:
        return int(self.account(who.address if isinstance(who, Key) else who)["balance"])

    def nonce(self, who: Key | str) -> int:
        return int(self.account(who.address if isinstance(who, Key) else who)["nonce"])

    def get(self, ns: str, key: str) -> dict[str, Any] | None:
        return self.state.get(ns, key)

    def params(self) -> dict[str, Any]:
        entry = self.state.get("meta", "params")
        assert entry is not None
        return entry

    # -- transactions -----------------------------------------------------------------------------

    def tx(self, key: Key, tx_type: str, payload: dict[str, Any], *, nonce: int | None = None, fee: int = FEE,
           offset: int = 0, chain_id: str | None = None) -> Transaction:
        """A signed transaction; ``offset`` counts earlier transactions of ``key`` in the same block."""
        if nonce is None:
            nonce = self.nonce(key) + offset
        return make_tx(key.seed, chain_id or self.chain_id, tx_type, nonce, fee, payload)

    def txs(self, key: Key, items: Sequence[tuple[str, dict[str, Any]]]) -> list[Transaction]:
        """Several transactions of one sender with consecutive nonces, for one block."""
        return [self.tx(key, t, p, offset=i) for i, (t, p) in enumerate(items)]

    # -- blocks -----------------------------------------------------------------------------------

    def next_time(self) -> int:
        return self.state.time_ms + BLOCK_MS

    def build(self, txs: Iterable[Transaction] = (), *, round_: int = 0) -> BuiltBlock:
        return build_block(self.state, list(txs), proposer=next_proposer(self.state, round_),
                           time_ms=self.next_time(), round_=round_, last_commit=self.last_commit)

    def commit_for(self, block: Block, state_after: State, *, signers: Iterable[str] | None = None,
                   round_: int = 0) -> Commit:
        """Precommits for ``block`` by the validators that voted on it (or only ``signers``)."""
        voting = state_after.get("meta", "signers")
        assert voting is not None
        chosen = list(signers) if signers is not None else [a for a in sorted(voting["set"]) if a in self.keys]
        commit = Commit(height=block.height, round=round_, block_hash=block.hash, signatures=[])
        sigs = []
        for address in chosen:
            body = commit.vote_body(self.chain_id, address)
            sigs.append(CommitSig(validator=address,
                                  signature=crypto.sign(self.keys[address].seed, body.signing_bytes()).hex()))
        return Commit(height=block.height, round=round_, block_hash=block.hash, signatures=sigs)

    def apply(self, block: Block) -> State:
        new_state = apply_block(self.state, block)
        self.state = new_state
        self.last_commit = self.commit_for(block, new_state)
        self.blocks.append(block)
        return new_state

    def step(self, txs: Iterable[Transaction] = (), *, allow_rejects: bool = False) -> BuiltBlock:
        """Build the next block from ``txs``, apply it with every check, and commit it."""
        built = self.build(txs)
        if not allow_rejects:
            assert not built.rejected, [f"{type(e).__name__}: {e}" for _, e in built.rejected]
        self.apply(built.block)
        assert self.state.root == built.state.root
        return built

    def run(self, tx: Transaction) -> None:
        """Apply one transaction that must be accepted, in a block of its own."""
        self.step([tx])

    def advance(self, blocks: int) -> None:
        for _ in range(blocks):
            self.step()

    def forge(self, txs: Sequence[Transaction]) -> Block:
        """The next block carrying exactly ``txs``, valid or not: header fields are those a
        proposer would produce for the transactions that do apply, with ``tx_root`` over all."""
        built = self.build(txs)
        if not built.rejected:
            return built.block
        header = Header(**{**built.block.header.model_dump(), "tx_root": merkle_root([tx.hash for tx in txs])})
        return Block(header=header, txs=list(txs), last_commit=built.block.last_commit)

    # -- rejections -------------------------------------------------------------------------------

    def assert_rejected(self, tx: Transaction, error: type[ChainError], match: str | None = None) -> ChainError:
        """``tx`` is refused with ``error`` by mempool admission and inside a block, and
        neither refusal changes anything."""
        before = snapshot(self.state)
        with pytest.raises(error, match=match) as admitted:
            check_tx(self.state, tx)
        assert admitted.value.message
        block = self.forge([tx])
        with pytest.raises(InvalidBlock) as in_block:
            apply_block(self.state, block)
        assert isinstance(in_block.value.__cause__, error), repr(in_block.value.__cause__)
        assert "transaction 0" in in_block.value.message
        assert snapshot(self.state) == before
        return admitted.value
