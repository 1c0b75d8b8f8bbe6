"""What ``/health`` and ``/v1/status`` say: the miner's facts, read at the moment of asking."""

from __future__ import annotations

import os

from daemons.common.models import Door
from daemons.miner.models import Earnings, MinerHealth, MinerStatus, ModelState, TaskView
from daemons.miner.monitor import gpu_state
from daemons.miner.state import MinerState, now_ms
from daemons.common.version import VERSION



def health_view(state: MinerState, door: Door) -> MinerHealth:
    gpu = gpu_state(list(state.settings.gpu_devices), state.snapshot)
    loaded = [sv.name for sv in state.served if sv.usable]
    reasons = state.reasons()
    return MinerHealth(status="ok" if not reasons else "unavailable", version=VERSION, pid=os.getpid(), door=door,
                       phase=state.phase, ready=not reasons, compute_enabled=state.settings.compute_enabled,
                       model_loaded=bool(loaded), models=loaded, gpu_ok=gpu.ok, gpu_reason=gpu.reason,
                       reasons=reasons)


def status_view(state: MinerState, earnings: Earnings | None = None) -> MinerStatus:
    s = state.settings
    models = [ModelState(name=sv.name, backend=sv.backend.backend_name if sv.backend else None,
                         model_id=sv.model_id, loaded=sv.loaded, served=sv.usable, reason=sv.reason)
              for sv in state.served]
    tasks = [TaskView(task_id=e.task_id, kind=e.task["kind"], job_id=e.task["job_id"], model=e.task["model"],
                      state=e.state, received_ms=e.received_ms, started_ms=e.started_ms,
                      finished_ms=e.finished_ms, deadline_ms=e.task.get("deadline_ms"), outcome=e.outcome,
                      delivery_attempts=e.delivery_attempts, restarts=e.restarts)
             for e in state.journal]
    reasons = state.reasons()
    return MinerStatus(
        address=state.address, version=VERSION, phase=state.phase, ready=not reasons, reasons=reasons,
        compute_enabled=s.compute_enabled, node=s.node_target, capacity=s.capacity,
        free_slots=state.free_slots(), price_per_1k_tokens=s.price_per_1k_tokens, models=models,
        gpu=gpu_state(list(s.gpu_devices), state.snapshot), tasks=tasks,
        counters=state.counters.model_copy(), bond=state.bond.model_copy(),
        registration=state.registration.model_copy(), earnings=earnings or Earnings(address=state.address),
        started_ms=state.started_ms, uptime_s=round((now_ms() - state.started_ms) / 1000, 3),
        last_error=state.last_error)
