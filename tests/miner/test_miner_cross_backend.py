"""Proofs across the two CPU backends: the same GGUF on transformers and on llama.cpp.

A verifier never knows which engine a miner ran, so a proof made on one backend must be checked
correctly on the other for the same model id: the same token ids for the same text (transformers
gets llama.cpp's pre-tokenizer, ``gguf_pretokenizer.py``), the same prompt tokens, the same
end-of-sequence ids, honest outputs accepted both ways by ids and by text (greedy and seeded
sampling, within the rule's documented logit margin) and tampered outputs refuted by both. Both
backends are loaded once per session (conftest); each is skipped with its reason when its
packages are missing.
"""

from __future__ import annotations

import pytest

from daemons.miner.inference import GenerationParams, GenerationRequest, GenerationResult, InferenceBackend

pytestmark = pytest.mark.slow

PROMPTS = ["Which city is the capital of France?", "Tell me a short story about a cat.", "List three fruits."]
SAMPLING = GenerationParams(max_tokens=32, temperature=0.8, top_p=0.95, seed=4321)
GREEDY = GenerationParams(max_tokens=32)
DIRECTIONS = [("cpu", "llamacpp"), ("llamacpp", "cpu")]
#: Prompts whose greedy answers contain these stop strings well before max_tokens (the first one
#: is completed by a "\n\n" token: the output carries a character past the stop string).
STOPS = [("List three fruits.", "\n"), ("Which city is the capital of France?", "Paris")]
#: Texts whose token ids depend on how the pre-tokenizer splits them (digits, runs of newlines,
#: spaces and tabs, contractions, multi-byte characters). The first is the case transformers'
#: GGUF converter got wrong: llama.cpp isolates digits first, so "\n\n" before "1" is one token.
TRICKY_TEXTS = [
    "diet:\n\n1. Ban", "\n\n", "\n\n\n", "x\n\n\n2", "  two spaces", "12345", "Hello world! 123",
    "don't", "they'RE 'll", "café ☕", "日本語 ١٢٣ ½", "a\tb\t\tc", "trailing   ", " x  \n  y",
    "\r\n\r\n3", "😀😀 1", "<|im_start|>user\nhi 2\n\n<|im_end|>",
]
#: A prompt whose rendering holds "\n\n" before a digit (41 tokens on both, 42 before the fix).
RANKED = "Rank these:\n\n1. apples\n2. pears"


def run(backend: InferenceBackend, prompt: str, params: GenerationParams) -> GenerationResult:
    [result] = backend.generate([GenerationRequest(prompt=prompt, **params.model_dump())])
    return result


@pytest.fixture(scope="module")
def both(cpu_smollm2: InferenceBackend, llamacpp_smollm2: InferenceBackend) -> dict[str, InferenceBackend]:
    return {"cpu": cpu_smollm2, "llamacpp": llamacpp_smollm2}


def test_same_weights_id_prompt_tokens_and_stop_ids(both: dict[str, InferenceBackend]) -> None:
    cpu, llama = both["cpu"], both["llamacpp"]
    assert cpu.model_id == llama.model_id
    assert cpu.eos_ids == llama.eos_ids
    assert cpu.vocab_size == llama.vocab_size
    for prompt in [*PROMPTS, RANKED]:
        for chat in (True, False):
            mine, theirs = cpu.render(prompt, chat), llama.render(prompt, chat)
            assert mine.text == theirs.text
            assert mine.token_ids == theirs.token_ids
    assert len(cpu.render(RANKED, True).token_ids) == 41


def test_the_same_text_gives_the_same_token_ids(both: dict[str, InferenceBackend]) -> None:
    for text in TRICKY_TEXTS:
        ids = {name: list(b.tokenizer(text, add_special_tokens=False)["input_ids"]) for name, b in both.items()}
        assert ids["cpu"] == ids["llamacpp"], f"{text!r}: {ids}"
        assert both["cpu"].tokenizer.decode(ids["cpu"]) == text
    assert 1116 in both["cpu"].tokenizer(TRICKY_TEXTS[0], add_special_tokens=False)["input_ids"]  # "\n\n"


