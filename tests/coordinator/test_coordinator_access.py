"""Who may do what, and bad input: unknown, revoked and wrong-role API keys (401/403, each in the
audit log), malformed and oversized bodies (422/413), per-key rate limits (429), the operator-only
admin routes, the API key CLI (a key's default max price included) and the served OpenAPI docs.
Every refusal changes nothing.

Also the one refusal that comes from the chain: a client that withdraws its escrow behind the
coordinator's back gets its receipt refused, and the batch it was in still settles the rest.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from chain.params import UNIT, ChainParams
from coordkit import (
    MODEL, Account, Network, ScriptedMiner, hermetic_env, honest_output, make_network, run_cli, start_miner, token_counts,
    torn_down, wait_for,
)
from testkit import concurrently

BURST = 8


@pytest.fixture(scope="module")
def net() -> Iterator[Network]:
    network = make_network(["client", "other", "miner", "payer", "withdrawer", "manual"],
                           params=ChainParams(block_time_ms=200, escrow_withdraw_delay=1))
    with torn_down(network):
        network.start_node()
        # A tiny per-key budget that never refills during the test: the 429 below does not
        # depend on how fast this machine is. Settlement every 2 s: receipts finished together
        # go out in one batch.
        network.start_coordinator(env={"AITBC_CLIENT_RATE": "0.0001", "AITBC_CLIENT_BURST": str(BURST),
                                       "AITBC_MAX_BODY_BYTES": str(64 * 1024), "AITBC_SETTLE_INTERVAL": "2"})
        network.escrow(network.accounts["client"], 10 * UNIT)
        miner = start_miner(network, "miner")
        yield network
        miner.stop()


def audit_events(net: Network) -> list[dict[str, Any]]:
    path = net.home.audit_log
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def state(net: Network, client: str) -> tuple[int, int]:
    """(jobs of the client, reserved escrow) through the operator socket."""
    with net.operator(address=client) as op:
        return len(op.jobs().jobs), op.account().reserved


def good_job() -> dict[str, Any]:
    return {"model": MODEL, "prompt": "hello", "params": {"max_tokens": 8}, "max_price": UNIT}


def test_bad_keys_are_refused_and_audited(net: Network) -> None:
    client = net.accounts["client"].address
    client_key = net.api_key("client", client)
    miner_key = net.api_key("miner", client)
    revoked = net.api_key("client", client)
    before = state(net, client)
    url = net.url()
    with httpx.Client(base_url=url, timeout=30) as http:
        # Used first, so that the coordinator holds it in its key cache: the revocation below must
        # still be honoured on the very next request.
        assert http.get("/v1/jobs", headers={"X-Api-Key": revoked}).status_code == 200
        done = run_cli("coordinator", "keys", "list", "--home", str(net.home.root), "--json", env=hermetic_env())
        key_id = next(k["key_id"] for k in json.loads(done.stdout) if revoked.startswith(f"aitbc_{k['key_id']}_"))
        done = run_cli("coordinator", "keys", "revoke", key_id, "--home", str(net.home.root), env=hermetic_env())
        assert done.returncode == 0, done.stderr
        cases = [
            ({}, 401, "missing_api_key"),
            ({"X-Api-Key": "aitbc_0123456789ab_" + "x" * 43}, 401, "invalid_api_key"),
            ({"X-Api-Key": "garbage"}, 401, "invalid_api_key"),
            ({"X-Api-Key": revoked}, 401, "revoked_api_key"),
            ({"X-Api-Key": miner_key}, 403, "wrong_role"),
        ]
        for headers, status, code in cases:
            answer = http.post("/v1/jobs", json=good_job(), headers=headers)
            assert answer.status_code == status, answer.text
            assert answer.json()["error"]["code"] == code
        wrong_way = http.post("/v1/miners/heartbeat", json={"free_slots": 1}, headers={"X-Api-Key": client_key})
        assert wrong_way.status_code == 403
        admin = http.post("/v1/admin/keys", json={"role": "client", "address": client},
                          headers={"X-Api-Key": client_key})
        assert admin.status_code == 403 and admin.json()["error"]["code"] == "operator_only"
    assert state(net, client) == before
    refusals = [e for e in audit_events(net) if e["event"] == "api_key_refused"]
    reasons = [e["reason"] for e in refusals]
    for code in ("missing_api_key", "invalid_api_key", "revoked_api_key", "wrong_role"):
        assert code in reasons
    assert any(e.get("key_id") == key_id for e in refusals if e["reason"] == "revoked_api_key")
    log_text = net.home.audit_log.read_text(encoding="utf-8") + net.home.log_file("coordinator").read_text(encoding="utf-8")
    assert revoked not in log_text and client_key not in log_text, "API keys never reach a log"


def test_bad_bodies_are_refused_with_nothing_changed(net: Network) -> None:
    client = net.accounts["other"].address
    net.escrow(net.accounts["other"], 5 * UNIT)
    before = state(net, client)
    bodies = [
        ({"prompt": "no model"}, "model"),
        ({**good_job(), "params": {"max_tokens": 1.5}}, "max_tokens"),
        ({**good_job(), "params": {"max_tokens": 0}}, "max_tokens"),
        ({**good_job(), "prompt": ""}, "prompt"),
        ({**good_job(), "max_price": -1}, "max_price"),
        ({**good_job(), "colour": "blue"}, "colour"),
        ({**good_job(), "model": "bad model name!"}, "model"),
    ]
    for body, field in bodies:
        key = net.api_key("client", client)  # a fresh key each: the rate limit is not what is tested here
        with httpx.Client(base_url=net.url(), timeout=30, headers={"X-Api-Key": key}) as http:
            answer = http.post("/v1/jobs", json=body)
            assert answer.status_code == 422, (body, answer.text)
            error = answer.json()["error"]
            assert error["code"] == "invalid_request" and field in error["message"]
    key = net.api_key("client", client)
    with httpx.Client(base_url=net.url(), timeout=30, headers={"X-Api-Key": key}) as http:
        broken = http.post("/v1/jobs", content=b"{not json", headers={"Content-Type": "application/json"})
        assert broken.status_code == 422
        huge = http.post("/v1/jobs", json={**good_job(), "prompt": "x" * (128 * 1024)})
        assert huge.status_code == 413 and huge.json()["error"]["code"] == "body_too_large"
        unserved = http.post("/v1/jobs", json={**good_job(), "model": "nobody-serves-this"})
        assert unserved.status_code == 409 and MODEL in unserved.json()["error"]["message"]
        poor = http.post("/v1/jobs", json={**good_job(), "max_price": 6 * UNIT})
        assert poor.status_code == 402
    assert state(net, client) == before


def test_rate_limit_per_key(net: Network) -> None:
    client = net.accounts["client"].address
    key, fresh = net.api_key("client", client), net.api_key("client", client)
    with httpx.Client(base_url=net.url(), timeout=30) as http:
        answers = [http.get("/v1/models", headers={"X-Api-Key": key}).status_code for _ in range(BURST + 2)]
        assert answers[:BURST] == [200] * BURST
        assert answers[BURST:] == [429, 429]
        limited = http.get("/v1/models", headers={"X-Api-Key": key})
        assert limited.headers.get("Retry-After") and limited.json()["error"]["code"] == "rate_limited"
        assert http.get("/v1/models", headers={"X-Api-Key": fresh}).status_code == 200, "limits are per key"
    assert any(e["event"] == "api_key_rate_limited" for e in audit_events(net))


def test_openapi_docs_and_key_cli(net: Network) -> None:
    with httpx.Client(base_url=net.url(), timeout=30) as http:
        spec = http.get("/openapi.json").json()
        assert {"/v1/jobs", "/v1/jobs/{job_id}", "/v1/miners/register", "/v1/miners/heartbeat", "/v1/miners/jobs",
                "/v1/miners/jobs/{task_id}/result", "/v1/receipts", "/v1/receipts/{receipt_id}"} <= set(spec["paths"])
        assert http.get("/docs").status_code == 200
    address = net.accounts["other"].address
    done = run_cli("coordinator", "keys", "create", "--role", "miner", "--address", address, "--label", "rig 7",
                   "--home", str(net.home.root), "--json", env=hermetic_env())
    assert done.returncode == 0, done.stderr
    created = json.loads(done.stdout)
    assert created["api_key"].startswith(f"aitbc_{created['key_id']}_")
    listed = run_cli("coordinator", "keys", "list", "--home", str(net.home.root), "--json", env=hermetic_env())
    row = next(k for k in json.loads(listed.stdout) if k["key_id"] == created["key_id"])
    assert row == {**row, "role": "miner", "address": address, "label": "rig 7", "active": True}
    assert "api_key" not in row and created["api_key"] not in listed.stdout
    bad = run_cli("coordinator", "keys", "create", "--role", "boss", "--address", address, "--home",
                  str(net.home.root), env=hermetic_env())
    assert bad.returncode == 1 and bad.stderr.startswith("error: ") and len(bad.stderr.strip().splitlines()) == 1
    missing = run_cli("coordinator", "keys", "revoke", "ffffffffffff", "--home", str(net.home.root), env=hermetic_env())
    assert missing.returncode == 1 and "no API key" in missing.stderr


def keys_cli(net: Network, *args: str) -> Any:
    """``aitbc coordinator keys ARGS --json`` on the network's home: its answer, decoded."""
    done = run_cli("coordinator", "keys", *args, "--home", str(net.home.root), "--json", env=hermetic_env())
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_key_default_max_price_is_set_listed_cleared_and_reserved(net: Network) -> None:
    """``keys create --default-max-price``, ``keys set-max-price`` (AIT, units, ``--clear``) and
    ``keys list`` through the operator socket; bad amounts are refused in words before anything is
    sent; a job whose body names no max price reserves the key's default, else the coordinator's."""
    client = net.accounts["client"].address
    home = str(net.home.root)
    created = keys_cli(net, "create", "--role", "client", "--address", client, "--default-max-price", "20")
    key_id, key = created["key_id"], created["api_key"]
    assert created["default_max_price"] == 20 * UNIT
    listed, keys_before = concurrently([lambda: run_cli("coordinator", "keys", "list", "--home", home, env=hermetic_env()),
                                        lambda: keys_cli(net, "list")])
    assert "DEFAULT MAX PRICE" in listed.stdout
    line = next(row for row in listed.stdout.splitlines() if row.startswith(key_id))
    assert "20.000000 AIT" in line

    def listed_price() -> int | None:
        return next(k for k in keys_cli(net, "list") if k["key_id"] == key_id)["default_max_price"]

    refusals = [
        (["create", "--role", "client", "--address", client, "--default-max-price", "-3"], "invalid amount"),
        (["create", "--role", "client", "--address", client, "--default-max-price", "0"], "more than zero"),
        (["set-max-price", key_id, "-1"], "invalid amount"),
        (["set-max-price", key_id, "lots"], "invalid amount"),
        (["set-max-price", key_id, "0.0000001"], "at most 6 decimals"),
        (["set-max-price", key_id, "9007199255"], "at most 9,007,199,254.740991 AIT"),
        (["set-max-price", key_id], "either an amount in AIT or --clear"),
        (["set-max-price", key_id, "1", "--clear"], "either an amount in AIT or --clear"),
        (["set-max-price", "ffffffffffff", "1"], "no API key ffffffffffff"),
    ]
    answers = concurrently([lambda args=args: run_cli("coordinator", "keys", *args, "--home", home, env=hermetic_env())
                            for args, _ in refusals])  # each refused, none changing anything: at once
    for (args, words), bad in zip(refusals, answers):
        assert bad.returncode == 1 and bad.stderr.startswith("error: "), (args, bad.stderr)
        assert words in bad.stderr and len(bad.stderr.strip().splitlines()) == 1, (args, bad.stderr)
    assert keys_cli(net, "list") == keys_before, "a refusal changes nothing"

    with httpx.Client(base_url=net.url(), timeout=30, headers={"X-Api-Key": key}) as http:
        body = {"model": MODEL, "prompt": "hello", "params": {"max_tokens": 8}}
        poor = http.post("/v1/jobs", json=body)  # 20 AIT is more than the client's escrow
        assert poor.status_code == 402 and poor.json()["error"]["code"] == "insufficient_escrow"
        assert f"max price is {20 * UNIT}" in poor.json()["error"]["message"]
        named = http.post("/v1/jobs", json={**body, "max_price": 5})  # the request's own price wins
        assert named.status_code == 201 and named.json()["max_price"] == 5
        # A change is honoured on the key's very next request, though the coordinator caches keys.
        assert keys_cli(net, "set-max-price", key_id, "250u")["default_max_price"] == 250 == listed_price()
        small = http.post("/v1/jobs", json=body)
        assert small.status_code == 201 and small.json()["max_price"] == 250
        assert keys_cli(net, "set-max-price", key_id, "--clear")["default_max_price"] is None
        assert listed_price() is None
        plain = http.post("/v1/jobs", json=body)
        assert plain.status_code == 201 and plain.json()["max_price"] == UNIT  # the coordinator's default
        for job in (named, small, plain):
            http.delete(f"/v1/jobs/{job.json()['job_id']}")
    cleared = run_cli("coordinator", "keys", "list", "--home", home, env=hermetic_env()).stdout
    assert "20.000000 AIT" not in next(row for row in cleared.splitlines() if row.startswith(key_id))
    keys_cli(net, "revoke", key_id)
    revoked = run_cli("coordinator", "keys", "set-max-price", key_id, "1", "--home", home, env=hermetic_env())
    assert revoked.returncode == 1 and f"API key {key_id} was revoked" in revoked.stderr
    assert listed_price() is None


