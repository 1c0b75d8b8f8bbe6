"""What the store returns: frozen records of its rows. A job is a
:class:`~daemons.coordinator.models.JobRecord` and a receipt extends the API's
:class:`~daemons.coordinator.models.ReceiptInfo`: their shape is defined once, with the API's."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from daemons.coordinator.market import open_slots
from daemons.coordinator.models import ReceiptInfo


class ApiKeyRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    key_id: str
    role: str
    address: str
    label: str
    created_ms: int
    revoked_ms: int | None
    default_max_price: int | None = None
    """Units a job of this key may cost when its request names none (None: the coordinator's default)."""


class MinerRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    address: str
    pubkey: str
    models: dict[str, str]
    """name -> model_id"""
    capacity: int
    price_per_1k: int
    gpus: list[dict[str, Any]]
    free_gpu_mem_mb: int
    free_slots: int
    telemetry: dict[str, Any]
    bond: int
    bond_checked_ms: int
    registered_ms: int
    last_seen_ms: int
    completed: int
    failed: int
    slashed: int
    active: int = 0
    """Tasks assigned to it and not finished (filled in by listings)."""

    @property
    def open_slots(self) -> int:
        return open_slots(self.capacity, self.free_slots, self.active)


class VerifyRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    job_id: str
    model: str
    model_id: str
    runner: str
    verifier: str | None
    status: str
    attempts: int
    excluded: list[str]
    deadline_ms: int | None
    accepted: bool | None
    reason: str | None
    created_ms: int
    updated_ms: int


class ReceiptRecord(ReceiptInfo):
    """A receipt as the API shows it, plus when it last changed."""

    model_config = ConfigDict(frozen=True)

    updated_ms: int


class SlashRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    job_id: str
    miner: str
    verifier: str
    evidence: dict[str, Any]
    status: str
    tx_hash: str | None
    height: int | None
    error: str | None
    created_ms: int


@dataclass
class Expired:
    """What the reaper changed: jobs re-queued or failed, re-checks re-queued or given up."""

    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    verify_requeued: list[str] = field(default_factory=list)
    verify_unavailable: list[str] = field(default_factory=list)
    """Re-checks nobody took in time: the caller accepts the result without one."""
