"""The tokenizer and chat template a GGUF file carries, read through llama.cpp.

The llama.cpp backend renders prompts with the shared code of ``prompting.py``, which expects a
Hugging Face-like tokenizer (``chat_template``, ``apply_chat_template``, ``__call__``,
``decode``, ``eos_token_id``). This adapter offers that interface over the GGUF's own
vocabulary (llama.cpp's tokenizer) and its ``tokenizer.chat_template`` metadata, rendered with
Jinja2 the way transformers renders it (sandboxed, ``trim_blocks``/``lstrip_blocks``). The
backend therefore needs neither transformers nor torch's tokenizers to turn a job into tokens,
and a proof's prompt token count is the same on both backends (tests compare them).
"""

from __future__ import annotations

import ctypes
from datetime import datetime
from typing import Any, Iterable

from daemons.miner.inference.errors import InferenceError

CHAT_TEMPLATE_KEY = "tokenizer.chat_template"
EOS_KEY = "tokenizer.ggml.eos_token_id"
BOS_KEY = "tokenizer.ggml.bos_token_id"


class GgufTokenizer:
    """Tokenise, detokenise and apply the chat template of a loaded ``llama_cpp.Llama``."""

    def __init__(self, llm: Any) -> None:
        import llama_cpp

        self._llm = llm
        self._api = llama_cpp
        self._vocab = llama_cpp.llama_model_get_vocab(llm.model)
        self._pieces: dict[tuple[int, bool], bytes] = {}
        metadata: dict[str, str] = dict(getattr(llm, "metadata", {}) or {})
        self.chat_template: str | None = metadata.get(CHAT_TEMPLATE_KEY) or None
        eos = metadata.get(EOS_KEY)
        self.eos_token_id: int | None = int(eos) if eos is not None else None
        bos = metadata.get(BOS_KEY)
        self.bos_token_id: int | None = int(bos) if bos is not None else None
        self._compiled: Any = None

    def token_text(self, token_id: int | None) -> str:
        """Text of one special token id ('' when absent), as templates refer to it."""
        if token_id is None:
            return ""
        return self.decode([token_id])

    def apply_chat_template(
        self, messages: list[dict[str, str]], *, tokenize: bool = False, add_generation_prompt: bool = True
    ) -> str:
        """The chat template rendered to text (``tokenize=False`` is the only form supported)."""
        if tokenize:
            raise InferenceError("GgufTokenizer renders templates to text only; tokenise the text afterwards")
        if not self.chat_template:
            raise InferenceError("this model has no chat template; submit the job with chat=false")
        if self._compiled is None:
            self._compiled = _compile(self.chat_template)
        return str(
            self._compiled.render(
                messages=messages,
                add_generation_prompt=add_generation_prompt,
                bos_token=self.token_text(self.bos_token_id),
                eos_token=self.token_text(self.eos_token_id),
            )
        )

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        """``{"input_ids": [...]}`` of ``text``; special-token text (``<|im_start|>``) becomes its id."""
        ids = self._llm.tokenize(text.encode("utf-8"), add_bos=add_special_tokens, special=True)
        return {"input_ids": [int(i) for i in ids]}

    def decode(
        self, token_ids: Iterable[int], skip_special_tokens: bool = False, clean_up_tokenization_spaces: bool = False
    ) -> str:
        """Text of ``token_ids``, special tokens kept; bytes that are not UTF-8 become U+FFFD."""
        special = not skip_special_tokens
        return b"".join(self._piece(int(i), special) for i in token_ids).decode("utf-8", errors="replace")

    def _piece(self, token_id: int, special: bool) -> bytes:
        """The bytes of one token (cached). ``Llama.detokenize`` truncates pieces longer than 32
        bytes silently, so the C call is made here with a buffer that grows to what it needs."""
        key = (token_id, special)
        piece = self._pieces.get(key)
        if piece is None:
            size = 64
            while True:
                buffer = ctypes.create_string_buffer(size)
                n = int(self._api.llama_token_to_piece(self._vocab, token_id, buffer, size, 0, special))
                if n >= 0:
                    break
                size = -n
            piece = self._pieces[key] = buffer.raw[:n]
        return piece


def _compile(template: str) -> Any:
    """Compile a chat template in the sandbox transformers uses, with its helper functions."""
    from jinja2.exceptions import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise TemplateError(message)

    def strftime_now(fmt: str) -> str:
        return datetime.now().strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    try:
        return env.from_string(template)
    except TemplateError as exc:
        raise InferenceError(f"the GGUF's chat template does not compile: {exc}") from None
