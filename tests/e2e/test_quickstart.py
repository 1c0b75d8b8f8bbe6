"""The README's quick start, end to end, as a new user runs it.

One dev network for the whole module, created by ``aitbc up --detach`` in a fresh temp home on
free loopback ports; every step is the README's own command run as a subprocess:

- ``aitbc up``; ``aitbc status`` shows every daemon healthy;
- a job through the CLI (``aitbc submit ... --wait --json``) and one through plain HTTP
  (POST /v1/jobs with ``X-Api-Key`` from ``HOME/keys/client.apikey``), both answered by the real
  SmolLM2-135M-Instruct on CPU;
- each receipt is settled, and ``aitbc receipts verify ID`` proves it from chain data alone;
- the money moved by exactly what the receipts and the chain's rules say: the client's escrow
  drops by the receipt prices; the miner and the treasury, read at the height just before and
  at the settlement block, gain what ``chain.execution`` pays in that block (recomputed here from
  the block's transactions, the chain parameters and the validator set);
- ``aitbc down`` stops every daemon and removes the sockets; ``aitbc up`` again on the same home
  resumes the same chain, and the earlier receipt still verifies.

This module loads the model twice (two ``up``), so it takes minutes, not seconds; it is marked
``slow``. Time bounds below only guard against hangs, they are never assertions on speed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from daemons.common.errors import DaemonError
from daemons.ops import SERVICES
from daemons.ops.supervisor import running_pid
from daemons.common.home import Home
from daemons.node.client import NodeClient
from e2ekit import aitbc, aitbc_json, process_gone
from testkit import free_ports, skip_unless_ci

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

BPS = 10_000
FRANCE = "Which city is the capital of France?"
HTTP_PROMPT = "Name the largest planet of the solar system."
JOB_WAIT_S = 600.0
"""Bound on one job on a loaded CPU (the model answers in seconds on an idle one)."""
SETTLE_WAIT_S = 120.0


@dataclass
class Network:
    home: Home
    ports: dict[str, int]
    summary: dict[str, Any]
    roles: dict[str, Any]

    @property
    def coordinator_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['coordinator']}"

    @property
    def api_key(self) -> str:
        return (self.home.keys_dir / "client.apikey").read_text(encoding="utf-8").strip()

    def up_args(self) -> list[str]:
        return ["up", "--home", str(self.home.root), "--detach",
                "--rpc-port", str(self.ports["rpc"]), "--ws-port", str(self.ports["ws"]),
                "--coordinator-port", str(self.ports["coordinator"]), "--miner-port", str(self.ports["miner"]),
                "--explorer-port", str(self.ports["explorer"]), "--market-port", str(self.ports["market"])]

    def node(self) -> NodeClient:
        return NodeClient.for_home(self.home)


def _stop_leftovers(home: Home) -> None:
    """Whatever a failed test left running on this home (only our own daemons, found by pid lock)."""
    import os
    import signal

    aitbc("down", "--home", str(home.root), timeout=120, check=False)
    for service in SERVICES:
        pid = running_pid(home, service)
        if pid and pid > 0:
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Any:
    home = Home.resolve(tmp_path_factory.mktemp("quickstart") / "home")
    rpc, ws, coordinator, miner, explorer, market = free_ports(6)
    net = Network(home, {"rpc": rpc, "ws": ws, "coordinator": coordinator, "miner": miner, "explorer": explorer,
                         "market": market}, {}, {})
    try:
        net.summary = aitbc_json(*net.up_args(), timeout=900)
        net.roles = json.loads((home.root / "devnet.json").read_text(encoding="utf-8"))
        yield net
    finally:
        _stop_leftovers(home)


# -- watching balances block by block ---------------------------------------------------------------


class BalanceRecorder:
    """Reads the watched accounts after every block, so that any height's state can be compared.

    The node serves only the current state; ``get_account`` says at which height. One batch
    request reads every watched account; a snapshot is kept only when all answers are from the
    same height (a commit may land between two reads of one batch).
    """

    def __init__(self, home: Home, addresses: list[str]) -> None:
        self.home = home
        self.addresses = addresses
        self.snapshots: dict[int, dict[str, dict[str, Any]]] = {}
        self.last_error: DaemonError | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="balance-recorder", daemon=True)

    def __enter__(self) -> "BalanceRecorder":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        with NodeClient.for_home(self.home, timeout=5) as node:
            while not self._stop.is_set():
                try:
                    answers = node.batch([("get_account", {"address": a}) for a in self.addresses])
                except DaemonError as exc:  # a transient socket hiccup: try again next tick (said on failure)
                    self.last_error = exc
                    answers = []
                if answers and all(isinstance(a, dict) for a in answers):
                    heights = {a["height"] for a in answers}
                    if len(heights) == 1:
                        self.snapshots.setdefault(heights.pop(), {a["address"]: a for a in answers})
                self._stop.wait(0.03)

    def wait_for_height(self, height: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not any(h >= height for h in self.snapshots):
            if time.monotonic() >= deadline:  # a bound against hangs, not a timing check
                pytest.fail(f"no account snapshot at height >= {height} within {timeout}s "
                            f"(last error reading the accounts: {self.last_error})")
            time.sleep(0.1)

    def around(self, height: int) -> tuple[int, int]:
        """The snapshots that bracket ``height``: the last one before it and the first one at or after it.

        On an idle machine these are exactly ``height - 1`` and ``height``.
        """
        before = max(h for h in self.snapshots if h < height)
        after = min(h for h in self.snapshots if h >= height)
        return before, after

    def balance(self, height: int, address: str) -> int:
        return int(self.snapshots[height][address]["balance"])

    def escrow(self, height: int, client: str, coordinator: str) -> int:
        escrows = self.snapshots[height][client]["escrows"]
        return sum(int(e["balance"]) for e in escrows if e["coordinator"] == coordinator)


# -- what chain/execution.py pays in one block ----------------------------------------------------


@dataclass
class BlockPay:
    credits: dict[str, int] = field(default_factory=dict)
    escrow_drops: dict[tuple[str, str], int] = field(default_factory=dict)

    def add(self, address: str, amount: int) -> None:
        self.credits[address] = self.credits.get(address, 0) + amount


def expected_block_pay(block: dict[str, Any], params: dict[str, Any], treasury: str,
                       validators: list[dict[str, Any]]) -> BlockPay:
    """Balance changes of one block, recomputed the way ``chain.execution`` applies it.

    - each ``job_receipt`` moves ``price`` out of the client's escrow: ``price * receipt_fee_bps //
      10000`` (at least 1, at most the price) to the treasury, the rest to the miner; the miner's
      weight in this block grows by that fee (``chain.rewards.receipt_fee``);
    - ``chain.rewards.distribute``: pool = block_reward + the block's fees; the treasury gets its
      share, the miners split ``pool * miner_share_bps // 10000`` by weight, each capped at the
      receipt fees it paid (the rest, or all of it when no receipt settled, goes to the
      treasury), the stakers get the rest by voting power (the validators that signed the
      previous block; here the only one always does).
      Validator shares are paid as commission to the validator's balance plus delegation rewards;
      in this network every validator's power is its own bond, so each share is paid in full and
      only the rounding rest of the power split goes to the treasury.
    - transaction fees leave their senders (watched accounts send none in these blocks: checked by
      the caller).
    """
    pay = BlockPay()
    fees = 0
    weights: dict[str, int] = {}
    for tx in block["txs"]:
        fees += int(tx["fee"])
        if tx["type"] != "job_receipt":
            continue
        for receipt in tx["payload"]["receipts"]:
            body = receipt["body"]
            price = int(body["price"])
            miner = body["proof"]["body"]["miner"]
            fee = min(price, max(1, price * params["receipt_fee_bps"] // BPS)) if params["receipt_fee_bps"] else 0
            pay.add(treasury, fee)
            pay.add(miner, price - fee)
            key = (body["client"], body["coordinator"])
            pay.escrow_drops[key] = pay.escrow_drops.get(key, 0) + price
            weights[miner] = weights.get(miner, 0) + fee
    pool = params["block_reward"] + fees
    to_treasury = pool * params["treasury_share_bps"] // BPS
    miner_cut = pool * params["miner_share_bps"] // BPS
    staker_cut = pool - to_treasury - miner_cut
    total_weight = sum(weights.values())
    paid = 0
    for miner, weight in sorted(weights.items()):
        share = min(weight, miner_cut * weight // total_weight)
        pay.add(miner, share)
        paid += share
    to_treasury += miner_cut - paid
    active = [v for v in validators if v["active"]]
    power = sum(int(v["power"]) for v in active)
    staker_paid = sum(staker_cut * int(v["power"]) // power for v in active) if power else 0
    to_treasury += staker_cut - staker_paid
    pay.add(treasury, to_treasury)
    return pay


# -- the jobs ------------------------------------------------------------------------------------


@dataclass
class Jobs:
    cli: dict[str, Any]
    http: dict[str, Any]
    receipts: dict[str, dict[str, Any]]
    """job id -> the coordinator's receipt info (``aitbc receipts --job-id ID --json``)."""
    recorder: BalanceRecorder
    baseline: int
    final: int


