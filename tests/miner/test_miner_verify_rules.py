"""The verification rule on synthetic distributions: fast, exhaustive, no model needed.

Honest samples are drawn with the CPU backend's own sampler from random distributions and must
always pass (also when only the top-K log-probabilities are visible, as with vLLM); tokens the
sampler could not have drawn must fail.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from daemons.miner.inference.sampling import next_token, sampler_for, sampling_support  # noqa: E402
from daemons.miner.inference.schema import GenerationParams  # noqa: E402
from daemons.miner.inference.verify import (  # noqa: E402
    BELOW_FLOOR,
    NOT_GREEDY,
    OUTSIDE_TOP_K,
    OUTSIDE_TOP_P,
    PAST_STOP,
    RETOKENIZE_SLACK,
    VerificationPolicy,
    check_structure,
    claim_tokens,
    first_crossing,
    judge_positions,
)

VOCAB = 512
POLICY = VerificationPolicy()
EOS = frozenset({0})


def random_logits(rows: int, seed: int, scale: float = 4.0) -> "torch.Tensor":
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(rows, VOCAB, generator=generator, dtype=torch.float32) * scale


def judge(logits: "torch.Tensor", claimed: list[int], params: GenerationParams, top: int | None = None):
    logprobs = torch.log_softmax(logits.double(), dim=-1)
    mine = logprobs.gather(1, torch.tensor(claimed)[:, None])[:, 0]
    if top is None:
        return judge_positions(logprobs, mine, params, POLICY, vocab_size=VOCAB)
    # What vLLM reports: the top-`top` candidates plus the claimed token's value and rank.
    ranks = (logprobs > mine[:, None]).sum(dim=1) + 1
    visible = torch.topk(logprobs, top, dim=1).values
    return judge_positions(visible, mine, params, POLICY, vocab_size=VOCAB, claimed_ranks=ranks)


def honest_sample(logits: "torch.Tensor", params: GenerationParams) -> list[int]:
    generator = sampler_for(params)
    return [next_token(row, params, generator) for row in logits]


# ---------------------------------------------------------------------------- greedy
def test_greedy_accepts_argmax_and_near_ties_only() -> None:
    logits = torch.zeros(3, VOCAB)
    logits[0, 5] = 10.0
    logits[1, 7], logits[1, 8] = 10.0, 10.0 - POLICY.logit_margin / 2  # near tie: either allowed
    logits[2, 9], logits[2, 10] = 10.0, 10.0 - 2 * POLICY.logit_margin
    params = GenerationParams(max_tokens=3)
    assert judge(logits, [5, 8, 9], params).reasons == [None, None, None]
    assert judge(logits, [4, 7, 10], params).reasons == [NOT_GREEDY, None, NOT_GREEDY]


# ---------------------------------------------------------------------------- sampling, support
@pytest.mark.parametrize(
    "params",
    [
        GenerationParams(temperature=1.0, seed=1),
        GenerationParams(temperature=0.7, top_p=0.9, seed=2),
        GenerationParams(temperature=1.3, top_k=12, seed=3),
        GenerationParams(temperature=0.5, top_k=40, top_p=0.8, seed=4),
        GenerationParams(temperature=2.0, top_p=0.5, seed=5),
    ],
)
@pytest.mark.parametrize("visible", [None, 20])
def test_honest_samples_always_pass(params: GenerationParams, visible: int | None) -> None:
    for trial in range(5):
        logits = random_logits(64, seed=100 * params.seed + trial)
        claimed = honest_sample(logits, params)
        verdicts = judge(logits, claimed, params, top=visible)
        assert verdicts.reasons == [None] * 64
        assert verdicts.evidence is not None
        assert first_crossing(verdicts.evidence, POLICY.sequence_log_threshold) is None


def test_token_outside_top_k_fails() -> None:
    params = GenerationParams(temperature=1.0, top_k=5, seed=1)
    logits = torch.zeros(1, VOCAB)
    logits[0, :8] = torch.tensor([8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0])
    order = list(range(8))
    assert judge(logits, [order[4]], params).reasons == [None]
    assert judge(logits, [order[5]], params).reasons == [OUTSIDE_TOP_K]
    assert judge(logits, [order[5]], params, top=3).reasons == [OUTSIDE_TOP_K]


def test_token_outside_nucleus_fails() -> None:
    params = GenerationParams(temperature=1.0, top_p=0.5, seed=1)
    logits = torch.full((1, VOCAB), -10.0)
    logits[0, 1], logits[0, 2], logits[0, 3] = 5.0, 4.0, 3.0
    support, _ = sampling_support(logits[0], params)
    assert support.tolist() == [1]
    assert judge(logits, [1], params).reasons == [None]
    assert judge(logits, [2], params).reasons == [OUTSIDE_TOP_P]
    assert judge(logits, [2], params, top=2).reasons == [OUTSIDE_TOP_P]


def test_token_below_probability_floor_fails() -> None:
    params = GenerationParams(temperature=1.0, seed=1)
    logits = torch.zeros(1, VOCAB)
    logits[0, 1] = 40.0
    assert judge(logits, [2], params).reasons == [BELOW_FLOOR]


def test_random_tokens_cross_the_sequential_test() -> None:
    params = GenerationParams(temperature=1.0, seed=1)
    logits = random_logits(64, seed=11)
    generator = torch.Generator().manual_seed(3)
    least_likely = torch.argsort(logits, dim=1)[:, :50]
    picks = torch.randint(0, 50, (64,), generator=generator)
    claimed = [int(least_likely[row, picks[row]]) for row in range(64)]
    verdicts = judge(logits, claimed, params)
    assert verdicts.evidence is not None
    assert first_crossing(verdicts.evidence, POLICY.sequence_log_threshold) is not None
    partial = judge(logits, claimed, params, top=20)
    assert partial.evidence is not None
    assert first_crossing(partial.evidence, POLICY.sequence_log_threshold) is not None


def test_first_crossing_reports_the_position() -> None:
    assert first_crossing([1.0, 2.0, 3.0], 3.0) == 1
    assert first_crossing([1.0, -5.0, 2.0], 3.0) is None


# ---------------------------------------------------------------------------- structure
def test_structure_rejects_tokens_after_eos_and_truncation() -> None:
    params = GenerationParams(max_tokens=5)
    common = {"eos_ids": EOS, "vocab_size": VOCAB, "prompt_tokens": 10, "max_model_len": 100}
    assert check_structure([3, 4, 0], params, **common) == []
    assert check_structure([3, 4, 5, 6, 7], params, **common) == []  # stopped by max_tokens
    after = check_structure([3, 0, 4], params, **common)
    assert after and after[0].position == 2 and "after the end-of-sequence" in after[0].reason
    truncated = check_structure([3, 4], params, **common)
    assert truncated and "truncated" in truncated[0].reason
    too_many = check_structure([3, 4, 5, 6, 7, 8], params, **common)
    assert any("max_tokens" in p.reason for p in too_many)
    outside = check_structure([VOCAB + 1, 0], params, **common)
    assert outside[0].position == 0 and "vocabulary" in outside[0].reason
    context = check_structure([3, 4, 5], params, eos_ids=EOS, vocab_size=VOCAB, prompt_tokens=10, max_model_len=12)
    assert any("context" in p.reason for p in context)


def test_text_claims_get_their_eos_back_unless_at_a_limit() -> None:
    def encode(text: str) -> list[int]:
        return [ord(c) for c in text]

    params = GenerationParams(max_tokens=4)
    common = {"encode": encode, "eos_ids": EOS, "primary_eos": 0, "prompt_tokens": 3, "max_model_len": 100}
    assert claim_tokens("ab", params, **common) == [97, 98, 0]
    assert claim_tokens("abcd", params, **common) == [97, 98, 99, 100]
    assert claim_tokens([5, 6], params, **common) == [5, 6]


def test_structure_of_stop_sequences_and_committed_counts() -> None:
    params = GenerationParams(max_tokens=8, stop=("x",))
    common = {"eos_ids": EOS, "vocab_size": VOCAB, "prompt_tokens": 10, "max_model_len": 100}
    # Stopped on the token that completed a stop string: complete, no EOS needed.
    assert check_structure([3, 4, 5], params, stopped_at=3, **common) == []
    # Tokens after the stop string bill more than the job asked for; by ids there is no slack.
    past = check_structure([3, 4, 5, 6], params, stopped_at=3, **common)
    assert [(p.position, p.reason) for p in past] == [(3, PAST_STOP)]
    # A text claim's re-tokenisation may split the last token's tail off, within the slack only.
    assert check_structure([3, 4, 5, 6], params, stopped_at=3, retokenized=True, **common) == []
    far = check_structure([3, 4, 5, 6, 7, 9], params, stopped_at=3, retokenized=True, **common)
    assert [p.reason for p in far] == [PAST_STOP]
    # Claiming a stop the text does not contain is a truncation.
    assert "truncated" in check_structure([3, 4, 5], params, stopped_at=None, **common)[0].reason
    # The committed count, not the re-tokenisation, counts against max_tokens ...
    assert check_structure(list(range(1, 10)), params, committed=8, retokenized=True, **common) == []
    over = check_structure(list(range(1, 10)), params, committed=9, retokenized=True, **common)
    assert any("max_tokens" in p.reason for p in over)
    # ... and the text may not hold more than the slack beyond what the proof committed.
    longer = check_structure([*range(1, 7 + RETOKENIZE_SLACK), 0], params, committed=5, retokenized=True, **common)
    assert [p.position for p in longer] == [5 + RETOKENIZE_SLACK]
    # ... and against the context: a text cut by the context that re-tokenises one token shorter
    # than committed got no EOS back from claim_tokens, so it is complete, not truncated.
    at_context = {**common, "prompt_tokens": 95}
    assert check_structure([3, 4, 5, 6], params, committed=5, retokenized=True, **at_context) == []
    assert "truncated" in check_structure([3, 4, 5, 6], params, committed=4, retokenized=True, **at_context)[0].reason


def test_text_claims_that_contain_a_stop_get_no_eos_and_count_the_committed_tokens() -> None:
    def encode(text: str) -> list[int]:
        return [ord(c) for c in text]

    params = GenerationParams(max_tokens=4, stop=("b",))
    common = {"encode": encode, "eos_ids": EOS, "primary_eos": 0, "prompt_tokens": 3, "max_model_len": 100}
    assert claim_tokens("ab", params, stop_at=lambda ids: 2 if 98 in ids else None, **common) == [97, 98]
    assert claim_tokens("ac", params, stop_at=lambda ids: None, **common) == [97, 99, 0]
    # Three characters, but the proof committed max_tokens: cut by the limit, no EOS to add.
    assert claim_tokens("acd", params, committed=4, **common) == [97, 99, 100]
