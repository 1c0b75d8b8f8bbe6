"""The re-check rule: does a claimed output follow from the prompt under the job's decoding?

The coordinator has a sample of jobs re-checked by a second miner serving the same model id.
Re-generating would cost as much as the job itself, so the verifier instead runs ONE
teacher-forced forward pass over ``prompt + claimed output`` and, at every output position,
asks whether the claimed token is one the job's decoding rule could have produced there. This
module holds that rule, independent of the engine that produced the log-probabilities.

Decisions (documented here because receipts and slashing depend on them):

* **Greedy** (``temperature == 0``): a claimed token is accepted when its logit is within
  ``logit_margin`` of the position's maximum logit (equivalently of the top log-probability:
  log-softmax shifts all logits of a position by the same constant). The margin exists only
  because two honest machines do not compute bit-identical logits, and a verifier cannot tell
  which engine a miner ran. Measured on SmolLM2-135M: incremental KV-cache decoding vs one full
  pass, fp32 CPU: <= 6.4e-5; fp16 vs fp32 weights: at most 0.016; bf16 vs fp32: at most 0.125.
  The widest is **across engines on one GGUF**: llama.cpp multiplies the Q4_1 weights by 8-bit
  quantised activations, transformers de-quantises them to float32; greedy outputs of each
  scored by the other (6 prompts x 32 tokens, both ways) were at most **0.35** below the other
  engine's maximum (the first token of "What is the capital of France?": llama.cpp prefers
  "L" by 0.35 where transformers prefers "The"). The default margin of **0.75** covers that
  with 2x headroom while still demanding a near-tie: a token 0.75 below the maximum has at
  least e^-0.75 = 47% of the top token's probability. Nothing is gained by exploiting the
  margin: only a party that ran the model knows where the near-ties are.
* **Seeded sampling** (``temperature > 0``): the claim cannot be replayed bit-exactly across
  engines (vLLM and the CPU sampler draw differently from the same seed), so two checks are
  made, both designed so that an honest sampler is rejected with negligible probability:

  1. *Support*: every claimed token lies where the job's sampler could have drawn it: within
     ``top_k`` (when set) and inside the ``top_p`` nucleus of the temperature-scaled
     distribution (when ``top_p < 1``), with the same logit margin at the boundary; and never
     below a probability floor of e^``sampling_log_floor`` (default e^-28 = 6.9e-13). An
     honest sampler emits a token below probability p at one step with chance at most
     vocab_size * p (4e-8 per token for a 49k vocabulary, 9e-8 for 128k).
  2. *Sequential likelihood test*: the support alone is weak when ``top_p``/``top_k`` are off
     (then every token is possible), so the claim's total surprisal is tested too. With s_t the
     surprisal of the claimed token under the tempered distribution and M_t = E[exp(s_t/2)]
     under the job's sampler, prod_t exp(s_t/2)/M_t is a non-negative martingale of mean 1;
     by Ville's inequality an honest output makes its log ever reach log(1/delta) with
     probability at most delta (default delta = 1e-9, threshold 20.72). M_t is computable
     (bounded above) from the same logits: sum of sqrt(p) over the vocabulary divided by the
     kept mass. Text that the model did not sample (substituted, shuffled, random, or written
     for another prompt) builds up surprisal quickly and crosses the threshold; the first
     crossing is reported as the mismatch position.

* **Completeness**: a claim must end where the decoding would stop: with an end-of-sequence
  token, or at ``max_tokens``, or at the model's context limit, or on the token that completed
  one of the job's stop strings (``stops.py``). Tokens after an EOS, tokens after the output
  already contained a stop string (billing more than was asked for), or an output that stops
  early without an EOS or a stop string at its end (truncation, or a claimed stop the text does
  not contain) are rejected before any scoring.
* **Text claims** (what the network re-check sends: the committed text, and the proof's token
  count): re-tokenising decoded text does not always give back the generated ids (a model may
  emit as two tokens what its tokenizer would merge into one, and a text cut at ``max_tokens``
  can end inside a merge), so token boundaries are uncertain by a little. Both CPU backends do
  tokenise the same text into the same ids (``gguf_pretokenizer.py``): this slack is for the
  model's choices, not for two tokenizers disagreeing. The count against ``max_tokens`` is the committed count, never the
  re-tokenisation's (an honest output cut at ``max_tokens`` may re-tokenise one or two longer);
  the re-tokenisation may exceed the committed count by at most ``RETOKENIZE_SLACK`` tokens, and
  a stop string may complete up to that many tokens before the end (the last generated token can
  carry text past the stop, which re-tokenising may split off). Token-id claims get no slack.

Engines supply log-probabilities either for the whole vocabulary (the CPU backend) or for the
top-K tokens plus the claimed one (vLLM ``prompt_logprobs``). In the second case the rule uses
rigorous bounds on the unseen remainder of the distribution and errs towards accepting, so an
honest output is never rejected for lack of data.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable, Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field

from daemons.miner.inference.schema import GenerationParams, TokenMismatch, VerificationResult

if TYPE_CHECKING:
    import torch

DEFAULT_LOGIT_MARGIN = 0.75
DEFAULT_SAMPLING_LOG_FLOOR = -28.0
DEFAULT_SEQUENCE_LOG_THRESHOLD = 20.72  # log(1/delta) for delta = 1e-9

# Reason codes, stable strings the daemon may count or display.
NOT_GREEDY = "not the greedy choice: logit more than the margin below the best token"
OUTSIDE_TOP_K = "outside the top_k support of the job's sampler"
OUTSIDE_TOP_P = "outside the top_p nucleus of the job's sampler"
BELOW_FLOOR = "far too unlikely to have been sampled (below the probability floor)"
SEQUENCE_IMPROBABLE = "the output so far is far too improbable under the job's sampling (sequential test)"

#: Relative slack on the sampler's kept probability mass, absorbing float differences between
#: the generating and the verifying machine in the sequential test's bound.
SUPPORT_MASS_SLACK = 1e-3
#: How many tokens a text claim's re-tokenisation may differ from the generated ids at its end
#: (module docstring, "Text claims"); also what a committed token count may exceed it by.
RETOKENIZE_SLACK = 2
PAST_STOP = "token after the output already contained a stop sequence"
ZERO_PROBABILITY = "the model gives this token zero probability"


class VerificationPolicy(BaseModel):
    """Tolerances of the re-check rule (see the module docstring for how they were chosen)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    logit_margin: float = Field(default=DEFAULT_LOGIT_MARGIN, ge=0.0, le=10.0)
    sampling_log_floor: float = Field(default=DEFAULT_SAMPLING_LOG_FLOOR, le=0.0)
    sequence_log_threshold: float = Field(default=DEFAULT_SEQUENCE_LOG_THRESHOLD, gt=0.0)
    max_reported_mismatches: int = Field(default=32, ge=1, le=100_000)


