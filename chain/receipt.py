"""Miner proofs and coordinator receipts: the evidence that a job ran and was paid for.

A receipt is verifiable from the chain alone: it embeds the miner's signed proof (binding job,
model, parameters, prompt and output hashes) and carries the coordinator's signature over all of
it. ``job_receipt`` transactions settle receipts; the rules that pay them are in
``chain.execution``.

A job id is chosen by its coordinator, so it is unique only *per coordinator*: the chain keys a
settled job by ``(coordinator, job id)`` (:func:`job_key`), and the miner's proof names the
coordinator it ran the job for. Otherwise a rival coordinator that saw a receipt in the mempool
could settle the same job id first and make the honest receipt fail for good, or settle (and
later accuse) another coordinator's proof as if the job were its own.
"""

from __future__ import annotations

from typing import Any, ClassVar

from chain.encoding import hash_value
from chain.signed import Signed, SignedBody, signature_fields
from chain.types import Address, Amount, ChainId, Hash, Height, JobId, ModelName, TokenCount


class JobClaimBody(SignedBody):
    """The fields that tie a signed statement about one job's result (a miner's proof, a
    verifier's verdict) to that job: the chain, the job id and its coordinator (a job id is unique
    only per coordinator, see the module's note), and the miner whose result it is."""

    chain_id: ChainId
    job_id: JobId
    coordinator: Address
    """The coordinator the job was run for: only it can settle the proof or accuse it."""
    miner: Address


class ProofBody(JobClaimBody):
    """What a miner signs after running a job."""

    DOMAIN: ClassVar[str] = "aitbc/proof/v1"
    SIGNER: ClassVar[str] = "miner"

    model: ModelName
    model_id: Hash
    """SHA-256 identity of the exact weights that ran, so a receipt names the model that really ran."""
    params_hash: Hash
    prompt_hash: Hash
    output_hash: Hash
    prompt_tokens: TokenCount
    completion_tokens: TokenCount

    @property
    def hash(self) -> str:
        """Hash of the claim itself (not of its signature): what a verdict and a settled job
        name to say *which* result of a job they are about."""
        return hash_value(self.model_dump())


class MinerProof(Signed[ProofBody]):
    """Signed by the body's ``miner``."""


def sign_proof(body: ProofBody, seed: bytes) -> MinerProof:
    return MinerProof(body=body, **signature_fields(body, seed))


class ReceiptBody(SignedBody):
    """What a coordinator signs: the miner's proof plus who paid whom and how much."""

    DOMAIN: ClassVar[str] = "aitbc/receipt/v1"
    SIGNER: ClassVar[str] = "coordinator"

    proof: MinerProof
    client: Address
    coordinator: Address
    price: Amount
    created_ms: Height


class Receipt(Signed[ReceiptBody]):
    @property
    def receipt_id(self) -> str:
        """Hash of the whole signed receipt: the id under which it is stored and verified."""
        return hash_value(self.model_dump())

    @property
    def job_id(self) -> str:
        return self.body.proof.body.job_id

    def coordinator_signature_valid(self) -> bool:
        return self.is_valid()

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()


def job_key(coordinator: str, job_id: str) -> str:
    """The key of a settled job in the ``job`` namespace: job ids are scoped to their coordinator
    (an address never contains ``/``, so the key parses back unambiguously)."""
    return f"{coordinator}/{job_id}"


def sign_receipt(body: ReceiptBody, seed: bytes) -> Receipt:
    return Receipt(body=body, **signature_fields(body, seed))
