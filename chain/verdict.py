"""A verifier's signed re-check verdict, and what makes wrong-result evidence a proof.

The chain cannot re-run a model, so it cannot judge an output by itself. What it can check is
that two *different* parties it knows answer for the accusation, each with a signature:

- the job's own coordinator submits the ``slash``: the miner's signed proof names that
  coordinator (``ProofBody.coordinator``), so no other coordinator can accuse the job;
- a verifier that is a **bonded miner** (a ``miner`` entry with at least ``min_miner_bond``; the
  chain reads that from state) signed a verdict about that exact claim: chain, job id,
  coordinator, accused miner, weights id and the hash of the whole proof body (which binds the
  prompt, output and parameter hashes and the token counts). The verdict is domain-separated
  (``aitbc/verdict/v1``), so no other signed object of the protocol can be passed off as one.

The verifier is neither the accused miner nor the accusing coordinator. A bonded miner is the
party chosen because re-checking is a miner's job (the coordinator hands re-checks to miners
serving the same weights) and because its bond is at stake on the same chain; the chain cannot
see which models a verifier serves, so that part remains the coordinator's choice.

The rest of the rule (``chain.execution._slash_wrong_result``) needs state: the verifier's bond,
the job's settlement and the evidence already seen. Decided there and documented here:

- **Settled as correct is final.** Evidence is refused when a receipt settled that job of that
  coordinator with this very proof: the coordinator paid for the result and so vouched for it. A
  re-check runs *before* a receipt is signed; a refuted result is never settled (the job goes
  to another miner, whose receipt does not contradict the evidence). This is what makes the
  public proofs inside past receipts useless as evidence.
- **Once per miner per job.** The evidence id is the hash of (miner, coordinator, job id)
  (:func:`evidence_id`), so however many proofs or verdicts exist for a job, a miner is slashed
  for it at most once; a replay is refused.

What remains trusted: a coordinator colluding with a bonded miner can still slash a miner for a
job the miner really ran for that coordinator and that was not settled, once per such job.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, StrictStr

from chain.encoding import hash_value
from chain.receipt import JobClaimBody, MinerProof, ProofBody
from chain.signed import Signed, signature_fields
from chain.types import Address, Hash, TokenCount

Outcome = Literal["correct", "wrong"]


class VerdictBody(JobClaimBody):
    """What a verifier signs after re-checking one claimed result; its ``miner`` is the miner whose
    result was re-checked (the accused, when the verdict is ``wrong``)."""

    DOMAIN: ClassVar[str] = "aitbc/verdict/v1"
    SIGNER: ClassVar[str] = "verifier"

    model_id: Hash
    proof_hash: Hash
    """``ProofBody.hash`` of the claim re-checked: binds prompt, output, parameters and tokens."""
    verdict: Outcome
    first_mismatch: TokenCount | None = None
    reason: StrictStr = Field("", max_length=500)
    verifier: Address


class SignedVerdict(Signed[VerdictBody]):
    """Signed by the body's ``verifier``."""


def verdict_about(proof: ProofBody, *, verifier: str, verdict: Outcome, first_mismatch: int | None = None,
                  reason: str = "") -> VerdictBody:
    """The verdict body about ``proof``: every field that names the claim is copied from it."""
    return VerdictBody(
        chain_id=proof.chain_id, job_id=proof.job_id, coordinator=proof.coordinator, miner=proof.miner,
        model_id=proof.model_id, proof_hash=proof.hash, verdict=verdict, first_mismatch=first_mismatch,
        reason=reason[:500], verifier=verifier,
    )


def sign_verdict(body: VerdictBody, seed: bytes) -> SignedVerdict:
    return SignedVerdict(body=body, **signature_fields(body, seed))


def evidence_problem(proof: MinerProof, verdict: SignedVerdict) -> str | None:
    """Why ``verdict`` does not prove ``proof`` wrong, from the two objects alone; None if it does.

    The checks that need state (the verifier's bond, the job's settlement, replays) are the
    chain's; the coordinator runs this one before it records a slash, the chain again on the
    ``slash`` transaction.
    """
    claim, said = proof.body, verdict.body
    if not proof.is_valid():
        return "the miner proof's signature does not verify"
    if not verdict.is_valid():
        return f"the verdict's signature does not verify for verifier {said.verifier}"
    named = [("chain_id", said.chain_id, claim.chain_id), ("job_id", said.job_id, claim.job_id),
             ("coordinator", said.coordinator, claim.coordinator), ("miner", said.miner, claim.miner),
             ("model_id", said.model_id, claim.model_id), ("proof_hash", said.proof_hash, claim.hash)]
    for name, got, want in named:
        if got != want:
            return f"the verdict is about another claim: its {name} is {got!r}, the proof's is {want!r}"
    if said.verdict != "wrong":
        return f"the verdict is {said.verdict!r}: only a 'wrong' verdict is evidence"
    if said.verifier == claim.miner:
        return "a miner cannot be its own verifier"
    if said.verifier == claim.coordinator:
        return "the accusing coordinator cannot be the verifier"
    return None


def evidence_id(proof: ProofBody) -> str:
    """The id under which a wrong result is slashed: one per (miner, coordinator, job id)."""
    return "wrong_result/" + hash_value({"miner": proof.miner, "coordinator": proof.coordinator, "job_id": proof.job_id})
