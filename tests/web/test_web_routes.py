"""Every route of both sites against a real node and coordinator: what a page shows for real
objects, and the status and message it gives for bad input, unknown objects and upstreams that
are down (the daemon itself keeps answering)."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from testkit import free_port
from webkit import Market
from coordkit import MODEL, wait_for
from chain.params import UNIT
from daemons.common.settings import load_settings
from daemons.web.daemon import Sites
from daemons.web.explorer import history_page
from daemons.web.live import BlockRelay
from daemons.web.settings import ExplorerSettings

UNKNOWN_HASH = "ab" * 32
UNKNOWN_ADDRESS = "0x" + "12" * 20


def sites_for(market: Market, **overrides: object) -> Sites:
    given = {"api_port": free_port(), "market_port": free_port(), "coordinator_url": market.net.url(), **overrides}
    settings = load_settings(ExplorerSettings, market.net.home, **given)
    return Sites(settings)


@pytest.fixture(scope="module")
def sites(market: Market) -> Iterator[Sites]:
    built = sites_for(market)
    yield built
    built.chain.close()
    built.market.close()


@pytest.fixture(scope="module")
def explorer(sites: Sites) -> TestClient:
    return TestClient(sites.explorer_app, follow_redirects=False)


@pytest.fixture(scope="module")
def shop(sites: Sites) -> TestClient:
    return TestClient(sites.market_app, follow_redirects=False)


def page(client: TestClient, path: str, status: int, *needles: str) -> str:
    response = client.get(path)
    assert response.status_code == status, (path, response.status_code, response.text[-2000:])
    assert response.headers["content-type"].startswith("text/html")
    for needle in needles:
        assert needle in response.text, (path, needle)
    return response.text


# -- Explorer ---------------------------------------------------------------------------------------


def test_home_block_and_tx_pages_show_the_chain(market: Market, explorer: TestClient) -> None:
    with market.net.node() as node:
        height = node.status()["height"]
        block = node.get_block(height=market.job.settled_height)
    text = page(explorer, "/", 200, "Latest blocks", "Latest transactions", 'data-live="')
    assert f'href="/block/{height}"' in text or f'href="/block/{height + 1}"' in text or "/block/" in text
    page(explorer, f"/block/{block['header']['height']}", 200, block["hash"])
    page(explorer, f"/block/{block['hash']}", 200, f"Block {block['header']['height']}")
    with market.net.node() as node:
        receipt = node.get_receipt(job_id=market.job.job_id)
    page(explorer, f"/tx/{receipt['tx_hash']}", 200, "job_receipt", f"/receipt/{market.job.job_id}")
    page(explorer, "/validators", 200, "Validators")
    page(explorer, "/?before=2", 200, 'href="/block/1"')


def test_live_fragment_gives_only_newer_blocks(explorer: TestClient, market: Market) -> None:
    with market.net.node() as node:
        height = node.status()["height"]
    assert explorer.get(f"/fragment/blocks?after={height + 10_000}").status_code == 204
    wait_for(lambda: market.net.node().status()["height"] > height, "a new block")
    response = explorer.get(f"/fragment/blocks?after={height}")
    assert response.status_code == 200
    assert f'data-height="{height + 1}"' in response.text and f'data-height="{height}"' not in response.text


def test_ws_relays_the_nodes_new_blocks(market: Market) -> None:
    """The relay's one subscription to the real node reaches a page subscribed to ``/ws``."""
    relay = BlockRelay(market.net.home.socket("node"), 30)

    async def first_block() -> dict:
        page_sub = relay.hub.subscribe(["new_block"])
        task = asyncio.create_task(relay.run())
        try:
            return (await asyncio.wait_for(page_sub.next(), 60)).data
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    with market.net.node() as node:
        before = node.status()["height"]
    block = asyncio.run(first_block())
    assert block["height"] > before and len(block["hash"]) == 64
    with market.net.node() as node:
        assert node.get_block(height=block["height"])["hash"] == block["hash"]


def test_ws_route_speaks_the_events_protocol(sites: Sites, explorer: TestClient) -> None:
    with explorer.websocket_connect("/ws") as ws:
        ws.send_json({"subscribe": ["new_block"]})
        assert ws.receive_json() == {"subscribed": ["new_block"]}
        sites.relay.hub.publish_threadsafe("new_block", {"height": 7})
        assert ws.receive_json() == {"topic": "new_block", "data": {"height": 7}}
        ws.send_text("not json")
        assert ws.receive_json()["error"]["code"] == "bad_request"


