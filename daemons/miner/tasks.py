"""What a task means to the miner, without any I/O: job parameters -> decoding parameters, a
generation -> the result body with its signed proof, a re-check -> its verdict body.

Kept pure so that the bytes a proof signs can be read and tested apart from the job loop: the
coordinator recomputes every hash in the proof (``chain.receipt_verify.proof_mismatch``) and
refuses a result whose proof disagrees, so these must follow JOBS_API.md exactly:
``prompt_hash``/``output_hash`` are SHA-256 of the UTF-8 text, ``params_hash`` is the canonical
hash of the job's own integer parameters (as the coordinator sent them, never our float
translation), ``model_id`` is the hex SHA-256 of the weights, ``coordinator`` is the address the
coordinator gave at registration (job ids are scoped to it). A re-check's answer carries a
verdict signed with the miner's key (``chain.verdict``): the coordinator's evidence when it
refutes the claim.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from chain.receipt import MinerProof, ProofBody, sign_proof
from chain.receipt_verify import params_hash, proof_mismatch, text_hash
from chain.verdict import sign_verdict, verdict_about
from daemons.miner.inference import GenerationParams, GenerationRequest, GenerationResult, VerificationResult
from daemons.miner.inference.verify import RETOKENIZE_SLACK

JOB_PARAM_KEYS = frozenset({"max_tokens", "temperature_milli", "top_p_milli", "seed", "prompt_format", "stop"})
HANDED_BACK = "miner is shutting down; task handed back for another miner"


class TaskRefused(Exception):
    """The task cannot be run as given (bad parameters); the message goes back as its failure."""


def model_id_hex(model_id: str) -> str:
    """The backend reports ``sha256:<hex>``; proofs and registration carry the bare hex."""
    return model_id.removeprefix("sha256:")


def generation_params(params: dict[str, Any]) -> GenerationParams:
    """The backend's decoding parameters for a job's integer parameters (JOBS_API.md)."""
    unknown = sorted(set(params) - JOB_PARAM_KEYS)
    if unknown:
        raise TaskRefused(f"unknown job parameter(s) {', '.join(unknown)}")
    prompt_format = params.get("prompt_format", "chat")
    if prompt_format not in ("chat", "raw", "messages"):
        raise TaskRefused(f"job parameter prompt_format: unknown format {prompt_format!r}")
    try:
        return GenerationParams(
            max_tokens=int(params.get("max_tokens", 128)),
            temperature=int(params.get("temperature_milli", 0)) / 1000,
            top_p=int(params.get("top_p_milli", 1000)) / 1000,
            seed=int(params.get("seed", 0)),
            chat=prompt_format != "raw",
            messages=prompt_format == "messages",
            stop=_stop_strings(params.get("stop", [])),
        )
    except (TypeError, ValueError, ValidationError) as exc:
        raise TaskRefused(f"job parameters not usable here: {_first_error(exc)}") from None


def _stop_strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise TaskRefused(f"job parameter stop: a list of strings, not {type(value).__name__}")
    return tuple(value)  # each string's type and length is checked by GenerationParams


def generation_request(prompt: str, params: dict[str, Any]) -> GenerationRequest:
    gp = generation_params(params)
    try:
        return GenerationRequest(prompt=prompt, **gp.model_dump())
    except ValidationError as exc:
        raise TaskRefused(f"prompt not usable: {_first_error(exc)}") from None


def run_result(task: dict[str, Any], result: GenerationResult, *, chain_id: str, coordinator: str, miner: str,
               seed: bytes) -> dict[str, Any]:
    """The body of a run task's result: output, token counts and the signed proof."""
    body = ProofBody(
        chain_id=chain_id,
        job_id=task["job_id"],
        coordinator=coordinator,
        miner=miner,
        model=task["model"],
        model_id=model_id_hex(result.model_id),
        params_hash=params_hash(task["params"]),
        prompt_hash=text_hash(task["prompt"]),
        output_hash=text_hash(result.text),
        prompt_tokens=result.prompt_tokens,
        completion_tokens=result.completion_tokens,
    )
    proof = sign_proof(body, seed)
    return {"output": result.text, "prompt_tokens": result.prompt_tokens,
            "completion_tokens": result.completion_tokens, "proof": proof.model_dump()}


