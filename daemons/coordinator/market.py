"""Market policy in one place: how miners are ranked, what a job costs, what reputation is.

Pure functions, so that the rules can be read (and tested) without a database: the store
applies :func:`rank` inside its matching transaction.
"""

from __future__ import annotations

from typing import Any

from storage.coordinator_store import Candidate

SLASH_WEIGHT = 10
"""One proven wrong result weighs as much as ten failures: cheating must cost more than luck."""


def reputation(completed: int, failed: int, slashed: int) -> int:
    """Jobs completed minus failures, minus a heavy penalty per result proven wrong."""
    return completed - failed - SLASH_WEIGHT * slashed


def rank(candidate: Candidate) -> tuple[Any, ...]:
    """Sort key of a miner for new work: cheapest first, then most free GPU memory, then best
    reputation; the address last so that equal miners are ordered the same in every process."""
    return (candidate.price_per_1k, -candidate.free_gpu_mem_mb,
            -reputation(candidate.completed, candidate.failed, candidate.slashed), candidate.address)


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
