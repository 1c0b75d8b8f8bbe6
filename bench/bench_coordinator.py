"""Coordinator throughput benchmark: a real node and coordinator, 100 scripted miners.

Run: ``.venv/bin/python bench/bench_coordinator.py [--seconds 5] [--miners 100] [--clients 8]
[--jobs 2000] [--database-url postgresql://...]`` (with a database URL: SQLite first, then that
PostgreSQL database, each on a fresh home and fresh daemons).

The anchor is a **bare FastAPI app** (this file with ``--serve-bare PORT``): the same framework
and server (uvicorn, one TCP listener), the same ``GET /health`` answer model and a ``POST
/v1/jobs`` that validates the same request model and answers 201, measured with the same client,
the same concurrency, on the same machine, right before the coordinator. Every rate is printed as
a share of the bare app's (targets on SQLite: ``/health`` at least 80%, submissions at least 40%
of the bare ``/health``): what is missing is time spent in our code, not in the framework.

What it does, in order (all requests over the coordinator's public TCP door with API keys, as
real clients and miners use it):

1. ``init`` a temp home (coordinator key, genesis funding the clients and miners), start the
   node and the coordinator as subprocesses; clients escrow, miners bond on chain; API keys.
2. ``GET /health`` for ``--seconds`` with ``--clients`` concurrent connections: the bare
   request rate of this server, the yardstick for the figures below.
3. Miner polls: every miner registered, polling ``POST /v1/miners/jobs`` (``wait_s`` 0) back to
   back with an empty queue for ``--seconds``: polls/s.
4. Job submissions: ``--clients`` clients ``POST /v1/jobs`` back to back until ``--jobs`` are
   queued (each reserves escrow, inside one database transaction): submissions/s.
5. End to end: the miners long-poll, answer each task with a signed proof, the coordinator
   checks it and signs a receipt; jobs/s from the first task to the last job completed. Then
   the time until every receipt is settled on chain is reported too.

Printed: each rate, its share of the bare app's ``/health`` rate, and its share of the
coordinator's own ``/health`` rate; then, for the server-side phases, the **CPU time the server
process spent per request** (user + system, all its threads, from ``/proc/PID/stat``) and the
bare ``/health``'s CPU time per request as a share of it. The wall-clock rates move with the
load of the machine (other processes take the cores); the CPU time per request hardly does, so
the CPU share is the stable figure to compare runs and commits by (same targets: ``/health`` at
least 80%, submissions at least 40%). It counts the server process only: the node's work for
the escrow reads (at most one per client per ``escrow_cache`` second) is not in it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
for _path in (REPO, REPO / "tests"):  # the product, and the process helpers it shares with the tests
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import httpx  # noqa: E402
from benchkit import process_cpu_seconds  # noqa: E402
from testkit import Daemon, free_port, hermetic_env, short_root, wait_for  # noqa: E402

from chain import crypto  # noqa: E402
from chain.encoding import sha256  # noqa: E402
from chain.params import UNIT, ChainParams  # noqa: E402
from chain.receipt import ProofBody, sign_proof  # noqa: E402
from chain.receipt_verify import params_hash, text_hash  # noqa: E402
from chain.tx import make_tx  # noqa: E402
from daemons.common.home import Home  # noqa: E402
from daemons.common.models import Health  # noqa: E402
from daemons.coordinator.client import CoordinatorClient  # noqa: E402
from daemons.coordinator.models import JobRequest  # noqa: E402
from daemons.coordinator.init import init_coordinator  # noqa: E402
from daemons.node.client import NodeClient  # noqa: E402
from daemons.node.init import init_node  # noqa: E402

AITBC = Path(sys.executable).parent / "aitbc"
MODEL = "bench-echo"
MODEL_ID = sha256(b"bench-echo").hex()
BOND = 1000 * UNIT
FEE = 10


class Keys:
    def __init__(self) -> None:
        self.seed = crypto.generate_seed()
        self.pubkey = crypto.pubkey_from_seed(self.seed).hex()
        self.address = crypto.address_from_pubkey(bytes.fromhex(self.pubkey))


def commit_all(node: NodeClient, txs: list[Any]) -> None:
    for start in range(0, len(txs), 500):
        for answer in node.broadcast_txs(txs[start:start + 500]):
            if isinstance(answer, Exception):
                raise SystemExit(f"setup transaction refused: {answer}")
    last = txs[-1].hash
    wait_for(lambda: node.get_tx(last)["status"] == "committed", "setup transactions to commit", 120, 0.1)


async def request(http: httpx.AsyncClient, method: str, path: str, allow: tuple[int, ...] = (), **kwargs: Any
                  ) -> httpx.Response:
    """One request, retried on a dropped keep-alive connection (the server may close an idle one
    just as it is reused; that is a transport race, not a coordinator answer). ``allow``: error
    statuses that are fine (a retried result that had arrived the first time answers 409)."""
    for attempt in range(3):
        try:
            answer = await http.request(method, path, **kwargs)
        except (httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError):
            if attempt == 2:
                raise
            continue
        if answer.status_code not in allow:
            answer.raise_for_status()
        return answer
    raise AssertionError("unreachable")


class CpuMeter:
    """CPU seconds the server process ``pid`` spends per request, phase by phase."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.per_request: dict[str, float] = {}

    async def measure(self, name: str, count_and_run: Any) -> tuple[int, float]:
        """Await ``count_and_run`` (a coroutine answering (requests, elapsed)) and record its
        server CPU seconds per request under ``name``."""
        before = process_cpu_seconds(self.pid)
        count, elapsed = await count_and_run
        self.per_request[name] = (process_cpu_seconds(self.pid) - before) / max(count, 1)
        return count, elapsed


