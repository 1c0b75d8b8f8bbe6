"""Both CPU backends (transformers and llama.cpp) on the real SmolLM2-135M-Instruct GGUF:
generation, seeding, verification. Every test runs once per backend (``smollm2`` in conftest)."""

from __future__ import annotations

import hashlib
import random
import threading

import pytest

from daemons.miner.inference import (
    BackendNotLoaded,
    GenerationParams,
    GenerationRequest,
    GenerationResult,
    InferenceBackend,
    PromptTooLong,
)

pytestmark = pytest.mark.slow

FRANCE = "Which city is the capital of France?"
STORY = "Tell me a short story about a cat."
SAMPLING = GenerationParams(max_tokens=24, temperature=0.8, top_p=0.95, seed=1234)


def sample(backend: InferenceBackend, prompt: str, params: GenerationParams) -> GenerationResult:
    [result] = backend.generate([GenerationRequest(prompt=prompt, **params.model_dump())])
    return result


@pytest.fixture(scope="module")
def story(smollm2: InferenceBackend) -> GenerationResult:
    """One seeded sample, shared by the sampling tests."""
    return sample(smollm2, STORY, SAMPLING)


# ---------------------------------------------------------------------------- generation
def test_answers_capital_of_france(france: GenerationResult) -> None:
    assert "The capital of France is Paris." in france.text
    assert france.finish_reason == "stop"


def test_result_carries_exact_model_input_and_counts(smollm2: InferenceBackend, france: GenerationResult) -> None:
    rendered = smollm2.render(FRANCE)
    assert france.prompt_text == rendered.text
    assert france.prompt_token_ids == rendered.token_ids
    assert f"<|im_start|>user\n{FRANCE}<|im_end|>" in france.prompt_text
    assert france.prompt_tokens == len(france.prompt_token_ids)
    assert france.completion_tokens == len(france.output_token_ids)
    assert france.output_token_ids[-1] in smollm2.eos_ids
    assert france.params == GenerationParams(max_tokens=48)


def test_model_id_is_sha256_of_the_gguf(smollm2: InferenceBackend, france: GenerationResult) -> None:
    gguf = smollm2.spec.gguf_path
    assert gguf is not None
    assert france.model_id == "sha256:" + hashlib.sha256(gguf.read_bytes()).hexdigest()
    assert smollm2.model_id == france.model_id


def test_max_tokens_limits_output(smollm2: InferenceBackend) -> None:
    result = sample(smollm2, STORY, GenerationParams(max_tokens=5))
    assert result.finish_reason == "length"
    assert result.completion_tokens == 5
    assert smollm2.verify_result(STORY, result).accepted


def test_batch_returns_results_in_request_order(smollm2: InferenceBackend, france: GenerationResult) -> None:
    results = smollm2.generate(
        [GenerationRequest(prompt="Name a colour.", max_tokens=8), GenerationRequest(prompt=FRANCE, max_tokens=48)]
    )
    assert results[1].output_token_ids == france.output_token_ids
    assert results[0].prompt_text != results[1].prompt_text


def test_seeded_sampling_is_reproducible(smollm2: InferenceBackend, story: GenerationResult) -> None:
    again = sample(smollm2, STORY, SAMPLING)
    assert again.output_token_ids == story.output_token_ids
    other = sample(smollm2, STORY, SAMPLING.model_copy(update={"seed": 99, "temperature": 1.2}))
    assert other.output_token_ids != story.output_token_ids


