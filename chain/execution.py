"""The state transition function: every rule of the protocol that needs state.

    apply_block(state, block) -> state'

A block is applied in three phases, each a pure function of the ledger:

1. ``begin_block``: check the chain runs these rules (``chain.protocol``), fix the voting set
   for this height, release the unbonding and escrow withdrawals due now (``chain.payouts``).
2. ``apply_tx`` for each transaction, in order: account checks (nonce, fee, balance) then the
   rule of its type. Any rejection aborts the whole block: a block with one invalid
   transaction changes nothing.
3. ``end_block``: track who signed the previous block (``chain.slashing``), mint the block
   reward and split it with the fees (``chain.rewards``), drop or tally governance proposals
   whose deposit or voting period ends now (``chain.governance``, which also applies a scheduled
   upgrade's protocol version in ``begin_block``).

Rules with their own module: governance (``chain.governance``), delegation pools and rewards (``chain.staking``), slashing and
jailing (``chain.slashing``), payouts (``chain.payouts``), the reward split (``chain.rewards``),
the per-block indexes (``chain.indexes``).

Proposers build blocks with ``build_block``, which runs the same rules but skips transactions
that fail instead of failing the block.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from chain import governance, payouts, rewards, slashing, staking
from chain.amounts import ait
from chain.block import EMPTY_COMMIT_HASH, GENESIS_PREV_HASH, Block, Commit, Header, merkle_root
from chain.errors import (
    BadNonce, ChainError, DuplicateJob, FeeTooLow, FeeUnaffordable, InsufficientFunds, InvalidBlock, InvalidPayload, TxRejected,
    Unauthorized, UnknownEntity, WrongChainId,
)
from chain.ledger import Ledger, add_amounts
from chain.params import BPS
from chain.protocol import require_supported
from chain.receipt import job_key
from chain.rewards import receipt_fee
from chain.state import State
from chain.tx import (
    ClaimRewardsPayload, DoubleSignEvidence, EscrowDepositPayload, EscrowWithdrawPayload, JobReceiptPayload,
    MinerBondPayload, MinerUnbondPayload, SlashPayload, StakePayload, Transaction, TransferPayload, UnjailPayload,
    UnstakePayload, WrongResultEvidence, check_stateless,
)
from chain.validators import Signers, active_set, advanced_priorities, proposer_for, validators_hash, verify_commit
from chain.verdict import evidence_id, evidence_problem

TREASURY = governance.TREASURY
"""Re-exported: the treasury's address is defined with the rules that spend it (``chain.governance``)."""


@dataclass
class BlockContext:
    chain_id: str
    height: int
    time_ms: int
    proposer: str
    fees: int = 0
    miner_weights: dict[str, int] = field(default_factory=dict)
    """Receipt fees paid in this block per miner: weight and cap of its share (``chain.rewards``)."""
    last_signers: frozenset[str] | None = None
    """Validators whose signature the block's ``last_commit`` carries (``None``: no commit)."""


# -- small rules shared by several types ---------------------------------------------------------


def _spend(ledger: Ledger, address: str, amount: int, what: str) -> None:
    balance = ledger.balance(address)
    if balance < amount:
        raise InsufficientFunds(f"{what} needs {ait(amount)}, {address} has {ait(balance)}")
    ledger.set_balance(address, balance - amount)


def _coordinators(ledger: Ledger) -> list[str]:
    return list(ledger.meta("coordinators")["list"])


_require_validator = staking.require_validator


# -- one function per transaction type -------------------------------------------------------------


def _transfer(ledger: Ledger, tx: Transaction, body: TransferPayload, ctx: BlockContext) -> None:
    _spend(ledger, tx.sender, body.amount, "transfer")
    ledger.set_balance(body.to, add_amounts(ledger.balance(body.to), body.amount))