def claim_tokens(
    claimed: Sequence[int] | str,
    params: GenerationParams,
    *,
    encode: Callable[[str], list[int]],
    eos_ids: frozenset[int],
    primary_eos: int,
    prompt_tokens: int,
    max_model_len: int,
    stop_at: Callable[[list[int]], int | None] = lambda tokens: None,
    committed: int | None = None,
) -> list[int]:
    """The token ids a claim stands for.

    Token ids are the authoritative form (proofs should carry them). A text claim is
    re-tokenised, and when it is shorter than both ``max_tokens`` and the context (counted with
    the ``committed`` token count when the proof gives one) and contains none of the job's stop
    strings (``stop_at`` finds them), it must have ended naturally, so the EOS the generator
    emitted (and ``text`` leaves out) is added back and its choice is checked too.
    """
    if not isinstance(claimed, str):
        return [int(t) for t in claimed]
    tokens = encode(claimed)
    count = len(tokens) if committed is None else committed
    if count < params.max_tokens and prompt_tokens + count < max_model_len and stop_at(tokens) is None:
        if not tokens or tokens[-1] not in eos_ids:
            tokens.append(primary_eos)
    return tokens


def check_structure(
    tokens: list[int],
    params: GenerationParams,
    *,
    eos_ids: frozenset[int],
    vocab_size: int,
    prompt_tokens: int,
    max_model_len: int,
    stopped_at: int | None = None,
    committed: int | None = None,
    retokenized: bool = False,
) -> list[TokenMismatch]:
    """Problems that reject a claim before any forward pass (empty, out of vocabulary, too
    long, tokens after EOS or after a stop string, stopped early without EOS or stop string).

    ``stopped_at`` is ``stops.stop_position`` of ``tokens``; ``committed`` the token count the
    proof commits to; ``retokenized`` says ``tokens`` come from re-tokenising a text claim (the
    module docstring's "Text claims" slack applies).
    """
    problems: list[TokenMismatch] = []
    if not tokens:
        return [TokenMismatch(position=0, token_id=None, reason="empty output: a generator always emits at least one token")]
    for position, token in enumerate(tokens):
        if not 0 <= token < vocab_size:
            problems.append(TokenMismatch(position=position, token_id=token, reason=f"token id outside the vocabulary (0..{vocab_size - 1})"))
    count = len(tokens) if committed is None else committed
    slack = RETOKENIZE_SLACK if retokenized else 0
    if count > params.max_tokens:
        position = min(params.max_tokens, len(tokens) - 1)
        problems.append(TokenMismatch(position=position, token_id=tokens[position], reason=f"more tokens than max_tokens={params.max_tokens}"))
    elif len(tokens) > count + slack:
        problems.append(TokenMismatch(position=count + slack, token_id=tokens[count + slack],
                                      reason=f"the text is {len(tokens)} tokens, more than the {count} committed"))
    if prompt_tokens + len(tokens) > max_model_len:
        position = max(0, max_model_len - prompt_tokens)
        problems.append(
            TokenMismatch(position=position, token_id=tokens[min(position, len(tokens) - 1)], reason=f"output runs past the model context of {max_model_len} tokens")
        )
    for position, token in enumerate(tokens[:-1]):
        if token in eos_ids:
            problems.append(TokenMismatch(position=position + 1, token_id=tokens[position + 1], reason="token after the end-of-sequence token"))
            break
    if stopped_at is not None and stopped_at + slack < len(tokens):
        problems.append(TokenMismatch(position=stopped_at, token_id=tokens[stopped_at], reason=PAST_STOP))
    stopped = tokens[-1] in eos_ids or stopped_at is not None
    at_limit = count >= params.max_tokens or prompt_tokens + count >= max_model_len  # as in claim_tokens
    if not stopped and not at_limit:
        problems.append(
            TokenMismatch(position=len(tokens), token_id=None,
                          reason="output ends before max_tokens without an end-of-sequence token or a stop sequence (truncated)")
        )
    return sorted(problems, key=lambda p: p.position)


