"""Which GGUF files get llama.cpp's pre-tokenizer on the transformers backend, and which a warning.

The token ids themselves are compared between the two real backends in
``test_miner_cross_backend.py``; here small GGUF files holding only tokenizer metadata (written
with the ``gguf`` package) drive each branch of ``align_pre_tokenizer`` over a real tokenizer that
transformers converts from the bundled SmolLM2 (the tokenizer only, no weights).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from testkit import skip_unless_ci

from daemons.miner.inference.availability import available_backends
from daemons.miner.inference.catalogue import smollm2_spec
from daemons.miner.inference.gguf_pretokenizer import (
    align_pre_tokenizer,
    gguf_package_tokenizer_types,
    gguf_tokenizer_types,
)

if not (cpu := available_backends()["cpu"]).available:
    skip_unless_ci(f"the cpu backend is not installed: {cpu.reason}", module=True)


def write_gguf(path: Path, model: str, pre: str | None) -> Path:
    """A GGUF file with no tensors whose tokenizer metadata names ``model`` and ``pre``."""
    from gguf import GGUFWriter

    writer = GGUFWriter(str(path), "llama")
    writer.add_tokenizer_model(model)
    if pre is not None:
        writer.add_tokenizer_pre(pre)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def pre_tokenizer_of(tokenizer: Any) -> Any:
    return json.loads(tokenizer.backend_tokenizer.to_str())["pre_tokenizer"]


@pytest.fixture(scope="module")
def converted() -> Any:
    """A transformers tokenizer converted from the bundled SmolLM2 GGUF, not yet aligned (once per
    module: the tests that keep it as it is run before the one that aligns it)."""
    from transformers import AutoTokenizer

    spec, reason = smollm2_spec()
    if spec is None:
        skip_unless_ci(f"the bundled SmolLM2 is not installed: {reason}")
    return AutoTokenizer.from_pretrained(str(spec.path), gguf_file=spec.gguf_file, local_files_only=True)


@pytest.mark.parametrize(
    ("model", "pre", "warned"),
    [
        ("gpt2", "nonesuch", "'nonesuch'"),  # a type nobody here knows
        ("gpt2", None, "'default'"),  # no type: llama.cpp's 'default' split, not transcribed here
        ("gpt2", "llama-bpe", None),  # transformers sets llama.cpp's split for this type itself
        ("llama", "nonesuch", None),  # sentencepiece vocabulary: no pre-tokenizer at all
    ],
)
def test_other_files_keep_transformers_split_and_unknown_types_warn(
    converted: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture, model: str, pre: str | None, warned: str | None
) -> None:
    before = pre_tokenizer_of(converted)
    path = write_gguf(tmp_path / "other.gguf", model, pre)
    with caplog.at_level(logging.WARNING, logger="daemons.miner.inference.gguf_pretokenizer"):
        assert align_pre_tokenizer(converted, path) is None
    assert pre_tokenizer_of(converted) == before
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    if warned is None:
        assert warnings == []
    else:
        assert len(warnings) == 1 and warned in warnings[0] and "other.gguf" in warnings[0] and "refuted" in warnings[0]


def test_both_metadata_readers_agree(tmp_path: Path) -> None:
    for model, pre in (("gpt2", "smollm"), ("llama", None)):
        path = write_gguf(tmp_path / f"{model}.gguf", model, pre)
        assert gguf_tokenizer_types(path) == gguf_package_tokenizer_types(path) == (model, pre)


def test_the_bundled_gguf_names_smollm_and_gets_llamacpps_digit_split(converted: Any) -> None:
    spec, _ = smollm2_spec()
    assert spec is not None and spec.gguf_path is not None
    assert gguf_tokenizer_types(spec.gguf_path) == ("gpt2", "smollm")
    text = "diet:\n\n1. Ban"
    assert converted(text, add_special_tokens=False)["input_ids"].count(198) == 2  # transformers' split
    assert align_pre_tokenizer(converted, spec.gguf_path) == "smollm"
    ids = converted(text, add_special_tokens=False)["input_ids"]
    assert 1116 in ids and 198 not in ids  # one "\n\n" token, as llama.cpp tokenises it
    assert converted.decode(ids) == text
