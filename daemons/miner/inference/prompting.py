"""Turning a job's prompt into exact model input, and output tokens back into text.

Both backends use the model's Hugging Face tokenizer through these helpers, so that the text a
miner generated from and the text a verifier scores are built by one code path: the chat
template is rendered to a string once, then tokenised without adding special tokens again (the
template already contains them). Decoding keeps special tokens and spacing exactly, so that a
verifier given only the text re-tokenises to the same ids whenever the tokenizer allows it.
"""

from __future__ import annotations

from typing import Any, Iterable

from pydantic import BaseModel, ConfigDict

from daemons.common.chat import BadMessages, parse_messages
from daemons.miner.inference.errors import InferenceError


class RenderedPrompt(BaseModel):
    """The exact model input derived from a job prompt."""

    model_config = ConfigDict(frozen=True)

    text: str
    token_ids: list[int]


def render_prompt(tokenizer: Any, prompt: str, chat: bool, messages: bool = False) -> RenderedPrompt:
    """Apply the chat template (when ``chat``) and tokenise to the ids the model will see.

    With ``messages`` the prompt is a whole conversation (``daemons.common.chat``'s canonical
    JSON), rendered as it is; otherwise it is one user message."""
    if chat:
        if not getattr(tokenizer, "chat_template", None):
            raise InferenceError("this model has no chat template; submit the job with chat=false")
        try:
            conversation = ([m.model_dump() for m in parse_messages(prompt)] if messages
                            else [{"role": "user", "content": prompt}])
        except BadMessages as exc:
            raise InferenceError(str(exc)) from None
        text = tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
    else:
        text = prompt
    return RenderedPrompt(text=text, token_ids=encode_text(tokenizer, text))


def encode_text(tokenizer: Any, text: str) -> list[int]:
    """Token ids of ``text`` with no BOS/EOS added (templates and claims carry their own)."""
    encoded = tokenizer(text, add_special_tokens=False)
    return [int(i) for i in encoded["input_ids"]]


def decode_tokens(tokenizer: Any, token_ids: Iterable[int]) -> str:
    """Text of ``token_ids`` exactly as the model produced it (special tokens and spaces kept)."""
    return str(tokenizer.decode(list(token_ids), skip_special_tokens=False, clean_up_tokenization_spaces=False))


def output_text(tokenizer: Any, output_ids: list[int], eos_ids: frozenset[int]) -> str:
    """The visible completion: decoded output without the final end-of-sequence token."""
    content = output_ids[:-1] if output_ids and output_ids[-1] in eos_ids else output_ids
    return decode_tokens(tokenizer, content)


def eos_token_ids(tokenizer: Any, generation_config: Any = None) -> frozenset[int]:
    """Every token id that ends generation: the tokenizer's EOS plus the model's configured ones."""
    ids: set[int] = set()
    for source in (getattr(tokenizer, "eos_token_id", None), getattr(generation_config, "eos_token_id", None)):
        if isinstance(source, int):
            ids.add(source)
        elif isinstance(source, (list, tuple, set, frozenset)):
            ids.update(int(i) for i in source if isinstance(i, int))
    if not ids:
        raise InferenceError("the model defines no end-of-sequence token; cannot tell a finished output")
    return frozenset(ids)
