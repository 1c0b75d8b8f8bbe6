"""Wire models of the OpenAI-compatible routes (``/v1/chat/completions``, ``/v1/completions``).

The shapes are OpenAI's, so that the ``openai`` SDKs, LangChain and curl examples work
unchanged; what AITBC adds (the job, its receipt, its price) rides in an extra ``aitbc`` field and
in the ``X-AITBC-*`` headers. Light like ``models``: no FastAPI import. ``GET /v1/models`` uses
:class:`daemons.coordinator.models.ModelList` (already in OpenAI's list shape).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, model_validator

from chain.types import ModelName
from daemons.common.chat import ChatMessage, ChatRole
from daemons.coordinator.models import Answer

MAX_STOP = 4
MAX_PRICE_HEADER = "X-AITBC-Max-Price"
JOB_ID_HEADER = "X-AITBC-Job-Id"
RECEIPT_ID_HEADER = "X-AITBC-Receipt-Id"


class _OpenAIRequest(BaseModel):
    """Unknown fields are refused (400 naming the field): a silently ignored parameter would
    change what the client gets without telling it."""

    model_config = ConfigDict(extra="forbid")

    model: ModelName
    max_tokens: StrictInt | None = Field(None, ge=1, le=1_000_000, description="default: 128")
    temperature: float = Field(1.0, ge=0, le=2, description="0 is greedy; else at least 0.01")
    top_p: float = Field(1.0, gt=0, le=1)
    seed: StrictInt | None = Field(None, ge=0, le=2**63 - 1, description="sampling seed; default 0")
    stop: StrictStr | list[StrictStr] | None = Field(
        None, description="up to 4 sequences; the text is cut before the first one (the job still runs to its end "
                          "and is paid as such)")
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    n: StrictInt = Field(1, description="only 1 is supported")
    user: StrictStr | None = Field(None, max_length=256, description="accepted and ignored")

    @model_validator(mode="after")
    def _checks(self) -> _OpenAIRequest:
        if 0 < self.temperature < 0.01:
            raise ValueError("temperature: must be 0 (greedy) or at least 0.01")
        if isinstance(self.stop, list) and len(self.stop) > MAX_STOP:
            raise ValueError(f"stop: at most {MAX_STOP} sequences")
        if any(not s for s in self.stops):
            raise ValueError("stop: an empty sequence")
        return self

    @property
    def stops(self) -> list[str]:
        return [self.stop] if isinstance(self.stop, str) else list(self.stop or [])

    @property
    def include_usage(self) -> bool:
        return self.stream_options is not None and self.stream_options.include_usage


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    include_usage: StrictBool = False


class TextPart(BaseModel):
    """A content part; only text parts exist for a text model."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["text"]
    text: StrictStr


class InputMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: ChatRole | Literal["developer"]
    content: StrictStr | list[TextPart]
    name: StrictStr | None = Field(None, max_length=64, description="accepted and ignored")

    def chat_message(self) -> ChatMessage:
        """The message as the chat template reads it (``developer`` is OpenAI's newer ``system``)."""
        text = self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)
        return ChatMessage(role="system" if self.role == "developer" else self.role, content=text)


class ChatCompletionRequest(_OpenAIRequest):
    messages: list[InputMessage] = Field(min_length=1, max_length=1024)
    max_completion_tokens: StrictInt | None = Field(None, ge=1, le=1_000_000, description="OpenAI's newer max_tokens")


class CompletionRequest(_OpenAIRequest):
    prompt: StrictStr = Field(min_length=1)


class Usage(Answer):
    """Tokens as the model's tokenizer counted them (the miner's proof signs both counts;
    completion tokens include the end-of-sequence token when the model stopped by itself)."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AitbcFacts(Answer):
    """What makes the answer an AITBC job: verify it with ``aitbc receipts verify RECEIPT_ID``."""

    job_id: str
    receipt_id: str | None = None
    price: int | None = None
    miner: str | None = None


class AssistantMessage(Answer):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(Answer):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop", "length"]
    logprobs: None = None


class ChatCompletion(Answer):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage
    aitbc: AitbcFacts


class TextChoice(Answer):
    index: int = 0
    text: str
    finish_reason: Literal["stop", "length"]
    logprobs: None = None


class Completion(Answer):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[TextChoice]
    usage: Usage
    aitbc: AitbcFacts


class OpenAIErrorInfo(Answer):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIError(Answer):
    """OpenAI's error body: ``{"error": {"message", "type", "param", "code"}}``."""

    error: OpenAIErrorInfo


_OpenAIRequest.model_rebuild()
ChatCompletionRequest.model_rebuild()
CompletionRequest.model_rebuild()