def _stake(ledger: Ledger, tx: Transaction, body: StakePayload, ctx: BlockContext) -> None:
    validator = _require_validator(ledger, body.validator)
    if validator["removed"]:
        raise Unauthorized(f"validator {body.validator} was removed by governance and takes no new stake")
    if body.amount < ledger.params.min_stake:
        raise InvalidPayload(f"stake of {ait(body.amount)} is below the minimum {ait(ledger.params.min_stake)} (min_stake)")
    _spend(ledger, tx.sender, body.amount, "stake")
    staking.delegate(ledger, tx.sender, body.validator, body.amount)


def _unstake(ledger: Ledger, tx: Transaction, body: UnstakePayload, ctx: BlockContext) -> None:
    held = staking.staked(ledger, tx.sender, body.validator)
    if held < body.amount:
        raise InsufficientFunds(f"unstake of {ait(body.amount)} from {body.validator}: only {ait(held)} is staked")
    payouts.require_minimum(body.amount, ledger.params.min_unbond, held, "unstake", "min_unbond")
    dust = staking.undelegate(ledger, tx.sender, body.validator, body.amount)
    ledger.credit(TREASURY, dust)
    payouts.schedule(ledger, ctx.height, tx.hash, ledger.params.unbonding_period,
                     {"kind": "unbond", "owner": tx.sender, "amount": body.amount, "validator": body.validator})


def _claim_rewards(ledger: Ledger, tx: Transaction, body: ClaimRewardsPayload, ctx: BlockContext) -> None:
    ledger.credit(tx.sender, staking.claim(ledger, tx.sender, body.validator))


def _escrow_deposit(ledger: Ledger, tx: Transaction, body: EscrowDepositPayload, ctx: BlockContext) -> None:
    if body.coordinator not in _coordinators(ledger):
        raise UnknownEntity(f"{body.coordinator} is not a registered coordinator")
    _spend(ledger, tx.sender, body.amount, "escrow deposit")
    key = f"{tx.sender}/{body.coordinator}"
    escrow = ledger.get("escrow", key) or {"balance": 0}
    ledger.put("escrow", key, {"balance": add_amounts(escrow["balance"], body.amount)})


def _escrow_withdraw(ledger: Ledger, tx: Transaction, body: EscrowWithdrawPayload, ctx: BlockContext) -> None:
    payouts.request_escrow_withdrawal(ledger, ctx.height, tx.hash, tx.sender, body.coordinator, body.amount)


def _job_receipt(ledger: Ledger, tx: Transaction, body: JobReceiptPayload, ctx: BlockContext) -> None:
    if tx.sender not in _coordinators(ledger):
        raise Unauthorized(f"{tx.sender} is not a registered coordinator and cannot settle receipts")
    params = ledger.params
    # Collected here and added to the block's miner weights only once every receipt passed: a
    # batch refused half-way (by ``build_block``) must leave no weight behind, or the proposer's
    # state root would differ from every other node's.
    weights: dict[str, int] = {}
    for receipt in body.receipts:
        rb = receipt.body
        proof = rb.proof.body
        job_id = proof.job_id
        if rb.coordinator != tx.sender:
            raise Unauthorized(f"receipt for job {job_id} names coordinator {rb.coordinator}, not the sender")
        if proof.coordinator != rb.coordinator:
            raise Unauthorized(f"receipt for job {job_id}: the miner's proof was made for coordinator "
                               f"{proof.coordinator}, not {rb.coordinator}")
        if proof.chain_id != ctx.chain_id:
            raise WrongChainId(f"receipt for job {job_id} is for chain {proof.chain_id!r}")
        if not receipt.coordinator_signature_valid():
            raise Unauthorized(f"receipt for job {job_id}: coordinator signature does not verify")
        if not rb.proof.is_valid():
            raise Unauthorized(f"receipt for job {job_id}: miner proof signature does not verify")
        # Scoped to the coordinator: a rival that settles the same job id first settles its own
        # job, and cannot block this one.
        key = job_key(rb.coordinator, job_id)
        if ledger.get("job", key) is not None:
            raise DuplicateJob(f"job {job_id} was already settled by coordinator {rb.coordinator}")
        miner = ledger.get("miner", proof.miner)
        if miner is None or miner["bond"] < params.min_miner_bond:
            raise Unauthorized(f"miner {proof.miner} is not bonded (needs {ait(params.min_miner_bond)})")
        escrow_key = f"{rb.client}/{rb.coordinator}"
        escrow = ledger.get("escrow", escrow_key)
        available = escrow["balance"] if escrow else 0
        if available < rb.price:
            raise InsufficientFunds(f"receipt for job {job_id} charges {rb.price}, escrow of {rb.client} holds {available}")
        ledger.put("escrow", escrow_key, {"balance": available - rb.price})
        fee = receipt_fee(rb.price, params)
        ledger.credit(TREASURY, fee)
        ledger.credit(proof.miner, rb.price - fee)
        ledger.put("miner", proof.miner, {**miner, "jobs": miner["jobs"] + 1})
        ledger.put("job", key, {"receipt_id": receipt.receipt_id, "height": ctx.height, "tx": tx.hash,
                                "miner": proof.miner, "client": rb.client, "price": rb.price,
                                "proof_hash": proof.hash})
        weights[proof.miner] = weights.get(proof.miner, 0) + fee
    for miner_address, weight in weights.items():
        ctx.miner_weights[miner_address] = ctx.miner_weights.get(miner_address, 0) + weight


