"""Which models this miner serves: the catalogue it reads and the backends it builds.

The catalogue is the inference layer's (built-in ``smollm2`` plus configured entries, nothing
downloaded). Configured entries come from, later ones winning: the ``[models]`` table of the
config file, the ``[models]`` table of ``catalogue_file``, and ``[mining.catalogue.<name>]``.
Relative paths are resolved against the file that names them (the home for the inline table),
so a config means the same whatever directory the daemon starts in.

A served name whose weights or backend are missing is not an error that stops the daemon: it
is reported (status, health) with the reason, and the miner serves what it can. The same holds
for weights that cannot be hashed (:func:`identify`) or loaded (:func:`load`).
"""

from __future__ import annotations

import asyncio
import logging
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from daemons.miner.inference import (
    BackendUnavailable, CatalogueError, InferenceBackend, InferenceError, ModelCatalogue, ModelNotServed,
    available_backends, create_backend,
)
from daemons.miner.settings import MinerSettings
from daemons.miner.tasks import model_id_hex
from daemons.miner.worker import InferenceWorker

log = logging.getLogger("aitbc.miner")
MODEL_ID_CACHE = "model-ids.json"


@dataclass
class Served:
    """One configured model: its backend (None when it cannot be served) and its state."""

    name: str
    backend: InferenceBackend | None
    reason: str | None = None
    model_id: str | None = None
    loaded: bool = False
    worker: InferenceWorker | None = field(default=None, repr=False)

    @property
    def usable(self) -> bool:
        return self.backend is not None and self.loaded and self.reason is None


def _models_table(path: Path) -> dict[str, Any]:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogueError(f"catalogue file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CatalogueError(f"catalogue file {path} cannot be read: {exc}") from None
    table = doc.get("models", {})
    if not isinstance(table, dict):
        raise CatalogueError(f"{path}: [models] must be a table of model names")
    return {name: _absolute(entry, path.parent) for name, entry in table.items()}


def _absolute(entry: Any, base: Path) -> Any:
    if not isinstance(entry, dict):
        return entry
    fixed = dict(entry)
    for key in ("path", "tokenizer"):
        value = fixed.get(key)
        if isinstance(value, str):
            p = Path(value).expanduser()
            fixed[key] = str(p if p.is_absolute() else base / p)
    return fixed


def build_catalogue(settings: MinerSettings, config_file: Path | None = None) -> ModelCatalogue:
    """The catalogue from the built-in entry plus every configured source (see module doc)."""
    entries: dict[str, Any] = {}
    config = config_file or settings.home.config_file
    if config.is_file():
        entries.update(_models_table(config))
    if settings.catalogue_file:
        entries.update(_models_table(Path(settings.catalogue_file)))
    entries.update({name: _absolute(entry, settings.home.root) for name, entry in settings.catalogue.items()})
    return ModelCatalogue.from_mapping(entries)


def prepare(settings: MinerSettings, catalogue: ModelCatalogue) -> list[Served]:
    """An unloaded backend for every name in ``settings.models`` (or the reason it has none)."""
    backends = available_backends(settings.gpu_devices)
    cache = settings.home.data_dir / MODEL_ID_CACHE
    served: list[Served] = []
    for name in settings.models:
        try:
            spec = catalogue.resolve(name, backends)
            backend = create_backend(spec, gpu_devices=settings.gpu_devices,
                                     threads=settings.cpu_threads or None, model_id_cache=cache)
        except (ModelNotServed, BackendUnavailable, InferenceError) as exc:
            served.append(Served(name, None, reason=exc.message))
            continue
        served.append(Served(name, backend))
    return served


async def identify(served: list[Served]) -> None:
    """Hash each model's weights (its model id, which registration needs long before the weights
    are loaded); a model whose weights cannot be read gets the reason instead."""
    for sv in served:
        if sv.backend is None:
            continue
        backend = sv.backend
        try:
            sv.model_id = model_id_hex(await asyncio.to_thread(lambda: backend.model_id))
        except (InferenceError, OSError) as exc:
            sv.reason = getattr(exc, "message", None) or str(exc)


async def load(sv: Served) -> None:
    """Load ``sv``'s weights on its own inference thread; a failure is this model's, reported
    in ``sv.reason``, never the daemon's end."""
    assert sv.backend is not None
    sv.worker = InferenceWorker(sv.name)
    started = time.monotonic()
    try:
        await sv.worker.run(sv.backend.load)
    except Exception as exc:  # any load failure is this model's, reported, not the daemon's end
        sv.reason = f"load failed: {getattr(exc, 'message', None) or exc}"
        log.error("model load failed", extra={"model": sv.name, "error": sv.reason})
        return
    sv.loaded = True
    log.info("model loaded", extra={"model": sv.name, "model_id": sv.model_id,
                                    "seconds": round(time.monotonic() - started, 1)})
