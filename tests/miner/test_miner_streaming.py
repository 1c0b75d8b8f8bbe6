"""Streaming on the CPU backend: the token sink, the incremental detokenizer, chat messages.

With the real SmolLM2: ``on_token`` sees every output token, in order, while ``generate`` runs;
the detokenizer's deltas add up to exactly the text the proof commits to, including characters
that span several tokens; a conversation (``prompt_format`` messages) is rendered with the model's
chat template and re-checks like any other job.
"""

from __future__ import annotations

import pytest

from daemons.common.chat import BadMessages, ChatMessage, encode_messages, parse_messages
from daemons.miner.inference import GenerationRequest, IncrementalDetokenizer, InferenceError
from daemons.miner.inference.cpu import CpuBackend
from daemons.miner.live import GenerationCancelled
from daemons.miner.tasks import generation_params

CONVERSATION = [ChatMessage(role="system", content="You are terse."), ChatMessage(role="user", content="Hi!")]


def test_on_token_sees_every_token_in_order_and_the_deltas_add_up_to_the_text(smollm2: CpuBackend) -> None:
    seen: list[tuple[int, int]] = []
    first, second = smollm2.generate([GenerationRequest(prompt="Say hello.", max_tokens=6),
                                      GenerationRequest(prompt="Say bye.", max_tokens=5)],
                                     on_token=lambda index, token: seen.append((index, token)))
    assert [t for i, t in seen if i == 0] == first.output_token_ids
    assert [t for i, t in seen if i == 1] == second.output_token_ids
    assert [i for i, _ in seen] == sorted(i for i, _ in seen)  # one request after the other
    detokenizer = IncrementalDetokenizer(smollm2.tokenizer, smollm2.eos_ids)
    text = "".join(detokenizer.push(t) for t in first.output_token_ids) + detokenizer.flush()
    assert text == first.text


@pytest.mark.parametrize(("text", "split"), [("héllo wörld", False), ("emoji 😀 and 世界", True),
                                           ("tab\tand\nnewline", False)])
def test_the_detokenizer_holds_back_a_split_character_until_it_is_whole(smollm2: CpuBackend, text: str,
                                                                        split: bool) -> None:
    ids = smollm2.tokenizer(text, add_special_tokens=False)["input_ids"]
    detokenizer = IncrementalDetokenizer(smollm2.tokenizer, smollm2.eos_ids)
    deltas = [detokenizer.push(i) for i in ids]
    assert "".join(deltas) + detokenizer.flush() == text
    assert all("\ufffd" not in d for d in deltas)
    if split:  # the emoji and the CJK characters span several byte-level tokens: held back, then whole
        assert "" in deltas
    # an end-of-sequence token ends the text
    assert detokenizer.push(min(smollm2.eos_ids)) == "" and detokenizer.push(ids[0]) == ""


def test_a_conversation_is_rendered_with_the_chat_template_and_verifies(smollm2: CpuBackend) -> None:
    prompt = encode_messages(CONVERSATION)
    params = generation_params({"max_tokens": 6, "prompt_format": "messages"})
    assert params.messages and params.chat
    [result] = smollm2.generate([GenerationRequest(prompt=prompt, **params.model_dump())])
    assert result.prompt_text.startswith("<|im_start|>system\nYou are terse.<|im_end|>")
    assert result.prompt_text.endswith("<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n")
    assert smollm2.verify(prompt, result.output_token_ids, result.params).accepted
    # the same text as one plain user message is another prompt
    assert smollm2.render(prompt).text != result.prompt_text
    raw = generation_params({"max_tokens": 6, "prompt_format": "raw"})
    assert smollm2.render("The sky is", raw.chat, raw.messages).text == "The sky is"


def test_a_prompt_that_is_not_canonical_messages_is_refused(smollm2: CpuBackend) -> None:
    assert parse_messages(encode_messages(CONVERSATION)) == CONVERSATION
    for bad in ('[{"role": "user", "content": "Hi!"}]', '{"role":"user"}', "[]", '[{"content":"x","role":"robot"}]'):
        with pytest.raises(BadMessages):
            parse_messages(bad)
        with pytest.raises(InferenceError):
            smollm2.generate([GenerationRequest(prompt=bad, messages=True, max_tokens=2)])


def test_a_sink_that_raises_stops_the_generation(smollm2: CpuBackend) -> None:
    seen: list[int] = []

    def sink(_index: int, token: int) -> None:
        seen.append(token)
        if len(seen) == 2:
            raise GenerationCancelled("stop")

    with pytest.raises(GenerationCancelled):
        smollm2.generate([GenerationRequest(prompt="Count to ten.", max_tokens=30)], on_token=sink)
    assert len(seen) == 2
