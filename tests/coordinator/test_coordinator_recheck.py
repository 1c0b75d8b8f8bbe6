"""Re-checks on (``recheck_rate`` 1.0): an honest result passes a re-check by a different miner;
a cheating miner is caught, slashed on chain with its own signed proof as evidence, loses
reputation, and the job is re-run by an honest miner and paid to it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from chain.params import BPS, UNIT, ChainParams
from chain.receipt import MinerProof
from chain.verdict import SignedVerdict, VerdictBody, evidence_problem, sign_verdict, verdict_about
from daemons.common.errors import DaemonError
from coordkit import (
    MINER_BOND, Network, honest_output, torn_down, make_network, start_miner, wait_for, wait_job,
)


@pytest.fixture(scope="module")
def net() -> Iterator[Network]:
    with torn_down(make_network(["client", "honest_a", "honest_b", "cheater", "honest_c", "cheater2",
                              "verifier2"])) as network:
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

    # The evidence on chain is the cheater's own signed proof for this job and the verifier's
    # signed verdict about that very proof.
    with net.node() as node:
        txs = node.get_address_txs(cheater.address)["txs"]
    slash_txs = [t["tx"] for t in txs if t["tx"]["type"] == "slash"]
    assert len(slash_txs) == 1
    evidence = slash_txs[0]["payload"]["evidence"]
    proof, verdict = MinerProof.model_validate(evidence["proof"]), SignedVerdict.model_validate(evidence["verdict"])
    assert proof.body.job_id == job.job_id and proof.body.coordinator == net.coordinator_address
    assert verdict.body.verifier == honest.address and verdict.body.verdict == "wrong"
    assert evidence_problem(proof, verdict) is None


def test_a_refuting_recheck_must_carry_the_verifiers_signed_verdict(net: Network) -> None:
    """Without a verdict signed by the assigned verifier about the exact claim there is nothing
    to prove on chain: the answer is refused (the miner reports a failure, the re-check moves on)."""
    cheater = start_miner(net, "cheater2", behaviour="cheat", price_per_1k=1, model="unsigned-1")
    verifier = start_miner(net, "verifier2", behaviour="silent", price_per_1k=1000, model="unsigned-1")
    key = net.api_key("client", net.accounts["client"].address)
    bond_before = net.account(cheater.address)["miner"]["bond"]
    try:
        with net.public(key) as api:
            job = api.submit("unsigned-1", "check the signatures", max_price=UNIT)
            task = wait_for(lambda: next((t for t in verifier.tasks if t.kind == "verify"), None), "the re-check task")
            proof = MinerProof.model_validate(task.claimed_proof)
            seed = verifier.account.seed
            other = net.accounts["honest_a"]
            answer = {"accepted": False, "first_mismatch": 0, "reason": "claimed output is not what the model produces"}

            def wrong(**changes: Any) -> dict[str, Any]:
                body = verdict_about(proof.body, verifier=verifier.address, verdict="wrong", reason=answer["reason"])
                return VerdictBody(**{**body.model_dump(), **changes}).model_dump()

            refusals = [
                ({}, "carries no signed verdict"),
                ({"verdict": sign_verdict(VerdictBody(**wrong()), other.seed).model_dump()}, "signature does not verify"),
                ({"verdict": sign_verdict(VerdictBody(**wrong(verifier=other.address)), other.seed).model_dump()},
                 "not by this verifier"),
                ({"verdict": sign_verdict(VerdictBody(**wrong(proof_hash="ab" * 32)), seed).model_dump()},
                 "about another claim"),
                ({"verdict": sign_verdict(VerdictBody(**wrong(verdict="correct")), seed).model_dump()},
                 "only a 'wrong' verdict"),
            ]
            with verifier.client() as c:
                for extra, why in refusals:
                    with pytest.raises(DaemonError) as refused:
                        c.result(task.task_id, {**answer, **extra})
                    assert refused.value.status == 422 and why in refused.value.message, refused.value.message
                assert api.job(job.job_id).status == "running"  # nothing was recorded
                c.result(task.task_id, {**answer, "verdict": sign_verdict(VerdictBody(**wrong()), seed).model_dump()})
            slashed = wait_for(lambda: (lambda mi: mi if mi["bond"] < bond_before else None)(
                net.account(cheater.address)["miner"]), "the slash to reach the chain")
    finally:
        cheater.stop()
        verifier.stop()
    assert slashed["slashed"] == bond_before * ChainParams().wrong_result_slash_bps // BPS