def test_concurrent_callers_are_serialised(smollm2: InferenceBackend, france: GenerationResult) -> None:
    outputs: list[list[int]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            [result] = smollm2.generate([GenerationRequest(prompt=FRANCE, max_tokens=48)])
            outputs.append(result.output_token_ids)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert outputs == [france.output_token_ids, france.output_token_ids]


def test_prompt_longer_than_context_is_refused(smollm2: InferenceBackend) -> None:
    too_long = "word " * (smollm2.max_model_len + 10)
    with pytest.raises(PromptTooLong, match="context"):
        smollm2.generate([GenerationRequest(prompt=too_long, max_tokens=4)])


def test_unloaded_backend_refuses(smollm2: InferenceBackend) -> None:
    fresh = type(smollm2)(smollm2.spec)
    with pytest.raises(BackendNotLoaded):
        fresh.generate([GenerationRequest(prompt=FRANCE)])


# ---------------------------------------------------------------------------- greedy verification
def test_genuine_greedy_output_verifies_by_ids_and_by_text(smollm2: InferenceBackend, france: GenerationResult) -> None:
    by_ids = smollm2.verify(FRANCE, france.output_token_ids, france.params)
    assert by_ids.accepted, by_ids.reason
    assert by_ids.mode == "greedy"
    assert by_ids.checked_tokens == france.completion_tokens
    assert by_ids.first_mismatch is None and by_ids.mismatches == []
    by_text = smollm2.verify(FRANCE, france.text, france.params)
    assert by_text.accepted, by_text.reason


def test_changed_word_fails_at_its_position(smollm2: InferenceBackend, france: GenerationResult) -> None:
    tampered = france.text.replace("Paris", "Lyon")
    verdict = smollm2.verify(FRANCE, tampered, france.params)
    assert not verdict.accepted
    first = verdict.mismatches[0]
    assert first.token_text is not None and "Lyon" in first.token_text
    assert first.best_token_text is not None and "Paris" in first.best_token_text
    assert first.claimed_logprob is not None and first.best_logprob is not None
    assert first.claimed_logprob < first.best_logprob
    assert verdict.first_mismatch == first.position


def test_swapped_tokens_fail(smollm2: InferenceBackend, france: GenerationResult) -> None:
    ids = list(france.output_token_ids)
    ids[1], ids[2] = ids[2], ids[1]
    verdict = smollm2.verify(FRANCE, ids, france.params)
    assert not verdict.accepted
    assert verdict.first_mismatch == 1


def test_appended_junk_fails(smollm2: InferenceBackend, france: GenerationResult) -> None:
    after_eos = smollm2.verify(FRANCE, france.output_token_ids + [504, 3575], france.params)
    assert not after_eos.accepted
    assert after_eos.first_mismatch == france.completion_tokens
    assert "after the end-of-sequence" in (after_eos.reason or "")
    as_text = smollm2.verify(FRANCE, france.text + " Also, bananas are blue.", france.params)
    assert not as_text.accepted


def test_truncated_output_fails(smollm2: InferenceBackend, france: GenerationResult) -> None:
    verdict = smollm2.verify(FRANCE, france.output_token_ids[:-2], france.params)
    assert not verdict.accepted
    assert "truncated" in (verdict.reason or "")


def test_out_of_vocabulary_and_empty_claims_fail_cleanly(smollm2: InferenceBackend, france: GenerationResult) -> None:
    bad_id = smollm2.verify(FRANCE, [smollm2.vocab_size + 5, *france.output_token_ids], france.params)
    assert not bad_id.accepted and bad_id.first_mismatch == 0
    empty = smollm2.verify(FRANCE, [], france.params)
    assert not empty.accepted and "empty" in (empty.reason or "")


def test_same_output_for_another_prompt_fails(smollm2: InferenceBackend, france: GenerationResult) -> None:
    verdict = smollm2.verify("What is the capital of Germany?", france.output_token_ids, france.params)
    assert not verdict.accepted


# ---------------------------------------------------------------------------- sampling verification
def test_genuine_sampled_output_verifies(smollm2: InferenceBackend, story: GenerationResult) -> None:
    verdict = smollm2.verify_result(STORY, story)
    assert verdict.accepted, verdict.reason
    assert verdict.mode == "sampling"
    assert verdict.claimed_logprob_sum is not None and verdict.claimed_logprob_sum < 0


def test_sampled_output_verifies_under_top_k_too(smollm2: InferenceBackend) -> None:
    params = GenerationParams(max_tokens=16, temperature=1.0, top_k=20, top_p=0.9, seed=7)
    result = sample(smollm2, STORY, params)
    assert smollm2.verify_result(STORY, result).accepted


def test_tampered_sampled_output_fails(smollm2: InferenceBackend, story: GenerationResult) -> None:
    ids = story.output_token_ids
    body = ids[:-1] if story.finish_reason == "stop" else ids
    tail = ids[len(body) :]
    reversed_claim = body[:3] + body[3:][::-1] + tail
    assert not smollm2.verify(STORY, reversed_claim, SAMPLING).accepted
    junk = smollm2.tokenizer(" The quantum zebra filed taxes in Mongolian while eleven pianos evaporated quietly.", add_special_tokens=False)["input_ids"]
    keep = 6
    replaced = body[:keep] + (list(junk) * 4)[: len(body) - keep] + tail
    assert len(replaced) == len(ids)
    verdict = smollm2.verify(STORY, replaced, SAMPLING)
    assert not verdict.accepted
    assert verdict.first_mismatch is not None and verdict.first_mismatch >= keep


def test_random_tokens_fail_even_without_top_p(smollm2: InferenceBackend) -> None:
    params = GenerationParams(max_tokens=40, temperature=1.0, seed=3)
    rng = random.Random(5)
    junk = [rng.randrange(0, smollm2.vocab_size) for _ in range(39)] + [min(smollm2.eos_ids)]
    verdict = smollm2.verify(STORY, junk, params)
    assert not verdict.accepted
    assert verdict.first_mismatch is not None and verdict.first_mismatch < 20