def claim_problem(task: dict[str, Any], *, chain_id: str, coordinator: str, model_id: str) -> str | None:
    """Why a re-check's claimed proof does not bind the claimed output to this job, or None.

    Checked before any scoring: a proof that does not even match its own output needs no
    forward pass to be refuted.
    """
    output = task.get("claimed_output")
    raw = task.get("claimed_proof")
    if not isinstance(output, str) or not isinstance(raw, dict):
        return "the re-check carries no claimed output or proof"
    try:
        proof = MinerProof.model_validate(raw)
    except ValidationError as exc:
        return f"the claimed proof is malformed: {_first_error(exc)}"
    if not proof.is_valid():
        return "the claimed proof's signature is invalid"
    return proof_mismatch(
        proof, chain_id=chain_id, job_id=task["job_id"], coordinator=coordinator, miner=proof.body.miner,
        model=task["model"], params=task["params"], prompt=task["prompt"], output=output,
        prompt_tokens=proof.body.prompt_tokens, completion_tokens=proof.body.completion_tokens,
        model_id=model_id_hex(model_id))


def committed_tokens(task: dict[str, Any]) -> int:
    """The completion token count a re-check's claimed proof commits to (a required field of
    the proof, which :func:`claim_problem` has validated before this is used)."""
    return int(task["claimed_proof"]["body"]["completion_tokens"])


def claimed_model_id(task: dict[str, Any]) -> str | None:
    raw = task.get("claimed_proof")
    if isinstance(raw, dict) and isinstance(raw.get("body"), dict):
        value = raw["body"].get("model_id")
        return value if isinstance(value, str) else None
    return None


def verify_result(task: dict[str, Any], verification: VerificationResult) -> dict[str, Any]:
    """The verdict body of a re-check: the model's check plus the claimed token counts."""
    proof = task["claimed_proof"]["body"]
    if not verification.accepted:
        reason = verification.reason or "the output does not follow from the prompt"
        return {"accepted": False, "first_mismatch": verification.first_mismatch, "reason": reason[:500]}
    if proof["prompt_tokens"] != verification.prompt_tokens:
        return {"accepted": False, "first_mismatch": None,
                "reason": f"claimed {proof['prompt_tokens']} prompt tokens; the prompt is "
                          f"{verification.prompt_tokens} tokens"}
    # Re-tokenising a claimed text can move token boundaries a little; a claim of more completion
    # tokens than that over what the text holds is an overcharge (price = tokens x rate).
    if proof["completion_tokens"] > verification.checked_tokens + RETOKENIZE_SLACK:
        return {"accepted": False, "first_mismatch": None,
                "reason": f"claimed {proof['completion_tokens']} completion tokens; the output is "
                          f"{verification.checked_tokens} tokens"}
    return {"accepted": True, "first_mismatch": None,
            "reason": f"{verification.checked_tokens} tokens checked in one teacher-forced pass ({verification.mode})"}


def with_verdict(task: dict[str, Any], body: dict[str, Any], *, verifier: str, seed: bytes) -> dict[str, Any]:
    """A re-check's answer ``body`` plus this miner's signed verdict about the claimed proof.

    Only for a claim that passed :func:`claim_problem` and was then scored by the model: a claim
    that does not bind this task (another prompt, output, coordinator...) gets no signed verdict,
    or a coordinator could show a verifier a doctored prompt next to a miner's genuine proof and
    slash the miner with the verdict.
    """
    proof = MinerProof.model_validate(task["claimed_proof"])
    verdict = verdict_about(proof.body, verifier=verifier, verdict="correct" if body["accepted"] else "wrong",
                            first_mismatch=body.get("first_mismatch"), reason=body.get("reason", ""))
    return {**body, "verdict": sign_verdict(verdict, seed).model_dump()}


def failure(message: str) -> dict[str, Any]:
    """A failure (or hand-back) report: the coordinator gives the task to another miner."""
    text = " ".join(message.split()) or "task failed"
    return {"error": text[:2000]}


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ())) or "value"
        return f"{where}: {err.get('msg', 'invalid')}"
    return str(exc)