def _miner_bond(ledger: Ledger, tx: Transaction, body: MinerBondPayload, ctx: BlockContext) -> None:
    _spend(ledger, tx.sender, body.amount, "miner bond")
    miner = ledger.get("miner", tx.sender) or {"bond": 0, "slashed": 0, "jobs": 0}
    ledger.put("miner", tx.sender, {**miner, "bond": add_amounts(miner["bond"], body.amount)})


def _miner_unbond(ledger: Ledger, tx: Transaction, body: MinerUnbondPayload, ctx: BlockContext) -> None:
    miner = ledger.get("miner", tx.sender)
    bond = miner["bond"] if miner else 0
    if miner is None or bond < body.amount:
        raise InsufficientFunds(f"miner bond is {ait(bond)}, cannot unbond {ait(body.amount)}")
    payouts.require_minimum(body.amount, ledger.params.min_unbond, bond, "miner unbond", "min_unbond")
    ledger.put("miner", tx.sender, {**miner, "bond": bond - body.amount})
    payouts.schedule(ledger, ctx.height, tx.hash, ledger.params.unbonding_period,
                     {"kind": "miner_unbond", "owner": tx.sender, "amount": body.amount})


def _slash(ledger: Ledger, tx: Transaction, body: SlashPayload, ctx: BlockContext) -> None:
    evidence = body.evidence
    if isinstance(evidence, DoubleSignEvidence):
        _slash_double_sign(ledger, evidence, ctx)
    else:
        _slash_wrong_result(ledger, tx, evidence, ctx)
        _slash_miner_unbonding(ledger, evidence, ctx)


def _slash_miner_unbonding(ledger: Ledger, ev: WrongResultEvidence, ctx: BlockContext) -> None:
    """The wrong-result rule burns the bond; unbonding entries the miner started since the job
    was settled lose the same share, so unbonding right after a bad job does not escape
    (``chain.slashing``). The reach goes back at most the evidence age limit (which also bounds
    the heights read), and that far for a job the chain has no record of."""
    proof = ev.proof.body
    job = ledger.get("job", job_key(proof.coordinator, proof.job_id))
    oldest = ctx.height - slashing.evidence_age_limit(ledger.params)
    since = max(job["height"], oldest) if job is not None and job.get("miner") == proof.miner else oldest
    burned = slashing.slash_miner_unbonding(ledger, proof.miner, since, ctx.height, ledger.params.wrong_result_slash_bps)
    if burned:
        # Add it to the evidence record the wrong-result rule just wrote (the only evidence write
        # of this transaction), so that ``burned`` stays the offence's whole burn.
        for ns, key in [k for k in ledger.writes if k[0] == "evidence"]:
            record = ledger.get(ns, key)
            if record is not None:
                ledger.put(ns, key, {**record, "burned": record["burned"] + burned})


