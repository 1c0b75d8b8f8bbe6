"""Stop sequences: the one place that decides where a job's output ends on a stop string.

A job may name stop strings (``GenerationParams.stop``). Generation ends as soon as the decoded
output contains one of them; the token that completed it is the last output token, so the
output's token ids (and its count, which the client pays for) are exactly the tokens generated.
The text committed in the proof is the decode of those ids, so it contains the stop string (a
token may even carry a few characters past it); the OpenAI routes cut the text before it, as
OpenAI does.

The generating loops (every backend) and the verifier both run :class:`StopScanner` over the same
token ids, so "where the output first contains a stop string" is one decision, computed one way:
a verifier refuses an output that goes on past that point (more tokens billed) and a text claim
that stops short of it without an end-of-sequence token (see ``verify.check_structure``).

Text is released by :class:`IncrementalDetokenizer` (no half characters, the same text as the
streamed deltas), and only the new text plus the ``longest - 1`` characters before it are
searched, so a scan costs O(output) however long it runs.
"""

from __future__ import annotations

from typing import Any, Collection, Sequence

from daemons.miner.inference.detokenize import IncrementalDetokenizer


class StopScanner:
    """Feed output token ids in order (:meth:`push`); says when the text contains a stop string."""

    def __init__(self, tokenizer: Any, stops: Sequence[str], eos_ids: Collection[int] = ()) -> None:
        self._stops = tuple(stops)
        self._longest = max((len(s) for s in self._stops), default=0)
        self._text = IncrementalDetokenizer(tokenizer, eos_ids) if self._stops else None
        self.stopped = False
        """True once the text released so far contains a stop string."""

    def push(self, token_id: int) -> bool:
        """Add the next output token; True when the output now contains a stop string."""
        if self._text is None or self.stopped:
            return self.stopped
        before = len(self._text.text)
        if self._text.push(token_id):
            window = self._text.text[max(0, before - self._longest + 1):]
            self.stopped = any(stop in window for stop in self._stops)
        return self.stopped


def stop_position(tokenizer: Any, token_ids: Sequence[int], stops: Sequence[str], eos_ids: Collection[int] = ()) -> int | None:
    """How many of ``token_ids`` a generation with these ``stops`` would have kept: the count up to
    and including the token whose text completed the first stop string, or None if none did."""
    if not stops:
        return None
    scanner = StopScanner(tokenizer, stops, eos_ids)
    for count, token in enumerate(token_ids, start=1):
        if scanner.push(token):
            return count
    return None
