"""Market policy in one place: which miner gets which task and in what order, when work is taken
back and why, what a job costs, what reputation is.

Pure functions of plain values, so that the rules can be read (and tested) without a database:
the store loads the live miners and the queued work under its locks, asks :func:`plan` who does
what, and applies the answer with guarded updates; the reaper asks :func:`overdue` and
:func:`retry` what to do with work a miner holds too long.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from daemons.coordinator.models import JobStatus

SLASH_WEIGHT = 10
"""One proven wrong result weighs as much as ten failures: cheating must cost more than luck."""

LOST = "miner stopped heart-beating"
LATE = "miner missed the job deadline"
QUEUE_TIMEOUT = "no miner took the job in time"
RECHECK_TIMEOUT = "no verifier took the re-check in time"


# -- what matching works on -----------------------------------------------------------------------


class MinerFacts(Protocol):
    """What eligibility looks at: a :class:`Candidate`, or a miner record of the store."""

    @property
    def address(self) -> str: ...

    @property
    def slashed(self) -> int: ...

    @property
    def models(self) -> dict[str, str]: ...


@dataclass(frozen=True)
class Candidate:
    """A live, bonded miner the matcher may give work to, with what ranking needs."""

    address: str
    price_per_1k: int
    free_gpu_mem_mb: int
    completed: int
    failed: int
    slashed: int
    models: dict[str, str]
    """name -> model_id"""
    free: int
    """Tasks it may be given now (:func:`open_slots`)."""


@dataclass(frozen=True)
class QueuedJob:
    job_id: str
    model: str
    excluded: frozenset[str] = frozenset()
    """Miners that lost, failed or cheated on it."""


@dataclass(frozen=True)
class QueuedCheck:
    """A re-check of the result ``runner`` gave for ``job_id`` (task id ``<job_id>:verify``)."""

    job_id: str
    model: str
    model_id: str
    runner: str
    excluded: frozenset[str] = frozenset()
    """Verifiers that failed or vanished on it."""


@dataclass(frozen=True)
class Assignment:
    kind: Literal["run", "verify"]
    job_id: str
    miner: str


# -- ranking and eligibility ----------------------------------------------------------------------


def reputation(completed: int, failed: int, slashed: int) -> int:
    """Jobs completed minus failures, minus a heavy penalty per result proven wrong."""
    return completed - failed - SLASH_WEIGHT * slashed


def rank(candidate: Candidate) -> tuple[Any, ...]:
    """Sort key of a miner for new work: cheapest first, then most free GPU memory, then best
    reputation; the address last so that equal miners are ordered the same in every process."""
    return (candidate.price_per_1k, -candidate.free_gpu_mem_mb,
            -reputation(candidate.completed, candidate.failed, candidate.slashed), candidate.address)


def open_slots(capacity: int, usable: int, active: int) -> int:
    """Tasks a miner may be given now: what its capacity and its own last report (``usable``,
    the heartbeat's free slots plus the tasks it said it was running) allow, less the tasks it
    holds. Counting the report with the running tasks frees a finished task's slot at once,
    without waiting for the next heartbeat; a miner that reports no room gets no new work."""
    return min(capacity, usable) - active


def may_run(miner: MinerFacts, job: QueuedJob) -> bool:
    """A miner serving the job's model that never lost, failed or cheated on this job."""
    return job.model in miner.models and miner.address not in job.excluded


def may_verify(miner: MinerFacts, *, model: str, model_id: str, runner: str,
               excluded: Set[str] = frozenset()) -> bool:
    """May ``miner`` re-check ``runner``'s result? Not the miner being checked, never caught
    cheating, not one that already failed this re-check (``excluded``), and serving the same
    model id (the same weights: a deterministic re-run must give the same tokens)."""
    return (miner.address != runner and miner.slashed == 0 and miner.address not in excluded
            and miner.models.get(model) == model_id)


def ranked(candidates: Iterable[Candidate]) -> list[Candidate]:
    """The candidates that can take work now (a free slot, a model served), best first."""
    return sorted((c for c in candidates if c.free > 0 and c.models), key=rank)


def served(candidates: Iterable[Candidate]) -> list[str]:
    """Model names the candidates serve: queued work for other models is not worth reading."""
    return sorted({name for c in candidates for name in c.models})


def plan(candidates: Iterable[Candidate], checks: Sequence[QueuedCheck], jobs: Sequence[QueuedJob]) -> list[Assignment]:
    """Who does what: re-checks first (they hold up payment for finished work), then jobs in the
    order given (the store reads them in fair queue order). Each task goes to the best-ranked
    miner that may take it and still has a free slot; a task nobody may take stays queued."""
    order = ranked(candidates)
    free = {c.address: c.free for c in order}
    out: list[Assignment] = []
    for check in checks:
        chosen = next((c for c in order if free[c.address] > 0 and may_verify(
            c, model=check.model, model_id=check.model_id, runner=check.runner, excluded=check.excluded)), None)
        if chosen is not None:
            free[chosen.address] -= 1
            out.append(Assignment("verify", check.job_id, chosen.address))
    for job in jobs:
        if not any(free.values()):
            break
        chosen = next((c for c in order if free[c.address] > 0 and may_run(c, job)), None)
        if chosen is not None:
            free[chosen.address] -= 1
            out.append(Assignment("run", job.job_id, chosen.address))
    return out


# -- taking work back -----------------------------------------------------------------------------


def overdue(miner: str | None, deadline_ms: int | None, dead: Set[str], now_ms: int) -> str | None:
    """Why a task is taken back from the miner holding it (the reason the client reads), or None
    while it may keep it: the miner stopped heart-beating (``dead``), or missed the deadline."""
    if miner is None or miner in dead:
        return LOST
    if deadline_ms is not None and deadline_ms < now_ms:
        return LATE
    return None


@dataclass(frozen=True)
class Retry:
    """What becomes of a job taken back from a miner."""

    status: Literal[JobStatus.QUEUED, JobStatus.FAILED]
    error: str
    excluded: list[str]


def retry(*, attempts: int, max_attempts: int, excluded: Iterable[str], miner: str | None, error: str) -> Retry:
    """Back to the queue, never again to the miner that had it, until the job has had
    ``max_attempts``: then it fails, and the error says so."""
    excluded = sorted(set(excluded) | ({miner} if miner else set()))
    if attempts >= max_attempts:
        return Retry(JobStatus.FAILED, f"{error}; gave up after {attempts} attempt(s)", excluded)
    return Retry(JobStatus.QUEUED, error, excluded)


def rejected(reason: str) -> str:
    """The job's error after a re-check refuted its result."""
    return f"result rejected by re-check: {reason}"


# -- prices ---------------------------------------------------------------------------------------


def job_price(prompt_tokens: int, completion_tokens: int, price_per_1k: int, max_price: int) -> int:
    """What the client pays: the miner's rate for the tokens processed, rounded up to a whole
    unit, never above the client's max price and never zero (the chain settles positive amounts)."""
    tokens = prompt_tokens + completion_tokens
    cost = -(-tokens * price_per_1k // 1000)
    return max(1, min(max_price, cost))


def free_gpu_memory(gpus: list[dict[str, Any]]) -> int:
    """Free GPU memory in MB over a miner's GPUs (total memory when free is not reported)."""
    total = 0
    for gpu in gpus:
        free = gpu.get("memory_free_mb")
        value = free if isinstance(free, int) else gpu.get("memory_total_mb", 0)
        total += value if isinstance(value, int) and value > 0 else 0
    return total