def _poll_http_job(net: Network, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + JOB_WAIT_S
    with httpx.Client(base_url=net.coordinator_url, headers={"X-Api-Key": net.api_key}, timeout=30) as http:
        while True:
            answer = http.get(f"/v1/jobs/{job_id}")
            assert answer.status_code == 200, answer.text
            job = answer.json()
            if job["status"] in ("completed", "failed", "cancelled"):
                return job
            if time.monotonic() >= deadline:  # a bound against hangs, not a timing check
                pytest.fail(f"HTTP job {job_id} still {job['status']} after {JOB_WAIT_S}s")
            time.sleep(0.2)


def _wait_settled(net: Network, job_id: str) -> dict[str, Any]:
    """The job's receipt as ``aitbc receipts --job-id`` lists it, once settled (waited for on the
    coordinator's HTTP route the CLI reads: no CLI process per poll)."""
    deadline = time.monotonic() + SETTLE_WAIT_S
    with httpx.Client(base_url=net.coordinator_url, headers={"X-Api-Key": net.api_key}, timeout=30) as http:
        while True:
            answer = http.get("/v1/receipts", params={"job_id": job_id})
            assert answer.status_code == 200, answer.text
            rows = answer.json()["receipts"]
            if rows and rows[0]["status"] == "settled":
                break
            assert not rows or rows[0]["status"] != "rejected", rows
            if time.monotonic() >= deadline:  # a bound against hangs, not a timing check
                pytest.fail(f"receipt of job {job_id} not settled after {SETTLE_WAIT_S}s: {rows}")
            time.sleep(0.2)
    listed = aitbc_json("receipts", "--job-id", job_id, "--home", str(net.home.root))
    assert listed and listed[0]["status"] == "settled", listed
    return listed[0]


@pytest.fixture(scope="module")
def jobs(network: Network) -> Any:
    net = network
    with net.node() as node:
        treasury = node.get_params()["treasury"]
    watched = [net.roles["client"], net.roles["miner"], treasury]
    with BalanceRecorder(net.home, watched) as recorder:
        recorder.wait_for_height(1)
        baseline = min(recorder.snapshots)

        cli_job = aitbc_json("submit", FRANCE, "--model", "smollm2", "--wait", "--home", str(net.home.root),
                             timeout=JOB_WAIT_S + 60)

        # The README's curl, with httpx: POST /v1/jobs, then poll GET /v1/jobs/{id}.
        answer = httpx.post(f"{net.coordinator_url}/v1/jobs", headers={"X-Api-Key": net.api_key}, timeout=30,
                            json={"model": "smollm2", "prompt": HTTP_PROMPT, "params": {"max_tokens": 48}})
        assert answer.status_code == 201, answer.text
        http_job = _poll_http_job(net, answer.json()["job_id"])

        receipts = {job["job_id"]: _wait_settled(net, job["job_id"]) for job in (cli_job, http_job)}
        last = max(r["settled_height"] for r in receipts.values())
        recorder.wait_for_height(last + 1)
    final = max(recorder.snapshots)
    return Jobs(cli_job, http_job, receipts, recorder, baseline, final)


# -- the tests, in the README's order -----------------------------------------------------------------


def test_up_creates_the_network_and_status_shows_every_daemon_healthy(network: Network) -> None:
    summary = network.summary
    assert summary["created"] is True and summary["home"] == str(network.home.root)
    assert summary["client_api_key_file"] == str(network.home.keys_dir / "client.apikey")
    assert f"127.0.0.1:{network.ports['coordinator']}" in summary["services"]["coordinator"]
    assert (network.home.keys_dir / "client.apikey").stat().st_mode & 0o077 == 0
    status = aitbc_json("status", "--home", str(network.home.root))
    for service in SERVICES:
        state = status["services"][service]
        assert state["running"] and state["healthy"], (service, state)
        assert Path(state["socket"]).is_socket()
    assert status["chain"]["chain_id"] == summary["chain_id"]
    assert status["chain"]["height"] >= summary["height"]
    human = aitbc("status", "--home", str(network.home.root)).stdout
    for service in SERVICES:
        assert f"{service}" in human
    assert human.count("healthy") == len(SERVICES)
    # The web daemon serves both sites on the ports `up` was given.
    explorer = httpx.get(f"http://127.0.0.1:{network.ports['explorer']}/", timeout=30)
    assert explorer.status_code == 200 and summary["chain_id"] in explorer.text
    market = httpx.get(f"http://127.0.0.1:{network.ports['market']}/", timeout=30)
    assert market.status_code == 200 and "Models served now" in market.text


def test_cli_job_answers_with_the_real_model(jobs: Jobs, network: Network) -> None:
    job = jobs.cli
    assert job["status"] == "completed", job
    assert job["model"] == "smollm2" and job["prompt"] == FRANCE
    assert "Paris" in job["output"], job["output"]
    assert job["completion_tokens"] > 0 and job["price"] > 0
    # `aitbc status JOB_ID` (the README's next command) shows the same job and output.
    shown = aitbc_json("status", job["job_id"], "--home", str(network.home.root))
    assert shown["output"] == job["output"] and shown["receipt_id"] == jobs.receipts[job["job_id"]]["receipt_id"]
    assert "Paris" in aitbc("status", job["job_id"], "--home", str(network.home.root)).stdout
    # The bundled GGUF is served by llama.cpp when .ci/setup could build it (CI can), else by transformers.
    [model] = aitbc_json("miner", "status", "--home", str(network.home.root))["models"]
    expected = "llamacpp" if importlib.util.find_spec("llama_cpp") is not None else "cpu"
    if expected == "cpu":
        skip_unless_ci("llama-cpp-python is not installed, so transformers answered the quick start's job")
    assert model["name"] == "smollm2" and model["backend"] == expected


def test_http_job_answers_with_the_real_model(jobs: Jobs, network: Network) -> None:
    job = jobs.http
    assert job["status"] == "completed", job
    assert job["model"] == "smollm2" and job["output"].strip() and job["completion_tokens"] > 0
    # The same client sees both jobs, whichever door they came in through.
    listed = httpx.get(f"{network.coordinator_url}/v1/jobs", headers={"X-Api-Key": network.api_key}, timeout=30)
    assert listed.status_code == 200
    ids = {j["job_id"] for j in listed.json()["jobs"]}
    assert {jobs.cli["job_id"], job["job_id"]} <= ids
    refused = httpx.get(f"{network.coordinator_url}/v1/jobs", headers={"X-Api-Key": "not-a-key"}, timeout=30)
    assert refused.status_code == 401


@pytest.mark.parametrize("which", ["cli", "http"])
def test_receipt_is_settled_and_verifies_from_chain_data(jobs: Jobs, network: Network, which: str) -> None:
    job = getattr(jobs, which)
    info = jobs.receipts[job["job_id"]]
    assert info["status"] == "settled" and info["settled_height"] > 0
    assert info["price"] == job["price"] and info["miner"] == network.roles["miner"]
    assert info["client"] == network.roles["client"]
    proof = info["receipt"]["body"]["proof"]["body"]
    # The receipt binds the very text the client got: output hash and the model that really ran.
    assert proof["output_hash"] == hashlib.sha256(job["output"].encode("utf-8")).hexdigest()
    assert proof["model"] == "smollm2" and proof["job_id"] == job["job_id"]
    for ref in (info["receipt_id"], job["job_id"]):
        verdict = aitbc_json("receipts", "verify", ref, "--home", str(network.home.root))
        assert verdict["valid"] is True, verdict
        assert verdict["receipt_id"] == info["receipt_id"] and verdict["height"] == info["settled_height"]
        assert all(check["ok"] for check in verdict["checks"])
    human = aitbc("receipts", "--job-id", job["job_id"], "--home", str(network.home.root)).stdout
    assert info["receipt_id"] in human and "settled" in human


def test_client_escrow_drops_by_exactly_the_receipt_prices(jobs: Jobs, network: Network) -> None:
    rec, client, coordinator = jobs.recorder, network.roles["client"], network.roles["coordinator"]
    prices = {r["settled_height"]: 0 for r in jobs.receipts.values()}
    for r in jobs.receipts.values():
        prices[r["settled_height"]] += r["price"]
    for height, price in prices.items():
        before, after = rec.around(height)
        drop = rec.escrow(before, client, coordinator) - rec.escrow(after, client, coordinator)
        assert drop == price, f"escrow at {before}->{after} dropped {drop}, receipts settled at {height} cost {price}"
    total = rec.escrow(jobs.baseline, client, coordinator) - rec.escrow(jobs.final, client, coordinator)
    assert total == sum(r["price"] for r in jobs.receipts.values())
    # Jobs are paid from the escrow only: the client's spendable balance did not move.
    assert rec.balance(jobs.baseline, client) == rec.balance(jobs.final, client)


def test_miner_and_treasury_gain_exactly_what_the_chain_pays(jobs: Jobs, network: Network) -> None:
    rec, miner = jobs.recorder, network.roles["miner"]
    with network.node() as node:
        info = node.get_params()
        params, treasury = info["params"], info["treasury"]
        validators = node.validators()["validators"]
        for v in validators:
            # Precondition of the staker-share arithmetic in expected_block_pay: power is own bond only.
            assert int(v["power"]) == int(v["self_bond"]), v
        blocks: dict[int, dict[str, Any]] = {}

        def pay_between(lo: int, hi: int) -> BlockPay:
            total = BlockPay()
            for h in range(lo + 1, hi + 1):
                if h not in blocks:
                    blocks[h] = node.get_block(h)
                for tx in blocks[h]["txs"]:
                    assert tx["sender"] not in (miner, treasury), f"block {h}: watched account sent {tx['type']}"
                pay = expected_block_pay(blocks[h], params, treasury, validators)
                for address, amount in pay.credits.items():
                    total.add(address, amount)
            return total

        windows = sorted({rec.around(r["settled_height"]) for r in jobs.receipts.values()})
        print(f"settled at {sorted(r['settled_height'] for r in jobs.receipts.values())}, "
              f"balances compared over {windows}")
        for before, after in windows:
            expected = pay_between(before, after)
            for address in (miner, treasury):
                delta = rec.balance(after, address) - rec.balance(before, address)
                assert delta == expected.credits.get(address, 0), \
                    f"{address} changed by {delta} between heights {before} and {after}, chain rules pay " \
                    f"{expected.credits.get(address, 0)}"
            # The miner was paid for its receipts in this window: price minus the receipt fee, plus
            # (at least) its share of the block's miner reward.
            earned = sum(r["price"] - r["price"] * params["receipt_fee_bps"] // BPS
                         for r in jobs.receipts.values() if before < r["settled_height"] <= after)
            assert expected.credits[miner] > earned > 0
        # And over the whole run, block by block, nothing else moved them.
        expected = pay_between(jobs.baseline, jobs.final)
        for address in (miner, treasury):
            delta = rec.balance(jobs.final, address) - rec.balance(jobs.baseline, address)
            assert delta == expected.credits.get(address, 0), (address, jobs.baseline, jobs.final)


def test_down_stops_everything_and_up_resumes_the_same_chain(jobs: Jobs, network: Network) -> None:
    root = str(network.home.root)
    status = aitbc_json("status", "--home", root)
    pids = {s: status["services"][s]["pid"] for s in SERVICES}
    height_before = status["chain"]["height"]

    stopped = aitbc_json("down", "--home", root, timeout=180)["stopped"]
    assert set(stopped) == set(SERVICES) and stopped == pids
    for service in SERVICES:
        assert running_pid(network.home, service) is None
        assert not network.home.socket(service).exists(), service
        # The pid lock goes when the daemon's shutdown is done; the interpreter exits right after.
        deadline = time.monotonic() + 30
        while not process_gone(pids[service]):
            if time.monotonic() >= deadline:  # a bound against hangs, not a timing check
                pytest.fail(f"{service} (pid {pids[service]}) still exists after down")
            time.sleep(0.1)
    after_down = aitbc_json("status", "--home", root)
    assert all(not s["running"] and not s["healthy"] for s in after_down["services"].values())
    assert "chain" not in after_down
    assert aitbc("status", "--home", root).stdout.count("stopped") == len(SERVICES)
    assert "nothing was running" in aitbc("down", "--home", root).stdout

    again = aitbc_json(*network.up_args(), timeout=900)
    assert again["created"] is False and again["chain_id"] == network.summary["chain_id"]
    assert again["accounts"] == network.summary["accounts"]
    assert again["height"] >= height_before
    with network.node() as node:
        deadline = time.monotonic() + 60
        while node.status()["height"] <= again["height"]:
            if time.monotonic() >= deadline:  # a bound against hangs, not a timing check
                pytest.fail("the resumed chain produces no new block")
            time.sleep(0.2)
    first = jobs.receipts[jobs.cli["job_id"]]
    verdict = aitbc_json("receipts", "verify", first["receipt_id"], "--home", root)
    assert verdict["valid"] is True and verdict["height"] == first["settled_height"]
    status = aitbc_json("status", "--home", root)
    assert all(s["healthy"] for s in status["services"].values())
    # The coordinator kept its jobs across the restart.
    shown = aitbc_json("status", jobs.cli["job_id"], "--home", root)
    assert shown["status"] == "completed" and "Paris" in shown["output"]
