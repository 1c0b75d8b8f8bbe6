"""A real node and coordinator (subprocesses) with scripted miners: the whole job life cycle to a
receipt settled on chain and verified from chain data alone, cancel/refund, miner loss and
re-assignment, and invalid proofs refused.

One network per module (re-checks off: they have their own module); each test uses its own
clients, miners and model names, so tests do not see each other's work.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from chain.execution import TREASURY
from chain.params import BPS, UNIT, ChainParams
from chain.receipt_verify import verify_settled_receipt
from daemons.common.errors import DaemonError
from coordkit import (
    MODEL, Network, ScriptedMiner, hermetic_env, honest_output, torn_down, make_network, run_cli, start_miner,
    token_counts, wait_for, wait_job,
)

PRICE_PER_1K = 100_000


@pytest.fixture(scope="module")
def net() -> Iterator[Network]:
    names = ["client", "client2", "client3", "client4", "m_main", "m_hold", "m_lost", "m_backup", "m_bad", "m_good",
             "client5", "m_leave", "client6", "m_receipt"]
    with torn_down(make_network(names, params=ChainParams(block_time_ms=200), coordinator_via_cli=True)) as network:
        network.start_node()
        network.start_coordinator()
        yield network


@pytest.fixture(scope="module")
def settled_job_id(net: Network) -> str:
    """A job of its own (client, miner and model nobody else uses) carried to a receipt settled
    on chain, for the tests that need one whatever else ran before them."""
    client = net.accounts["client6"]
    net.escrow(client, 10 * UNIT)
    miner = start_miner(net, "m_receipt", model="receipt-1")
    try:
        with net.public(net.api_key("client", client.address)) as api:
            job = api.submit("receipt-1", "evidence to tamper with", max_tokens=8, max_price=UNIT)
            wait_for(lambda: api.job(job.job_id).settled_height, "the receipt to settle")
    finally:
        miner.stop()
    assert not miner.errors, miner.errors
    return job.job_id


def cli(net: Network, *args: str) -> Any:
    done = run_cli(*args, env=hermetic_env())
    assert done.returncode == 0, f"aitbc {' '.join(args)} failed: {done.stderr}\n{net.logs()}"
    return json.loads(done.stdout)


def test_job_life_cycle_to_a_receipt_verified_from_chain_alone(net: Network) -> None:
    client, miner_account = net.accounts["client"], net.accounts["m_main"]
    net.escrow(client, 50 * UNIT)
    miner = start_miner(net, "m_main", price_per_1k=PRICE_PER_1K)
    key = net.api_key("client", client.address)
    balance_before = net.account(miner_account.address)["balance"]
    treasury_before = net.account(TREASURY)["balance"]
    public = ["--coordinator", net.url(), "--api-key", key, "--json"]
    try:
        prompt = "the quick brown fox jumps"
        job = cli(net, "submit", prompt, "--model", MODEL, "--max-tokens", "32", "--max-price", "2", "--wait",
                  *public)
        assert job["status"] == "completed"
        assert job["output"] == honest_output(prompt, {"max_tokens": 32})
        assert job["miner"] == miner_account.address
        tokens = sum(token_counts(prompt, job["output"]))
        price = -(-tokens * PRICE_PER_1K // 1000)
        assert job["price"] == price and job["max_price"] == 2 * UNIT

        with net.public(key) as api:
            settled = wait_for(lambda: api.job(job["job_id"]).settled_height, "the receipt to settle")
        status = cli(net, "status", job["job_id"], *public)
        assert status["settled_height"] == settled and status["receipt_id"] == job["receipt_id"]
        listed = cli(net, "jobs", *public)
        assert [j["job_id"] for j in listed] == [job["job_id"]]
        (receipt,) = cli(net, "receipts", "--job-id", job["job_id"], *public)
        assert receipt["status"] == "settled" and receipt["receipt_id"] == job["receipt_id"]

        # From chain data alone: a node and the receipt id, nothing from the coordinator.
        verdict = cli(net, "receipts", "verify", job["receipt_id"], "--home", str(net.home.root), "--json")
        assert verdict["valid"] and verdict["height"] == settled
        assert {c["name"] for c in verdict["checks"]} >= {
            "coordinator_signature", "miner_proof", "merkle_inclusion", "block_hash", "validators_hash", "commit"}
        by_job = cli(net, "receipts", "verify", job["job_id"], "--home", str(net.home.root), "--json")
        assert by_job["valid"] and by_job["receipt_id"] == job["receipt_id"]

        # Money moved on chain exactly as the receipt says.
        assert net.escrow_balance(client.address) == 50 * UNIT - price
        fee = price * ChainParams().receipt_fee_bps // BPS
        assert net.account(miner_account.address)["balance"] - balance_before >= price - fee
        assert net.account(TREASURY)["balance"] - treasury_before >= fee
        with net.public(key) as api:
            account = api.account()
        assert account.escrow_balance == 50 * UNIT - price and account.reserved == 0
    finally:
        miner.stop()
    assert not miner.errors, miner.errors


def test_tampered_receipt_evidence_is_refused(net: Network, settled_job_id: str) -> None:
    """Each link of the evidence matters: change one and verification names it."""
    with net.node() as node:
        data = node.get_receipt(job_id=settled_job_id)
    assert verify_settled_receipt(data).valid

    def broken(change: Any) -> set[str]:
        copy = json.loads(json.dumps(data))
        change(copy)
        return {c.name for c in verify_settled_receipt(copy).failures}

    assert "coordinator_signature" in broken(lambda d: d["receipt"]["body"].update(price=d["receipt"]["body"]["price"] + 1))
    assert "merkle_inclusion" in broken(lambda d: d["tx_proof"].append(["L", "00" * 32]))
    assert "block_hash" in broken(lambda d: d["header"].update(time_ms=d["header"]["time_ms"] + 1))
    assert "validators_hash" in broken(lambda d: [v.update(power=v["power"] * 2) for v in d["validators"].values()])
    assert "commit" in broken(lambda d: d.update(commit=None))
    assert "chain_id" in {c.name for c in verify_settled_receipt(data, chain_id="other-chain").failures}


def test_cancel_releases_the_reservation(net: Network) -> None:
    client = net.accounts["client2"]
    net.escrow(client, 10 * UNIT)
    holder = start_miner(net, "m_hold", behaviour="silent", capacity=1, model="hold-1")
    key = net.api_key("client", client.address)
    try:
        with net.public(key) as api, net.operator() as op, op.events(["job"]) as events:
            running = api.submit("hold-1", "first", max_price=3 * UNIT)
            wait_for(lambda: holder.tasks, "the miner to take the first job")
            seen = wait_for(lambda: (lambda e: e if e.data["job_id"] == running.job_id else None)(events.receive(30)),
                            "a job event on the operator's stream")
            assert seen.topic == "job" and seen.data["client"] == client.address
            queued = api.submit("hold-1", "second", max_price=4 * UNIT)
            assert api.job(queued.job_id).status == "queued", "the only miner is busy"
            assert api.account().reserved == 7 * UNIT
            with pytest.raises(DaemonError) as too_much:
                api.submit("hold-1", "third", max_price=4 * UNIT)
            assert too_much.value.status == 402
            assert len(api.jobs().jobs) == 2, "a refused job leaves nothing behind"

            cancelled = cli(net, "cancel", queued.job_id, "--coordinator", net.url(), "--api-key", key, "--json")
            assert cancelled["status"] == "cancelled"
            assert api.account().reserved == 3 * UNIT
            assert api.cancel(running.job_id).status == "cancelled"
            assert api.account().reserved == 0 and api.account().available == 10 * UNIT
            with pytest.raises(DaemonError) as again:
                api.cancel(running.job_id)
            assert again.value.status == 409

        # The miner is told to stop, and its late result is not taken.
        with holder.client() as miner_api:
            assert miner_api.heartbeat(1, [running.job_id]).cancel == [running.job_id]
            task = holder.tasks[0]
            output = "late answer"
            p, c = token_counts(task.prompt, output)
            with pytest.raises(DaemonError) as late:
                miner_api.result(task.task_id, {"output": output, "prompt_tokens": p, "completion_tokens": c,
                                                "proof": holder.proof(task, output, p, c).model_dump()})
            assert late.value.status == 409
        assert net.escrow_balance(client.address) == 10 * UNIT, "nothing was charged"

        # The other two ways the CLI finds its coordinator: the operator socket acting for a
        # client, and a key file in HOME (what `aitbc up` writes).
        mine = cli(net, "jobs", "--home", str(net.home.root), "--client", client.address, "--json")
        assert {j["job_id"] for j in mine} == {running.job_id, queued.job_id}
        key_file = net.home.keys_dir / "client.apikey"
        key_file.write_text(key + "\n")
        try:
            shown = cli(net, "status", running.job_id, "--home", str(net.home.root), "--coordinator", net.url(),
                        "--json")
        finally:
            key_file.unlink()
        assert shown["status"] == "cancelled" and shown["client"] == client.address
        lost = run_cli("jobs", "--home", str(net.home.root), "--coordinator", net.url(), env=hermetic_env())
        assert lost.returncode == 1 and lost.stderr.startswith("error: no API key")
    finally:
        holder.stop()


def test_lost_miner_work_is_reassigned(net: Network) -> None:
    client = net.accounts["client3"]
    net.escrow(client, 10 * UNIT)
    lost = start_miner(net, "m_lost", behaviour="silent", price_per_1k=10, model="loss-1")
    backup = start_miner(net, "m_backup", price_per_1k=50_000, model="loss-1")
    key = net.api_key("client", client.address)
    try:
        with net.public(key) as api:
            job = api.submit("loss-1", "who finishes this", max_price=UNIT)
            wait_for(lambda: lost.tasks, "the cheaper miner to take the job")
            assert api.job(job.job_id).miner == lost.address
            lost.stop()  # stops heart-beating: after the timeout its job goes elsewhere
            done = wait_job(api, job.job_id, "completed")
        assert done.miner == backup.address
        assert done.output == honest_output("who finishes this", job.params)
        assert [t.job_id for t in backup.tasks] == [job.job_id]
        with net.operator() as op:
            miners = {mi.address: mi for mi in op.miners().miners}
        assert miners[lost.address].failed >= 1 and not miners[lost.address].live
        with lost.client() as late:
            task = lost.tasks[0]
            p, c = token_counts(task.prompt, "x")
            with pytest.raises(DaemonError) as refused:
                late.result(task.task_id, {"output": "x", "prompt_tokens": p, "completion_tokens": c,
                                           "proof": lost.proof(task, "x", p, c).model_dump()})
            assert refused.value.status == 409
    finally:
        backup.stop()
    assert not backup.errors, backup.errors


def test_invalid_proofs_are_refused_and_the_job_moves_on(net: Network) -> None:
    client = net.accounts["client4"]
    net.escrow(client, 10 * UNIT)
    bad_account = net.accounts["m_bad"]
    net.bond(bad_account)
    bad = ScriptedMiner(net, bad_account, net.api_key("miner", bad_account.address), price_per_1k=1,
                        model="proof-1")
    bad.register()
    key = net.api_key("client", client.address)
    with net.public(key) as api, bad.client() as miner_api:
        job = api.submit("proof-1", "prove it", max_price=UNIT)
        (task,) = miner_api.poll(max_jobs=1, wait_s=5)
        output = honest_output(task.prompt, task.params)
        p, c = token_counts(task.prompt, output)
        with pytest.raises(DaemonError) as malformed:
            miner_api.result(task.task_id, {"output": output, "prompt_tokens": p})
        assert malformed.value.status == 422
        forged = bad.proof(task, output, p, c, output_hash="00" * 32).model_dump()
        reply = miner_api.result(task.task_id, {"output": output, "prompt_tokens": p, "completion_tokens": c,
                                                "proof": forged})
        assert not reply.accepted and "output_hash" in reply.reason
        assert api.job(job.job_id).status == "queued", "back in the queue, for another miner"
        good = start_miner(net, "m_good", price_per_1k=100, model="proof-1")
        try:
            done = wait_job(api, job.job_id, "completed")
        finally:
            good.stop()
        assert done.miner == good.address


def test_chain_parameters_come_from_the_node_and_survive_its_absence(net: Network, tmp_path: Any) -> None:
    """The coordinator reads the parameters in force from the node (governance may have changed
    them since genesis); when the node cannot answer, it keeps the last values it read."""
    from daemons.common.home import Home
    from daemons.coordinator.chain_view import ChainView
    from daemons.node.client import NodeClient

    view = ChainView(Home(root=tmp_path / "no-genesis"), str(net.home.socket("node")))
    try:
        assert view.params_from == "defaults" and view.params == ChainParams()
        view.connect(10)
        assert view.params_from == "node" and view.params_height is not None
        with net.node() as node:
            assert view.params.model_dump() == node.get_params()["params"]
        assert view.params.block_time_ms == 200  # the network's genesis, not the protocol default
        known = view.params
        view.node.close()
        view.node = NodeClient(tmp_path / "gone.sock", timeout=1)
        assert view.refresh_params() is False
        assert view.params == known and view.params_from == "node"
    finally:
        view.close()


def test_no_work_without_free_slots_and_a_hand_back_costs_nothing(net: Network) -> None:
    """A miner reporting 0 free slots (its model still loading) gets no task; a task it releases
    (graceful drain) goes straight back to the queue with no failure counted against it."""
    client, account = net.accounts["client5"], net.accounts["m_leave"]
    net.escrow(client, 10 * UNIT)
    net.bond(account)
    leaving = ScriptedMiner(net, account, net.api_key("miner", account.address), model="leave-1", capacity=1)
    leaving.register()  # driven by hand below: no heartbeat or poll threads
    with leaving.client() as miner_api, net.public(net.api_key("client", client.address)) as api:
        assert miner_api.heartbeat(0, []).cancel == []  # loading its model
        job = api.submit("leave-1", "hand me back", max_price=UNIT)
        assert miner_api.poll(1) == [] and api.job(job.job_id).status == "queued"
        miner_api.heartbeat(1, [])
        [task] = miner_api.poll(1, wait_s=5)
        assert task.job_id == job.job_id
        assert miner_api.release(task.task_id).released
        back = api.job(job.job_id)
        assert back.status == "queued" and back.miner is None and back.error is None
        with pytest.raises(DaemonError) as twice:
            miner_api.release(task.task_id)
        assert twice.value.status == 409
        with net.operator() as op:
            info = next(mi for mi in op.miners().miners if mi.address == account.address)
        assert info.failed == 0 and info.reputation == 0
        miner_api.heartbeat(1, [])
        [again] = miner_api.poll(1, wait_s=5)
        assert again.job_id == job.job_id, "not excluded: the same miner may take it again"
        api.cancel(job.job_id)
        miner_api.heartbeat(1, [])

    # Draining, the miner says it has no room: the poll it left waiting ends then, with nothing,
    # rather than after its whole wait (its shutdown waits for that answer).
    with ThreadPoolExecutor(1) as pool, leaving.client() as waiting, leaving.client() as beating:
        poll = pool.submit(waiting.poll, 1, 30.0)  # the longest wait a poll may ask for
        # beats until one arrives after the poll started (nothing to see before that)
        wait_for(lambda: beating.heartbeat(0, []) and poll.done(), "the waiting poll to end", 20, interval=0.2)
        assert poll.result() == []
