"""Scale-out: two coordinator processes on one PostgreSQL share the work. Jobs submitted to
either are run by miners polling either, no job is ever handed to two miners, and one process
settles all receipts. Needs ``AITBC_TEST_POSTGRES_URL`` (``.ci/run`` starts a server).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from chain.params import UNIT
from coordkit import MODEL, Network, ScriptedMiner, make_network, torn_down, wait_for, wait_job
from testkit import postgres_schema
from daemons.common.home import Home
from daemons.common.daemon_key import update_config

JOBS_PER_CLIENT = 16
SLOW_HEARTBEAT = {"AITBC_HEARTBEAT_TIMEOUT": "30"}
"""Miners register, then jobs are queued, then miners start: they must stay live meanwhile."""


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Network]:
    names = ["alice", "bob"] + [f"m{i}" for i in range(4)]
    with postgres_schema(tmp_path) as pg_url, torn_down(make_network(names)) as network:
        network.start_node()
        network.start_coordinator(env={"DATABASE_URL": pg_url, **SLOW_HEARTBEAT})
        # The second process: its own home (pid lock, socket), the same key, node and database.
        second = Home(root=network.root / "h2").ensure()
        for name in os.listdir(network.home.keys_dir):
            if name.startswith(network.coordinator_address) or name == "coordinator.password":
                shutil.copy2(network.home.keys_dir / name, second.keys_dir / name)
        update_config(second, "coordinator", {"coordinator_address": network.coordinator_address})
        network.start_coordinator(second, env={
            "DATABASE_URL": pg_url, "AITBC_NODE": str(network.home.socket("node")), **SLOW_HEARTBEAT,
            "AITBC_GENESIS_FILE": str(network.home.genesis_file)})
        yield network


def test_two_coordinators_share_the_work_without_double_assignment(net: Network) -> None:
    miners = []
    for i in range(4):
        account = net.accounts[f"m{i}"]
        net.bond(account)
        miners.append(ScriptedMiner(net, account, net.api_key("miner", account.address), capacity=2,
                                    coordinator=i % 2))
        miners[-1].register()
    clients = []
    for name in ("alice", "bob"):
        net.escrow(net.accounts[name], 50 * UNIT)
        clients.append(net.api_key("client", net.accounts[name].address))
    submitted: list[tuple[int, str]] = []
    try:
        for n in range(JOBS_PER_CLIENT):
            for c, key in enumerate(clients):
                where = (n + c) % 2
                with net.public(key, where) as api:
                    submitted.append((where, api.submit(MODEL, f"job {n} of client {c}", max_price=UNIT).job_id))
        # Every miner is registered and none has polled yet: the first jobs fill all their slots,
        # whichever coordinator each miner polls.
        for miner in miners:
            miner.start()
        for where, job_id in submitted:
            with net.public(clients[0], where) as api0, net.public(clients[1], where) as api1:
                api = api0 if any(job_id == j.job_id for j in api0.jobs(limit=500).jobs) else api1
                wait_job(api, job_id, "completed")
        for key in clients:
            with net.public(key, 1) as api:
                wait_for(lambda: all(j.settled_height for j in api.jobs(limit=500).jobs), "every receipt to settle")
    finally:
        for miner in miners:
            miner.stop()
    runs = [t.job_id for m in miners for t in m.tasks if t.kind == "run"]
    assert len(runs) == len(submitted) and set(runs) == {job for _, job in submitted}, "each job ran exactly once"
    assert all(m.tasks for m in miners), "miners of both coordinators got work"
    assert not [e for m in miners for e in m.errors], [e for m in miners for e in m.errors]
    with net.operator(0) as op0, net.operator(1) as op1:
        leaders = [op0.status().settler, op1.status().settler]
        assert sorted(leaders) == [False, True], "exactly one process settles"
        assert op0.status().jobs == op1.status().jobs == {"completed": len(submitted)}
    with net.node() as node:
        for _, job_id in submitted[:4]:
            assert node.get_receipt(job_id=job_id)["final"]
