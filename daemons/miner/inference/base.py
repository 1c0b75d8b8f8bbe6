"""The one interface every inference backend implements, and the logic they all share.

The job loop, the proof builder and the verification check only ever talk to
``InferenceBackend``; whether the tokens came from transformers on a CPU or vLLM on eight GPUs
must not change what a job means. What is engine-independent lives here so it cannot drift
between engines: rendering prompts, fitting ``max_tokens`` into the context, the structural
checks of a claim, and turning per-position scores into a verdict. An engine supplies
``load``/``close``, ``generate`` and ``_score_claim`` (the teacher-forced log-probabilities).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterator, Sequence, TypedDict

from pydantic import BaseModel, ConfigDict

from daemons.miner.inference.catalogue import ModelSpec
from daemons.miner.inference.errors import BackendNotLoaded, InferenceError, PromptTooLong, WeightsMismatch
from daemons.miner.inference.model_id import compute_model_id
from daemons.miner.inference.offline import force_offline
from daemons.miner.inference.prompting import RenderedPrompt, decode_tokens, render_prompt, encode_text
from daemons.miner.inference.schema import (
    FinishReason,
    GenerationParams,
    GenerationRequest,
    GenerationResult,
    TokenMismatch,
    VerificationResult,
)
from daemons.miner.inference.stops import StopScanner, stop_position
from daemons.miner.inference.verify import (
    SEQUENCE_IMPROBABLE,
    VerificationPolicy,
    build_result,
    check_structure,
    claim_tokens,
    first_crossing,
    judge_positions,
)

if TYPE_CHECKING:
    import torch

TokenSink = Callable[[int, int], None]
"""Called with ``(request index, token id)`` for each output token as it is generated, from the
generating thread: how a streamed job's text leaves the engine before the whole output exists.
It must be quick (it runs inside the decoding loop); an exception it raises aborts the
``generate`` call (the miner uses that to stop a cancelled job)."""


class PositionScores(BaseModel):
    """Teacher-forced scores for a run of consecutive claimed output positions.

    ``logprobs`` is ``[n, K]`` raw log-softmax values of K candidates per position (K equals
    the vocabulary size when the engine reports everything); ``claimed_ranks`` is 1-based and
    may be None when K is the whole vocabulary.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    offset: int
    logprobs: Any
    claimed_logprobs: Any
    claimed_ranks: Any = None
    best_token_ids: list[int]
    best_logprobs: list[float]


class PlannedRequest(BaseModel):
    """A request after prompt rendering, with its output budget fitted into the context."""

    model_config = ConfigDict(frozen=True)

    request: GenerationRequest
    prompt: RenderedPrompt
    budget: int


class BackendOptions(TypedDict, total=False):
    """What every backend's constructor takes besides its own settings: a backend passes them on
    to :class:`InferenceBackend` as ``**options`` rather than restating each one."""

    policy: VerificationPolicy | None
    model_id_cache: Path | None


