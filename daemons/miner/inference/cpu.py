"""CPU backend: transformers on torch CPU, for machines without a GPU and for tests.

The decoding loop is written out (prefill, then one token at a time over a KV cache) instead of
calling ``model.generate`` because the sampler must draw from a ``torch.Generator`` seeded with
the job's seed, and must apply exactly the support rule the verifier checks. Requests of one
call run one after another: batching them on a CPU gains little, and padding would make a
job's numbers depend on which other jobs shared its batch.

GGUF weights (the built-in ``smollm2``) are loaded with ``from_pretrained(dir, gguf_file=...)``,
which de-quantises them to float32; ``local_files_only=True`` plus ``force_offline()`` make sure
nothing is fetched. The tokenizer transformers converts from the GGUF then gets llama.cpp's
pre-tokenizer for the file's ``tokenizer.ggml.pre`` (``gguf_pretokenizer.py``), so both CPU
backends turn the same text into the same token ids and a proof made on one checks on the other.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any, Iterator, Unpack

from daemons.miner.inference.base import BackendOptions, InferenceBackend, PlannedRequest, PositionScores, TokenSink, scores_from_logits
from daemons.miner.inference.catalogue import ModelSpec
from daemons.miner.inference.errors import InferenceError
from daemons.miner.inference.gguf_pretokenizer import align_pre_tokenizer
from daemons.miner.inference.prompting import eos_token_ids
from daemons.miner.inference.schema import GenerationRequest, GenerationResult

log = logging.getLogger(__name__)

#: Rows of the ``[N, vocab]`` verification scores judged at a time (bounds memory on long outputs).
SCORE_CHUNK_ROWS = 256


class CpuBackend(InferenceBackend):
    """Transformers causal LM on the CPU.

    ``threads`` sets torch's intra-op thread count. That setting is process-wide in torch, so
    it is applied at ``load()`` and affects every torch user in the process; leave it None to
    keep torch's default (one thread per core).
    """

    backend_name = "cpu"

    def __init__(
        self,
        spec: ModelSpec,
        *,
        threads: int | None = None,
        **options: Unpack[BackendOptions],
    ) -> None:
        super().__init__(spec, **options)
        if threads is not None and threads < 1:
            raise InferenceError(f"threads must be at least 1, got {threads}")
        self._threads = threads
        self._model: Any = None
        self._cache_argument = "past_key_values"
        self._keep_argument: str | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def loaded(self) -> bool:
        return self._model is not None

    def _load_engine(self) -> None:
        import torch
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if self._threads is not None:
            torch.set_num_threads(self._threads)
        transformers.utils.logging.disable_progress_bar()
        source = str(self._spec.path)
        gguf = {"gguf_file": self._spec.gguf_file} if self._spec.gguf_file else {}
        if self._spec.tokenizer is not None:
            tokenizer = AutoTokenizer.from_pretrained(str(self._spec.tokenizer), local_files_only=True)
        else:
            tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True, **gguf)
            if self._spec.gguf_path is not None:
                align_pre_tokenizer(tokenizer, self._spec.gguf_path)
        model = AutoModelForCausalLM.from_pretrained(source, local_files_only=True, **gguf, **self._dtype_argument(transformers, torch))
        model.eval()
        parameters = inspect.signature(model.forward).parameters
        self._cache_argument = "cache" if "cache" in parameters else "past_key_values"
        self._keep_argument = next((n for n in ("logits_to_keep", "num_logits_to_keep") if n in parameters), None)
        self._eos = eos_token_ids(tokenizer, getattr(model, "generation_config", None))
        self._vocab_size = int(model.get_output_embeddings().weight.shape[0])
        self._tokenizer = tokenizer
        self._model = model
        log.info("loaded %s (%s) on CPU with %d torch threads", self._spec.name, self.model_id, torch.get_num_threads())

    def close(self) -> None:
        with self._lock:
            self._model = None
            self._tokenizer = None

    def _dtype_argument(self, transformers: Any, torch: Any) -> dict[str, Any]:
        if self._spec.dtype in ("auto", "float32"):
            return {}  # float32: the CPU default and what GGUF de-quantises to
        dtype = getattr(torch, self._spec.dtype)
        major = int(str(transformers.__version__).split(".")[0])
        return {"dtype": dtype} if major >= 5 else {"torch_dtype": dtype}

    # ------------------------------------------------------------------ generation
    def generate(self, requests: list[GenerationRequest], *, on_token: TokenSink | None = None) -> list[GenerationResult]:
        """``on_token`` is called inside the decoding loop, as soon as each token is sampled."""
        with self._lock:
            self._require_loaded()
            planned = self.plan(requests)
            return [self.make_result(p, self._decode(p, index, on_token)) for index, p in enumerate(planned)]

    def _decode(self, planned: PlannedRequest, index: int = 0, on_token: TokenSink | None = None) -> list[int]:
        import torch

        from daemons.miner.inference.sampling import next_token, sampler_for

        params = planned.request
        generator = sampler_for(params)
        cache = self._new_cache()
        stops = self.stop_scanner(params)
        output: list[int] = []
        with torch.inference_mode():
            logits = self._last_logits(torch.tensor([planned.prompt.token_ids], dtype=torch.long), cache)
            for step in range(planned.budget):
                token = next_token(logits, params, generator)
                output.append(token)
                if on_token is not None:
                    on_token(index, token)
                if token in self._eos or stops.push(token) or step + 1 == planned.budget:
                    break
                logits = self._last_logits(torch.tensor([[token]], dtype=torch.long), cache)
        return output

    def _new_cache(self) -> Any:
        from transformers import DynamicCache

        try:
            return DynamicCache(config=self._model.config)
        except TypeError:  # transformers < 4.56 builds the cache without a config
            return DynamicCache()

    def _last_logits(self, input_ids: Any, cache: Any) -> Any:
        kwargs: dict[str, Any] = {self._cache_argument: cache, "use_cache": True}
        if self._keep_argument is not None:
            kwargs[self._keep_argument] = 1
        return self._model(input_ids=input_ids, **kwargs).logits[0, -1].float()

    # ------------------------------------------------------------------ verification
    def _score_claim(self, prompt_ids: list[int], tokens: list[int]) -> Iterator[PositionScores]:
        import torch

        count = len(tokens)
        sequence = torch.tensor([prompt_ids + tokens[:-1]], dtype=torch.long)
        kwargs: dict[str, Any] = {"use_cache": False}
        if self._keep_argument is not None:
            kwargs[self._keep_argument] = count
        with torch.inference_mode():
            logits = self._model(input_ids=sequence, **kwargs).logits[0, -count:]
            yield from scores_from_logits(logits, tokens, SCORE_CHUNK_ROWS)
