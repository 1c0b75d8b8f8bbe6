"""GPU backend: vLLM, with continuous batching and tensor parallelism across ``gpu_devices``.

vLLM is imported only inside ``load()``: this module is importable (and ``available_backends``
works) on machines without vLLM or without a GPU.

* Generation passes every request of a ``generate`` call to one ``LLM.generate`` with its own
  ``SamplingParams`` (vLLM batches them continuously). Prompts go in as token ids rendered by
  the shared chat-template code, so the model input is exactly what the result reports.
* Verification sends ``prompt + claimed output`` as one prompt with ``max_tokens=1`` and
  ``prompt_logprobs=K``: one prefill pass whose per-position log-probabilities (the claimed
  token's, with its rank, plus the top K) feed the same rule as the CPU backend. The scoring
  request uses temperature 1 and no truncation, so "processed" and "raw" log-probabilities
  coincide whatever ``logprobs_mode`` the installed vLLM defaults to.
* Stop strings are not handed to vLLM (it would have to detokenize with its own rules): the
  output is cut after the token that completed one by the shared ``make_result``, so the ids
  and the finish reason are those of the CPU backends (vLLM generates on to ``max_tokens`` meanwhile).
* The context is capped one token below ``max_model_len`` for generation, because re-scoring a
  claim needs room for the one token the scoring request itself must generate.
"""

from __future__ import annotations

import gc
import logging
import os
from typing import Any, Iterator, Sequence, Unpack

from daemons.miner.inference.base import BackendOptions, InferenceBackend, PositionScores, TokenSink
from daemons.miner.inference.catalogue import ModelSpec
from daemons.miner.inference.errors import BackendUnavailable, InferenceError
from daemons.miner.inference.prompting import eos_token_ids
from daemons.miner.inference.schema import GenerationRequest, GenerationResult

log = logging.getLogger(__name__)

DEFAULT_MAX_LOGPROBS = 20
_TOP_K_OFF = -1  # "consider all tokens" in every vLLM release (0 is accepted only by newer ones)


