"""Benchmark of the miner's CPU inference backend on the built-in ``smollm2`` model.

Prints, for greedy and for seeded-sampling jobs: generation tokens/s, and the cost of the
verification check (one teacher-forced forward pass over prompt + output) next to the cost of
generating the same output, as a ratio. The ratio is what the coordinator's re-check sample
costs a verifying miner relative to the job itself.

    .venv/bin/python bench/bench_inference.py [--max-tokens 128] [--threads N] [--rounds 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from daemons.miner.inference import GenerationParams, GenerationRequest, ModelCatalogue  # noqa: E402
from daemons.miner.inference.cpu import CpuBackend  # noqa: E402

PROMPTS = [
    "Write a short poem about the sea.",
    "Explain how photosynthesis works.",
    "Give me three tips for learning to cook.",
    "Describe a walk through a forest in autumn.",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--rounds", type=int, default=2, help="passes over the prompt list per mode")
    args = parser.parse_args()

    spec = ModelCatalogue.builtin().resolve("smollm2")
    backend = CpuBackend(spec, threads=args.threads)
    started = time.perf_counter()
    backend.load()
    load_s = time.perf_counter() - started
    import torch

    print(f"model smollm2 ({backend.model_id[:19]}...) loaded in {load_s:.1f}s; torch {torch.__version__}, {torch.get_num_threads()} threads")
    backend.generate([GenerationRequest(prompt="Hello", max_tokens=4)])  # warm-up

    modes = {
        "greedy": GenerationParams(max_tokens=args.max_tokens),
        "sampling T=0.8 top_p=0.95": GenerationParams(max_tokens=args.max_tokens, temperature=0.8, top_p=0.95, seed=7),
    }
    print(f"{'mode':<28}{'jobs':>5}{'tokens':>8}{'gen s':>9}{'tok/s':>8}{'verify s':>10}{'verify/gen':>12}")
    for label, params in modes.items():
        tokens = 0
        gen_s = 0.0
        ver_s = 0.0
        ratios: list[float] = []
        jobs = 0
        for _ in range(args.rounds):
            for prompt in PROMPTS:
                request = GenerationRequest(prompt=prompt, **params.model_dump())
                t0 = time.perf_counter()
                [result] = backend.generate([request])
                t1 = time.perf_counter()
                verdict = backend.verify_result(prompt, result)
                t2 = time.perf_counter()
                if not verdict.accepted:
                    raise SystemExit(f"genuine output rejected: {verdict.reason}")
                tokens += result.completion_tokens
                gen_s += t1 - t0
                ver_s += t2 - t1
                ratios.append((t2 - t1) / (t1 - t0))
                jobs += 1
        print(
            f"{label:<28}{jobs:>5}{tokens:>8}{gen_s:>9.2f}{tokens / gen_s:>8.1f}{ver_s:>10.2f}"
            f"{ver_s / gen_s:>12.3f}"
        )
        print(f"{'':<28}per-job verify/generate ratio: median {statistics.median(ratios):.3f}, max {max(ratios):.3f}")
    backend.close()


if __name__ == "__main__":
    main()