def test_account_page_pages_its_transactions(market: Market, explorer: TestClient) -> None:
    text = page(explorer, f"/account/{market.client}", 200, "Escrow", "escrow_deposit")
    assert market.client in text
    page(explorer, f"/account/{market.client}?before=1", 200, "No transactions before block 1")
    page(explorer, f"/account/{UNKNOWN_ADDRESS}", 200, "No transactions")


def test_account_pages_cover_every_transaction_once(market: Market) -> None:
    """60 transfers, several per block, read back 7 at a time through the "Older" links."""
    import re

    from chain.tx import make_tx
    from coordkit import FEE

    payer = market.net.accounts["payer"]
    with market.net.node() as node:
        nonce = node.get_account(payer.address)["pending_nonce"]
        txs = [make_tx(payer.seed, market.net.chain_id, "transfer", nonce + i, FEE, {"to": UNKNOWN_ADDRESS, "amount": 1})
               for i in range(60)]
        node.broadcast_txs(txs)
        wait_for(lambda: all(node.get_tx(t.hash)["status"] == "committed" for t in txs[-1:]), "the transfers")
        heights = {node.get_tx(t.hash)["height"] for t in txs}
    small = sites_for(market, page_size=7)
    try:
        client = TestClient(small.explorer_app)
        seen: list[str] = []
        path: str | None = f"/account/{payer.address}"
        while path is not None:
            text = page(client, path, 200)
            table = text.split('id="account-txs"', 1)[1].split("</table>", 1)[0] if 'id="account-txs"' in text else ""
            seen += re.findall(r'href="/tx/([0-9a-f]{64})"', table)
            older = re.search(r'href="(/account/0x[0-9a-f]{40}\?before=\d+)" rel="next"', text)
            path = older.group(1) if older else None
        assert sorted(seen) == sorted({t.hash for t in txs}) and len(seen) == len(set(seen))
        assert len(heights) < 60  # several transfers shared a block, so pages had to respect blocks
    finally:
        small.chain.close()
        small.market.close()


def test_history_page_never_splits_a_block() -> None:
    def never(height: int) -> list[dict[str, int]]:
        raise AssertionError("only a page that is one block alone needs the whole block")

    rows = [{"height": h} for h in (9, 9, 8, 7, 7)]
    assert history_page(rows, 5, never) == ([{"height": 9}, {"height": 9}, {"height": 8}], 8)
    assert history_page(rows[:3], 5, never) == (rows[:3], None)
    whole = [{"height": 4, "i": i} for i in range(8)]
    assert history_page(whole[:3], 3, lambda h: whole if h == 4 else []) == (whole, 4)


def test_validator_page(market: Market, explorer: TestClient) -> None:
    with market.net.node() as node:
        validator = node.validators()["validators"][0]
    page(explorer, f"/validator/{validator['address']}", 200, "Voting power", "signed", "Delegators", "(self-bond)")


def test_validator_page_pages_its_delegators(market: Market) -> None:
    with market.net.node() as node:
        validator = node.validators()["validators"][0]["address"]
    market.net.send(market.net.accounts["miner"], "stake", {"validator": validator, "amount": 3 * UNIT})
    with market.net.node() as node:
        expected = [d["delegator"] for d in node.get_delegations(validator)["delegations"]]
    assert market.net.accounts["miner"].address in expected and len(expected) >= 2
    one = sites_for(market, page_size=1)
    try:
        client, seen, path = TestClient(one.explorer_app, follow_redirects=False), [], f"/validator/{validator}"
        while True:
            text = page(client, path, 200, "Delegators")
            seen += [d for d in expected if f'href="/account/{d}"' in text.split('id="delegators"')[1]]
            more = re.search(r'href="(/validator/0x[0-9a-f]{40}\?after=0x[0-9a-f]{40})" rel="next"', text)
            if more is None:
                break
            path = more.group(1)
        assert seen == expected
        assert "First delegators" in page(client, f"/validator/{validator}?after={expected[0]}", 200)
    finally:
        one.chain.close()
        one.market.close()


