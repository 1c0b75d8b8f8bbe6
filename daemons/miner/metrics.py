"""The miner's own Prometheus families, appended to the telemetry exposition on ``/metrics``.

Hardware numbers come from the telemetry module (:func:`~daemons.miner.telemetry.to_prometheus`);
these say what the miner is doing with the hardware: ready or not, models loaded, tasks by
state, and counters of outcomes and tokens since start (``_total``: Prometheus counters).
"""

from __future__ import annotations

from collections.abc import Iterable

from daemons.miner.models import MinerStatus
from daemons.miner.telemetry.prometheus import escape_label_value, format_value

Sample = tuple[dict[str, str], float]


def _family(name: str, kind: str, help_text: str, samples: Iterable[Sample]) -> list[str]:
    body = []
    for labels, value in samples:
        text = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in labels.items())
        body.append(f"{name}{{{text}}} {format_value(value)}" if text else f"{name} {format_value(value)}")
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *body] if body else []


def miner_metrics(status: MinerStatus) -> str:
    """Exposition lines (ending with a newline) for ``status``."""
    c = status.counters
    states = {"queued": 0, "running": 0, "done": 0}
    for task in status.tasks:
        states[task.state] += 1
    lines: list[str] = []
    lines += _family("aitbc_miner_ready", "gauge", "1 when the miner takes jobs, else 0.", [({}, float(status.ready))])
    lines += _family("aitbc_miner_model_loaded", "gauge", "1 when the model is loaded and served, else 0.",
                     [({"model": m.name}, float(m.loaded and m.served)) for m in status.models])
    lines += _family("aitbc_miner_capacity", "gauge", "Tasks the miner runs at once.", [({}, float(status.capacity))])
    lines += _family("aitbc_miner_tasks", "gauge", "Tasks held by the miner, by state.",
                     [({"state": s}, float(n)) for s, n in states.items()])
    outcomes = [("run", "completed", c.runs_completed), ("verify", "accepted", c.verifies_accepted),
                ("verify", "rejected", c.verifies_rejected), ("any", "failed", c.failed),
                ("any", "handed_back", c.handed_back), ("any", "cancelled", c.cancelled)]
    lines += _family("aitbc_miner_tasks_total", "counter", "Tasks finished since start, by kind and outcome.",
                     [({"kind": k, "outcome": o}, float(n)) for k, o, n in outcomes])
    lines += _family("aitbc_miner_tokens_total", "counter", "Tokens processed by run tasks since start.",
                     [({"type": "prompt"}, float(c.prompt_tokens)), ({"type": "completion"}, float(c.completion_tokens))])
    lines += _family("aitbc_miner_results_delivered_total", "counter", "Results acknowledged by the coordinator.",
                     [({}, float(c.results_delivered))])
    lines += _family("aitbc_miner_delivery_retries_total", "counter", "Result deliveries that had to be retried.",
                     [({}, float(c.delivery_retries))])
    if status.bond.on_chain is not None:
        lines += _family("aitbc_miner_bond_units", "gauge", "Miner bond on chain, units (1 AIT = 1e6).",
                         [({}, float(status.bond.on_chain))])
    return "\n".join(lines) + "\n"
