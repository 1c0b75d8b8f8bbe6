"""Wire models of the coordinator API (JOBS_API.md), shared by the server, the client, the CLI
and the TUI. Light on purpose: no FastAPI import, so a client decodes answers without server code.

The job's life cycle (:class:`JobStatus` with its :data:`ACTIVE`, :data:`BUSY` and :data:`FINAL`
sets) and its shape (:class:`Job`, extended by the coordinator's own :class:`JobRecord`) are
defined here once; the store, the core, the API, the CLI and the TUI all import them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, model_validator

from chain.receipt import MinerProof
from chain.types import Address, Hash, ModelName, PubKey
from chain.verdict import SignedVerdict
from daemons.common.models import JSON_INT_MAX, MAX_STOP_LENGTH, MAX_STOP_SEQUENCES, WHOLE, StopSequence, WholeInt
from daemons.common.chat import BadMessages, PromptFormat, parse_messages

Role = Literal["client", "miner"]
PriceUnits = Annotated[StrictInt, Field(gt=0, le=JSON_INT_MAX), WHOLE]
"""A maximum price in units: positive, and within the integers JSON carries exactly (a job's
``max_price``, an API key's ``default_max_price``)."""


class Request(BaseModel):
    """A request body: strict (unknown fields refused, integers stay integers: ``197.0`` is 197, ``"197"`` is refused), because a typo in
    a field name must be a clear 422, not a silently ignored parameter that changes what a job
    costs."""

    model_config = ConfigDict(extra="forbid")


class Answer(BaseModel):
    """An answer: fields a newer coordinator adds are ignored, so that older clients keep working."""

    model_config = ConfigDict(extra="ignore")


# -- the job's life cycle -----------------------------------------------------------------------


class JobStatus(StrEnum):
    """Where a job is: ``queued`` -> ``assigned`` (to a miner, not yet delivered) -> ``running``
    (delivered; with a result it is being re-checked) -> one of ``completed``, ``failed``,
    ``cancelled``. A lost or failing miner sends it back to ``queued``. Values are the strings
    of the API and of the database column, in life-cycle order."""

    QUEUED = "queued"
    ASSIGNED = "assigned"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE: frozenset[JobStatus] = frozenset({JobStatus.QUEUED, JobStatus.ASSIGNED, JobStatus.RUNNING})
"""Unfinished jobs: they hold a reservation on the client's escrow and may still change."""
BUSY: frozenset[JobStatus] = frozenset({JobStatus.ASSIGNED, JobStatus.RUNNING})
"""Held by a miner: each such task (a job or a re-check) occupies one of its slots."""
FINAL: frozenset[JobStatus] = frozenset(JobStatus) - ACTIVE
"""Nothing happens to these jobs any more (a completed job's receipt may still settle)."""


# -- client role ------------------------------------------------------------------------------


class JobParams(Request):
    """Decoding parameters; integers only, because their canonical JSON is hashed into proofs."""

    max_tokens: WholeInt = Field(128, ge=1, le=1_000_000)
    temperature_milli: WholeInt = Field(0, ge=0, le=5000, description="temperature x 1000; 0 is greedy")
    top_p_milli: WholeInt = Field(1000, ge=1, le=1000, description="top_p x 1000")
    seed: WholeInt = Field(0, ge=0, le=JSON_INT_MAX)
    prompt_format: PromptFormat | None = Field(
        None, description="chat (default): the prompt is one user message, rendered with the model's chat template; "
                          "raw: the prompt goes to the model as it is; messages: the prompt is a canonical JSON list "
                          "of {role, content} chat messages (what /v1/chat/completions makes)")
    stop: list[StopSequence] = Field(
        default_factory=list, max_length=MAX_STOP_SEQUENCES,
        description=f"up to {MAX_STOP_SEQUENCES} strings of 1 to {MAX_STOP_LENGTH} characters: the miner stops as soon as "
                    "the output contains one (the output then ends with it; the token that completed it is the last "
                    "one generated and paid for)")

    def job_params(self) -> dict[str, Any]:
        """The parameters as stored with the job and hashed into its proof (an unset
        ``prompt_format`` and an empty ``stop`` are left out, so jobs without them hash as they
        always did)."""
        params = self.model_dump(exclude_none=True)
        if not self.stop:
            del params["stop"]
        return params


class JobRequest(Request):
    model: ModelName
    prompt: StrictStr = Field(min_length=1)
    params: JobParams = Field(default_factory=JobParams)
    max_price: PriceUnits | None = Field(
        None, description="most the job may cost, in units; default: the API key's default max price, "
                          "else the coordinator's")

    @model_validator(mode="after")
    def _messages_prompt(self) -> JobRequest:
        if self.params.prompt_format == "messages":
            try:
                parse_messages(self.prompt)
            except BadMessages as exc:
                raise ValueError(str(exc)) from None
        return self


class Job(Answer):
    """A job as its client sees it (``GET /v1/jobs``, ``job:<id>`` events): the output and token
    counts only once the result is accepted."""

    job_id: str
    client: str
    model: str
    prompt: str
    params: dict[str, Any]
    max_price: int
    status: JobStatus
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

    @property
    def finished(self) -> bool:
        return self.status in FINAL


class JobRecord(Job):
    """The coordinator's whole record of a job: the client's view plus what matching, re-checks
    and settlement need. Never sent as it is: :meth:`client_view` makes the client's view."""

    model_config = ConfigDict(frozen=True)

    fair_key: int
    """Queue position, fair across clients (see the store's module docstring)."""
    attempts: int
    excluded: list[str]
    """Miners that lost, failed or cheated on this job: it is not given to them again."""
    assigned_ms: int | None
    deadline_ms: int | None
    result_ms: int | None
    """When the miner's result arrived; with status ``running`` it means "being re-checked"."""
    proof: dict[str, Any] | None
    receipt_status: str | None = None

    def client_view(self) -> Job:
        """What the client may see: the output only once it is accepted (not while re-checked)."""
        view = Job.model_validate(self.model_dump(include=set(Job.model_fields)))
        if self.status == JobStatus.COMPLETED:
            return view
        return view.model_copy(update={"output": None, "prompt_tokens": None, "completion_tokens": None})


class Page(Answer):
    """One page of a listing, newest first: pass ``next_cursor`` back as ``cursor`` for the next
    (None on the last page)."""

    next_cursor: str | None = None


class JobPage(Page):
    jobs: list[Job]


class ReceiptInfo(Answer):
    """A receipt as the coordinator holds it: the signed receipt and how far settlement got."""

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


class ReceiptPage(Page):
    receipts: list[ReceiptInfo]


class ModelFacts(Answer):
    """What AITBC adds to an OpenAI model entry: who serves it now, and at what price."""

    live_miners: int
    free_slots: int
    min_price_per_1k_tokens: int
    model_ids: list[str]
    """SHA-256 ids of the weights the live miners serve under this name."""


class ModelInfo(Answer):
    """One entry of ``GET /v1/models``, in OpenAI's shape (``id``, ``object``, ``created``,
    ``owned_by``) plus AITBC's facts under ``aitbc``."""

    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "aitbc"
    aitbc: ModelFacts

    @property
    def name(self) -> str:
        return self.id


class ModelList(Answer):
    """``GET /v1/models``: OpenAI's list shape, so that ``client.models.list()`` of the openai SDK reads it."""

    object: Literal["list"] = "list"
    data: list[ModelInfo]


class Account(Answer):
    address: str
    escrow_balance: int
    reserved: int
    available: int
    height: int | None = None


# -- miner role -------------------------------------------------------------------------------


class ModelSpec(Request):
    name: ModelName
    model_id: Hash


class GpuInfo(BaseModel):
    """What a miner says about one GPU; more fields (temperature, utilization) are kept as given."""

    model_config = ConfigDict(extra="allow")

    name: StrictStr = ""
    memory_total_mb: WholeInt = Field(0, ge=0)
    memory_free_mb: Annotated[StrictInt, Field(ge=0), WHOLE] | None = None


class MinerRegistration(Request):
    address: Address
    pubkey: PubKey
    models: list[ModelSpec] = Field(min_length=1, max_length=64)
    capacity: WholeInt = Field(1, ge=1, le=1024, description="tasks the miner runs at once")
    price_per_1k_tokens: WholeInt = Field(0, ge=0, le=JSON_INT_MAX, description="units per 1000 tokens")
    gpus: list[GpuInfo] = Field(default_factory=list, max_length=64)

    @model_validator(mode="after")
    def _distinct_models(self) -> MinerRegistration:
        names = [m.name for m in self.models]
        if len(set(names)) != len(names):
            raise ValueError("a model name is listed twice")
        return self


class RegisterReply(Answer):
    chain_id: str
    coordinator_address: str
    heartbeat_interval_s: float
    min_miner_bond: int
    bonded: bool = False
    """Whether the chain shows the miner bonded now; unbonded miners get no work."""


class Heartbeat(Request):
    free_slots: Annotated[StrictInt, Field(ge=0, le=1024), WHOLE] | None = Field(
        None, description="tasks the miner can take now besides those in `running`; 0 while it "
                                         "cannot take work (model loading, draining): it then gets none. "
                                         "Omitted: the last report stands")
    running: list[StrictStr] = Field(default_factory=list, max_length=1024)
    telemetry: dict[str, Any] = Field(default_factory=dict)


class HeartbeatReply(Answer):
    cancel: list[str]


class PollRequest(Request):
    max_jobs: WholeInt = Field(1, ge=1, le=64)
    wait_s: float = Field(0.0, ge=0, le=30)


class Task(Answer):
    task_id: str
    kind: Literal["run", "verify"]
    job_id: str
    model: str
    prompt: str
    params: dict[str, Any]
    deadline_ms: int
    claimed_output: str | None = None
    claimed_proof: dict[str, Any] | None = None


class TaskList(Answer):
    tasks: list[Task]


_NULL = {"type": "null"}
_RUN_FIELDS = {"output": {"type": "string"}, "prompt_tokens": {"type": "integer"},
               "completion_tokens": {"type": "integer"}, "proof": {"type": "object"}}
_TASK_RESULT_SHAPES = {"oneOf": [
    {"title": "run", "required": list(_RUN_FIELDS),
     "properties": {**_RUN_FIELDS, "accepted": _NULL, "error": _NULL, "verdict": _NULL}},
    {"title": "verify", "required": ["accepted"],
     "properties": {"accepted": {"type": "boolean"}, "error": _NULL, **{f: _NULL for f in _RUN_FIELDS}}},
    {"title": "failure", "required": ["error"],
     "properties": {"error": {"type": "string"}, "accepted": _NULL, "verdict": _NULL, **{f: _NULL for f in _RUN_FIELDS}}},
]}
""":meth:`TaskResult._one_shape` in the document's words, so that it admits only the three shapes."""


class OutputDelta(Request):
    """A piece of a run task's output, pushed by the miner while it generates (``POST
    /v1/miners/jobs/{task_id}/output``). ``offset`` is where ``text`` starts in this attempt's
    output (characters), so a lost or repeated push is noticed, not spliced in twice."""

    offset: WholeInt = Field(ge=0, le=10_000_000)
    text: StrictStr = Field(max_length=1_000_000)
    tokens: WholeInt = Field(ge=0, le=10_000_000, description="output tokens generated so far")


class OutputReply(Answer):
    accepted: bool
    """False: the piece was not taken (gap, or not this miner's job any more)."""
    cancel: bool = False
    """True: the job is no longer this miner's (cancelled, e.g. its streaming client went away):
    stop generating it."""


class TaskResult(Request):
    """One of three answers to a task, told apart by their fields:

    - run:     ``{output, prompt_tokens, completion_tokens, proof}``
    - verify:  ``{accepted, first_mismatch, reason, verdict}``; ``verdict`` is the verifier's
      signed ``chain.verdict.SignedVerdict`` about the claim, required when it refutes it (it is
      the on-chain evidence)
    - failure: ``{error}`` (the task could not be done; it goes to another miner)
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra=_TASK_RESULT_SHAPES)

    output: StrictStr | None = None
    prompt_tokens: Annotated[StrictInt, Field(ge=0, le=10_000_000), WHOLE] | None = None
    completion_tokens: Annotated[StrictInt, Field(ge=0, le=10_000_000), WHOLE] | None = None
    proof: MinerProof | None = None
    accepted: StrictBool | None = None
    first_mismatch: Annotated[StrictInt, Field(ge=0), WHOLE] | None = None
    reason: StrictStr = Field("", max_length=500)
    error: StrictStr | None = Field(None, min_length=1, max_length=2000)
    verdict: SignedVerdict | None = None

    @model_validator(mode="after")
    def _one_shape(self) -> TaskResult:
        run = [self.output, self.prompt_tokens, self.completion_tokens, self.proof]
        if self.error is not None:
            if any(v is not None for v in run) or self.accepted is not None or self.verdict is not None:
                raise ValueError("a failure report carries only error")
        elif self.accepted is not None:
            if any(v is not None for v in run):
                raise ValueError("a re-check answer carries accepted, first_mismatch, reason and verdict only")
        elif self.verdict is not None:
            raise ValueError("only a re-check answer carries a verdict")
        elif any(v is None for v in run):
            raise ValueError("a result needs output, prompt_tokens, completion_tokens and proof "
                             "(or accepted for a re-check, or error for a failure)")
        return self

    @property
    def kind(self) -> Literal["run", "verify", "failure"]:
        if self.error is not None:
            return "failure"
        return "verify" if self.accepted is not None else "run"


class ResultReply(Answer):
    accepted: bool
    ok: bool = True
    reason: str = ""


class ReleaseReply(Answer):
    released: bool
    reason: str = ""


# -- operator ----------------------------------------------------------------------------------


_KEY_MAX_PRICE = ("most a job of this key may cost, in units, when its request names no max price "
                  "(null: the coordinator's default)")


class KeyRequest(Request):
    role: Role
    address: Address
    label: StrictStr = Field("", max_length=128)
    default_max_price: PriceUnits | None = Field(None, description=_KEY_MAX_PRICE)


class KeyUpdate(Request):
    """A change to an existing key: its default max price (``null`` clears it). Required, so an
    empty body is a 422 rather than a silent clear."""

    default_max_price: PriceUnits | None = Field(..., description=_KEY_MAX_PRICE)


class KeyCreated(Answer):
    key_id: str
    api_key: str
    role: Role
    address: str
    label: str
    default_max_price: int | None = None


class KeyInfo(Answer):
    key_id: str
    role: Role
    address: str
    label: str
    created_ms: int
    revoked_ms: int | None = None
    default_max_price: int | None = None
    active: bool


class KeyList(Answer):
    keys: list[KeyInfo]


class MinerInfo(Answer):
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


class MinerList(Answer):
    miners: list[MinerInfo]


class PublicMiner(Answer):
    """What anyone may know about a live miner (``GET /v1/miners``): no GPU details, no telemetry."""

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


class PublicMinerList(Answer):
    miners: list[PublicMiner]
    queued_jobs: dict[str, int]
    """Jobs waiting for a miner, by model: the market's queue depth."""


class CoordinatorStatus(Answer):
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