def test_governance_pages_and_search(market: Market, explorer: TestClient) -> None:
    assert 'id="home-proposals"' not in page(explorer, "/", 200)
    page(explorer, "/proposals", 200, "No proposals")
    payer = market.net.accounts["payer"]
    with market.net.node() as node:
        validator = node.validators()["validators"][0]["address"]
    market.net.send(payer, "stake", {"validator": validator, "amount": 50 * UNIT})
    market.net.send(payer, "gov_propose", {"title": "Open a <b>text</b> vote", "action": {"kind": "text"},
                                           "deposit": 100 * UNIT})
    market.net.send(payer, "gov_vote", {"proposal_id": 1, "option": "yes"})
    market.net.send(payer, "gov_propose", {"title": "Still gathering", "action": {"kind": "text"}, "deposit": UNIT})
    with market.net.node() as node:
        detail = node.get_proposal(1)
    text = page(explorer, "/", 200, 'id="home-proposals"', 'href="/proposal/1"', 'href="/proposal/2"')
    assert "<b>text</b>" not in text and "&lt;b&gt;text&lt;/b&gt;" in text
    page(explorer, "/proposals", 200, 'href="/proposal/1"', 'href="/proposal/2"', "voting", "deposit")
    listed = page(explorer, "/proposals?status=deposit", 200, 'href="/proposal/2"')
    assert 'href="/proposal/1"' not in listed
    text = page(explorer, "/proposal/1", 200, "Proposal #1", "Tally so far", "Turnout (quorum)",
                f"{detail['gov_params']['quorum_bps'] / 100:.2f} %", f"blocks {detail['start']} to {detail['end']}",
                f'href="/account/{payer.address}"', "100 AIT of 100 AIT needed", "blocks left")
    assert f"Tally so far: {detail['tally_so_far']['would_be']}" in text
    votes = text.split('id="proposal-votes"')[1]
    assert f'href="/account/{payer.address}"' in votes and "<td>yes</td><td>50 AIT</td>" in votes
    page(explorer, "/proposal/2", 200, "Proposal #2", "1 AIT of 100 AIT needed", "Deposit period ends", "No votes yet")
    for query, target in (("#1", "/proposal/1"), ("proposal 2", "/proposal/2"), ("Proposal #2", "/proposal/2")):
        response = explorer.get("/search", params={"q": query})
        assert response.status_code == 303 and response.headers["location"] == target, query


def test_receipt_page_shows_every_check_passed(market: Market, explorer: TestClient) -> None:
    for ref in (market.job.receipt_id, market.job.job_id):
        text = page(explorer, f"/receipt/{ref}", 200, "Verified: every check passed")
        for check in ("coordinator_signature", "miner_proof", "merkle_inclusion", "block_hash", "validators_hash",
                      "commit"):
            assert f"<td>{check}</td><td>passed</td>" in text, check
        assert "FAILED" not in text


def test_search_finds_each_kind_of_object(market: Market, explorer: TestClient) -> None:
    with market.net.node() as node:
        receipt = node.get_receipt(job_id=market.job.job_id)
    block_hash = receipt["block_hash"]
    cases = {
        "1": "/block/1", f"  {receipt['height']} ": f"/block/{receipt['height']}",
        block_hash: f"/block/{block_hash}", block_hash.upper(): f"/block/{block_hash}",
        receipt["tx_hash"]: f"/tx/{receipt['tx_hash']}", market.client: f"/account/{market.client}",
        market.client.upper().replace("0X", "0x"): f"/account/{market.client}",
        market.job.receipt_id: f"/receipt/{market.job.receipt_id}", market.job.job_id: f"/receipt/{market.job.job_id}",
    }
    for query, target in cases.items():
        response = explorer.get("/search", params={"q": query})
        assert response.status_code == 303 and response.headers["location"] == target, (query, response.text[-500:])