@pytest.mark.parametrize(("maker", "checker"), DIRECTIONS)
@pytest.mark.parametrize("params", [GREEDY, SAMPLING], ids=["greedy", "sampled"])
def test_honest_outputs_verify_on_the_other_backend(
    both: dict[str, InferenceBackend], maker: str, checker: str, params: GenerationParams
) -> None:
    for prompt in PROMPTS:
        result = run(both[maker], prompt, params)
        by_ids = both[checker].verify(prompt, result.output_token_ids, result.params)
        assert by_ids.accepted, f"{maker} -> {checker} on {prompt!r}: {by_ids.reason}"
        assert by_ids.prompt_tokens == result.prompt_tokens
        # The network re-check sends the text and the committed count, finished or cut at
        # max_tokens ("List three fruits." greedy, 32 tokens, holds "\n\n" before a digit: the
        # cpu backend refuted its own output by text before it split text as llama.cpp does).
        for backend in (both[maker], both[checker]):
            by_text = backend.verify(prompt, result.text, result.params, committed_tokens=result.completion_tokens)
            assert by_text.accepted, f"{maker} -> {backend.backend_name} (text) on {prompt!r}: {by_text.reason}"


@pytest.mark.parametrize(("maker", "checker"), DIRECTIONS)
def test_tampered_outputs_are_refuted_by_both(both: dict[str, InferenceBackend], maker: str, checker: str) -> None:
    prompt = PROMPTS[0]
    greedy = run(both[maker], prompt, GREEDY)
    assert "Paris" in greedy.text
    lyon = greedy.text.replace("Paris", "Lyon")
    for backend in (both[maker], both[checker]):
        verdict = backend.verify(prompt, lyon, greedy.params)
        assert not verdict.accepted and verdict.first_mismatch is not None
    story = run(both[maker], PROMPTS[1], SAMPLING)
    body = story.output_token_ids[:-1] if story.finish_reason == "stop" else story.output_token_ids
    junk = both[checker].tokenizer(" The quantum zebra filed taxes in Mongolian while eleven pianos evaporated.",
                                   add_special_tokens=False)["input_ids"]
    replaced = body[:4] + (list(junk) * 4)[: len(body) - 4] + story.output_token_ids[len(body):]
    for backend in (both[maker], both[checker]):
        verdict = backend.verify(PROMPTS[1], replaced, SAMPLING)
        assert not verdict.accepted and verdict.first_mismatch is not None and verdict.first_mismatch >= 4


@pytest.mark.parametrize(("maker", "checker"), DIRECTIONS)
def test_a_stop_string_ends_generation_and_the_proof_verifies(both: dict[str, InferenceBackend], maker: str,
                                                              checker: str) -> None:
    for prompt, stop in STOPS:
        params = GREEDY.model_copy(update={"stop": (stop,)})
        streamed: list[int] = []
        [result] = both[maker].generate([GenerationRequest(prompt=prompt, **params.model_dump())],
                                        on_token=lambda _, token: streamed.append(token))
        assert result.finish_reason == "stop" and result.completion_tokens < params.max_tokens
        assert streamed == result.output_token_ids  # nothing generated (or streamed) past the stop
        ids = result.output_token_ids
        assert stop in result.text and stop not in both[maker].tokenizer.decode(ids[:-1])
        assert ids[-1] not in both[maker].eos_ids and result.completion_tokens == len(ids)
        for backend in (both[maker], both[checker]):
            by_ids = backend.verify(prompt, ids, result.params)
            assert by_ids.accepted, f"{maker} -> {backend.backend_name} on {prompt!r}: {by_ids.reason}"
            by_text = backend.verify(prompt, result.text, result.params, committed_tokens=result.completion_tokens)
            assert by_text.accepted, f"{maker} -> {backend.backend_name} (text) on {prompt!r}: {by_text.reason}"


@pytest.mark.parametrize(("maker", "checker"), DIRECTIONS)
def test_a_tampered_stop_is_refuted_by_both(both: dict[str, InferenceBackend], maker: str, checker: str) -> None:
    prompt, stop = STOPS[0]
    params = GREEDY.model_copy(update={"stop": (stop,)})
    stopped = run(both[maker], prompt, params)
    unstopped = run(both[maker], prompt, GREEDY)  # the same answer, run on past the stop string
    assert len(unstopped.output_token_ids) > len(stopped.output_token_ids) + 2
    for backend in (both[maker], both[checker]):
        # Claimed to stop, but the text does not contain the stop string yet.
        short = backend.verify(prompt, stopped.output_token_ids[:-1], params)
        assert not short.accepted and "truncated" in (short.reason or "")
        # Ran past the stop string to bill more tokens: by ids and by text.
        past = backend.verify(prompt, unstopped.output_token_ids, params)
        assert not past.accepted and past.first_mismatch == stopped.completion_tokens
        past_text = backend.verify(prompt, unstopped.text, params, committed_tokens=unstopped.completion_tokens)
        assert not past_text.accepted and "stop sequence" in (past_text.reason or "")
