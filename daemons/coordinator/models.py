"""Wire models of the coordinator API (JOBS_API.md), shared by the server, the client, the CLI
and the TUI. Light on purpose: no FastAPI import, so a client decodes answers without server code.

Requests are strict (unknown fields refused, integers stay integers) because a typo in a field
name must be a clear 422, not a silently ignored parameter that changes what a job costs.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, model_validator

from chain.params import MAX_AMOUNT
from chain.receipt import MinerProof
from chain.types import Address, Hash, ModelName, PubKey

JobState = Literal["queued", "assigned", "running", "completed", "failed", "cancelled"]
Role = Literal["client", "miner"]
_REQUEST = ConfigDict(extra="forbid")
_ANSWER = ConfigDict(extra="ignore")


# -- client role ------------------------------------------------------------------------------


class JobParams(BaseModel):
    """Decoding parameters; integers only, because their canonical JSON is hashed into proofs."""

    model_config = _REQUEST

    max_tokens: StrictInt = Field(128, ge=1, le=1_000_000)
    temperature_milli: StrictInt = Field(0, ge=0, le=5000, description="temperature x 1000; 0 is greedy")
    top_p_milli: StrictInt = Field(1000, ge=1, le=1000, description="top_p x 1000")
    seed: StrictInt = Field(0, ge=0, le=2**63 - 1)


class JobRequest(BaseModel):
    model_config = _REQUEST

    model: ModelName
    prompt: StrictStr = Field(min_length=1)
    params: JobParams = Field(default_factory=JobParams)
    max_price: StrictInt | None = Field(None, gt=0, le=MAX_AMOUNT,
                                        description="most the job may cost, in units; default: the coordinator's")


class Job(BaseModel):
    model_config = _ANSWER

    job_id: str
    client: str
    model: str
    prompt: str
    params: dict[str, Any]
    max_price: int
    status: JobState
    miner: str | None = None
    output: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    price: int | None = None
    receipt_id: str | None = None
    settled_height: int | None = None
    error: str | None = None
    created_ms: int
    updated_ms: int


class JobPage(BaseModel):
    model_config = _ANSWER

    jobs: list[Job]
    next_cursor: str | None = None


class ReceiptInfo(BaseModel):
    """A receipt as the coordinator holds it: the signed receipt and how far settlement got."""

    model_config = _ANSWER

    receipt_id: str
    job_id: str
    client: str
    miner: str
    price: int
    status: Literal["pending", "settling", "settled", "rejected"]
    settle_tx: str | None = None
    settled_height: int | None = None
    error: str | None = None
    created_ms: int
    receipt: dict[str, Any]


class ReceiptPage(BaseModel):
    model_config = _ANSWER

    receipts: list[ReceiptInfo]
    next_cursor: str | None = None


class ModelInfo(BaseModel):
    model_config = _ANSWER

    name: str
    model_ids: list[str]
    miners: int
    free_slots: int
    min_price_per_1k_tokens: int


class ModelList(BaseModel):
    model_config = _ANSWER

    models: list[ModelInfo]


class Account(BaseModel):
    model_config = _ANSWER

    address: str
    escrow_balance: int
    reserved: int
    available: int
    height: int | None = None


# -- miner role -------------------------------------------------------------------------------


class ModelSpec(BaseModel):
    model_config = _REQUEST

    name: ModelName
    model_id: Hash


class GpuInfo(BaseModel):
    """What a miner says about one GPU; more fields (temperature, utilization) are kept as given."""

    model_config = ConfigDict(extra="allow")

    name: StrictStr = ""
    memory_total_mb: StrictInt = Field(0, ge=0)
    memory_free_mb: StrictInt | None = Field(None, ge=0)


class MinerRegistration(BaseModel):
    model_config = _REQUEST

    address: Address
    pubkey: PubKey
    models: list[ModelSpec] = Field(min_length=1, max_length=64)
    capacity: StrictInt = Field(1, ge=1, le=1024, description="tasks the miner runs at once")
    price_per_1k_tokens: StrictInt = Field(0, ge=0, le=MAX_AMOUNT, description="units per 1000 tokens")
    gpus: list[GpuInfo] = Field(default_factory=list, max_length=64)

    @model_validator(mode="after")
    def _distinct_models(self) -> MinerRegistration:
        names = [m.name for m in self.models]
        if len(set(names)) != len(names):
            raise ValueError("a model name is listed twice")
        return self


class RegisterReply(BaseModel):
    model_config = _ANSWER

    chain_id: str
    coordinator_address: str
    heartbeat_interval_s: float
    min_miner_bond: int
    bonded: bool = False
    """Whether the chain shows the miner bonded now; unbonded miners get no work."""


class Heartbeat(BaseModel):
    model_config = _REQUEST

    free_slots: StrictInt | None = Field(
        None, ge=0, le=1024, description="tasks the miner can take now besides those in `running`; 0 while it "
                                         "cannot take work (model loading, draining): it then gets none. "
                                         "Omitted: the last report stands")
    running: list[StrictStr] = Field(default_factory=list, max_length=1024)
    telemetry: dict[str, Any] = Field(default_factory=dict)


class HeartbeatReply(BaseModel):
    model_config = _ANSWER

    cancel: list[str]


class PollRequest(BaseModel):
    model_config = _REQUEST

    max_jobs: StrictInt = Field(1, ge=1, le=64)
    wait_s: float = Field(0.0, ge=0, le=30)


class Task(BaseModel):
    model_config = _ANSWER

    task_id: str
    kind: Literal["run", "verify"]
    job_id: str
    model: str
    prompt: str
    params: dict[str, Any]
    deadline_ms: int
    claimed_output: str | None = None
    claimed_proof: dict[str, Any] | None = None


class TaskList(BaseModel):
    model_config = _ANSWER

    tasks: list[Task]


class TaskResult(BaseModel):
    """One of three answers to a task, told apart by their fields:

    - run:     ``{output, prompt_tokens, completion_tokens, proof}``
    - verify:  ``{accepted, first_mismatch, reason}``
    - failure: ``{error}`` (the task could not be done; it goes to another miner)
    """

    model_config = _REQUEST

    output: StrictStr | None = None
    prompt_tokens: StrictInt | None = Field(None, ge=0, le=10_000_000)
    completion_tokens: StrictInt | None = Field(None, ge=0, le=10_000_000)
    proof: MinerProof | None = None
    accepted: StrictBool | None = None
    first_mismatch: StrictInt | None = Field(None, ge=0)
    reason: StrictStr = Field("", max_length=500)
    error: StrictStr | None = Field(None, min_length=1, max_length=2000)

    @model_validator(mode="after")
    def _one_shape(self) -> TaskResult:
        run = [self.output, self.prompt_tokens, self.completion_tokens, self.proof]
        if self.error is not None:
            if any(v is not None for v in run) or self.accepted is not None:
                raise ValueError("a failure report carries only error")
        elif self.accepted is not None:
            if any(v is not None for v in run):
                raise ValueError("a re-check answer carries accepted, first_mismatch and reason only")
        elif any(v is None for v in run):
            raise ValueError("a result needs output, prompt_tokens, completion_tokens and proof "
                             "(or accepted for a re-check, or error for a failure)")
        return self

    @property
    def kind(self) -> Literal["run", "verify", "failure"]:
        if self.error is not None:
            return "failure"
        return "verify" if self.accepted is not None else "run"


class ResultReply(BaseModel):
    model_config = _ANSWER

    accepted: bool
    ok: bool = True
    reason: str = ""


class ReleaseReply(BaseModel):
    model_config = _ANSWER

    released: bool
    reason: str = ""


# -- operator ----------------------------------------------------------------------------------


class KeyRequest(BaseModel):
    model_config = _REQUEST

    role: Role
    address: Address
    label: StrictStr = Field("", max_length=128)


class KeyCreated(BaseModel):
    model_config = _ANSWER

    key_id: str
    api_key: str
    role: Role
    address: str
    label: str


class KeyInfo(BaseModel):
    model_config = _ANSWER

    key_id: str
    role: Role
    address: str
    label: str
    created_ms: int
    revoked_ms: int | None = None
    active: bool


class KeyList(BaseModel):
    model_config = _ANSWER

    keys: list[KeyInfo]


class MinerInfo(BaseModel):
    model_config = _ANSWER

    address: str
    models: dict[str, str]
    capacity: int
    active: int
    price_per_1k_tokens: int
    free_gpu_mem_mb: int
    bond: int
    live: bool
    bonded: bool
    completed: int
    failed: int
    slashed: int
    reputation: int
    last_seen_ms: int
    gpus: list[dict[str, Any]] = []
    telemetry: dict[str, Any] = {}


class MinerList(BaseModel):
    model_config = _ANSWER

    miners: list[MinerInfo]


class PublicMiner(BaseModel):
    """What anyone may know about a live miner (``GET /v1/miners``): no GPU details, no telemetry."""

    model_config = _ANSWER

    address: str
    models: list[str]
    price_per_1k_tokens: int
    capacity: int
    active: int
    bond: int
    bonded: bool
    completed: int
    failed: int
    reputation: int


class PublicMinerList(BaseModel):
    model_config = _ANSWER

    miners: list[PublicMiner]
    queued_jobs: dict[str, int]
    """Jobs waiting for a miner, by model: the market's queue depth."""


class CoordinatorStatus(BaseModel):
    model_config = _ANSWER

    chain_id: str
    coordinator_address: str
    node: str
    min_miner_bond: int
    recheck_rate: float
    jobs: dict[str, int]
    receipts: dict[str, int]
    miners: int
    live_miners: int
    models: list[str]
    settler: bool
    """Whether this process holds the settlement lease now."""