@pytest.mark.parametrize(("path", "status", "needle"), [
    ("/block/abc", 400, "not a block hash"),
    ("/block/0", 400, "not a block height"),
    ("/block/99999999999", 404, "no block"),
    ("/block/" + "9" * 40, 400, "not a block height"),
    (f"/block/{UNKNOWN_HASH}", 404, "no block"),
    ("/tx/xyz", 400, "not a transaction hash"),
    (f"/tx/{UNKNOWN_HASH}", 404, "no transaction"),
    ("/account/0xZZ", 400, "not an address"),
    (f"/account/{UNKNOWN_ADDRESS.upper()}", 400, "not an address"),
    (f"/account/{UNKNOWN_ADDRESS}?before=0", 400, "before"),
    (f"/account/{UNKNOWN_ADDRESS}?before={10**30}", 400, "before"),
    (f"/account/{UNKNOWN_ADDRESS}?before=abc", 400, "before"),
    ("/validator/nope", 400, "not an address"),
    (f"/validator/{UNKNOWN_ADDRESS}", 404, "not a validator"),
    (f"/receipt/{UNKNOWN_HASH}", 404, "no settled receipt"),
    ("/receipt/no-such-job", 404, "no settled receipt"),
    ("/receipt/bad%20id!", 400, "neither a receipt id nor a job id"),
    ("/search?q=", 400, "Empty search"),
    ("/search?q=%20%20", 400, "Empty search"),
    ("/search?q=0", 400, "not a block height"),
    (f"/search?q={UNKNOWN_HASH}", 404, "Nothing found"),
    ("/search?q=no-such-thing", 404, "Nothing found"),
    ("/search?q=what%20is%20this", 404, "Nothing found"),
    ("/search?q=0x12", 404, "Nothing found"),
    ("/search?q=" + "x" * 201, 400, "q"),
    ("/fragment/blocks?after=-1", 400, "after"),
    ("/fragment/blocks", 400, "after"),
    ("/?before=1", 400, "before"),
    ("/no/such/page", 404, "Page not found"),
    ("/proposal/99999", 404, "no proposal 99999"),
    ("/proposal/0", 400, "not a proposal id"),
    ("/proposal/abc", 400, "not a proposal id"),
    ("/proposal/" + "9" * 30, 400, "not a proposal id"),
    ("/proposals?status=nope", 400, "status"),
    (f"/validator/{UNKNOWN_ADDRESS}?after=nope", 400, "not an address"),
    ("/validator/nope?after=" + "x" * 43, 400, "after"),
])
def test_explorer_bad_input_gets_a_clear_page(explorer: TestClient, path: str, status: int, needle: str) -> None:
    text = page(explorer, path, status, f"HTTP {status}")
    assert needle.lower() in text.lower(), text[-1500:]


# -- Marketplace ------------------------------------------------------------------------------------


def test_market_lists_models_and_miners(market: Market, shop: TestClient) -> None:
    text = page(shop, "/", 200, "Models served now", MODEL, "1 AIT".replace("1 AIT", "0.1 AIT"), 'name="api_key"')
    assert market.miner.address[:12] in text
    assert "sessionStorage" not in text  # the key handling lives in the script, not inline


def test_public_miners_route_has_no_secrets(market: Market) -> None:
    import httpx

    answer = httpx.get(f"{market.net.url()}/v1/miners", timeout=30).json()
    (miner,) = [m for m in answer["miners"] if m["address"] == market.miner.address]
    assert miner["models"] == [MODEL] and miner["completed"] >= 1 and miner["bonded"]
    assert not {"gpus", "telemetry", "free_gpu_mem_mb", "last_seen_ms"} & set(miner)
    assert isinstance(answer["queued_jobs"], dict)


def form(shop: TestClient, path: str, data: dict[str, str]) -> tuple[int, str, str | None]:
    response = shop.post(path, data=data)
    return response.status_code, response.text, response.headers.get("location")


def test_submit_and_follow_a_job(market: Market, shop: TestClient) -> None:
    status, text, location = form(shop, "/jobs", {"api_key": market.api_key, "model": MODEL,
                                                  "prompt": "follow me to my receipt", "max_tokens": "8"})
    assert status == 303, text[-1500:]
    assert location is not None and location.startswith("/jobs/")
    page(shop, location, 200, "needs your API key", 'id="key-form"')

    def settled() -> bool:
        response = shop.get(location.replace("/jobs/", "/fragment/job/"), headers={"X-Api-Key": market.api_key})
        assert response.status_code == 200, response.text
        return 'data-done="yes"' in response.text and "verify the receipt" in response.text

    wait_for(settled, "the job page to show its settled receipt")
    status, text, _ = form(shop, location, {"api_key": market.api_key})
    assert status == 200 and "follow me to my receipt" in text and "/receipt/" in text


