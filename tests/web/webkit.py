"""Helpers of the web daemon tests: a real node and coordinator (``coordkit``), an honest
scripted miner, a funded client with an API key, and one job already settled on chain, so that
every page has real objects to show and real objects to miss."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from chain.params import UNIT, ChainParams
from coordkit import (
    MODEL, Network, ScriptedMiner, cleanup, make_network, wait_for, wait_job,
)
from daemons.coordinator import models as cm

PRICE_PER_1K = 100_000


@dataclass
class Market:
    """The running network, its honest miner, the client's key and one settled job."""

    net: Network
    miner: ScriptedMiner
    client: str
    api_key: str
    job: cm.Job


def start_market(names: list[str]) -> Iterator[Market]:
    net = make_network(["client", "miner", *names], params=ChainParams(block_time_ms=200))
    miner: ScriptedMiner | None = None
    try:
        net.start_node()
        net.start_coordinator()
        client, miner_account = net.accounts["client"], net.accounts["miner"]
        net.escrow(client, 100 * UNIT)
        net.bond(miner_account)
        miner = ScriptedMiner(net, miner_account, net.api_key("miner", miner_account.address),
                              price_per_1k=PRICE_PER_1K).start()
        key = net.api_key("client", client.address)
        with net.public(key) as api:
            submitted = api.submit(MODEL, "web pages show what the chain holds", max_tokens=16)
            wait_job(api, submitted.job_id, "completed")
            wait_for(lambda: api.job(submitted.job_id).settled_height, "the receipt to settle")
            job = api.job(submitted.job_id)
        yield Market(net=net, miner=miner, client=client.address, api_key=key, job=job)
    except BaseException:
        print(net.logs())
        raise
    finally:
        if miner is not None:
            miner.stop()
        cleanup(net)


