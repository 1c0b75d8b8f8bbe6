"""Settings of the miner daemon: table ``[mining]`` of config.toml, ``AITBC_*`` environment.

The seed's three keys keep their meaning: ``stake_amount`` (whole AIT the miner keeps bonded on
chain), ``compute_enabled`` (take jobs at all; off leaves a telemetry-only rig) and
``gpu_devices`` (NVML indices the backend and telemetry use). Everything else has a default
that works on a single-machine network, where node and coordinator share the miner's home.

Durations are seconds or a number with a unit (``30s``, ``500ms``; floats are fine: they never
reach the chain); amounts on chain are integer units (1 AIT = 10**6 units).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, field_validator

from chain.params import UNIT
from daemons.common.settings import CommonSettings, Duration, Port, bare_env, load_settings

KEY_NAME = "miner"
PASSWORD_FILE = "miner.password"
API_KEY_FILE = "miner.apikey"
CREDENTIAL_NAME = "miner-password"
JOURNAL_FILE = "miner-tasks.json"
MODEL_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
SECTION = "mining"
"""The seed names the miner's TOML table ``[mining]``, not ``[miner]`` like the service."""


class MinerSettings(CommonSettings):
    service: ClassVar[str] = "miner"

    api_port: Port = Field(18001, validation_alias=bare_env("API_PORT"),
                           description="public TCP port: only /health and /metrics are served there")

    # -- the seed's [mining] keys --------------------------------------------------------------
    stake_amount: int = Field(10_000, ge=0, le=10**12,
                              description="AIT kept bonded on chain (miner_bond); 0 never bonds")
    compute_enabled: bool = Field(True, description="take jobs; false runs telemetry only")
    gpu_devices: list[int] = Field(default_factory=lambda: [0], max_length=64,
                                   description="NVML indices of the GPUs this miner uses")

    # -- where the rest of the network is -------------------------------------------------------
    coordinator: str = Field("", description="coordinator: an http(s):// URL (needs an API key) or a socket "
                                             "path; empty means HOME/run/coordinator.sock")
    coordinator_api_key: str = Field("", description="miner-role API key for a coordinator URL "
                                                     "(prefer coordinator_api_key_file)")
    coordinator_api_key_file: str = Field("", description="file holding the API key; default HOME/keys/miner.apikey "
                                                          "when it exists")
    node: str = Field("", description="node RPC: an http(s):// URL or a socket path; empty means HOME/run/node.sock")

    # -- the miner's chain key -------------------------------------------------------------------
    key: str = Field(KEY_NAME, min_length=1, description="name or address of the miner key in HOME/keys")
    key_password_file: str = Field("", description="file holding the key's password; default HOME/keys/miner.password, "
                                                   "or $CREDENTIALS_DIRECTORY/miner-password under systemd")

    # -- what it serves and for how much ------------------------------------------------------------
    models: list[str] = Field(default_factory=lambda: ["smollm2"], min_length=1, max_length=64,
                              description="catalogue names this miner serves")
    catalogue: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="extra catalogue entries, [mining.catalogue.<name>] with backend, path, ...")
    catalogue_file: str = Field("", description="TOML file whose [models] table adds catalogue entries")
    price_per_1k_tokens: int = Field(1000, ge=0, le=10**15, description="price in units per 1000 tokens")
    capacity: int = Field(1, ge=1, le=1024, description="tasks run at once (one generate batch)")
    cpu_threads: int = Field(0, ge=0, le=1024, description="threads of the CPU backends (torch, llama.cpp); 0 = their default")

    # -- timing -------------------------------------------------------------------------------
    telemetry_interval: Duration = Field(5.0, gt=0, le=3600, description="seconds between telemetry samples")
    heartbeat_interval: Duration = Field(0.0, ge=0, le=600,
                                      description="seconds between heartbeats; 0 = what the coordinator asks for")
    poll_wait: Duration = Field(10.0, gt=0, le=30, description="longest long poll (seconds)")
    drain_timeout: Duration = Field(20.0, ge=0, le=3600,
                                 description="on SIGTERM, seconds to finish running tasks before handing them back")
    retry_max: Duration = Field(30.0, gt=0, le=3600, description="longest pause between retries (delivery, register)")
    bond_retry: Duration = Field(30.0, gt=0, le=86_400, description="seconds between attempts to bond when it failed")
    tx_fee: int = Field(0, ge=0, le=10**15, description="fee of the miner's transactions; 0 = the chain's minimum")
    commit_timeout: Duration = Field(30.0, gt=0, le=600, description="seconds to wait for the bond to commit")

    state_dir: str = Field("", description="directory of the in-flight task journal; default HOME/data")

    @field_validator("gpu_devices")
    @classmethod
    def _distinct_devices(cls, value: list[int]) -> list[int]:
        if any(i < 0 for i in value) or len(set(value)) != len(value):
            raise ValueError("must be distinct non-negative GPU indices")
        return value

    @field_validator("models")
    @classmethod
    def _model_names(cls, value: list[str]) -> list[str]:
        import re

        bad = [n for n in value if not re.fullmatch(MODEL_NAME_PATTERN, n)]
        if bad:
            raise ValueError(f"invalid model name(s) {bad}: lower-case letters, digits, '.', '_' and '-'")
        if len(set(value)) != len(value):
            raise ValueError("a model is listed twice")
        return value

    # -- derived paths and values ---------------------------------------------------------------

    @property
    def stake_units(self) -> int:
        return self.stake_amount * UNIT

    @property
    def journal_path(self) -> Path:
        base = Path(self.state_dir) if self.state_dir else self.home.data_dir
        return base / JOURNAL_FILE

    @property
    def coordinator_target(self) -> str:
        return self.coordinator or os.fspath(self.home.socket("coordinator"))

    @property
    def node_target(self) -> str:
        return self.node or os.fspath(self.home.socket("node"))

    @property
    def coordinator_is_url(self) -> bool:
        return self.coordinator_target.startswith(("http://", "https://"))


def load_miner_settings(home: Any = None, config_file: str | os.PathLike[str] | None = None,
                        **overrides: Any) -> MinerSettings:
    """:func:`~daemons.common.settings.load_settings` for the miner, reading table ``[mining]``."""
    return load_settings(MinerSettings, home, config_file, section=SECTION, **overrides)
