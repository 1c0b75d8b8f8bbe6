"""Token ids -> text deltas while a generation runs: the one incremental detokenizer.

Every streaming path (the miner pushing a job's output to the coordinator, the benchmark
reading the backend directly, any other engine's ``on_token``) turns ids into text here, so that
the deltas of one output always add up to the text its proof commits to.

A token is not always whole text: byte-level BPE splits a multi-byte character (an emoji, most
CJK) over several tokens, and decoding a prefix that ends inside one gives U+FFFD. So a delta is
released only once the decoded text of the pending tokens no longer ends in a replacement
character; and each delta is cut from the decode of a short window that starts a few tokens back
(``prefix``), because some tokenizers decode a token differently at the start of a text than
after another one (leading spaces).
"""

from __future__ import annotations

from typing import Any, Collection

from daemons.miner.inference.prompting import decode_tokens

_REPLACEMENT = "\ufffd"


class IncrementalDetokenizer:
    """Feed token ids one at a time (:meth:`push`), get the new text each one completes.

    End-of-sequence ids end the text: they and anything after them add nothing, matching
    ``GenerationResult.text``. :meth:`flush` releases text held back at the very end (an
    output that stops inside a character ends as the full decode does, with U+FFFD).
    """

    def __init__(self, tokenizer: Any, eos_ids: Collection[int] = ()) -> None:
        self._tokenizer = tokenizer
        self._eos = frozenset(eos_ids)
        self._ids: list[int] = []
        self._prefix = 0
        """Start of the decode window: tokens before it are settled text."""
        self._read = 0
        """Tokens up to here are already released as text."""
        self._ended = False
        self.text = ""
        """All text released so far."""

    def push(self, token_id: int) -> str:
        """The text ``token_id`` completes (often "", while a character is still incomplete)."""
        if self._ended:
            return ""
        if token_id in self._eos:
            self._ended = True
            return ""
        self._ids.append(token_id)
        before = decode_tokens(self._tokenizer, self._ids[self._prefix:self._read])
        after = decode_tokens(self._tokenizer, self._ids[self._prefix:])
        if after.endswith(_REPLACEMENT) or not after.startswith(before):
            return ""
        delta = after[len(before):]
        self._prefix, self._read = self._read, len(self._ids)
        self.text += delta
        return delta

    def flush(self) -> str:
        """Whatever is still held back (an incomplete character at the end of the output)."""
        if self._read == len(self._ids):
            return ""
        before = decode_tokens(self._tokenizer, self._ids[self._prefix:self._read])
        after = decode_tokens(self._tokenizer, self._ids[self._prefix:])
        delta = after[len(before):] if after.startswith(before) else after
        self._prefix = self._read = len(self._ids)
        self.text += delta
        return delta
