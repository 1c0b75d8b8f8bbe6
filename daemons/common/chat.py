"""The job prompt of a chat: a list of messages, carried as one canonical JSON text.

A job has one prompt string, and the miner's proof commits to its hash. A chat request
(``POST /v1/chat/completions``) has several messages, which only the miner can render (the chat
template belongs to the model's tokenizer). So the coordinator stores the messages as the job's
prompt in the one canonical form made here (with the job parameter ``prompt_format`` set to
``messages``), and the miner and any re-checking miner parse it back with :func:`parse_messages`
and render it with the model's own template. The proof's prompt hash then commits to the exact
messages, and, through the weights' id (the template is part of the weights file), to the exact
rendered prompt and its token ids.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, StrictStr, TypeAdapter, ValidationError

ChatRole = Literal["system", "user", "assistant"]
PromptFormat = Literal["chat", "raw", "messages"]
"""The job parameter ``prompt_format``: ``chat`` (default) the prompt is one user message rendered
with the chat template; ``raw`` the prompt goes to the model as it is (``/v1/completions``);
``messages`` the prompt is the canonical JSON list of chat messages made by :func:`encode_messages`."""
MAX_MESSAGES = 1024


class ChatMessage(BaseModel):
    """One message of a conversation, as the chat template reads it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: ChatRole
    content: StrictStr


_MESSAGES = TypeAdapter(list[ChatMessage])


class BadMessages(ValueError):
    """A prompt that is not the canonical JSON list of chat messages."""


def encode_messages(messages: list[ChatMessage]) -> str:
    """The canonical prompt text of ``messages``: compact JSON, keys sorted, UTF-8 kept."""
    if not messages:
        raise BadMessages("messages: at least one message is needed")
    if len(messages) > MAX_MESSAGES:
        raise BadMessages(f"messages: at most {MAX_MESSAGES}")
    return json.dumps([m.model_dump() for m in messages], ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def parse_messages(prompt: str) -> list[ChatMessage]:
    """The messages of a ``messages`` prompt; refuses anything but the canonical encoding, so
    that one conversation has exactly one prompt hash."""
    try:
        messages = _MESSAGES.validate_json(prompt)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ())) or "prompt"
        raise BadMessages(f"a messages prompt must be a JSON list of {{role, content}}: {where}: {err['msg']}") from None
    canonical = encode_messages(messages)
    if canonical != prompt:
        raise BadMessages("a messages prompt must be in canonical form (compact JSON, sorted keys)")
    return messages