def test_pages_escape_what_visitors_write_and_forbid_inline_scripts(market: Market, shop: TestClient,
                                                                    explorer: TestClient) -> None:
    prompt = "<script>alert('x')</script> & <b>bold</b>"
    status, text, location = form(shop, "/jobs", {"api_key": market.api_key, "model": MODEL, "prompt": prompt})
    assert status == 303 and location is not None
    response = shop.get(location, headers={"X-Api-Key": market.api_key})
    assert response.status_code == 200
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in response.text
    assert "<script>alert" not in response.text
    assert response.headers["cache-control"] == "no-store"
    for client in (shop, explorer):
        headers = client.get("/").headers
        assert "script-src" not in headers["content-security-policy"]  # default-src 'self': no inline code
        assert "default-src 'self'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
    assert explorer.get("/search?q=%3Cscript%3E").text.count("<script") == 0


@pytest.mark.parametrize(("data", "status", "needle"), [
    ({"model": MODEL, "prompt": "hi"}, 401, "API key needed"),
    ({"api_key": "not-a-real-key-000000", "model": MODEL, "prompt": "hi"}, 401, "API key refused"),
    ({"api_key": "KEY", "model": MODEL, "prompt": ""}, 400, "prompt"),
    ({"api_key": "KEY", "model": MODEL, "prompt": "hi", "max_tokens": "many"}, 400, "whole number"),
    ({"api_key": "KEY", "model": MODEL, "prompt": "hi", "max_tokens": "0"}, 400, "max_tokens"),
    ({"api_key": "KEY", "model": MODEL, "prompt": "hi", "max_price": "nan"}, 400, "max price"),
    ({"api_key": "KEY", "model": MODEL, "prompt": "hi", "max_price": "-1"}, 400, "max_price"),
    ({"api_key": "KEY", "model": "no-such-model", "prompt": "hi"}, 409, "no live miner serves"),
    ({"api_key": "KEY", "model": "bad model name!", "prompt": "hi"}, 400, "model"),
])
def test_submit_bad_input(market: Market, shop: TestClient, data: dict[str, str], status: int, needle: str) -> None:
    if data.get("api_key") == "KEY":
        data = {**data, "api_key": market.api_key}
    got, text, _ = form(shop, "/jobs", data)
    assert got == status, text[-1500:]
    assert needle.lower() in text.lower() and f"HTTP {status}" in text


def test_market_bad_routes(market: Market, shop: TestClient) -> None:
    response = shop.post("/jobs", content=b'{"prompt": "hi"}', headers={"content-type": "application/json"})
    assert response.status_code == 400 and "x-www-form-urlencoded" in response.text
    page(shop, "/jobs/bad%20id!", 400, "not a job id")
    page(shop, "/fragment/job/some-job", 401, "API key needed")
    response = shop.get("/fragment/job/no-such-job", headers={"X-Api-Key": market.api_key})
    assert response.status_code == 404 and "no-such-job" in response.text
    status, text, _ = form(shop, "/jobs/some-job", {"api_key": ""})
    assert status == 401 and "API key needed" in text
    page(shop, "/nothing-here", 404, "Page not found")


# -- upstreams down ---------------------------------------------------------------------------------


def test_node_or_coordinator_down_is_said_on_the_page(market: Market, tmp_path: object) -> None:
    down = sites_for(market, node_url=f"http://127.0.0.1:{free_port()}", coordinator_url=f"http://127.0.0.1:{free_port()}")
    try:
        explorer = TestClient(down.explorer_app, follow_redirects=False)
        for path in ("/", "/block/1", f"/account/{UNKNOWN_ADDRESS}", "/search?q=1", "/fragment/blocks?after=1"):
            response = explorer.get(path)
            if path == "/search?q=1":  # a height needs no node to be recognised
                assert response.status_code == 303
                continue
            assert response.status_code == 503 and "Node unreachable" in response.text, path
        shop = TestClient(down.market_app)
        response = shop.get("/")
        assert response.status_code == 503 and "coordinator is unreachable" in response.text
        status, text, _ = form(shop, "/jobs", {"api_key": market.api_key, "model": MODEL, "prompt": "hi"})
        assert status == 503 and "Coordinator unreachable" in text
        assert explorer.get("/health").status_code == 200 and shop.get("/health").status_code == 200
    finally:
        down.chain.close()
        down.market.close()
