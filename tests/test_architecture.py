"""The map stays true: every path ``docs/architecture.md`` names exists, the README links it, and
the imports point the way the map says (down the layers, never up)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAP = ROOT / "docs" / "architecture.md"
OUR_PACKAGES = ("chain", "keys", "storage", "daemons", "aitbc_tui")

# What each layer may import of ours (itself included). The map's "Layers" section says why.
ALLOWED: dict[str, set[str]] = {
    "chain": {"chain"},
    "keys": {"keys", "chain"},
    "storage": {"storage", "chain"},
    "daemons": {"daemons", "storage", "keys", "chain"},
    "aitbc_tui": {"aitbc_tui", "daemons", "storage", "keys", "chain"},
}


def _named_paths(text: str) -> list[str]:
    """Repository paths written in backticks: ``chain/execution.py``, ``daemons/ops/``..."""
    names = []
    for token in re.findall(r"`([^`\s]+)`", text):
        if token.startswith(("HOME/", "../", "/", "$")) or "<" in token or "*" in token:
            continue
        top = token.split("/", 1)[0]
        if "/" in token and top in {*OUR_PACKAGES, "tests", "bench", "configs", "docs", ".ci"}:
            names.append(token.rstrip("/"))
    return names


def test_every_path_the_map_names_exists() -> None:
    names = _named_paths(MAP.read_text(encoding="utf-8"))
    assert len(names) > 40, "the map names the modules it describes"
    missing = sorted({name for name in names if not (ROOT / name).exists()})
    assert not missing, f"docs/architecture.md names paths that do not exist: {missing}"


def test_the_readme_links_the_map() -> None:
    assert "docs/architecture.md" in (ROOT / "README.md").read_text(encoding="utf-8")


def _imports_of(path: Path) -> set[str]:
    """The top-level names of every absolute import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_imports_point_down_the_layers(layer: str) -> None:
    upward = sorted(
        f"{path.relative_to(ROOT)} imports {name}"
        for path in (ROOT / layer).rglob("*.py")
        for name in (_imports_of(path) & set(OUR_PACKAGES)) - ALLOWED[layer]
    )
    assert not upward, "imports against the direction of the layers:\n" + "\n".join(upward)


def test_the_chain_core_does_no_io() -> None:
    """``chain/`` is pure so that consensus and execution can be tested exhaustively: no network,
    disk, clock, threads or randomness of its own."""
    forbidden = {"socket", "time", "datetime", "threading", "asyncio", "random", "os", "subprocess",
                 "httpx", "urllib", "sqlite3", "peewee"}
    used = sorted(
        f"{path.relative_to(ROOT)} imports {alias}"
        for path in (ROOT / "chain").rglob("*.py")
        for alias in _imports_of(path) & forbidden
    )
    assert not used, "chain/ must stay pure:\n" + "\n".join(used)
