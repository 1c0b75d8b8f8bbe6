"""Wire models of the OpenAI-compatible routes (``/v1/chat/completions``, ``/v1/completions``).

The shapes are OpenAI's, so that the ``openai`` SDKs, LangChain and curl examples work
unchanged; what AITBC adds (the job, its receipt, its price) rides in an extra ``aitbc`` field and
in the ``X-AITBC-*`` headers. Light like ``models``: no FastAPI import. ``GET /v1/models`` uses
:class:`daemons.coordinator.models.ModelList` (already in OpenAI's list shape).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from chain.types import ModelName
from daemons.common.chat import ChatMessage, ChatRole
from daemons.common.models import MAX_STOP_LENGTH, MAX_STOP_SEQUENCES, StopSequence
from daemons.coordinator.models import Answer

Temperature = Annotated[float, Field(ge=0, le=0)] | Annotated[float, Field(ge=0.01, le=2)]
"""0 (greedy) or from 0.01: below that the engines would clamp it, so it would not mean the same everywhere."""
MAX_PRICE_HEADER = "X-AITBC-Max-Price"
JOB_ID_HEADER = "X-AITBC-Job-Id"
RECEIPT_ID_HEADER = "X-AITBC-Receipt-Id"


class _OpenAIRequest(BaseModel):
    """Unknown fields are refused (400 naming the field): a silently ignored parameter would
    change what the client gets without telling it. Integers are JSON's (``2.0`` is 2), as the
    schema says; a fraction is refused."""

    model_config = ConfigDict(extra="forbid")

    model: ModelName
    max_tokens: int | None = Field(None, ge=1, le=1_000_000,
                                         description="default: 128; above the coordinator's max_tokens_limit it is "
                                                     "lowered to that limit")
    temperature: Temperature = Field(1.0, description="0 is greedy; else from 0.01 to 2")
    top_p: float = Field(1.0, gt=0, le=1)
    seed: int | None = Field(None, ge=0, le=2**53 - 1,
                                   description="sampling seed; default 0 (bounded where JSON numbers stay exact)")
    stop: StopSequence | Annotated[list[StopSequence], Field(max_length=MAX_STOP_SEQUENCES)] | None = Field(
        None, description=f"up to {MAX_STOP_SEQUENCES} sequences of 1 to {MAX_STOP_LENGTH} characters; the miner stops "
                          "generating at the first one and the text is cut before it (the tokens generated up to it "
                          "are paid)")
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    n: int = Field(1, ge=1, le=1, description="only 1 is supported (one job gives one choice)")
    user: StrictStr | None = Field(None, max_length=256, description="accepted and ignored")

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
    max_completion_tokens: int | None = Field(None, ge=1, le=1_000_000, description="OpenAI's newer max_tokens")


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


class _Choice(Answer):
    index: int = 0
    finish_reason: Literal["stop", "length"]
    logprobs: None = None


class ChatChoice(_Choice):
    message: AssistantMessage


class _Answered(Answer):
    """What both kinds of completion carry besides their choices."""

    id: str
    created: int
    model: str
    usage: Usage
    aitbc: AitbcFacts


class ChatCompletion(_Answered):
    object: Literal["chat.completion"] = "chat.completion"
    choices: list[ChatChoice]


class TextChoice(_Choice):
    text: str


class Completion(_Answered):
    object: Literal["text_completion"] = "text_completion"
    choices: list[TextChoice]


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