class VllmBackend(InferenceBackend):
    """vLLM ``LLM`` over ``gpu_devices`` (tensor parallel size = number of devices)."""

    backend_name = "vllm"

    def __init__(
        self,
        spec: ModelSpec,
        *,
        gpu_devices: Sequence[int] = (0,),
        gpu_memory_utilization: float = 0.85,
        max_logprobs: int = DEFAULT_MAX_LOGPROBS,
        enforce_eager: bool = False,
        **options: Unpack[BackendOptions],
    ) -> None:
        super().__init__(spec, **options)
        devices = list(gpu_devices)
        if not devices or len(set(devices)) != len(devices) or any(d < 0 for d in devices):
            raise InferenceError(f"gpu_devices must be distinct non-negative GPU indices, got {devices}")
        if not 0.05 <= gpu_memory_utilization <= 0.99:
            raise InferenceError(f"gpu_memory_utilization must be within 0.05..0.99, got {gpu_memory_utilization}")
        if max_logprobs < 1:
            raise InferenceError(f"max_logprobs must be at least 1, got {max_logprobs}")
        self._devices = devices
        self._memory_utilization = gpu_memory_utilization
        self._max_logprobs = max_logprobs
        self._enforce_eager = enforce_eager
        self._llm: Any = None
        self._sampling_params_type: Any = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def loaded(self) -> bool:
        return self._llm is not None

    @property
    def gpu_devices(self) -> list[int]:
        """The GPUs the engine spans."""
        return list(self._devices)

    def _load_engine(self) -> None:
        self._select_devices()
        try:
            import vllm
        except ImportError as exc:
            raise BackendUnavailable(f"vLLM is not installed ({exc}); install the 'gpu' extra") from None
        self._llm = vllm.LLM(**self.engine_arguments())
        self._sampling_params_type = vllm.SamplingParams
        self._tokenizer = self._llm.get_tokenizer()
        model_config = _model_config(self._llm)
        generation_config = _generation_config(model_config)
        self._eos = eos_token_ids(self._tokenizer, generation_config)
        self._vocab_size = int(model_config.get_vocab_size())
        log.info("loaded %s (%s) with vLLM %s on GPUs %s", self._spec.name, self.model_id, vllm.__version__, self._devices)

    def engine_arguments(self) -> dict[str, Any]:
        """Keyword arguments for ``vllm.LLM`` (public so operators can see what is used)."""
        gguf = self._spec.gguf_path
        arguments: dict[str, Any] = {
            "model": str(gguf if gguf is not None else self._spec.path),
            "tensor_parallel_size": len(self._devices),
            "max_model_len": self._spec.max_model_len,
            "gpu_memory_utilization": self._memory_utilization,
            "max_logprobs": self._max_logprobs,
            "dtype": self._spec.dtype,
            "seed": 0,
            "trust_remote_code": False,
            "enforce_eager": self._enforce_eager,
        }
        if self._spec.tokenizer is not None:
            arguments["tokenizer"] = str(self._spec.tokenizer)
        return arguments

    def _select_devices(self) -> None:
        # vLLM uses the GPUs CUDA makes visible; pinning them is the only way to choose devices,
        # and it must happen before CUDA is initialised in this process.
        wanted = ",".join(str(d) for d in self._devices)
        current = os.environ.get("CUDA_VISIBLE_DEVICES")
        if current != wanted:
            if current is not None:
                log.warning("CUDA_VISIBLE_DEVICES was %r; using gpu_devices %s instead", current, wanted)
            os.environ["CUDA_VISIBLE_DEVICES"] = wanted

    def close(self) -> None:
        with self._lock:
            if self._llm is None:
                return
            self._llm = None
            self._tokenizer = None
            _release_vllm_memory()

    @property
    def max_model_len(self) -> int:
        # One token of headroom so every output we produce can be re-scored (module docstring).
        return self._spec.max_model_len - 1

    # ------------------------------------------------------------------ generation
    def generate(self, requests: list[GenerationRequest], *, on_token: TokenSink | None = None) -> list[GenerationResult]:
        """vLLM's ``LLM.generate`` has no per-token callback: ``on_token`` is called for each
        output token of each request *after* the whole batch is generated (so a streamed job on
        vLLM arrives in one piece, right before its result)."""
        with self._lock:
            self._require_loaded()
            planned = self.plan(requests)
            prompts = [{"prompt_token_ids": list(p.prompt.token_ids)} for p in planned]
            sampling = [self._sampling_params(p.request, p.budget) for p in planned]
            outputs = self._llm.generate(prompts, sampling, use_tqdm=False)
            results: list[GenerationResult] = []
            for plan, output in zip(planned, outputs, strict=True):
                completion = output.outputs[0]
                if completion.finish_reason not in ("stop", "length"):
                    raise InferenceError(f"vLLM ended a request with finish_reason={completion.finish_reason!r}")
                results.append(self.make_result(plan, self._output_ids(completion)))
            if on_token is not None:
                for index, result in enumerate(results):
                    for token in result.output_token_ids:
                        on_token(index, token)
            return results

    def _sampling_params(self, request: GenerationRequest, budget: int) -> Any:
        greedy = request.greedy
        return self._sampling_params_type(
            n=1,
            temperature=0.0 if greedy else request.temperature,
            top_p=1.0 if greedy else request.top_p,
            top_k=_TOP_K_OFF if greedy or request.top_k == 0 else request.top_k,
            seed=None if greedy else request.seed,
            max_tokens=budget,
            stop_token_ids=sorted(self._eos),
            skip_special_tokens=False,
            detokenize=False,
        )

    def _output_ids(self, completion: Any) -> list[int]:
        """Output ids normalised to our convention: a stopped output ends with its EOS token."""
        ids = [int(t) for t in completion.token_ids]
        if completion.finish_reason == "stop" and (not ids or ids[-1] not in self._eos):
            stop = getattr(completion, "stop_reason", None)
            ids.append(stop if isinstance(stop, int) and stop in self._eos else self.primary_eos)
        return ids

    # ------------------------------------------------------------------ verification
    def _score_claim(self, prompt_ids: list[int], tokens: list[int]) -> Iterator[PositionScores]:
        import torch

        scoring = self._sampling_params_type(
            n=1,
            temperature=1.0,
            top_p=1.0,
            top_k=_TOP_K_OFF,
            max_tokens=1,
            prompt_logprobs=self._max_logprobs,
            seed=0,
            detokenize=False,
        )
        output = self._llm.generate([{"prompt_token_ids": prompt_ids + tokens}], scoring, use_tqdm=False)[0]
        table = output.prompt_logprobs
        if table is None or len(table) < len(prompt_ids) + len(tokens):
            raise InferenceError("vLLM returned no prompt log-probabilities for the claim")
        width = self._max_logprobs
        candidates = torch.full((len(tokens), width), float("-inf"), dtype=torch.float64)
        claimed = torch.empty(len(tokens), dtype=torch.float64)
        ranks = torch.empty(len(tokens), dtype=torch.long)
        best_ids: list[int] = []
        best_values: list[float] = []
        for row, token in enumerate(tokens):
            entry = table[len(prompt_ids) + row]
            if entry is None or token not in entry:
                raise InferenceError(f"vLLM returned no log-probability for claimed position {row}")
            ordered = sorted(entry.items(), key=lambda item: item[1].logprob, reverse=True)[:width]
            for column, (_, logprob) in enumerate(ordered):
                candidates[row, column] = float(logprob.logprob)
            mine = entry[token]
            claimed[row] = float(mine.logprob)
            rank = getattr(mine, "rank", None)
            ranks[row] = int(rank) if rank is not None else 1 + sum(1 for _, lp in ordered if lp.logprob > mine.logprob)
            best_ids.append(int(ordered[0][0]))
            best_values.append(float(ordered[0][1].logprob))
        yield PositionScores(
            offset=0,
            logprobs=candidates,
            claimed_logprobs=claimed,
            claimed_ranks=ranks,
            best_token_ids=best_ids,
            best_logprobs=best_values,
        )


def _model_config(llm: Any) -> Any:
    """vLLM's ``ModelConfig`` of a loaded ``LLM`` (its location moved between releases)."""
    for owner in (getattr(llm, "llm_engine", None), llm):
        config = getattr(owner, "model_config", None)
        if config is not None:
            return config
    raise InferenceError("this vLLM version exposes no model_config on LLM; cannot read the vocabulary size")


def _generation_config(model_config: Any) -> Any:
    """The model's generation config (its EOS ids), where this vLLM version exposes it."""
    getter = getattr(model_config, "try_get_generation_config", None)
    if getter is None:
        return None
    fields = getter()
    if isinstance(fields, dict):
        return type("GenerationConfig", (), {"eos_token_id": fields.get("eos_token_id")})()
    return fields


def _release_vllm_memory() -> None:
    """Free the engine's GPU memory so another model can load in this process."""
    try:
        from vllm.distributed.parallel_state import destroy_distributed_environment, destroy_model_parallel
    except ImportError:
        destroy_model_parallel = destroy_distributed_environment = None
    if destroy_model_parallel is not None and destroy_distributed_environment is not None:
        destroy_model_parallel()
        destroy_distributed_environment()
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