def _slash_double_sign(ledger: Ledger, ev: DoubleSignEvidence, ctx: BlockContext) -> None:
    a, b = ev.vote_a.body, ev.vote_b.body
    if (a.validator, a.height, a.round, a.type, a.chain_id) != (b.validator, b.height, b.round, b.type, b.chain_id):
        raise InvalidPayload("double-sign evidence must be two votes by one validator for one height, round and type")
    if a.chain_id != ctx.chain_id:
        raise WrongChainId(f"evidence is from chain {a.chain_id!r}")
    if a.block_hash == b.block_hash:
        raise InvalidPayload("the two votes are for the same block: that is not double signing")
    validator = _require_validator(ledger, a.validator)
    if ev.vote_a.pubkey != validator["pubkey"] or ev.vote_b.pubkey != validator["pubkey"]:
        raise InvalidPayload("evidence votes are not signed with the validator's key")
    if not (ev.vote_a.is_valid() and ev.vote_b.is_valid()):
        raise InvalidPayload("an evidence vote's signature does not verify")
    slashing.check_evidence_age(ledger.params, a.height, ctx.height)
    evidence_id = f"double_sign/{a.validator}/{a.height}/{a.round}/{a.type}"
    if ledger.get("evidence", evidence_id) is not None:
        raise DuplicateJob(f"this double signing was already slashed ({evidence_id})")
    # The whole pool (every delegation in proportion) and the unbonding entries started since
    # the infraction are burned; jailed for good unless that would halt the chain.
    burn = slashing.slash_validator(ledger, a.validator, a.height, ctx.height, ledger.params.double_sign_slash_bps)
    slashing.jail(ledger, a.validator, ctx.height, tombstone=True)
    ledger.put("evidence", evidence_id, {"height": ctx.height, "burned": burn})


def _slash_wrong_result(ledger: Ledger, tx: Transaction, ev: WrongResultEvidence, ctx: BlockContext) -> None:
    """Burn a share of a miner's bond for a result a bonded verifier refuted (``chain.verdict``
    says what the evidence proves and why these are the rules)."""
    proof = ev.proof.body
    if proof.chain_id != ctx.chain_id:
        raise WrongChainId(f"proof is from chain {proof.chain_id!r}")
    if tx.sender != proof.coordinator:
        raise Unauthorized(f"job {proof.job_id} was run for coordinator {proof.coordinator}: only it can submit "
                           "wrong-result evidence about it")
    if tx.sender not in _coordinators(ledger):
        raise Unauthorized("only a registered coordinator can submit wrong-result evidence")
    problem = evidence_problem(ev.proof, ev.verdict)
    if problem is not None:
        raise InvalidPayload(problem)
    params = ledger.params
    verifier = ev.verdict.body.verifier
    verifier_entry = ledger.get("miner", verifier)
    if verifier_entry is None or verifier_entry["bond"] < params.min_miner_bond:
        raise Unauthorized(f"verifier {verifier} is not a bonded miner (needs {ait(params.min_miner_bond)})")
    miner = ledger.get("miner", proof.miner)
    if miner is None:
        raise UnknownEntity(f"{proof.miner} is not a miner")
    settled = ledger.get("job", job_key(proof.coordinator, proof.job_id))
    if settled is not None and settled["proof_hash"] == proof.hash:
        raise Unauthorized(f"job {proof.job_id} was settled as correct with this very result at height "
                           f"{settled['height']}: a coordinator that paid for a result cannot accuse it")
    key = evidence_id(proof)
    if ledger.get("evidence", key) is not None:
        raise DuplicateJob(f"miner {proof.miner} was already slashed for job {proof.job_id} of coordinator "
                           f"{proof.coordinator} ({key}); the evidence is not counted twice")
    burn = miner["bond"] * params.wrong_result_slash_bps // BPS
    ledger.put("miner", proof.miner, {**miner, "bond": miner["bond"] - burn, "slashed": miner["slashed"] + burn})
    ledger.adjust_supply(-burn)
    ledger.put("evidence", key, {"height": ctx.height, "burned": burn, "miner": proof.miner,
                                 "coordinator": proof.coordinator, "job_id": proof.job_id, "verifier": verifier})


