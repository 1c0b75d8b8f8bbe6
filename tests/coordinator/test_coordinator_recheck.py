"""Re-checks on (``recheck_rate`` 1.0): an honest result passes a re-check by a different miner;
a cheating miner is caught, slashed on chain with its own signed proof as evidence, loses
reputation, and the job is re-run by an honest miner and paid to it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from chain.params import BPS, UNIT, ChainParams
from coordkit import (
    MINER_BOND, Network, honest_output, make_network, start_miner, torn_down, wait_for, wait_job,
)


@pytest.fixture(scope="module")
def net() -> Iterator[Network]:
    network = make_network(["client", "honest_a", "honest_b", "cheater", "honest_c"])
    with torn_down(network):
        network.start_node()
        network.start_coordinator(env={"AITBC_RECHECK_RATE": "1"})
        network.escrow(network.accounts["client"], 20 * UNIT)
        yield network


def test_an_honest_result_passes_a_recheck_by_another_miner(net: Network) -> None:
    a = start_miner(net, "honest_a", price_per_1k=10, model="check-1")
    b = start_miner(net, "honest_b", price_per_1k=20, model="check-1")
    key = net.api_key("client", net.accounts["client"].address)
    try:
        with net.public(key) as api:
            job = api.submit("check-1", "check my work please", max_price=UNIT)
            done = wait_job(api, job.job_id, "completed")
            wait_for(lambda: api.job(job.job_id).settled_height, "settlement")
    finally:
        a.stop()
        b.stop()
    assert done.miner == a.address, "the cheaper miner runs it"
    assert [t.kind for t in a.tasks] == ["run"]
    assert [(t.kind, t.job_id) for t in b.tasks] == [("verify", job.job_id)], "the other one re-checks it"
    verify_task = b.tasks[0]
    assert verify_task.task_id == f"{job.job_id}:verify"
    assert verify_task.claimed_output == done.output and verify_task.claimed_proof["body"]["miner"] == a.address
    assert not a.errors and not b.errors


def test_a_cheating_miner_is_caught_and_slashed_on_chain(net: Network) -> None:
    cheater = start_miner(net, "cheater", behaviour="cheat", price_per_1k=1, model="cheat-1")
    honest = start_miner(net, "honest_c", price_per_1k=1000, model="cheat-1")
    key = net.api_key("client", net.accounts["client"].address)
    bond_before = net.account(cheater.address)["miner"]["bond"]
    assert bond_before == MINER_BOND
    try:
        with net.public(key) as api:
            prompt = "tell me the truth"
            job = api.submit("cheat-1", prompt, max_price=UNIT)
            done = wait_job(api, job.job_id, "completed")
            slashed = wait_for(lambda: (lambda mi: mi if mi["bond"] < bond_before else None)(
                net.account(cheater.address)["miner"]), "the slash to reach the chain")
            settled = wait_for(lambda: api.job(job.job_id).settled_height, "settlement of the honest re-run")
    finally:
        cheater.stop()
        honest.stop()
    burn = bond_before * ChainParams().wrong_result_slash_bps // BPS
    assert slashed["bond"] == bond_before - burn and slashed["slashed"] == burn
    assert done.miner == honest.address and done.output == honest_output(prompt, job.params)
    assert settled

    # The honest miner refuted the cheat; the re-run was not sent back to the cheater.
    assert [(t.kind, t.job_id) for t in cheater.tasks] == [("run", job.job_id)]
    kinds = [(t.kind, t.job_id) for t in honest.tasks]
    assert kinds[:2] == [("verify", job.job_id), ("run", job.job_id)]
    with net.operator() as op:
        miners = {mi.address: mi for mi in op.miners().miners}
    assert miners[cheater.address].slashed == 1 and miners[cheater.address].reputation < 0
    audit = [json.loads(line) for line in net.home.audit_log.read_text().splitlines()]
    assert any(e["event"] == "miner_wrong_result" and e["miner"] == cheater.address for e in audit)

    # The evidence on chain is the cheater's own signed proof for this job.
    with net.node() as node:
        txs = node.get_address_txs(cheater.address)["txs"]
    slash_txs = [t["tx"] for t in txs if t["tx"]["type"] == "slash"]
    assert len(slash_txs) == 1
    evidence = slash_txs[0]["payload"]["evidence"]
    assert evidence["proof"]["body"]["job_id"] == job.job_id and evidence["verifier"] == honest.address