def test_a_receipt_the_chain_refuses_is_set_aside_and_the_rest_settles(net: Network) -> None:
    payer, funder, manual = (net.accounts[n] for n in ("payer", "withdrawer", "manual"))
    # The refusal's message names the client: an address with "fee" in it once made the settler
    # take the refusal for its own fee balance, retry forever, and never settle the good receipt.
    withdrawer = Account.new(containing="fee")
    net.send(funder, "transfer", {"to": withdrawer.address, "amount": 2 * UNIT})
    for client in (payer, withdrawer):
        net.escrow(client, UNIT)
    net.bond(manual)
    miner = ScriptedMiner(net, manual, net.api_key("miner", manual.address), model="settle-1", capacity=2)
    miner.register()
    jobs = {}
    for client in (payer, withdrawer):
        with net.public(net.api_key("client", client.address)) as api:
            jobs[client.address] = api.submit("settle-1", f"pay for {client.address}", max_price=UNIT // 2)
    with miner.client() as miner_api:
        tasks = miner_api.poll(max_jobs=2, wait_s=5)
        assert len(tasks) == 2
        # The client takes its escrow back while its job runs; the chain releases it at once
        # (escrow_withdraw_delay 1), before the coordinator settles.
        net.send(withdrawer, "escrow_withdraw", {"coordinator": net.coordinator_address, "amount": UNIT})
        wait_for(lambda: net.escrow_balance(withdrawer.address) == 0, "the withdrawal to be released")
        for task in tasks:
            output = honest_output(task.prompt, task.params)
            p, c = token_counts(task.prompt, output)
            reply = miner_api.result(task.task_id, {"output": output, "prompt_tokens": p, "completion_tokens": c,
                                                    "proof": miner.proof(task, output, p, c).model_dump()})
            assert reply.accepted
    with net.operator() as op:
        paid = wait_for(lambda: (lambda r: r if r.status == "settled" else None)(
            op.receipt(jobs[payer.address].job_id)), "the good receipt to settle")
        refused = wait_for(lambda: (lambda r: r if r.status == "rejected" else None)(
            op.receipt(jobs[withdrawer.address].job_id)), "the bad receipt to be set aside")
        job = op.jobs().jobs
    assert paid.settled_height and net.escrow_balance(payer.address) == UNIT - paid.price
    assert "escrow" in (refused.error or "")
    failed = next(j for j in job if j.job_id == jobs[withdrawer.address].job_id)
    assert failed.status == "completed" and "not settled on chain" in (failed.error or "")