def _unjail(ledger: Ledger, tx: Transaction, body: UnjailPayload, ctx: BlockContext) -> None:
    slashing.unjail(ledger, tx.sender, ctx.height)


HANDLERS: dict[str, Callable[[Ledger, Transaction, object, BlockContext], None]] = {
    "transfer": _transfer,  # type: ignore[dict-item]
    "stake": _stake,  # type: ignore[dict-item]
    "unstake": _unstake,  # type: ignore[dict-item]
    "claim_rewards": _claim_rewards,  # type: ignore[dict-item]
    "escrow_deposit": _escrow_deposit,  # type: ignore[dict-item]
    "escrow_withdraw": _escrow_withdraw,  # type: ignore[dict-item]
    "job_receipt": _job_receipt,  # type: ignore[dict-item]
    "miner_bond": _miner_bond,  # type: ignore[dict-item]
    "miner_unbond": _miner_unbond,  # type: ignore[dict-item]
    "slash": _slash,  # type: ignore[dict-item]
    "gov_propose": governance.gov_propose,  # type: ignore[dict-item]
    "gov_vote": governance.gov_vote,  # type: ignore[dict-item]
    "gov_deposit": governance.gov_deposit,  # type: ignore[dict-item]
    "validator_update": governance.validator_update,  # type: ignore[dict-item]
    "unjail": _unjail,  # type: ignore[dict-item]
}


_CHANGES_VALIDATOR_SET = frozenset({"unstake", "slash", "validator_update"})


def check_account(ledger: Ledger, tx: Transaction) -> None:
    """Nonce, fee and fee balance: the checks a mempool repeats against pending state."""
    account = ledger.account(tx.sender)
    if tx.nonce != account["nonce"]:
        raise BadNonce(f"nonce {tx.nonce} is not the next for {tx.sender}: expected {account['nonce']}")
    params = ledger.params
    if tx.fee < params.min_fee:
        raise FeeTooLow(f"fee {tx.fee} is below the minimum {params.min_fee}")
    if account["balance"] < tx.fee:
        raise FeeUnaffordable(f"fee {tx.fee} exceeds the balance {account['balance']} of {tx.sender}")


def apply_tx(ledger: Ledger, tx: Transaction, ctx: BlockContext, *, verified: bool = False) -> None:
    """Apply one transaction into ``ledger``, or raise and leave ``ledger`` untouched.

    ``verified`` skips the signature check for transactions whose signature this node already
    checked (at mempool admission); every other rule still runs.
    """
    check_stateless(tx, ctx.chain_id, ledger.params, check_signature=not verified)
    scratch = ledger.child()
    check_account(scratch, tx)
    account = scratch.account(tx.sender)
    scratch.put("account", tx.sender, {"balance": account["balance"] - tx.fee, "nonce": account["nonce"] + 1})
    HANDLERS[tx.type](scratch, tx, tx.body, ctx)
    if tx.type in _CHANGES_VALIDATOR_SET and not active_set(scratch):
        raise Unauthorized("this transaction would leave no active validator, and the chain would halt")
    ctx.fees += tx.fee
    ledger.absorb(scratch)


# -- block phases ---------------------------------------------------------------------------------


def begin_block(ledger: Ledger, ctx: BlockContext) -> Signers:
    governance.begin_block(ledger, ctx.height)
    require_supported(ledger.meta("params"))
    signers = active_set(ledger)
    payouts.release_due(ledger, ctx.height)
    return signers