class InferenceBackend(ABC):
    """A loaded model that generates and verifies; one instance serves one ``ModelSpec``.

    Calls are serialised by an internal lock: neither a torch model nor a vLLM ``LLM`` may be
    driven from two threads at once, and a daemon serving HTTP has many threads. Several jobs
    are still run together by passing them in one ``generate`` call (vLLM batches them).
    """

    backend_name: ClassVar[str]

    def __init__(
        self,
        spec: ModelSpec,
        *,
        policy: VerificationPolicy | None = None,
        model_id_cache: Path | None = None,
    ) -> None:
        self._spec = spec
        self._policy = policy or VerificationPolicy()
        self._model_id_cache = model_id_cache
        self._model_id: str | None = None
        self._lock = threading.RLock()
        # Engine facts every backend fills in ``load()`` and clears in ``close()``.
        self._tokenizer: Any = None
        self._eos: frozenset[int] = frozenset()
        self._vocab_size = 0

    # ------------------------------------------------------------------ identity
    @property
    def spec(self) -> ModelSpec:
        """The catalogue entry this backend serves."""
        return self._spec

    @property
    def model_id(self) -> str:
        """``sha256:<hex>`` of the exact weights (hashed once, then cached)."""
        if self._model_id is None:
            self._model_id = compute_model_id(self._spec, self._model_id_cache)
        return self._model_id

    def check_pinned_weights(self) -> None:
        """Refuse weights that differ from the catalogue's ``expected_model_id`` pin."""
        expected = self._spec.expected_model_id
        if expected is not None and self.model_id != expected:
            raise WeightsMismatch(
                f"weights of {self._spec.name!r} at {self._spec.path} are {self.model_id}, "
                f"but the catalogue pins {expected}; refusing to serve them under this name"
            )

    # ------------------------------------------------------------------ lifecycle
    @property
    @abstractmethod
    def loaded(self) -> bool:
        """True between a successful ``load()`` and ``close()``."""

    def load(self) -> None:
        """Load weights and tokenizer from local files only (idempotent).

        What every backend checks first lives here, once: weights present, weights equal to the
        catalogue's pin, and the Hugging Face libraries forced offline before they are imported.
        """
        with self._lock:
            if self.loaded:
                return
            problem = self._spec.weights_problem()
            if problem is not None:
                raise InferenceError(f"cannot load {self._spec.name!r}: {problem}")
            self.check_pinned_weights()
            force_offline()
            self._load_engine()

    @abstractmethod
    def _load_engine(self) -> None:
        """Build the engine and fill the engine facts (tokenizer, EOS ids, vocabulary size);
        called under the lock by :meth:`load`, once the weights passed its checks."""

    @abstractmethod
    def close(self) -> None:
        """Release the model and its memory (idempotent)."""

    def __enter__(self) -> "InferenceBackend":
        self.load()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ engine hooks
    @property
    def tokenizer(self) -> Any:
        """The Hugging Face tokenizer of the loaded model."""
        self._require_loaded()
        return self._tokenizer

    @property
    def eos_ids(self) -> frozenset[int]:
        """Token ids that end generation."""
        self._require_loaded()
        return self._eos

    @property
    def vocab_size(self) -> int:
        """Number of rows of the model's output layer (valid token ids are below it)."""
        self._require_loaded()
        return self._vocab_size

    @property
    def max_model_len(self) -> int:
        """Longest prompt + output the backend handles."""
        return self._spec.max_model_len

    @abstractmethod
    def generate(self, requests: list[GenerationRequest], *, on_token: TokenSink | None = None) -> list[GenerationResult]:
        """Complete every request; results are in request order. ``on_token`` sees every output
        token (end-of-sequence included) in order per request; when an engine calls it (during
        decoding or after it) is documented by each backend."""

    @abstractmethod
    def _score_claim(self, prompt_ids: list[int], tokens: list[int]) -> Iterator[PositionScores]:
        """Teacher-forced scores of ``tokens`` after ``prompt_ids``, in ONE forward pass."""

    # ------------------------------------------------------------------ shared logic
    def _require_loaded(self) -> None:
        if not self.loaded:
            raise BackendNotLoaded(f"the {self.backend_name} backend for {self._spec.name!r} is not loaded; call load() first")

    @property
    def primary_eos(self) -> int:
        """The EOS id a text-only claim is assumed to have ended with."""
        eos = getattr(self.tokenizer, "eos_token_id", None)
        return eos if isinstance(eos, int) and eos in self.eos_ids else min(self.eos_ids)

    def render(self, prompt: str, chat: bool = True, messages: bool = False) -> RenderedPrompt:
        """The exact model input a job prompt becomes (chat template applied when ``chat``; with
        ``messages`` the prompt is a JSON list of chat messages, see ``daemons.common.chat``)."""
        self._require_loaded()
        return render_prompt(self.tokenizer, prompt, chat, messages)

    def plan(self, requests: Sequence[GenerationRequest]) -> list[PlannedRequest]:
        """Render every prompt and fit its budget into the context; refuses before any work."""
        planned: list[PlannedRequest] = []
        for index, request in enumerate(requests):
            prompt = self.render(request.prompt, request.chat, request.messages)
            room = self.max_model_len - len(prompt.token_ids)
            if room < 1:
                raise PromptTooLong(
                    f"request {index}: prompt is {len(prompt.token_ids)} tokens, the context of "
                    f"{self._spec.name!r} is {self.max_model_len}; nothing left to generate"
                )
            planned.append(PlannedRequest(request=request, prompt=prompt, budget=min(request.max_tokens, room)))
        return planned

    def stop_scanner(self, params: GenerationParams) -> StopScanner:
        """What a decoding loop asks, token by token, whether the job's stop strings ended it."""
        return StopScanner(self.tokenizer, params.stop, self.eos_ids)

    def make_result(self, planned: PlannedRequest, output_ids: list[int]) -> GenerationResult:
        """Package output tokens as a ``GenerationResult`` (shared so every engine agrees).

        An output is cut after the token that completed a stop string (an engine that checks
        stop strings only afterwards, vLLM, may have run on), and then finishes with "stop".
        """
        stopped_at = stop_position(self.tokenizer, output_ids, planned.request.stop, self.eos_ids)
        if stopped_at is not None:
            output_ids = output_ids[:stopped_at]
        ended = bool(output_ids) and output_ids[-1] in self.eos_ids
        finish: FinishReason = "stop" if ended or stopped_at is not None else "length"
        content = output_ids[:-1] if ended else output_ids
        return GenerationResult(
            model_id=self.model_id,
            text=decode_tokens(self.tokenizer, content),
            output_token_ids=list(output_ids),
            prompt_text=planned.prompt.text,
            prompt_token_ids=list(planned.prompt.token_ids),
            prompt_tokens=len(planned.prompt.token_ids),
            completion_tokens=len(output_ids),
            finish_reason=finish,
            params=planned.request.params(),
        )

    def verify(
        self, prompt: str, claimed: Sequence[int] | str, params: GenerationParams, *, committed_tokens: int | None = None
    ) -> VerificationResult:
        """Re-check a claimed output (token ids, or text) with one teacher-forced forward pass.

        Accepted only when every claimed token is one the job's decoding rule allows at its
        position (see ``daemons.miner.inference.verify``); otherwise the result lists the
        rejected positions, the claimed token and the model's preferred token at each.
        ``committed_tokens`` is the output token count a proof commits to (for a text claim it
        is what counts against ``max_tokens``, not the text's re-tokenisation).
        """
        with self._lock:
            self._require_loaded()
            rendered = render_prompt(self.tokenizer, prompt, params.chat, params.messages)
            prompt_ids = rendered.token_ids

            def stop_at(ids: list[int]) -> int | None:
                return stop_position(self.tokenizer, ids, params.stop, self.eos_ids)

            tokens = claim_tokens(
                claimed,
                params,
                encode=lambda text: encode_text(self.tokenizer, text),
                eos_ids=self.eos_ids,
                primary_eos=self.primary_eos,
                prompt_tokens=len(prompt_ids),
                max_model_len=self.max_model_len,
                stop_at=stop_at,
                committed=committed_tokens,
            )
            mode = "greedy" if params.greedy else "sampling"
            problems = check_structure(
                tokens,
                params,
                eos_ids=self.eos_ids,
                vocab_size=self.vocab_size,
                prompt_tokens=len(prompt_ids),
                max_model_len=self.max_model_len,
                stopped_at=stop_at(tokens),
                committed=committed_tokens,
                retokenized=isinstance(claimed, str),
            )
            if problems:
                for_display = [self._describe(p) for p in problems]
                return build_result(
                    mode=mode, model_id=self.model_id, prompt_tokens=len(prompt_ids), tokens=tokens,
                    problems=for_display, policy=self._policy, claimed_logprob_sum=None,
                )
            mismatches: list[TokenMismatch] = []
            logprob_sum = 0.0
            evidence: list[float] = []
            best: dict[int, tuple[int, float]] = {}
            claimed_logprobs: dict[int, float] = {}
            for scores in self._score_claim(prompt_ids, tokens):
                verdicts = judge_positions(
                    scores.logprobs,
                    scores.claimed_logprobs,
                    params,
                    self._policy,
                    vocab_size=self.vocab_size,
                    claimed_ranks=scores.claimed_ranks,
                )
                claimed_values = [float(v) for v in scores.claimed_logprobs.tolist()]
                logprob_sum += sum(claimed_values)
                evidence.extend(verdicts.evidence or [])
                for row, value in enumerate(claimed_values):
                    position = scores.offset + row
                    claimed_logprobs[position] = value
                    best[position] = (scores.best_token_ids[row], scores.best_logprobs[row])
                    reason = verdicts.reasons[row]
                    if reason is not None:
                        mismatches.append(self._mismatch(position, tokens, claimed_logprobs, best, reason))
            crossing = first_crossing(evidence, self._policy.sequence_log_threshold) if evidence else None
            if crossing is not None and all(m.position != crossing for m in mismatches):
                mismatches.append(self._mismatch(crossing, tokens, claimed_logprobs, best, SEQUENCE_IMPROBABLE))
            return build_result(
                mode=mode, model_id=self.model_id, prompt_tokens=len(prompt_ids), tokens=tokens,
                problems=mismatches, policy=self._policy, claimed_logprob_sum=logprob_sum,
            )

    def verify_result(self, prompt: str, result: GenerationResult) -> VerificationResult:
        """Convenience: verify a ``GenerationResult`` by its token ids and parameters."""
        return self.verify(prompt, result.output_token_ids, result.params)

    def _mismatch(
        self,
        position: int,
        tokens: list[int],
        claimed_logprobs: dict[int, float],
        best: dict[int, tuple[int, float]],
        reason: str,
    ) -> TokenMismatch:
        best_id, best_logprob = best[position]
        return TokenMismatch(
            position=position,
            token_id=tokens[position],
            token_text=self._token_text(tokens[position]),
            claimed_logprob=claimed_logprobs[position],
            best_token_id=best_id,
            best_token_text=self._token_text(best_id),
            best_logprob=best_logprob,
            reason=reason,
        )

    def _token_text(self, token_id: int | None) -> str | None:
        if token_id is None or not 0 <= token_id < self.vocab_size:
            return None
        return decode_tokens(self.tokenizer, [token_id])

    def _describe(self, problem: TokenMismatch) -> TokenMismatch:
        return problem.model_copy(update={"token_text": self._token_text(problem.token_id)})


