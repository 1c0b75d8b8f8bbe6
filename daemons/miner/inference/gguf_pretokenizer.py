"""Make transformers split a GGUF's text the way llama.cpp does, so both CPU backends agree.

A GGUF names its pre-tokenizer (how text is cut into pieces before BPE merges) by type in
``tokenizer.ggml.pre``; llama.cpp maps each type to a list of regular expressions
(``llm_tokenizer_bpe`` in ``llama-vocab.cpp``), applied one after another, every match and every
gap between matches becoming its own piece. Transformers' GGUF converter knows only some of those
types and falls back to plain GPT-2 byte-level splitting for the others. For ``smollm`` (the
built-in SmolLM2) that drops llama.cpp's first step, ``\\p{N}`` (every digit its own piece), which
also changes whitespace: in ``"diet:\\n\\n1."`` the digit ends the piece ``"\\n\\n"`` on llama.cpp
(one token, 1116), while GPT-2's ``\\s+(?!\\S)`` leaves two ``"\\n"`` tokens before the ``1``. The
model's own ``tokenizer.json`` agrees with llama.cpp (individual digits, then byte-level), so
llama.cpp's split is the real one, and a transformers verifier re-tokenising the other way would
refute honest proofs (a prompt token count that differs, a claimed text that is "not the greedy
choice").

``align_pre_tokenizer`` therefore replaces the converted tokenizer's pre-tokenizer with llama.cpp's
expressions for the types listed in ``LLAMACPP_SPLITS`` (transcribed from ``llama-vocab.cpp``),
leaves the types transformers' own table already maps, and warns about any other type: proofs
made by such a model on one backend may then be refuted on the other.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PRE_KEY = "tokenizer.ggml.pre"
MODEL_KEY = "tokenizer.ggml.model"
#: ``tokenizer.ggml.model`` of byte-level BPE vocabularies, the only kind with a pre-tokenizer type.
BPE_MODEL = "gpt2"

#: llama.cpp's GPT-2 expression (without GPT-2's trailing ``|\s+``: llama.cpp keeps the
#: unmatched whitespace as its own piece, which is what that alternative matched).
GPT2_SPLIT = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"

#: ``tokenizer.ggml.pre`` -> llama.cpp's expressions for it, in the order it applies them.
LLAMACPP_SPLITS: dict[str, tuple[str, ...]] = {
    "smollm": (r"\p{N}", GPT2_SPLIT),
    "codeshell": (r"\p{N}", GPT2_SPLIT),
    "exaone": (r"\p{N}", GPT2_SPLIT),
    "command-r": (r"\p{N}", GPT2_SPLIT),
    "gpt2": (GPT2_SPLIT,),
    "mpt": (GPT2_SPLIT,),
    "olmo": (GPT2_SPLIT,),
    "jais": (GPT2_SPLIT,),
}


def gguf_tokenizer_types(gguf_path: Path) -> tuple[str | None, str | None]:
    """``(tokenizer.ggml.model, tokenizer.ggml.pre)`` of a GGUF file (None where absent).

    Read with the metadata reader transformers converted the tokenizer with (milliseconds: it
    skips the vocabulary), or with the ``gguf`` package's reader where this transformers has none
    (seconds: it parses every array).
    """
    try:
        from transformers.integrations.gguf.reader import read_gguf_metadata
    except ImportError:
        return gguf_package_tokenizer_types(gguf_path)
    metadata, _ = read_gguf_metadata(str(gguf_path))
    model, pre = metadata.get(MODEL_KEY), metadata.get(PRE_KEY)
    return (None if model is None else str(model)), (None if pre is None else str(pre))


def gguf_package_tokenizer_types(gguf_path: Path) -> tuple[str | None, str | None]:
    """``gguf_tokenizer_types`` through the ``gguf`` package's reader (older transformers)."""
    from gguf import GGUFReader

    reader = GGUFReader(str(gguf_path))

    def text(key: str) -> str | None:
        field = reader.get_field(key)
        return None if field is None else str(field.contents())

    return text(MODEL_KEY), text(PRE_KEY)


def transformers_maps(pre_type: str) -> bool:
    """True when transformers' GGUF converter sets its own split for ``pre_type``."""
    try:
        from transformers.integrations.gguf.gguf_tokenizer_mapping import GGUF_PRE_TOKENIZER_SPLITS
    except ImportError:  # another transformers layout: nothing known about its table
        return False
    return pre_type in GGUF_PRE_TOKENIZER_SPLITS


def llamacpp_pre_tokenizer(pre_type: str) -> Any:
    """The ``tokenizers`` pre-tokenizer doing llama.cpp's split for ``pre_type`` (a listed type)."""
    from tokenizers import Regex, pre_tokenizers

    splits = [pre_tokenizers.Split(Regex(pattern), behavior="isolated") for pattern in LLAMACPP_SPLITS[pre_type]]
    return pre_tokenizers.Sequence([*splits, pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])


def align_pre_tokenizer(tokenizer: Any, gguf_path: Path) -> str | None:
    """Give ``tokenizer`` (converted from ``gguf_path`` by transformers) llama.cpp's pre-tokenizer.

    Returns the pre-tokenizer type that was applied, or None when the tokenizer was left as
    transformers built it (not a byte-level BPE vocabulary, or a type transformers maps itself,
    or an unknown type, which is logged as a warning).
    """
    model_type, pre_type = gguf_tokenizer_types(gguf_path)
    if model_type != BPE_MODEL:
        return None
    pre_type = pre_type or "default"
    if pre_type in LLAMACPP_SPLITS:
        tokenizer.backend_tokenizer.pre_tokenizer = llamacpp_pre_tokenizer(pre_type)
        return pre_type
    if not transformers_maps(pre_type):
        log.warning(
            "%s: pre-tokenizer type %r is not one the cpu backend knows how llama.cpp splits; "
            "the cpu and llamacpp backends may tokenise some text differently, and proofs made "
            "on one may be refuted on the other",
            gguf_path.name,
            pre_type,
        )
    return None
