"""What a miner's proof binds, and proving a settled receipt from chain data alone.

Two pure jobs live here because the coordinator, the miner, the CLI and the TUI must agree on
them byte for byte:

1. The job hashes a proof binds (JOBS_API.md, "Hashes") and :func:`proof_mismatch`, which says
   why a proof does not bind a given job and output (or ``None`` when it does).
2. :func:`verify_settled_receipt`, which takes what the node's ``get_receipt`` returns and checks,
   without trusting the node or the coordinator: both signatures inside the receipt (and that
   the miner's proof was made for that coordinator: job ids are scoped to it), that the receipt
   sits in a signed ``job_receipt`` transaction from its coordinator, that the
   transaction is in the block (Merkle path to ``tx_root``), that the header hashes to the block
   hash, that the validator set given hashes to the header's ``validators_hash`` and that more
   than 2/3 of its power precommitted the block. Every check is reported, passed or not, so that
   a person reading ``aitbc receipts verify`` sees *which* link of the chain of evidence broke.

No I/O, no clock: callers fetch the data and decide what to trust (e.g. a known chain id).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from chain.block import Commit, Header, verify_merkle_proof
from chain.encoding import hash_value, sha256
from chain.errors import ChainError
from chain.receipt import MinerProof, Receipt
from chain.tx import JobReceiptPayload, parse_transaction
from chain.validators import validators_hash, verify_commit


# -- job hashes -------------------------------------------------------------------------------


def text_hash(text: str) -> str:
    """Hex SHA-256 of UTF-8 text: the prompt hash and the output hash of a proof."""
    return sha256(text.encode("utf-8")).hex()


def params_hash(params: dict[str, Any]) -> str:
    """Hex SHA-256 of the canonical JSON of the job's integer-only decoding parameters."""
    return hash_value(params)


def proof_mismatch(
    proof: MinerProof,
    *,
    chain_id: str,
    job_id: str,
    coordinator: str,
    miner: str,
    model: str,
    params: dict[str, Any],
    prompt: str,
    output: str,
    prompt_tokens: int,
    completion_tokens: int,
    model_id: str | None = None,
) -> str | None:
    """Why ``proof`` does not prove that ``miner`` produced ``output`` for this job; None if it does.

    ``model_id`` is the weights hash the miner registered for ``model``; None skips that check
    (a verifier that does not know it yet).
    """
    body = proof.body
    expected = [
        ("chain_id", body.chain_id, chain_id),
        ("job_id", body.job_id, job_id),
        ("coordinator", body.coordinator, coordinator),
        ("miner", body.miner, miner),
        ("model", body.model, model),
        ("params_hash", body.params_hash, params_hash(params)),
        ("prompt_hash", body.prompt_hash, text_hash(prompt)),
        ("output_hash", body.output_hash, text_hash(output)),
        ("prompt_tokens", body.prompt_tokens, prompt_tokens),
        ("completion_tokens", body.completion_tokens, completion_tokens),
    ]
    if model_id is not None:
        expected.append(("model_id", body.model_id, model_id))
    for name, got, want in expected:
        if got != want:
            return f"proof {name} is {got!r}, expected {want!r}"
    if not proof.is_valid():
        return "proof signature does not verify for the miner's public key"
    return None


# -- receipts from chain data ---------------------------------------------------------------------


class Check(BaseModel):
    """One link of the evidence: its name, whether it held, and what was seen."""

    model_config = ConfigDict(frozen=True)

    name: str
    ok: bool
    detail: str


class ReceiptVerification(BaseModel):
    """The verdict on one receipt; ``valid`` only when every check passed."""

    model_config = ConfigDict(frozen=True)

    valid: bool
    receipt_id: str | None
    job_id: str | None
    height: int | None
    block_hash: str | None
    checks: list[Check]

    @property
    def failures(self) -> list[Check]:
        return [check for check in self.checks if not check.ok]


def _first_error(exc: ValidationError | ChainError | ValueError | TypeError) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "value"
        return f"{where}: {err['msg']}"
    return getattr(exc, "message", None) or str(exc)


