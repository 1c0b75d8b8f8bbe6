"""Pydantic models at the inference boundary: what a job asks for, what a backend returns.

These are shared by every backend so that the job loop, the proof and the verification check
never depend on which engine produced an output.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from daemons.common.models import MAX_STOP_SEQUENCES, StopSequence

#: Below this (but above 0) vLLM clamps the temperature; 0 itself means greedy. Refusing the gap
#: keeps the meaning of a temperature identical on every backend.
MIN_SAMPLING_TEMPERATURE = 0.01
MAX_SEED = 2**63 - 1


class GenerationParams(BaseModel):
    """Decoding parameters of one job; the same object drives generation and its verification.

    ``temperature == 0`` is greedy decoding (seed unused); otherwise tokens are sampled with
    temperature, then ``top_k`` (0 = off), then ``top_p`` over the renormalised remainder,
    from a generator seeded with ``seed`` so the same job on the same backend gives the same
    text. ``chat`` applies the model's chat template to the prompt (instruct models expect it);
    ``messages`` says the prompt is a whole conversation (``daemons.common.chat``), not one message.
    ``stop`` ends the output as soon as its decoded text contains one of these strings (the
    token that completed it is the last output token; see ``daemons.miner.inference.stops``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_tokens: int = Field(default=128, ge=1, le=65536)
    temperature: float = Field(default=0.0, ge=0.0, le=5.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    top_k: int = Field(default=0, ge=0, le=1_000_000)
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    chat: bool = True
    messages: bool = False
    stop: tuple[StopSequence, ...] = Field(default=(), max_length=MAX_STOP_SEQUENCES)

    @field_validator("temperature")
    @classmethod
    def _no_tiny_temperature(cls, value: float) -> float:
        if 0.0 < value < MIN_SAMPLING_TEMPERATURE:
            raise ValueError(f"temperature must be 0 (greedy) or at least {MIN_SAMPLING_TEMPERATURE}")
        return value

    @property
    def greedy(self) -> bool:
        """True when decoding is deterministic argmax (temperature 0)."""
        return self.temperature == 0.0

    def canonical_dict(self) -> dict[str, int | str | bool | list[str]]:
        """The parameters in a form canonical JSON accepts (it refuses floats).

        Floats become their shortest round-trip decimal text (``repr``), which is unique for a
        given float, so a proof that binds these parameters hashes the same on every machine.
        """
        canonical: dict[str, int | str | bool | list[str]] = {
            "chat": self.chat,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
            "temperature": repr(float(self.temperature)),
            "top_k": self.top_k,
            "top_p": repr(float(self.top_p)),
        }
        if self.messages:  # only when set, so the parameters of one-message jobs hash as before
            canonical["messages"] = True
        if self.stop:  # likewise: parameters without stop sequences hash as before they existed
            canonical["stop"] = list(self.stop)
        return canonical

    def params(self) -> "GenerationParams":
        """The bare parameters (drops the prompt when called on a ``GenerationRequest``)."""
        return GenerationParams.model_validate(self.model_dump(include=set(GenerationParams.model_fields)))


class GenerationRequest(GenerationParams):
    """One prompt to complete, with its decoding parameters."""

    prompt: str = Field(min_length=1, max_length=1_000_000)


FinishReason = Literal["stop", "length"]


class GenerationResult(BaseModel):
    """A completed generation, with everything a proof and a later re-check need.

    ``prompt_text``/``prompt_token_ids`` are the exact model input after the chat template,
    so a verifier re-derives and compares the same thing. ``output_token_ids`` includes the
    end-of-sequence token when ``finish_reason == "stop"`` (the decision to stop is part of the
    claim); ``text`` is the decoded output without it. ``completion_tokens`` counts
    ``output_token_ids``.
    """

    model_config = ConfigDict(frozen=True)

    model_id: str
    text: str
    output_token_ids: list[int]
    prompt_text: str
    prompt_token_ids: list[int]
    prompt_tokens: int
    completion_tokens: int
    finish_reason: FinishReason
    params: GenerationParams


class TokenMismatch(BaseModel):
    """One claimed output token the verifier's decoding rule does not allow (or cannot score)."""

    model_config = ConfigDict(frozen=True)

    position: int = Field(description="index into the claimed output tokens")
    token_id: int | None
    token_text: str | None = None
    claimed_logprob: float | None = None
    best_token_id: int | None = None
    best_token_text: str | None = None
    best_logprob: float | None = None
    reason: str


class VerificationResult(BaseModel):
    """Outcome of re-checking a claimed output with one teacher-forced forward pass."""

    model_config = ConfigDict(frozen=True)

    accepted: bool
    mode: Literal["greedy", "sampling"]
    model_id: str
    prompt_tokens: int
    checked_tokens: int
    mismatch_count: int
    mismatches: list[TokenMismatch] = Field(description="first mismatches, capped by the policy")
    first_mismatch: int | None
    reason: str | None = Field(default=None, description="one-line summary when rejected")
    logit_margin: float
    claimed_logprob_sum: float | None = None