class PositionVerdicts(BaseModel):
    """Per-position outcome of the rule for one run of positions."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    reasons: list[str | None]
    evidence: list[float] | None = Field(
        default=None, description="sampling only: per-position increments of the sequential test (log scale)"
    )


def judge_positions(
    logprobs: "torch.Tensor",
    claimed_logprobs: "torch.Tensor",
    params: GenerationParams,
    policy: VerificationPolicy,
    *,
    vocab_size: int,
    claimed_ranks: "torch.Tensor | None" = None,
) -> PositionVerdicts:
    """Apply the decoding rule at every claimed position.

    ``logprobs`` is ``[N, K]``: raw log-softmax values of K candidate tokens per position
    (K == vocab_size when the engine returns everything; order does not matter).
    ``claimed_logprobs`` is ``[N]``. ``claimed_ranks`` (1-based, among the whole vocabulary)
    is needed only when K < vocab_size and a ``top_k`` limit applies.
    """
    import torch

    # The [N, K] work is done in float32, one pass per quantity (K is a whole vocabulary on the
    # CPU engines, so this is what a re-check costs beyond its forward pass); every reduction over
    # a row and all per-row algebra is float64. float32 rounding (relative 1e-7 on values of
    # magnitude < 100) is far below the logit margin, so no decision depends on the precision.
    lp = logprobs.to(torch.float32)
    rows, known = lp.shape
    top = lp.max(dim=1).values
    if known < vocab_size or not bool(torch.isfinite(top).all()):
        # Engines may report -inf (masked tokens) among a few candidates; a very low finite value
        # keeps the unseen-mass bounds finite and means the same thing (no probability mass).
        lp = torch.where(torch.isfinite(lp), lp, torch.full_like(lp, -1.0e4))
        top = lp.max(dim=1).values
    top64 = top.to(torch.float64)
    x = claimed_logprobs.to(torch.float64)
    margin = policy.logit_margin
    reasons: list[str | None] = [None] * rows
    bad = torch.zeros(rows, dtype=torch.bool)

    def mark(mask: "torch.Tensor", reason: str) -> None:
        nonlocal bad
        for index in torch.nonzero(mask & ~bad).flatten().tolist():
            reasons[index] = reason
        bad = bad | mask

    mark(~torch.isfinite(x), ZERO_PROBABILITY)
    x = torch.where(torch.isfinite(x), x, torch.full_like(x, -1.0e4))
    if params.greedy:
        mark(x < top64 - margin, NOT_GREEDY)
        return PositionVerdicts(reasons=reasons)

    a = 1.0 / params.temperature
    # weights = exp(a * (lp - top)): the tempered distribution's unnormalised mass per token.
    weights = (lp - top[:, None]).mul_(a).exp_()
    z_all_low = weights.sum(dim=1).to(torch.float64)
    z_all_up = z_all_low + _unseen_mass_bound(lp, top64, a, vocab_size, 0)
    # The candidates the sampler renormalises over: the top_k tokens (ties kept), else all.
    in_set: "torch.Tensor | None" = None
    z_set_low = z_all_low
    z_set_up = z_all_up
    if params.top_k > 0:
        if claimed_ranks is None and known >= vocab_size:
            claimed_ranks = (lp > x.to(torch.float32)[:, None]).sum(dim=1) + 1
        allowed = torch.zeros(rows, dtype=torch.bool)
        if claimed_ranks is not None:
            allowed |= claimed_ranks.to(torch.long) <= params.top_k
        if params.top_k <= known:
            kth = torch.topk(lp, params.top_k, dim=1).values[:, -1]
            allowed |= x >= kth.to(torch.float64) - margin
            in_set = lp >= kth[:, None]
            z_set_low = torch.where(in_set, weights, 0.0).sum(dim=1).to(torch.float64)
        elif claimed_ranks is None:
            # Fewer candidates than top_k and no rank: being among the candidates proves it.
            allowed |= x >= lp.min(dim=1).values.to(torch.float64) - margin
        mark(~allowed, OUTSIDE_TOP_K)
        z_set_up = z_set_low + _unseen_mass_bound(lp, top64, a, vocab_size, params.top_k)

    if params.top_p < 1.0:
        above = lp > (x + margin).to(torch.float32)[:, None]
        if in_set is not None:
            above &= in_set
        mass_above = torch.where(above, weights, 0.0).sum(dim=1).to(torch.float64)
        mark(mass_above / z_set_up >= params.top_p + 1e-9, OUTSIDE_TOP_P)

    best_case = a * (x + margin - top64) - torch.log(z_set_low)
    mark(best_case < policy.sampling_log_floor, BELOW_FLOOR)

    # Sequential likelihood test (module docstring): increments e_t = s_t/2 - log M_t with s_t
    # the claimed token's surprisal under the tempered distribution (a lower bound) and M_t an
    # upper bound on E[exp(s/2)] under the job's sampler. exp(a/2 * (lp - top)) = sqrt(weights).
    surprisal_low = -a * (x + margin - top64) + torch.log(z_all_low)
    sqrt_mass_up = weights.sqrt_().sum(dim=1).to(torch.float64) + _unseen_mass_bound(lp, top64, 0.5 * a, vocab_size, 0)
    kept_low = torch.full_like(top64, params.top_p if params.top_p < 1.0 else 1.0)
    if params.top_k > 0:
        kept_low = kept_low * (z_set_low / z_all_up).clamp(max=1.0)
    log_m_up = torch.log(sqrt_mass_up) - 0.5 * torch.log(z_all_low) - torch.log(kept_low * (1.0 - SUPPORT_MASS_SLACK))
    evidence = 0.5 * surprisal_low - log_m_up
    return PositionVerdicts(reasons=reasons, evidence=[float(v) for v in evidence.tolist()])


def first_crossing(evidence: Sequence[float], threshold: float) -> int | None:
    """First position where the running sum of sequential-test increments reaches ``threshold``.

    Ville's inequality bounds the chance that an honest sampler's running sum EVER reaches
    log(1/delta) by delta, so stopping at the first crossing is as valid as testing the end.
    """
    total = 0.0
    for position, increment in enumerate(evidence):
        total += increment
        if total >= threshold:
            return position
    return None


def _unseen_mass_bound(lp: "torch.Tensor", top: "torch.Tensor", a: float, vocab_size: int, top_k: int) -> "torch.Tensor":
    """Upper bound on sum(exp(a*(l - top))) over tokens the engine did not report.

    Unseen tokens each have probability q <= q_min (the smallest reported) and together at most
    R = 1 - (reported mass). For a >= 1 the sum of q^a is largest when the mass is concentrated
    (R/q_min tokens at q_min); for a < 1 when it is spread evenly over the n unseen tokens.
    """
    import torch

    rows, known = lp.shape
    limit = vocab_size if top_k <= 0 else min(vocab_size, top_k)
    unseen = limit - known
    if unseen <= 0:
        return torch.zeros(rows, dtype=torch.float64)
    lp = lp.to(torch.float64)
    remaining = torch.clamp(1.0 - torch.exp(lp).sum(dim=1), min=0.0)
    q_min_log = lp.min(dim=1).values
    log_remaining = torch.log(remaining.clamp(min=1e-300))
    if a >= 1.0:
        concentrated = log_remaining + (a - 1.0) * q_min_log
        capped = math.log(unseen) + a * q_min_log
        log_bound = torch.minimum(concentrated, capped)
    else:
        per_token = torch.minimum(log_remaining - math.log(unseen), q_min_log)
        log_bound = math.log(unseen) + a * per_token
    bound = torch.exp(torch.clamp(log_bound - a * top, max=700.0))
    return torch.where(remaining > 0, bound, torch.zeros_like(bound))


def build_result(
    *,
    mode: Literal["greedy", "sampling"],
    model_id: str,
    prompt_tokens: int,
    tokens: list[int],
    problems: list[TokenMismatch],
    policy: VerificationPolicy,
    claimed_logprob_sum: float | None,
) -> VerificationResult:
    """Assemble the verdict: accepted only when no position has a problem."""
    problems = sorted(problems, key=lambda p: p.position)
    first = problems[0] if problems else None
    reason = None
    if first is not None:
        reason = f"{len(problems)} token(s) rejected; first at output position {first.position}: {first.reason}"
    return VerificationResult(
        accepted=first is None,
        mode=mode,
        model_id=model_id,
        prompt_tokens=prompt_tokens,
        checked_tokens=len(tokens),
        mismatch_count=len(problems),
        mismatches=problems[: policy.max_reported_mismatches],
        first_mismatch=first.position if first is not None else None,
        reason=reason,
        logit_margin=policy.logit_margin,
        claimed_logprob_sum=claimed_logprob_sum,
    )
