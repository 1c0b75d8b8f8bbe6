"""Stable identity of a model's exact weights: ``sha256:<hex>`` over the files that define it.

Proofs and receipts bind a job to a model id, and the coordinator only lets a miner re-check a
job when both serve the same id, so the id must change whenever a single weight byte changes and
must not depend on where the files live. For one file (a GGUF) it is simply the file's SHA-256;
for a directory it is the SHA-256 of a manifest of ``relative path, size, file sha256`` lines.

Hashing multi-gigabyte weights takes seconds to minutes, so results are cached: in memory for
the process, and optionally in a small JSON file keyed by (path, size, mtime) so that a daemon
restart does not re-read every byte. The cache is an optimisation only: a changed size or
mtime means a fresh hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

from daemons.miner.inference.catalogue import ModelSpec
from daemons.miner.inference.errors import InferenceError

_CHUNK = 8 * 1024 * 1024
_memory_cache: dict[tuple[str, int, int], str] = {}
_cache_lock = threading.Lock()


def file_sha256(path: Path, cache_file: Path | None = None) -> str:
    """Hex SHA-256 of one file, served from the caches when size and mtime are unchanged."""
    resolved = Path(path).resolve()
    stat = resolved.stat()
    key = (str(resolved), stat.st_size, stat.st_mtime_ns)
    with _cache_lock:
        cached = _memory_cache.get(key)
    if cached is not None:
        return cached
    disk = _read_disk_cache(cache_file)
    entry = disk.get(key[0])
    if entry and entry.get("size") == key[1] and entry.get("mtime_ns") == key[2] and isinstance(entry.get("sha256"), str):
        digest = str(entry["sha256"])
    else:
        hasher = hashlib.sha256()
        with resolved.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                hasher.update(chunk)
        digest = hasher.hexdigest()
        if cache_file is not None:
            disk[key[0]] = {"size": key[1], "mtime_ns": key[2], "sha256": digest}
            _write_disk_cache(cache_file, disk)
    with _cache_lock:
        _memory_cache[key] = digest
    return digest


def compute_model_id(spec: ModelSpec, cache_file: Path | None = None) -> str:
    """``sha256:<hex>`` identifying exactly the weights ``spec`` points at."""
    files = spec.weight_files()
    if not files:
        raise InferenceError(f"cannot compute the model id of {spec.name!r}: {spec.weights_problem() or 'no weight files'}")
    if spec.gguf_path is not None:
        return "sha256:" + file_sha256(files[0], cache_file)
    manifest = hashlib.sha256()
    for file in files:
        relative = file.relative_to(spec.path).as_posix()
        manifest.update(f"{relative}\0{file.stat().st_size}\0{file_sha256(file, cache_file)}\n".encode())
    return "sha256:" + manifest.hexdigest()


def _read_disk_cache(cache_file: Path | None) -> dict[str, dict[str, object]]:
    if cache_file is None:
        return {}
    try:
        data = json.loads(Path(cache_file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_disk_cache(cache_file: Path, data: dict[str, dict[str, object]]) -> None:
    # Write-then-rename so a crash never leaves a half-written cache that would be misread.
    target = Path(cache_file)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(data, sort_keys=True), encoding="utf-8")
    os.replace(temporary, target)