async def rate(seconds: float, workers: int, one: Any) -> tuple[int, float]:
    """Run ``one(worker_index)`` back to back in ``workers`` tasks for ``seconds``: (count, elapsed)."""
    count = 0
    stop = time.monotonic() + seconds

    async def loop(i: int) -> None:
        nonlocal count
        while time.monotonic() < stop:
            await one(i)
            count += 1

    started = time.monotonic()
    await asyncio.gather(*(loop(i) for i in range(workers)))
    return count, time.monotonic() - started


def proof_for(miner: Keys, chain_id: str, coordinator: str, task: dict[str, Any], output: str) -> dict[str, Any]:
    body = ProofBody(chain_id=chain_id, job_id=task["job_id"], coordinator=coordinator, miner=miner.address,
                     model=task["model"],
                     model_id=MODEL_ID, params_hash=params_hash(task["params"]), prompt_hash=text_hash(task["prompt"]),
                     output_hash=text_hash(output), prompt_tokens=len(task["prompt"].split()),
                     completion_tokens=len(output.split()))
    return sign_proof(body, miner.seed).model_dump()


def serve_bare(port: int) -> None:
    """The yardstick: a bare FastAPI app with the coordinator's ``/health`` and ``POST /v1/jobs``
    shapes (same models, no auth, storage, logging or middleware of ours)."""
    import uuid

    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/health", response_model=Health)
    async def health() -> Health:
        return Health(service="bare", version="0", pid=os.getpid(), door="public")

    @app.post("/v1/jobs", status_code=201)
    def submit(body: JobRequest) -> dict[str, Any]:
        return {"job_id": uuid.uuid4().hex, "status": "queued", "model": body.model}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", server_header=False)


async def bench_bare(args: argparse.Namespace, url: str, cpu: CpuMeter) -> dict[str, float]:
    """``/health`` and job submissions on the bare app, with the client used for the coordinator."""
    limits = httpx.Limits(max_connections=args.clients + args.miners + 8)
    body = {"model": MODEL, "prompt": "benchmark job", "params": {"max_tokens": 16}, "max_price": 1000}
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
        count, elapsed = await cpu.measure("health", rate(args.seconds, args.clients,
                                                          lambda i: request(http, "GET", "/health")))
        health = count / elapsed
        count, elapsed = await cpu.measure("submissions", rate(
            args.seconds, args.clients, lambda i: request(http, "POST", "/v1/jobs", json=body)))
        return {"health": health, "submissions": count / elapsed}