def _distribute_rewards(ledger: Ledger, ctx: BlockContext, signers: Signers) -> None:
    """Downtime and rewards both read who signed the previous block; on the first block (no
    commit) this block's signers stand in for it."""
    previous = ledger.get("meta", "signers")
    voters = previous["set"] if previous is not None and ctx.last_signers is not None else signers
    if ctx.last_signers is not None:
        slashing.track_downtime(ledger, ctx.height, voters, ctx.last_signers)
    treasury = rewards.distribute(ledger, ctx.fees, ctx.miner_weights, voters, ctx.last_signers)
    ledger.credit(TREASURY, treasury)


def end_block(ledger: Ledger, ctx: BlockContext, signers: Signers) -> None:
    _distribute_rewards(ledger, ctx, signers)
    governance.end_block(ledger, ctx, signers)
    ledger.put("meta", "chain", {"height": ctx.height, "time_ms": ctx.time_ms})
    ledger.put("meta", "signers", {"height": ctx.height, "set": advanced_priorities(signers)})


# -- whole blocks -----------------------------------------------------------------------------------


def _check_header(state: State, header: Header, signers: Signers) -> None:
    if header.chain_id != state.chain_id:
        raise InvalidBlock(f"block is for chain {header.chain_id!r}, this chain is {state.chain_id!r}")
    if header.height != state.height + 1:
        raise InvalidBlock(f"block height {header.height} does not follow {state.height}")
    expected_prev = state.last_block_hash or GENESIS_PREV_HASH
    if header.prev_hash != expected_prev:
        raise InvalidBlock(f"block's previous hash {header.prev_hash[:12]} is not the chain's head {expected_prev[:12]}")
    if header.time_ms <= state.time_ms:
        raise InvalidBlock(f"block time {header.time_ms} is not after the previous block's {state.time_ms}")
    expected_proposer = proposer_for(signers, header.round)
    if header.proposer != expected_proposer:
        raise InvalidBlock(f"round {header.round} proposer must be {expected_proposer}, not {header.proposer}")
    if header.validators_hash != validators_hash(signers):
        raise InvalidBlock("validators_hash does not match the validator set")


def _check_last_commit(state: State, block: Block) -> None:
    if block.header.height == 1:
        if block.last_commit is not None or block.header.last_commit_hash != EMPTY_COMMIT_HASH:
            raise InvalidBlock("the first block carries no last commit")
        return
    if block.last_commit is None:
        raise InvalidBlock("block carries no commit for the previous block")
    if block.header.last_commit_hash != block.last_commit.hash:
        raise InvalidBlock("last_commit_hash does not match the carried commit")
    previous = state.get("meta", "signers")
    assert previous is not None
    # Priorities moved on at the end of the previous block; keys and powers, which are all a
    # commit check reads, did not.
    verify_commit(block.last_commit, previous["set"], state.chain_id, state.height, state.last_block_hash)


def apply_block(state: State, block: Block, *, verified: Iterable[str] = ()) -> State:
    """The state after ``block``, or ``InvalidBlock``/``ChainError`` with ``state`` unchanged.

    ``verified`` names transaction hashes whose signatures this node already checked.
    """
    verified_set = set(verified)
    ledger = Ledger(state)
    ctx = BlockContext(state.chain_id, block.header.height, block.header.time_ms, block.header.proposer,
                       last_signers=_commit_signers(block.last_commit))
    signers = begin_block(ledger, ctx)
    _check_header(state, block.header, signers)
    _check_last_commit(state, block)
    if len(block.txs) > ledger.params.max_block_txs:
        raise InvalidBlock(f"block has {len(block.txs)} transactions, the limit is {ledger.params.max_block_txs}")
    if block.header.tx_root != merkle_root([tx.hash for tx in block.txs]):
        raise InvalidBlock("tx_root does not match the block's transactions")
    for index, tx in enumerate(block.txs):
        try:
            apply_tx(ledger, tx, ctx, verified=tx.hash in verified_set)
        except ChainError as exc:
            raise InvalidBlock(f"transaction {index} ({tx.hash[:12]}) is invalid: {exc.message}") from exc
    end_block(ledger, ctx, signers)
    new_state = state.apply_writes(ledger.writes)
    if new_state.root != block.header.state_root:
        raise InvalidBlock(f"state root {block.header.state_root[:12]} does not match the computed {new_state.root[:12]}")
    return new_state.with_block_hash(block.hash)


