"""The coordinator source: jobs from ``job:*`` events, receipts and miner events, and a slow
status poll for the counters, the served models and the miner registry.

The TUI talks to the operator socket. Acting for a client (submit, cancel) needs the client's
address in the request, so those calls use a short-lived client made by :meth:`acting_for`.
"""

from __future__ import annotations

from daemons.common.models import Event
from daemons.coordinator.client import AsyncCoordinatorClient

from aitbc_tui.format import ait, short_addr
from aitbc_tui.models import EventLine, JobRow, MinerRow, ServedModel
from aitbc_tui.sources.base import StreamingSource, now_ms

STATUS_EVERY_S = 5.0
THROUGHPUT_WINDOW_S = 300.0
TOPICS = ["job:*", "receipt:*", "miner", "output:*"]


class CoordinatorSource(StreamingSource[AsyncCoordinatorClient]):
    service = "coordinator"
    topics = TOPICS
    status_every_s = STATUS_EVERY_S

    def open_client(self) -> AsyncCoordinatorClient:
        return AsyncCoordinatorClient(self.socket, timeout=40.0)

    def acting_for(self, address: str) -> AsyncCoordinatorClient:
        """A client whose requests act for ``address`` (close it after use)."""
        return AsyncCoordinatorClient(self.socket, address=address, timeout=40.0)

    async def _snapshot(self) -> None:
        page = await self.client.jobs(limit=500)
        model = self.store.coordinator
        model.jobs = sorted((JobRow.model_validate(j.model_dump()) for j in page.jobs),
                            key=lambda j: j.created_ms, reverse=True)
        await self._read_status()

    async def _read_status(self) -> None:
        status = await self.client.status()
        served = await self.client.models()
        miners = await self.client.miners()
        model = self.store.coordinator
        model.coordinator_address = status.coordinator_address
        model.chain_id = status.chain_id
        model.job_counts = dict(status.jobs)
        model.receipt_counts = dict(status.receipts)
        model.miners_total, model.miners_live = status.miners, status.live_miners
        model.settler = status.settler
        model.served = [ServedModel(name=m.id, miners=m.aitbc.live_miners, free_slots=m.aitbc.free_slots,
                                    min_price_per_1k_tokens=m.aitbc.min_price_per_1k_tokens) for m in served.data]
        model.miners = [MinerRow(address=m.address, models=sorted(m.models), capacity=m.capacity, active=m.active,
                                 live=m.live, bonded=m.bonded, completed=m.completed, failed=m.failed,
                                 slashed=m.slashed, reputation=m.reputation, price_per_1k_tokens=m.price_per_1k_tokens)
                        for m in miners.miners]
        self._update_throughput()

    def _update_throughput(self) -> None:
        """Jobs completed in the last five minutes, from the coordinator's own timestamps (so a
        console started a minute ago still shows the real rate). Counted over the newest
        ``MAX_JOBS`` jobs the console holds, so it reads low above ~100 jobs a minute."""
        model = self.store.coordinator
        horizon = now_ms() - int(THROUGHPUT_WINDOW_S * 1000)
        done = sum(1 for job in model.jobs if job.status == "completed" and job.updated_ms >= horizon)
        model.throughput_per_min = done / (THROUGHPUT_WINDOW_S / 60)

    def _on_event(self, event: Event) -> None:
        data, model = event.data, self.store.coordinator
        if event.topic.startswith("output:"):
            if model.add_output(str(data.get("job_id", "")), int(data.get("offset", -1)), str(data.get("text", ""))):
                self.changed()
        elif event.topic.startswith("job:") and "client" in data and "model" in data:
            job = JobRow.model_validate(data)
            if job.output is not None or job.status not in ("assigned", "running"):
                model.live_output.pop(job.job_id, None)
            before = model.put_job(job)
            if before is None or before.status != job.status:
                # the counts have one source, the coordinator's status: read again now (events
                # arriving together cost one read), never adjusted here, where a poll and an
                # event crossing each other once counted one job as running and completed
                self.status_dirty.set()
                if job.status == "completed":
                    self._update_throughput()
                self.store.events.add(EventLine(time_ms=job.updated_ms or now_ms(), source="coordinator",
                                                level="warning" if job.status == "failed" else "info",
                                                text=self._job_text(job)))
            self.changed()
        elif event.topic.startswith("job:"):
            # a partial update (e.g. settlement): merge into the known job
            known = model.job(str(data.get("job_id")))
            if known is not None:
                model.put_job(known.model_copy(update={k: v for k, v in data.items() if k in JobRow.model_fields}))
                self.changed()
        elif event.topic.startswith("receipt:"):
            job_id = str(data.get("job_id", ""))
            self.store.events.add(EventLine(time_ms=now_ms(), source="coordinator",
                                            text=f"receipt for job {job_id[:12]} {data.get('status', 'signed')}"))
            self.changed()
        elif event.topic == "miner" and data.get("event") != "heartbeat":
            level = "error" if data.get("event") == "slashed" else "info"
            self.store.events.add(EventLine(time_ms=now_ms(), source="coordinator", level=level,
                                            text=f"miner {short_addr(data.get('address'))} {data.get('event')}"))
            self.changed()

    @staticmethod
    def _job_text(job: JobRow) -> str:
        text = f"job {job.job_id[:12]} {job.status} ({job.model})"
        if job.status == "completed" and job.price is not None:
            text += f", {ait(job.price)}"
        if job.error:
            text += f": {job.error}"
        return text