async def bench(args: argparse.Namespace, url: str, chain_id: str, clients: list[tuple[Keys, str]],
                miners: list[tuple[Keys, str]], cpu: CpuMeter) -> dict[str, float]:
    limits = httpx.Limits(max_connections=args.clients + args.miners + 8)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
        results: dict[str, float] = {}

        count, elapsed = await cpu.measure("health", rate(args.seconds, args.clients,
                                                          lambda i: request(http, "GET", "/health")))
        results["health"] = count / elapsed

        coordinator = ""
        for miner, key in miners:
            registered = await request(http, "POST", "/v1/miners/register", headers={"X-Api-Key": key}, json={
                "address": miner.address, "pubkey": miner.pubkey, "models": [{"name": MODEL, "model_id": MODEL_ID}],
                "capacity": 4, "price_per_1k_tokens": 1000,
                "gpus": [{"name": "bench", "memory_total_mb": 24_000, "memory_free_mb": 20_000}]})
            coordinator = registered.json()["coordinator_address"]  # what the miner's proofs name

        async def empty_poll(i: int) -> None:
            await request(http, "POST", "/v1/miners/jobs", headers={"X-Api-Key": miners[i][1]},
                          json={"max_jobs": 1, "wait_s": 0})

        count, elapsed = await cpu.measure("polls", rate(args.seconds, len(miners), empty_poll))
        results["polls"] = count / elapsed

        submitted: list[str] = []

        claimed = 0

        async def submit(i: int) -> None:
            """Client ``i`` submits back to back, as ``rate`` drives the anchors (not in rounds that
            wait for the slowest of the clients), until ``--jobs`` are claimed between them."""
            nonlocal claimed
            while claimed < args.jobs:
                claimed += 1
                answer = await request(http, "POST", "/v1/jobs", headers={"X-Api-Key": clients[i][1]}, json={
                    "model": MODEL, "prompt": f"benchmark job number {claimed} from client {i}",
                    "params": {"max_tokens": 16}, "max_price": 1000})
                submitted.append(answer.json()["job_id"])

        async def submit_all() -> tuple[int, float]:
            started = time.monotonic()
            await asyncio.gather(*(submit(i) for i in range(len(clients))))
            return len(submitted), time.monotonic() - started

        count, elapsed = await cpu.measure("submissions", submit_all())
        results["submissions"] = count / elapsed

        done = 0
        first_task: list[float] = []
        finished = asyncio.Event()

        async def miner_loop(miner: Keys, key: str) -> None:
            nonlocal done
            headers = {"X-Api-Key": key}
            while not finished.is_set():
                answer = await request(http, "POST", "/v1/miners/jobs", headers=headers,
                                       json={"max_jobs": 4, "wait_s": 1})
                for task in answer.json()["tasks"]:
                    if not first_task:
                        first_task.append(time.monotonic())
                    output = " ".join(reversed(task["prompt"].split()))
                    body = {"output": output, "prompt_tokens": len(task["prompt"].split()),
                            "completion_tokens": len(output.split()),
                            "proof": proof_for(miner, chain_id, coordinator, task, output)}
                    await request(http, "POST", f"/v1/miners/jobs/{task['task_id']}/result", allow=(409,),
                                  headers=headers, json=body)
                    done += 1
                    if done >= len(submitted):
                        finished.set()

        workers = [asyncio.create_task(miner_loop(m, k)) for m, k in miners]
        await asyncio.wait_for(finished.wait(), timeout=max(120.0, args.jobs / 5))
        ended = time.monotonic()
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        results["jobs_end_to_end"] = done / (ended - first_task[0])

        async def all_settled() -> bool:
            pending = 0
            for _, key in clients:
                page = (await request(http, "GET", "/v1/jobs", headers={"X-Api-Key": key},
                                      params={"limit": 500, "status": "completed"})).json()["jobs"]
                pending += sum(1 for j in page if not j["settled_height"])
            return pending == 0

        settle_started = time.monotonic()
        while not await all_settled():
            await asyncio.sleep(0.5)
        results["settle_wait_s"] = time.monotonic() - settle_started
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--miners", type=int, default=100)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--database-url", default="", help="also run on this PostgreSQL database (after SQLite)")
    parser.add_argument("--serve-bare", type=int, default=0, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return
    for database_url in ["", *([args.database_url] if args.database_url else [])]:
        run_once(args, database_url)


def server_pid(proc: Daemon) -> int:
    """The pid of the server a :class:`Daemon` started (the Python process itself: no wrapper)."""
    assert proc.proc is not None, proc.name
    return proc.proc.pid


def start_bare(root: Path) -> tuple[Daemon, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = Daemon(name="bare", command=[sys.executable, str(Path(__file__).resolve()), "--serve-bare", str(port)],
                  env=hermetic_env(), output_file=root / "bare.log").start(wait=False)

    def answers() -> bool:
        try:
            return httpx.get(f"{url}/health", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        proc.wait_until(answers, "the bare app", 120)
    except BaseException:
        proc.stop()
        raise
    return proc, url


def run_once(args: argparse.Namespace, database_url: str) -> None:
    root = short_root("aitbc-bench-co-")
    home = Home(root=root / "h")
    procs: list[Daemon] = []
    try:
        coordinator = init_coordinator(home, scrypt_n=1024).address
        clients = [Keys() for _ in range(args.clients)]
        miners = [Keys() for _ in range(args.miners)]
        fund = {k.address: 10 * BOND for k in clients + miners}
        fund[coordinator] = 100 * UNIT
        info = init_node(home, fund=fund, coordinators=[coordinator], params=ChainParams(block_time_ms=500),
                         scrypt_n=1024)
        rpc_port, api_port = free_port(), free_port()
        log = root / "daemons.log"
        procs.append(Daemon(name="node", command=[str(AITBC), "node", "start", "--home", str(home.root), "--rpc-port",
                                                  str(rpc_port), "--ws-port", "0"], output_file=log,
                            socket=home.socket("node")).start(wait=False))
        node = NodeClient(home.socket("node"), timeout=60)
        procs[-1].wait_until(lambda: home.socket("node").exists() and node.status(), "the node", 120)
        coordinator_env = hermetic_env(API_PORT=str(api_port), AITBC_CLIENT_RATE="1000000", AITBC_CLIENT_BURST="1000000",
                              AITBC_MINER_RATE="1000000", AITBC_MINER_BURST="1000000", AITBC_HEARTBEAT_TIMEOUT="600",
                              AITBC_RECHECK_RATE="0", AITBC_SETTLE_INTERVAL="1", LOG_LEVEL="warning",
                              **({"DATABASE_URL": database_url} if database_url else {}))
        procs.append(Daemon(name="coordinator", command=[str(AITBC), "coordinator", "start", "--home", str(home.root)],
                            env=coordinator_env, output_file=log).start(wait=False))
        operator = CoordinatorClient(home.socket("coordinator"))
        procs[-1].wait_until(lambda: home.socket("coordinator").exists() and operator.status() is not None, "the coordinator", 120)

        setup = []
        for keys in clients:
            setup.append(make_tx(keys.seed, info.chain_id, "escrow_deposit", 0, FEE,
                                 {"coordinator": coordinator, "amount": 5 * BOND}))
        for keys in miners:
            setup.append(make_tx(keys.seed, info.chain_id, "miner_bond", 0, FEE, {"amount": BOND}))
        commit_all(node, setup)
        client_keys = [(k, operator.create_key("client", k.address).api_key) for k in clients]
        miner_keys = [(k, operator.create_key("miner", k.address).api_key) for k in miners]

        bare_proc, bare_url = start_bare(root)
        procs.append(bare_proc)
        bare_cpu = CpuMeter(server_pid(bare_proc))
        bare = asyncio.run(bench_bare(args, bare_url, bare_cpu))
        bare_proc.stop()
        cpu = CpuMeter(server_pid(procs[1]))
        results = asyncio.run(bench(args, f"http://127.0.0.1:{api_port}", info.chain_id, client_keys, miner_keys,
                                    cpu))
        anchor, health = bare["health"], results["health"]
        backend = "PostgreSQL" if database_url else "SQLite"
        print(f"coordinator benchmark: {args.miners} scripted miners, {args.clients} clients, {args.jobs} jobs, "
              f"{backend}")
        print(f"  bare FastAPI GET /health    {anchor:9.1f} /s   (the anchor: 100%)")
        print(f"  bare FastAPI POST /v1/jobs  {bare['submissions']:9.1f} /s   {bare['submissions'] / anchor:6.1%} of bare /health")
        rows = (("health", "GET /health"), ("submissions", "job submissions"), ("polls", "miner polls (empty queue)"),
                ("jobs_end_to_end", "jobs end to end"))
        for name, label in rows:
            print(f"  {label:27} {results[name]:9.1f} /s   {results[name] / anchor:6.1%} of bare /health"
                  f"   {results[name] / health:6.1%} of our /health")
        print(f"  all receipts settled on chain {results['settle_wait_s']:.1f}s after the last job completed")
        anchor_cpu = bare_cpu.per_request["health"]
        print("  server CPU time per request (the stable figure; share: bare /health's CPU time per request / this)")
        cpu_rows = (("bare FastAPI GET /health", bare_cpu, "health"), ("bare FastAPI POST /v1/jobs", bare_cpu, "submissions"),
                    ("GET /health", cpu, "health"), ("job submissions", cpu, "submissions"),
                    ("miner polls (empty queue)", cpu, "polls"))
        for label, meter, name in cpu_rows:
            spent = meter.per_request[name]
            print(f"  {label:27} {spent * 1000:9.3f} ms  {anchor_cpu / spent if spent else float('nan'):6.1%} of bare /health")
    finally:
        for proc in reversed(procs):
            proc.stop()
        if os.environ.get("BENCH_KEEP"):
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