def _commit_signers(commit: Commit | None) -> frozenset[str] | None:
    return None if commit is None else frozenset(sig.validator for sig in commit.signatures)


@dataclass
class BuiltBlock:
    block: Block
    state: State
    rejected: list[tuple[Transaction, ChainError]]


def build_block(
    state: State,
    candidates: Iterable[Transaction],
    *,
    proposer: str,
    time_ms: int,
    round_: int = 0,
    last_commit: Commit | None = None,
    verified: Iterable[str] = (),
    max_tx_bytes: int | None = None,
) -> BuiltBlock:
    """Assemble the next block from ``candidates`` in order, skipping those that fail.

    The proposer applies the same rules as ``apply_block``; a block built here applies cleanly.
    ``max_tx_bytes`` bounds the encoded transactions the block carries (the proposer's own
    limit, not a validity rule: what one message to its peers can carry). A transaction that
    would take the block past it is left for a later block together with its sender's later
    ones, which could only fail on the nonce it leaves unused; they are neither included nor
    rejected.
    """
    verified_set = set(verified)
    ledger = Ledger(state)
    height = state.height + 1
    ctx = BlockContext(state.chain_id, height, time_ms, proposer, last_signers=_commit_signers(last_commit))
    signers = begin_block(ledger, ctx)
    included: list[Transaction] = []
    rejected: list[tuple[Transaction, ChainError]] = []
    limit = ledger.params.max_block_txs
    room = max_tx_bytes
    deferred: set[str] = set()
    for tx in candidates:
        if len(included) >= limit:
            break
        if tx.sender in deferred:
            continue
        if room is not None and len(tx.encoded) > room:
            deferred.add(tx.sender)
            continue
        try:
            apply_tx(ledger, tx, ctx, verified=tx.hash in verified_set)
        except (ChainError, TxRejected) as exc:
            rejected.append((tx, exc))
            continue
        included.append(tx)
        if room is not None:
            room -= len(tx.encoded)
    end_block(ledger, ctx, signers)
    new_state = state.apply_writes(ledger.writes)
    header = Header(
        chain_id=state.chain_id, height=height, round=round_, time_ms=time_ms,
        prev_hash=state.last_block_hash or GENESIS_PREV_HASH, proposer=proposer,
        tx_root=merkle_root([tx.hash for tx in included]), state_root=new_state.root,
        validators_hash=validators_hash(signers),
        last_commit_hash=last_commit.hash if last_commit else EMPTY_COMMIT_HASH,
    )
    block = Block(header=header, txs=included, last_commit=last_commit)
    return BuiltBlock(block, new_state.with_block_hash(block.hash), rejected)


def next_proposer(state: State, round_: int = 0) -> str:
    """Who proposes the next height at ``round_``: a consensus rule, exposed for the node."""
    ledger = Ledger(state)
    return proposer_for(active_set(ledger), round_)


def check_tx(state: State, tx: Transaction, pending: Ledger | None = None) -> Ledger:
    """Mempool admission: would ``tx`` apply on top of ``state`` (plus already admitted
    transactions in ``pending``)? Returns the ledger with it applied, or raises."""
    ledger = pending if pending is not None else Ledger(state)
    ctx = BlockContext(state.chain_id, state.height + 1, state.time_ms + 1, "")
    apply_tx(ledger, tx, ctx)
    return ledger