def verify_settled_receipt(
    data: dict[str, Any],
    *,
    receipt_id: str | None = None,
    job_id: str | None = None,
    coordinator: str | None = None,
    chain_id: str | None = None,
) -> ReceiptVerification:
    """Check a node's ``get_receipt`` answer from its own contents (see the module doc).

    ``receipt_id`` / ``job_id`` / ``coordinator``: what the caller asked for (the answer must be
    about that; job ids are scoped to their coordinator, so a job id alone may name several).
    ``chain_id``: the chain the caller trusts (e.g. from its genesis); None accepts the header's.
    """
    checks: list[Check] = []

    def check(name: str, ok: bool, detail: str) -> bool:
        checks.append(Check(name=name, ok=bool(ok), detail=detail))
        return bool(ok)

    def verdict(receipt: Receipt | None = None, header: Header | None = None) -> ReceiptVerification:
        return ReceiptVerification(
            valid=bool(checks) and all(c.ok for c in checks),
            receipt_id=receipt.receipt_id if receipt else None, job_id=receipt.job_id if receipt else None,
            height=header.height if header else None, block_hash=header.hash if header else None, checks=checks)

    # The receipt itself: its id, and both signatures inside it.
    try:
        receipt = Receipt.model_validate(data.get("receipt"))
    except (ValidationError, ValueError, TypeError) as exc:
        check("receipt", False, f"receipt does not parse: {_first_error(exc)}")
        return verdict()
    rid = receipt.receipt_id
    check("receipt_id", data.get("receipt_id", rid) == rid and (receipt_id is None or receipt_id == rid),
          f"receipt hashes to {rid}" + (f", asked for {receipt_id}" if receipt_id and receipt_id != rid else ""))
    if job_id is not None:
        check("job_id", receipt.job_id == job_id, f"receipt is for job {receipt.job_id}")
    if coordinator is not None:
        check("coordinator", receipt.body.coordinator == coordinator,
              f"receipt is from coordinator {receipt.body.coordinator}")
    check("coordinator_signature", receipt.coordinator_signature_valid(),
          f"signed by coordinator {receipt.body.coordinator}")
    check("miner_proof", receipt.body.proof.is_valid(), f"proof signed by miner {receipt.body.proof.body.miner}")
    check("proof_coordinator", receipt.body.proof.body.coordinator == receipt.body.coordinator,
          f"proof made for coordinator {receipt.body.proof.body.coordinator}")

    # The transaction that carries it.
    try:
        tx = parse_transaction(data.get("tx") or {})
    except ChainError as exc:
        check("transaction", False, f"transaction does not parse: {exc.message}")
        return verdict(receipt)
    carried = tx.body.receipts if isinstance(tx.body, JobReceiptPayload) else []
    index = data.get("receipt_index")
    in_tx = any(r.receipt_id == rid for r in carried) and (
        not isinstance(index, int) or (0 <= index < len(carried) and carried[index].receipt_id == rid))
    check("in_transaction", tx.type == "job_receipt" and in_tx,
          f"{tx.type} transaction {tx.hash[:16]} {'carries' if in_tx else 'does not carry'} the receipt")
    check("transaction_sender", tx.sender == receipt.body.coordinator,
          f"transaction sent by {tx.sender}, receipt names coordinator {receipt.body.coordinator}")
    check("transaction_signature", tx.signature_valid(), "transaction signature by its sender")
    if data.get("tx_hash") is not None:
        check("transaction_hash", data["tx_hash"] == tx.hash, f"transaction hashes to {tx.hash}")

    # The block: header, Merkle inclusion, hash.
    try:
        header = Header.model_validate(data.get("header"))
    except (ValidationError, ValueError, TypeError) as exc:
        check("header", False, f"header does not parse: {_first_error(exc)}")
        return verdict(receipt)
    proof_path = data.get("tx_proof")
    try:
        included = isinstance(proof_path, list) and verify_merkle_proof(tx.hash, proof_path, header.tx_root)
    except (ValueError, TypeError):
        included = False
    check("merkle_inclusion", included, f"Merkle path from the transaction to tx_root {header.tx_root[:16]}")
    check("block_hash", data.get("block_hash") == header.hash, f"header hashes to {header.hash}")
    if data.get("height") is not None:
        check("height", data["height"] == header.height, f"block height {header.height}")
    want_chain = chain_id if chain_id is not None else header.chain_id
    check("chain_id", header.chain_id == want_chain == receipt.body.proof.body.chain_id == tx.chain_id,
          f"header chain {header.chain_id}, proof chain {receipt.body.proof.body.chain_id}"
          + (f", trusted chain {chain_id}" if chain_id is not None else ""))

    # Finality: the validator set the header commits to signed the block.
    validators = data.get("validators")
    try:
        signers = {str(a): {"pubkey": str(v["pubkey"]), "power": int(v["power"])} for a, v in validators.items()}
        vhash = validators_hash(signers)
    except (AttributeError, KeyError, TypeError, ValueError, ChainError):
        check("validators", False, "validator set is missing or malformed")
        return verdict(receipt, header)
    check("validators_hash", vhash == header.validators_hash,
          f"{len(signers)} validator(s) hash to {vhash[:16]}, header says {header.validators_hash[:16]}")
    try:
        commit = Commit.model_validate(data.get("commit"))
    except (ValidationError, ValueError, TypeError):
        check("commit", False, "no commit for this block (not final yet)")
        return verdict(receipt, header)
    try:
        verify_commit(commit, signers, header.chain_id, header.height, header.hash)
        power = sum(signers[s.validator]["power"] for s in commit.signatures)
        total = sum(s["power"] for s in signers.values())
        check("commit", True, f"precommits by {len(commit.signatures)} validator(s), power {power} of {total}")
    except ChainError as exc:
        check("commit", False, exc.message)
    return verdict(receipt, header)
