"""The miner source: ``telemetry`` events (GPU and host samples), ``job`` and ``miner`` events,
and the status (models, tasks, bond, earnings) re-read after job events and every few seconds.

The miner's typed client is blocking only, so this source speaks the same API through the
shared asynchronous transport (:class:`~daemons.common.client.AsyncDaemonClient`) and decodes
answers with the miner's own wire models, exactly as ``MinerClient`` does.
"""

from __future__ import annotations

from typing import Any

from daemons.common.client import AsyncDaemonClient
from daemons.common.models import Event
from daemons.miner.models import MinerStatus
from daemons.miner.telemetry.models import TelemetrySnapshot

from aitbc_tui.models import EventLine
from aitbc_tui.sources.base import StreamingSource, now_ms

STATUS_EVERY_S = 5.0
TOPICS = ["telemetry", "job", "miner"]


class MinerSource(StreamingSource[AsyncDaemonClient]):
    service = "miner"
    topics = TOPICS
    status_every_s = STATUS_EVERY_S

    def open_client(self) -> AsyncDaemonClient:
        return AsyncDaemonClient(self.socket, timeout=15.0, name="miner")

    async def _snapshot(self) -> None:
        await self._read_status()
        self.apply_telemetry(await self.client.get("/v1/telemetry", model=TelemetrySnapshot))

    async def _read_status(self) -> None:
        self.apply_status(await self.client.get("/v1/status", model=MinerStatus))

    def apply_status(self, status: MinerStatus) -> None:
        model = self.store.miner
        model.address, model.phase, model.ready = status.address, status.phase, status.ready
        model.reasons, model.compute_enabled = list(status.reasons), status.compute_enabled
        model.capacity, model.free_slots = status.capacity, status.free_slots
        model.price_per_1k_tokens = status.price_per_1k_tokens
        model.models = list(status.models)
        model.gpu_ok, model.gpu_reason = status.gpu.ok, status.gpu.reason
        model.driver_version = status.gpu.driver_version or model.driver_version
        model.tasks = list(status.tasks)
        model.counters = status.counters.model_dump()
        earnings = status.earnings
        model.balance, model.bond, model.slashed = earnings.balance, earnings.bond, earnings.slashed
        model.jobs_settled, model.earnings_error = earnings.jobs_settled, earnings.error
        model.bond_target, model.bond_status = status.bond.target, status.bond.status
        reg = status.registration
        model.registered, model.coordinator, model.registration_error = reg.registered, reg.coordinator, reg.error
        model.uptime_s, model.last_error = status.uptime_s, status.last_error

    def apply_telemetry(self, snapshot: TelemetrySnapshot) -> None:
        model = self.store.miner
        model.telemetry_ms = snapshot.time_ms
        model.driver_version = snapshot.driver_version or model.driver_version
        if not snapshot.nvml_available:
            model.gpu_reason = snapshot.nvml_error or model.gpu_reason
        model.gpus = list(snapshot.gpus)
        for gpu in model.gpus:
            prefix = f"gpu{gpu.index}"
            model.record(f"{prefix}.util", gpu.utilization_percent)
            if gpu.memory_used_bytes is not None and gpu.memory_total_bytes:
                model.record(f"{prefix}.mem", 100 * gpu.memory_used_bytes / gpu.memory_total_bytes)
            model.record(f"{prefix}.temp", gpu.temperature_celsius)
            model.record(f"{prefix}.power", gpu.power_watts)
        host = snapshot.host
        model.host = host
        model.record("host.cpu", host.cpu_percent)
        if host.ram_used_bytes is not None and host.ram_total_bytes:
            model.record("host.ram", 100 * host.ram_used_bytes / host.ram_total_bytes)

    def _on_event(self, event: Event) -> None:
        data: dict[str, Any] = event.data
        if event.topic == "telemetry":
            self.apply_telemetry(TelemetrySnapshot.model_validate(data))
        elif event.topic == "job":
            self.status_dirty.set()
            text = f"{data.get('kind', 'task')} {str(data.get('job_id', ''))[:12]} {data.get('event', '')}"
            if data.get("outcome"):
                text += f" ({data['outcome']})"
            self.store.events.add(EventLine(time_ms=now_ms(), source="miner", text=text,
                                            level="warning" if data.get("reason") else "info"))
        elif event.topic == "miner":
            self.status_dirty.set()
            self.store.events.add(EventLine(time_ms=now_ms(), source="miner",
                                            text=f"phase {data.get('phase')}, {'ready' if data.get('ready') else 'not ready'}"))
        self.changed()
