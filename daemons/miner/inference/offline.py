"""Force Hugging Face libraries offline before they are imported or used.

A miner must never fetch weights, tokenizers or configs at run time: what it serves has to be
exactly what is on its disk (the model id is the hash of those files). Setting the variables
alone is not enough when ``huggingface_hub`` was already imported (it reads them at import
time), so the loaded module's constants are patched as well. Loaders additionally pass
``local_files_only=True``.
"""

from __future__ import annotations

import os
import sys

_OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")


def force_offline() -> None:
    """Switch every Hugging Face download path off for this process (idempotent)."""
    for variable in _OFFLINE_VARIABLES:
        os.environ[variable] = "1"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None and hasattr(constants, "HF_HUB_OFFLINE"):
        constants.HF_HUB_OFFLINE = True
