"""Wire models of the miner's API, shared by the server, the client, the CLI and the TUI.

Light on purpose (no FastAPI, no torch): the CLI and TUI decode answers without server code.
Answers ignore unknown fields so that a newer daemon can add some without breaking older
clients; requests refuse them, because a typo in a parameter must be a clear 422.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from daemons.common.models import JSON_INT_MAX, Door, WholeInt

_ANSWER = ConfigDict(extra="ignore")
_REQUEST = ConfigDict(extra="forbid")

Phase = Literal["starting", "loading", "serving", "telemetry_only", "failed", "draining"]
"""starting: key, telemetry and backends being set up; loading: weights loading; serving: taking
jobs; telemetry_only: ``compute_enabled = false``; failed: no model could be served;
draining: SIGTERM received, finishing or handing back work."""


class MinerHealth(BaseModel):
    """``GET /health`` on both doors: 200 when ready to take jobs, 503 (same body) when not."""

    model_config = _ANSWER

    service: str = "miner"
    status: Literal["ok", "unavailable"]
    version: str
    pid: int
    door: Door
    phase: Phase
    ready: bool
    compute_enabled: bool
    model_loaded: bool
    models: list[str] = Field(description="models loaded and served now")
    gpu_ok: bool
    gpu_reason: str | None = Field(None, description="why the GPUs are not usable (None when they are)")
    reasons: list[str] = Field(default_factory=list, description="why the miner is not ready")


class ModelState(BaseModel):
    model_config = _ANSWER

    name: str
    backend: str | None = None
    model_id: str | None = None
    loaded: bool = False
    served: bool = False
    reason: str | None = None


class GpuState(BaseModel):
    model_config = _ANSWER

    ok: bool
    reason: str | None = None
    devices: list[int]
    seen: int = Field(0, description="GPUs readable now among the configured devices")
    driver_version: str | None = None


class TaskView(BaseModel):
    model_config = _ANSWER

    task_id: str
    kind: str
    job_id: str
    model: str
    state: Literal["queued", "running", "done"]
    received_ms: int
    started_ms: int | None = None
    finished_ms: int | None = None
    deadline_ms: int | None = None
    outcome: str | None = None
    delivery_attempts: int = 0
    restarts: int = 0


class Counters(BaseModel):
    """Since the daemon started."""

    model_config = _ANSWER

    runs_completed: int = 0
    verifies_accepted: int = 0
    verifies_rejected: int = 0
    failed: int = 0
    handed_back: int = 0
    cancelled: int = 0
    results_delivered: int = 0
    results_refused: int = 0
    delivery_retries: int = 0
    restored: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


class BondState(BaseModel):
    model_config = _ANSWER

    target: int = Field(description="stake_amount in units")
    on_chain: int | None = None
    status: Literal["unknown", "bonding", "bonded", "short", "disabled"]
    last_tx: str | None = None
    error: str | None = None


class Registration(BaseModel):
    model_config = _ANSWER

    coordinator: str
    registered: bool = False
    bonded: bool = Field(False, description="the coordinator's view of the bond at registration")
    chain_id: str | None = None
    coordinator_address: str | None = None
    min_miner_bond: int | None = None
    heartbeat_interval_s: float | None = None
    last_heartbeat_ms: int | None = None
    error: str | None = None


class Earnings(BaseModel):
    """What the chain says about the miner (read from the node when asked)."""

    model_config = _ANSWER

    address: str
    balance: int | None = None
    bond: int | None = None
    slashed: int | None = None
    jobs_settled: int | None = None
    height: int | None = None
    error: str | None = None


class MinerStatus(BaseModel):
    model_config = _ANSWER

    address: str
    version: str
    phase: Phase
    ready: bool
    reasons: list[str] = []
    compute_enabled: bool
    node: str
    capacity: int
    free_slots: int
    price_per_1k_tokens: int
    models: list[ModelState]
    gpu: GpuState
    tasks: list[TaskView]
    counters: Counters
    bond: BondState
    registration: Registration
    earnings: Earnings
    started_ms: int
    uptime_s: float
    last_error: str | None = None


class VerifyParams(BaseModel):
    model_config = _REQUEST

    max_tokens: WholeInt = Field(128, ge=1, le=1_000_000)
    temperature_milli: WholeInt = Field(0, ge=0, le=5000)
    top_p_milli: WholeInt = Field(1000, ge=1, le=1000)
    seed: WholeInt = Field(0, ge=0, le=JSON_INT_MAX)


class VerifyRequest(BaseModel):
    """``POST /v1/verify`` (operator): re-check a claimed output the way a re-check task does."""

    model_config = _REQUEST

    model: StrictStr = Field(min_length=1, max_length=128)
    prompt: StrictStr = Field(min_length=1)
    output: StrictStr
    params: VerifyParams = Field(default_factory=VerifyParams)


class VerifyVerdict(BaseModel):
    model_config = _ANSWER

    accepted: bool
    first_mismatch: int | None = None
    reason: str | None = None
    mode: str
    model_id: str
    prompt_tokens: int
    checked_tokens: int
    mismatches: list[dict[str, Any]] = []
