"""llama.cpp backend: GGUF weights run natively (quantised kernels) through ``llama-cpp-python``.

On a CPU this is several times faster than the transformers backend, which de-quantises a GGUF
to float32. What a job means must not depend on the engine, so only the forward pass is
llama.cpp's; everything that decides tokens is the project's own:

* **Prompt and tokens**: the GGUF's own vocabulary and chat template (``GgufTokenizer``), fed
  through the shared ``prompting.py`` code; the model sees exactly the ids the result reports.
  No BOS is added by llama.cpp (the template carries what it needs).
* **Sampling**: llama.cpp's logits of each step go to ``sampling.next_token`` (a zero-copy
  tensor view), the sampler the transformers backend uses: the same seeded generator, the same
  temperature/top_k/top_p order and nucleus rule the verifier checks. llama.cpp's own sampler
  chain is never used.
* **Stop**: an end-of-sequence id of the model (see :func:`gguf_eos_ids`), a job's stop string
  (the shared ``stops.StopScanner``, checked after every token), ``max_tokens`` or the context.
* **Verification**: prompt + claimed output is decoded as ONE evaluation (the prompt in
  ``n_batch`` chunks), with logits requested only for the positions that predict claimed tokens;
  those rows go through the shared ``scores_from_logits`` and the rule of ``verify.py``.

The engine is driven through llama.cpp's C API (``llama_decode`` on our own batch) rather than
``Llama.eval``/``Llama.generate``: that keeps the loop to one decode and one logits view per
token, and lets verification ask for exactly the rows it needs.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Iterator, Sequence, Unpack

from daemons.miner.inference.base import BackendOptions, InferenceBackend, PlannedRequest, PositionScores, TokenSink, scores_from_logits
from daemons.miner.inference.catalogue import ModelSpec
from daemons.miner.inference.errors import InferenceError
from daemons.miner.inference.gguf_tokenizer import GgufTokenizer
from daemons.miner.inference.schema import GenerationRequest, GenerationResult

log = logging.getLogger(__name__)

#: Tokens per ``llama_decode`` call (prompt prefill and verification are split into such chunks).
DEFAULT_BATCH_TOKENS = 512
#: Rows of the verification logits judged at a time (as the transformers backend does).
SCORE_CHUNK_ROWS = 256


def default_threads() -> int:
    """llama-cpp-python's own default: half the logical CPUs (one per physical core), at least 1.

    ggml's threads meet at a barrier after every operation of the graph (hundreds per token), so
    a thread per logical CPU collapses when anything else runs: measured on a loaded 2-core
    machine, 2 threads took over ten times longer per token than 1. ``cpu_threads`` overrides it.
    """
    return max(1, (os.cpu_count() or 1) // 2)


def idle_batch_threads(floor: int, cpus: int, load: float) -> int:
    """Threads for one batch decode (prompt prefill, a re-check): every CPU the 1-minute load
    average leaves idle (a CPU counts when at most half of it is in use), never fewer than ``floor``.

    A batch is compute-bound (llama.cpp's Q4_1 kernels process a batch only ~2x faster per token
    than generation) and its rows split over the threads, so idle CPUs shorten a re-check. But ggml's
    threads spin at a barrier after every operation: with the CPUs busy, a 2-thread batch on a
    2-core host measured 3-4x SLOWER than 1 thread. Hence the load check before every batch.
    The count does not change the numbers: each output row is computed whole by one thread.
    """
    spare = int(cpus - load + 0.5)
    return max(floor, min(cpus, spare))


def gguf_eos_ids(tokenizer: GgufTokenizer, is_eog: Any, vocab_size: int) -> frozenset[int]:
    """The ids that end generation: the GGUF's ``eos_token_id``, as transformers reads it.

    llama.cpp also treats other end-of-generation tokens (``<|endoftext|>``, ``<|eot_id|>``) as
    a stop; using its wider set here would let this backend stop where the transformers
    backend (and so a verifier running it) sees a truncated output. When the metadata names no
    EOS at all, llama.cpp's own end-of-generation set is the only answer there is.
    """
    if tokenizer.eos_token_id is not None:
        return frozenset({tokenizer.eos_token_id})
    ids = frozenset(i for i in range(vocab_size) if is_eog(i))
    if not ids:
        raise InferenceError("the model defines no end-of-sequence token; cannot tell a finished output")
    return ids


class LlamaCppBackend(InferenceBackend):
    """A GGUF model in llama.cpp on the CPU. ``threads``: per-token threads (default
    :func:`default_threads`). ``batch_threads``: threads of batch decodes (prefill, re-check);
    by default the ``threads`` given, or when none is given, :func:`idle_batch_threads` decided
    before each batch."""

    backend_name = "llamacpp"

    def __init__(
        self,
        spec: ModelSpec,
        *,
        threads: int | None = None,
        batch_threads: int | None = None,
        batch_tokens: int = DEFAULT_BATCH_TOKENS,
        **options: Unpack[BackendOptions],
    ) -> None:
        super().__init__(spec, **options)
        for setting, value in (("threads", threads), ("batch_threads", batch_threads), ("batch_tokens", batch_tokens)):
            if value is not None and value < 1:
                raise InferenceError(f"{setting} must be at least 1, got {value}")
        self._threads = threads
        self._batch_threads = batch_threads if batch_threads is not None else threads
        self._threads_now = (0, 0)
        self._batch_tokens = min(batch_tokens, spec.max_model_len)
        self._llm: Any = None
        self._api: Any = None
        self._batch: Any = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def loaded(self) -> bool:
        return self._llm is not None

    def _load_engine(self) -> None:
        gguf = self._spec.gguf_path
        if gguf is None:
            raise InferenceError(
                f"the llamacpp backend runs GGUF files only; {self._spec.name!r} is a Hugging Face "
                f"directory (use backend = \"cpu\" for it)"
            )
        import llama_cpp

        threads = self._threads or default_threads()
        batch_threads = self._batch_threads or threads  # the idle-CPU rule is applied per batch
        try:
            llm = llama_cpp.Llama(
                model_path=str(gguf),
                n_ctx=self._spec.max_model_len,
                n_batch=self._batch_tokens,
                n_ubatch=self._batch_tokens,
                n_threads=threads,
                n_threads_batch=batch_threads,
                logits_all=False,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise InferenceError(f"llama.cpp cannot load {gguf}: {exc}") from None
        vocab = llama_cpp.llama_model_get_vocab(llm.model)
        tokenizer = GgufTokenizer(llm)
        self._vocab_size = int(llm.n_vocab())
        self._eos = gguf_eos_ids(tokenizer, lambda i: llama_cpp.llama_vocab_is_eog(vocab, i), self._vocab_size)
        self._api = llama_cpp
        self._batch = llama_cpp.llama_batch_init(self._batch_tokens, 0, 1)
        self._tokenizer = tokenizer
        self._llm = llm
        self._threads_now = (threads, batch_threads)
        log.info("loaded %s (%s) in llama.cpp %s with %d threads (%d for batches)", self._spec.name, self.model_id,
                 getattr(llama_cpp, "__version__", "?"), threads, batch_threads)

    def close(self) -> None:
        with self._lock:
            if self._batch is not None:
                self._api.llama_batch_free(self._batch)
                self._batch = None
            if self._llm is not None:
                self._llm.close()
            self._llm = None
            self._tokenizer = None

    # ------------------------------------------------------------------ engine driving
    def _clear(self) -> None:
        """Forget every cached position (each request and each check starts from nothing)."""
        self._api.llama_memory_clear(self._api.llama_get_memory(self._llm.ctx), True)

    def _decode_chunk(self, tokens: Sequence[int], start: int, first_output: int) -> int:
        """Decode ``tokens`` at positions ``start...``; logits for positions >= ``first_output``.

        Returns how many logit rows the call produced (they follow in position order).
        """
        batch = self._batch
        outputs = 0
        for i, token in enumerate(tokens):
            position = start + i
            batch.token[i] = token
            batch.pos[i] = position
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = 0
            wanted = position >= first_output
            batch.logits[i] = wanted
            outputs += wanted
        batch.n_tokens = len(tokens)
        status = self._api.llama_decode(self._llm.ctx, batch)
        if status != 0:
            raise InferenceError(f"llama.cpp failed to decode {len(tokens)} tokens at position {start} (status {status})")
        return outputs

    def _evaluate(self, tokens: Sequence[int], start: int, first_output: int) -> Iterator[Any]:
        """Decode ``tokens`` from ``start`` in ``n_batch`` chunks; yields each chunk's logits rows
        as a ``[rows, vocab]`` numpy view (valid until the next decode)."""
        import numpy as np

        self._set_batch_threads()
        for offset in range(0, len(tokens), self._batch_tokens):
            chunk = tokens[offset : offset + self._batch_tokens]
            rows = self._decode_chunk(chunk, start + offset, first_output)
            if rows:
                pointer = self._api.llama_get_logits(self._llm.ctx)
                yield np.ctypeslib.as_array(pointer, shape=(rows, self._vocab_size))

    def _set_batch_threads(self) -> None:
        """Apply the batch thread count (fixed, or :func:`idle_batch_threads` right now)."""
        threads = self._threads_now[0]
        batch = self._batch_threads
        if batch is None:
            cpus = os.cpu_count() or 1
            try:
                load = os.getloadavg()[0]
            except OSError:  # no load average on this platform: stay at the per-token count
                load = float(cpus)
            batch = idle_batch_threads(threads, cpus, load)
        if (threads, batch) != self._threads_now:
            self._api.llama_set_n_threads(self._llm.ctx, threads, batch)
            self._threads_now = (threads, batch)
            log.debug("llama.cpp batches now use %d threads", batch)

    # ------------------------------------------------------------------ generation
    def generate(self, requests: list[GenerationRequest], *, on_token: TokenSink | None = None) -> list[GenerationResult]:
        with self._lock:
            self._require_loaded()
            planned = self.plan(requests)
            return [self.make_result(p, self._generate_one(p, index, on_token)) for index, p in enumerate(planned)]

    def _generate_one(self, planned: PlannedRequest, index: int, on_token: TokenSink | None) -> list[int]:
        import torch

        from daemons.miner.inference.sampling import next_token, sampler_for

        params = planned.request
        generator = sampler_for(params)
        prompt = planned.prompt.token_ids
        stops = self.stop_scanner(params)
        self._clear()
        *_, logits = self._evaluate(prompt, 0, len(prompt) - 1)
        output: list[int] = []
        position = len(prompt)
        with torch.inference_mode():
            for step in range(planned.budget):
                token = next_token(torch.from_numpy(logits[-1]), params, generator)
                output.append(token)
                if on_token is not None:
                    on_token(index, token)
                if token in self._eos or stops.push(token) or step + 1 == planned.budget:
                    break
                self._decode_chunk((token,), position, position)
                logits = self._last_logits()
                position += 1
        return output

    def _last_logits(self) -> Any:
        import numpy as np

        pointer = self._api.llama_get_logits_ith(self._llm.ctx, -1)
        return np.ctypeslib.as_array(pointer, shape=(1, self._vocab_size))

    # ------------------------------------------------------------------ verification
    def _score_claim(self, prompt_ids: list[int], tokens: list[int]) -> Iterator[PositionScores]:
        import numpy as np
        import torch

        sequence = prompt_ids + tokens[:-1]
        logits = np.empty((len(tokens), self._vocab_size), dtype=np.float32)
        filled = 0
        self._clear()
        for rows in self._evaluate(sequence, 0, len(prompt_ids) - 1):
            logits[filled : filled + rows.shape[0]] = rows
            filled += rows.shape[0]
        if filled != len(tokens):
            raise InferenceError(f"llama.cpp returned {filled} logit rows for {len(tokens)} claimed tokens")
        with torch.inference_mode():
            yield from scores_from_logits(torch.from_numpy(logits), tokens, SCORE_CHUNK_ROWS)
