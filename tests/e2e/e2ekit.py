"""Helpers of the end-to-end tests: run the ``aitbc`` command the way a user types it.

Every command runs as a real subprocess of the installed console script (``.venv/bin/aitbc``),
with a clean environment, so that the tests exercise exactly what the README tells people to type.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from testkit import REPO, hermetic_env

SCRIPT = Path(sys.executable).with_name("aitbc")
AITBC = [str(SCRIPT)] if SCRIPT.is_file() else [sys.executable, "-m", "aitbc_tui.cli"]
"""``aitbc`` as installed by ``.ci/setup`` (the README's command), else the same entry point via -m."""


def cli_env() -> dict[str, str]:
    """The hermetic environment, with the model hubs offline (the tests never download)."""
    return hermetic_env(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")


def aitbc(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``aitbc ARGS``; with ``check``, fail with its stderr when it exits non-zero."""
    result = subprocess.run([*AITBC, *args], capture_output=True, text=True, timeout=timeout, env=cli_env(),
                            cwd=REPO, stdin=subprocess.DEVNULL)
    if check and result.returncode != 0:
        raise AssertionError(f"aitbc {' '.join(args)} exited {result.returncode}\n"
                             f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}")
    return result


def aitbc_json(*args: str, timeout: float = 120) -> Any:
    """``aitbc ARGS --json``, parsed."""
    result = aitbc(*args, "--json", timeout=timeout)
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"aitbc {' '.join(args)} --json printed no JSON: {exc}\n{result.stdout}\n{result.stderr}")


def process_gone(pid: int) -> bool:
    """The process no longer exists, or it is a zombie waiting for a parent that is not us."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return any(line.startswith("State:") and "Z" in line.split()[1] for line in status.splitlines())
