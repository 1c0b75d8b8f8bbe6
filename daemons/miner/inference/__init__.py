"""Inference for the miner: model catalogue, backends, and the verification check.

Usage::

    catalogue = ModelCatalogue.builtin()                  # or ModelCatalogue.from_toml(path)
    spec = catalogue.resolve("smollm2", available_backends())
    with create_backend(spec) as backend:                 # load() ... close()
        [result] = backend.generate([GenerationRequest(prompt="Which city is the capital of France?")])
        verdict = backend.verify("Which city is the capital of France?", result.output_token_ids, result.params)

Importing this package imports neither torch nor vLLM; backends import them in ``load()``.
"""

from daemons.miner.inference.availability import BackendAvailability, available_backends, create_backend
from daemons.miner.inference.base import InferenceBackend, TokenSink
from daemons.miner.inference.detokenize import IncrementalDetokenizer
from daemons.miner.inference.catalogue import DEFAULT_MODEL, ModelCatalogue, ModelSpec, ModelStatus
from daemons.miner.inference.errors import (
    BackendNotLoaded,
    BackendUnavailable,
    CatalogueError,
    InferenceError,
    ModelNotServed,
    PromptTooLong,
    WeightsMismatch,
)
from daemons.miner.inference.model_id import compute_model_id
from daemons.miner.inference.schema import (
    GenerationParams,
    GenerationRequest,
    GenerationResult,
    TokenMismatch,
    VerificationResult,
)
from daemons.miner.inference.verify import VerificationPolicy

__all__ = [
    "DEFAULT_MODEL",
    "BackendAvailability",
    "BackendNotLoaded",
    "BackendUnavailable",
    "CatalogueError",
    "GenerationParams",
    "GenerationRequest",
    "GenerationResult",
    "IncrementalDetokenizer",
    "InferenceBackend",
    "InferenceError",
    "ModelCatalogue",
    "ModelNotServed",
    "ModelSpec",
    "ModelStatus",
    "PromptTooLong",
    "TokenMismatch",
    "TokenSink",
    "VerificationPolicy",
    "VerificationResult",
    "WeightsMismatch",
    "available_backends",
    "compute_model_id",
    "create_backend",
]
