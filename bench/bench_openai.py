"""Benchmark of streaming through the coordinator's OpenAI-compatible API against the miner's backend.

Prints, for one long streamed chat completion of the built-in ``smollm2`` (greedy, so both ways
generate the same tokens): tokens/s and time to first token through the coordinator (a dev
network started by ``aitbc up`` on a temp home and free loopback ports, ``stream: true`` over
HTTP, the miner pushing tokens as it generates), next to the same request on the backend the
miner serves it with (``auto``: llama.cpp where installed) called directly in this process (the
token sink's timings), and their ratios. The targets are at least 95% of the direct tokens/s and
a first token no more than 250 ms later than the backend alone gives it. The two runs take turns, never at once, so they do not share the CPU.

    .venv/bin/python bench/bench_openai.py [--max-tokens 256] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
for _path in (REPO, REPO / "tests"):  # the product, and the process helpers it shares with the tests
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from daemons.common.chat import ChatMessage, encode_messages  # noqa: E402
from daemons.miner.inference import GenerationRequest, ModelCatalogue  # noqa: E402
from daemons.miner.inference.availability import create_backend  # noqa: E402
from testkit import aitbc_command, free_ports, hermetic_env  # noqa: E402

PROMPT = "Write a long story about a lighthouse keeper and a storm."


def run(*args: str, timeout: float = 900) -> str:
    done = subprocess.run(aitbc_command(*args), capture_output=True, text=True, timeout=timeout,
                          env=hermetic_env(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1"), stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise SystemExit(f"aitbc {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def stream_once(url: str, key: str, max_tokens: int) -> tuple[float, list[float], int]:
    """(time to first token, arrival times of the pieces after the first, completion tokens)."""
    body = {"model": "smollm2", "stream": True, "max_tokens": max_tokens, "temperature": 0,
            "stream_options": {"include_usage": True}, "messages": [{"role": "user", "content": PROMPT}]}
    arrivals: list[float] = []
    tokens = 0
    with httpx.Client(timeout=900) as http:
        started = time.perf_counter()
        with http.stream("POST", f"{url}/v1/chat/completions", json=body,
                         headers={"Authorization": f"Bearer {key}"}) as answer:
            answer.raise_for_status()
            for line in answer.iter_lines():
                if not line.startswith("data: {"):
                    continue
                chunk = json.loads(line[6:])
                if chunk.get("usage"):
                    tokens = chunk["usage"]["completion_tokens"]
                elif chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                    arrivals.append(time.perf_counter() - started)
    return arrivals[0], arrivals, tokens


def through_coordinator(max_tokens: int, rounds: int) -> list[tuple[float, float]]:
    results: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory(prefix="aitbc-bench-openai-") as tmp:
        home = Path(tmp) / "home"
        rpc, ws, coordinator, miner, explorer, market = free_ports(6)
        print("starting a dev network with `aitbc up` ...", flush=True)
        run("up", "--home", str(home), "--detach", "--rpc-port", str(rpc), "--ws-port", str(ws),
            "--coordinator-port", str(coordinator), "--miner-port", str(miner), "--explorer-port", str(explorer),
            "--market-port", str(market))
        try:
            url, key = f"http://127.0.0.1:{coordinator}", (home / "keys" / "client.apikey").read_text().strip()
            stream_once(url, key, 4)  # warm-up
            for _ in range(rounds):
                first, arrivals, tokens = stream_once(url, key, max_tokens)
                span = arrivals[-1] - arrivals[0]
                results.append((first, (tokens - 1) / span if span > 0 else float("nan")))
        finally:
            run("down", "--home", str(home), timeout=120)
    return results


def direct(max_tokens: int, rounds: int) -> tuple[str, list[tuple[float, float]]]:
    """The same request on the backend the miner chooses here (``auto``: llama.cpp for the GGUF
    when it is installed), called in this process: the anchor the coordinator's path is held to."""
    backend = create_backend(ModelCatalogue.builtin().resolve("smollm2"))
    backend.load()
    prompt = encode_messages([ChatMessage(role="user", content=PROMPT)])
    request = GenerationRequest(prompt=prompt, messages=True, max_tokens=max_tokens)
    backend.generate([GenerationRequest(prompt=prompt, messages=True, max_tokens=4)])  # warm-up
    results: list[tuple[float, float]] = []
    for _ in range(rounds):
        times: list[float] = []
        started = time.perf_counter()
        backend.generate([request], on_token=lambda _index, _token: times.append(time.perf_counter() - started))
        span = times[-1] - times[0]
        results.append((times[0], (len(times) - 1) / span if span > 0 else float("nan")))
    backend.close()
    return backend.backend_name, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    served = through_coordinator(args.max_tokens, args.rounds)
    name, alone = direct(args.max_tokens, args.rounds)
    ttft_c, tps_c = statistics.median(r[0] for r in served), statistics.median(r[1] for r in served)
    ttft_d, tps_d = statistics.median(r[0] for r in alone), statistics.median(r[1] for r in alone)
    print(f"streamed chat completion, smollm2 greedy, max_tokens {args.max_tokens}, median of {args.rounds}")
    print(f"{'':<26}{'first token ms':>16}{'tokens/s':>10}")
    print(f"{name + ' backend, direct':<26}{ttft_d * 1000:>16.0f}{tps_d:>10.1f}")
    print(f"{'through the coordinator':<26}{ttft_c * 1000:>16.0f}{tps_c:>10.1f}")
    print(f"tokens/s ratio (coordinator / direct): {tps_c / tps_d:.3f}   (target >= 0.95)")
    print(f"first token later by: {(ttft_c - ttft_d) * 1000:.0f} ms   (target <= 250 ms)")


if __name__ == "__main__":
    main()
