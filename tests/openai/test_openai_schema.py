"""Schemathesis against the coordinator's OpenAPI, for the routes of this API: the OpenAI-compatible
ones and the live output of a job. Every generated request, valid or not, must get an answer the
schema documents and never a server error. A real node and coordinator as subprocesses, and a
scripted miner serving the test model, so that requests for it really run as jobs."""

from __future__ import annotations

from typing import Any, Iterator

import pytest
import schemathesis
from coordkit import Network, make_network, start_miner, torn_down
from hypothesis import HealthCheck, settings

from chain.params import UNIT

OPERATIONS = r"^/v1/(chat/completions|completions|models|models/\{model\}|jobs/\{job_id\}/output)$"


@pytest.fixture(scope="module")
def net() -> Iterator[tuple[Network, str]]:
    network = make_network(["client", "miner"])
    with torn_down(network):
        network.start_node()
        network.start_coordinator()
        network.escrow(network.accounts["client"], 100 * UNIT)
        miner = start_miner(network, "miner")
        try:
            yield network, network.api_key("client", network.accounts["client"].address)
        finally:
            miner.stop()
        assert not miner.errors, miner.errors


@pytest.fixture(scope="module")
def api_schema(net: tuple[Network, str]) -> Any:
    return schemathesis.openapi.from_url(f"{net[0].url()}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema").include(path_regex=OPERATIONS)


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_openai_routes_answer_as_documented(case: Any, net: tuple[Network, str]) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {net[1]}"}, timeout=60)
