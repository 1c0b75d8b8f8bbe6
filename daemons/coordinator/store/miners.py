"""Miners: registration, signs of life, bonds, and what they hold (their busy task counts)."""

from __future__ import annotations

import json
from functools import cached_property
from typing import Any

import peewee

from daemons.coordinator.models import BUSY
from daemons.coordinator.store.base import StoreBase, text
from daemons.coordinator.store.records import MinerRecord
from daemons.coordinator.store.tables import MinerRow
from storage.database import Statement


class Miners(StoreBase):
    def register_miner(self, address: str, pubkey: str, models: dict[str, str], capacity: int, price_per_1k: int,
                       gpus: list[dict[str, Any]], free_gpu_mem_mb: int, now_ms: int) -> MinerRecord:
        """Insert or update a miner; its reputation counters and bond survive re-registration."""
        M, MM = self.Miner, self.MinerModel
        with self._db.atomic():
            updated = (M.update(pubkey=pubkey, capacity=capacity, price_per_1k=price_per_1k, gpus=text(gpus),
                                free_gpu_mem_mb=free_gpu_mem_mb, free_slots=capacity, last_seen_ms=now_ms)
                       .where(M.address == address).execute())
            if not updated:
                M.insert(address=address, pubkey=pubkey, capacity=capacity, price_per_1k=price_per_1k,
                         gpus=text(gpus), free_gpu_mem_mb=free_gpu_mem_mb, free_slots=capacity,
                         registered_ms=now_ms, last_seen_ms=now_ms).on_conflict_ignore().execute()
            MM.delete().where(MM.miner == address).execute()
            if models:
                MM.insert_many([{"miner": address, "name": n, "model_id": i} for n, i in models.items()]).execute()
        record = self.get_miner(address)
        assert record is not None
        return record

    def touch_miner(self, address: str, now_ms: int, *, free_slots: int | None = None,
                    free_gpu_mem_mb: int | None = None, telemetry: dict[str, Any] | None = None) -> bool:
        """Record a sign of life (heartbeat or poll); False when the miner is not registered."""
        fields: dict[str, Any] = {"last_seen_ms": now_ms}
        if free_slots is not None:
            fields["free_slots"] = free_slots
        if free_gpu_mem_mb is not None:
            fields["free_gpu_mem_mb"] = free_gpu_mem_mb
        if telemetry is not None:
            fields["telemetry"] = text(telemetry)
        return self.Miner.update(**fields).where(self.Miner.address == address).execute() == 1

    def set_bond(self, address: str, bond: int, now_ms: int) -> None:
        self.Miner.update(bond=bond, bond_checked_ms=now_ms).where(self.Miner.address == address).execute()

    def get_miner(self, address: str) -> MinerRecord | None:
        row = self.Miner.get_or_none(self.Miner.address == address)
        if row is None:
            return None
        return self._miner_record(row, self._models_of([address]).get(address, {}), self._active([address]))

    def list_miners(self, live_since_ms: int | None = None) -> list[MinerRecord]:
        query = self.Miner.select().order_by(self.Miner.address)
        if live_since_ms is not None:
            query = query.where(self.Miner.last_seen_ms >= live_since_ms)
        rows = list(query)
        addresses = [r.address for r in rows]
        models = self._models_of(addresses)
        active = self._active(addresses)
        return [self._miner_record(r, models.get(r.address, {}), active) for r in rows]

    def miners_needing_bond_check(self, live_since_ms: int, checked_before_ms: int) -> list[str]:
        M = self.Miner
        return [r.address for r in M.select(M.address).where(
            (M.last_seen_ms >= live_since_ms) & (M.bond_checked_ms < checked_before_ms))]

    def _models_of(self, addresses: list[str]) -> dict[str, dict[str, str]]:
        result: dict[str, dict[str, str]] = {}
        MM = self.MinerModel
        for start in range(0, len(addresses), 300):
            chunk = addresses[start:start + 300]
            for miner, name, model_id in MM.select(MM.miner, MM.name, MM.model_id).where(MM.miner.in_(chunk)).tuples():
                result.setdefault(miner, {})[name] = model_id
        return result

    def _active(self, addresses: list[str]) -> dict[str, int]:
        """Busy task count per miner: assigned/running jobs (not yet answered) plus re-checks."""
        counts: dict[str, int] = {a: 0 for a in addresses}
        if not addresses:
            return counts
        J, V = self.Job, self.Verify
        for start in range(0, len(addresses), 300):
            chunk = addresses[start:start + 300]
            jobs = (J.select(J.miner, peewee.fn.COUNT(J.job_id))
                    .where(J.miner.in_(chunk) & J.status.in_(BUSY) & J.result_ms.is_null())
                    .group_by(J.miner).tuples())
            for miner, count in jobs:
                counts[miner] += int(count)
            checks = (V.select(V.verifier, peewee.fn.COUNT(V.job_id))
                      .where(V.verifier.in_(chunk) & V.status.in_(BUSY)).group_by(V.verifier).tuples())
            for miner, count in checks:
                counts[miner] += int(count)
        return counts

    @staticmethod
    def _miner_record(row: MinerRow, models: dict[str, str], active: dict[str, int]) -> MinerRecord:
        return MinerRecord(
            address=row.address, pubkey=row.pubkey, models=models, capacity=row.capacity,
            price_per_1k=row.price_per_1k, gpus=json.loads(row.gpus), free_gpu_mem_mb=row.free_gpu_mem_mb,
            free_slots=row.free_slots, telemetry=json.loads(row.telemetry), bond=row.bond,
            bond_checked_ms=row.bond_checked_ms, registered_ms=row.registered_ms, last_seen_ms=row.last_seen_ms,
            completed=row.completed, failed=row.failed, slashed=row.slashed, active=active.get(row.address, 0))

    @cached_property
    def _served(self) -> Statement:
        M, MM = self.Miner, self.MinerModel
        return Statement(self._db, lambda arg: MM.select(peewee.SQL("1")).join(M, on=(MM.miner == M.address)).where(
            (MM.name == arg("model")) & (M.last_seen_ms >= arg("live_since")) & (M.bond >= arg("min_bond"))).limit(1))

    def is_served(self, model: str, live_since_ms: int, min_bond: int) -> bool:
        """Does a live, bonded miner serve ``model``? (One indexed query, compiled once: asked on
        every submission.)"""
        return self._served.row(model=model, live_since=live_since_ms, min_bond=min_bond) is not None

    def served_models(self, live_since_ms: int, min_bond: int) -> dict[str, list[MinerRecord]]:
        """Model name -> live, bonded miners serving it."""
        served: dict[str, list[MinerRecord]] = {}
        for miner in self.list_miners(live_since_ms):
            if miner.bond < min_bond:
                continue
            for name in miner.models:
                served.setdefault(name, []).append(miner)
        return served