def scores_from_logits(logits: "torch.Tensor", tokens: list[int], chunk: int) -> Iterator[PositionScores]:
    """``PositionScores`` of the claimed ``tokens`` from raw ``[len(tokens), vocab]`` logits.

    Shared by the engines that see the whole vocabulary (transformers, llama.cpp), so both turn
    logits into log-probabilities the same way; rows are judged ``chunk`` at a time.
    """
    import torch

    claimed = torch.tensor(tokens, dtype=torch.long)
    for offset, rows in split_rows(logits, chunk):
        logprobs = torch.log_softmax(rows.float(), dim=-1)
        mine = claimed[offset : offset + rows.shape[0]]
        best = logprobs.max(dim=-1)
        yield PositionScores(
            offset=offset,
            logprobs=logprobs,
            claimed_logprobs=logprobs.gather(1, mine[:, None])[:, 0],
            claimed_ranks=None,
            best_token_ids=[int(i) for i in best.indices.tolist()],
            best_logprobs=[float(v) for v in best.values.tolist()],
        )


def split_rows(tensor: "torch.Tensor", chunk: int) -> Iterator[tuple[int, "torch.Tensor"]]:
    """Yield ``(offset, rows)`` slices so huge ``[N, vocab]`` tensors are judged piecewise."""
    for start in range(0, tensor.shape[0], chunk):
        yield start, tensor[start : start + chunk]
