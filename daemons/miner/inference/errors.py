"""Typed failures of the inference layer, each with a one-line message an operator can act on.

The daemon maps these to API errors; a job for a model that is not served must be refused
before it starts, with the served models listed, so ``ModelNotServed`` carries that list.
"""

from __future__ import annotations

from chain.errors import MessageError


class InferenceError(MessageError):
    """Base of everything the inference layer refuses or fails at."""


class CatalogueError(InferenceError):
    """The model catalogue configuration itself is malformed (bad TOML, unknown key, bad name)."""


class ModelNotServed(InferenceError):
    """A job names a model this miner does not serve; ``served`` lists the ones it does."""

    def __init__(self, name: str, reason: str, served: list[str]) -> None:
        listed = ", ".join(served) if served else "none"
        super().__init__(f"model {name!r} is not served here: {reason} (served models: {listed})")
        self.name = name
        self.reason = reason
        self.served = list(served)


class BackendUnavailable(InferenceError):
    """The backend a model needs cannot run on this machine (package or GPU missing)."""


class WeightsMismatch(InferenceError):
    """The weights on disk are not the ones the catalogue pinned with ``expected_model_id``."""


class PromptTooLong(InferenceError):
    """The rendered prompt leaves no room for even one output token in the model's context."""


class BackendNotLoaded(InferenceError):
    """``generate``/``verify`` was called before ``load()`` (or after ``close()``)."""
