"""The miner's own Prometheus families, appended to the telemetry exposition on ``/metrics``.

Hardware numbers come from the telemetry module (:func:`~daemons.miner.telemetry.to_prometheus`);
these say what the miner is doing with the hardware: ready or not, models loaded, tasks by
state, and counters of outcomes and tokens since start (``_total``: Prometheus counters).
"""

from __future__ import annotations

from daemons.miner.models import MinerStatus
from daemons.miner.telemetry.prometheus import family


def miner_metrics(status: MinerStatus) -> str:
    """Exposition lines (ending with a newline) for ``status``."""
    c = status.counters
    states = {"queued": 0, "running": 0, "done": 0}
    for task in status.tasks:
        states[task.state] += 1
    lines: list[str] = []
    lines += family("aitbc_miner_ready", "1 when the miner takes jobs, else 0.", [({}, float(status.ready))])
    lines += family("aitbc_miner_model_loaded", "1 when the model is loaded and served, else 0.",
                    [({"model": m.name}, float(m.loaded and m.served)) for m in status.models])
    lines += family("aitbc_miner_model_backend", "1 for the inference backend serving each model (cpu, llamacpp, vllm).",
                    [({"model": m.name, "backend": m.backend}, 1.0) for m in status.models if m.backend])
    lines += family("aitbc_miner_capacity", "Tasks the miner runs at once.", [({}, float(status.capacity))])
    lines += family("aitbc_miner_tasks", "Tasks held by the miner, by state.",
                    [({"state": s}, float(n)) for s, n in states.items()])
    outcomes = [("run", "completed", c.runs_completed), ("verify", "accepted", c.verifies_accepted),
                ("verify", "rejected", c.verifies_rejected), ("any", "failed", c.failed),
                ("any", "handed_back", c.handed_back), ("any", "cancelled", c.cancelled)]
    lines += family("aitbc_miner_tasks_total", "Tasks finished since start, by kind and outcome.",
                    [({"kind": k, "outcome": o}, float(n)) for k, o, n in outcomes], kind="counter")
    lines += family("aitbc_miner_tokens_total", "Tokens processed by run tasks since start.",
                    [({"type": "prompt"}, float(c.prompt_tokens)), ({"type": "completion"}, float(c.completion_tokens))],
                    kind="counter")
    lines += family("aitbc_miner_results_delivered_total", "Results acknowledged by the coordinator.",
                    [({}, float(c.results_delivered))], kind="counter")
    lines += family("aitbc_miner_delivery_retries_total", "Result deliveries that had to be retried.",
                    [({}, float(c.delivery_retries))], kind="counter")
    if status.bond.on_chain is not None:
        lines += family("aitbc_miner_bond_units", "Miner bond on chain, units (1 AIT = 1e6).",
                        [({}, float(status.bond.on_chain))])
    return "\n".join(lines) + "\n"
