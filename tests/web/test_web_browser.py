"""Both sites in a real headless Chromium (Debian's ``chromium`` + ``chromium-driver``, driven by
Selenium) against a real network: node, coordinator, an honest scripted miner, and the web
daemon started the way an operator does (``aitbc explorer start``).

What a visitor does is what is checked: the block list grows while the page is open; the search
box finds a block, a transaction, an account and a receipt; a job submitted from the
Marketplace form completes and its receipt page shows every check passed; every page fits a
390 px phone without sideways scrolling. Each page is photographed at 390 and 1280 px into
``docs/screenshots/`` (the README shows two of them).
"""

from __future__ import annotations

import shutil
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from chain.params import UNIT
from coordkit import MODEL, hermetic_env, spawn
from testkit import REPO, Daemon, free_port
from webkit import Market, start_market

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e .[dev])")
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None,
                                reason="needs Debian's chromium and chromium-driver (.ci/run installs them)")
SHOTS = REPO / ("docs" if os.environ.get("AITBC_UPDATE_SCREENSHOTS") else "build") / "screenshots"
"""Where each page's screenshots go: build/ (ignored by git) on every run, docs/ (the README's
pictures) when ``AITBC_UPDATE_SCREENSHOTS=1`` asks for them to be renewed."""
WIDTHS = (390, 1280)
WAIT_S = 60
"""Bound on waiting for the page to change; never a performance assertion."""


@dataclass
class Web:
    market: Market
    proc: Daemon
    explorer: str
    shop: str


@pytest.fixture(scope="module")
def web() -> Iterator[Web]:
    for market in start_market([]):
        port, market_port = free_port(), free_port()
        proc = spawn("explorer", ["explorer", "start", "--home", str(market.net.home.root), "--port", str(port),
                                  "--market-port", str(market_port), "--coordinator", market.net.url()],
                     hermetic_env(), market.net.root)
        try:
            def ready() -> bool:
                try:
                    return httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200
                except httpx.HTTPError:
                    return False

            proc.wait_until(ready, "the web daemon")
            yield Web(market, proc, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{market_port}")
        finally:
            proc.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    profile = tempfile.mkdtemp(prefix="aitbc-chromium-", dir="/tmp")
    options = Options()
    assert CHROMIUM is not None and CHROMEDRIVER is not None
    options.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                f"--user-data-dir={profile}", "--window-size=1280,900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait(driver: Any, what: str, predicate: Any) -> Any:
    return WebDriverWait(driver, WAIT_S, poll_frequency=0.2).until(lambda d: predicate(d), message=what)


def photograph(driver: Any, name: str) -> None:
    """The current page at each width; at 390 px the page itself must not scroll sideways."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        driver.set_window_size(width, 900)
        wait(driver, f"the window to be {width} px wide", lambda d: d.execute_script("return window.innerWidth") <= width)
        overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} scrolls sideways by {overflow} px at {width} px"
        driver.save_screenshot(str(SHOTS / f"{name}-{width}.png"))
    driver.set_window_size(1280, 900)


def search(driver: Any, explorer: str, text: str) -> str:
    driver.get(explorer + "/")
    box = driver.find_element(By.ID, "q")
    assert driver.find_element(By.CSS_SELECTOR, "label[for=q]").text == "Search"
    box.clear()
    box.send_keys(text)
    start = driver.current_url
    box.submit()
    wait(driver, f"the search for {text} to land", lambda d: d.current_url != start)
    return str(driver.current_url)


def test_block_list_grows_while_the_page_is_open(web: Web, browser: Any) -> None:
    browser.get(web.explorer + "/")
    first = int(browser.find_element(By.CSS_SELECTOR, "#blocks tbody tr").get_attribute("data-height"))
    wait(browser, "a newer block to appear at the top of the list", lambda d: int(
        d.find_element(By.CSS_SELECTOR, "#blocks tbody tr").get_attribute("data-height")) >= first + 3)
    # One snapshot in one script: a block arrives every 200 ms and replaces rows under a slower look.
    heights, shown = browser.execute_script(
        "return [Array.from(document.querySelectorAll('#blocks tbody tr')).map(r => Number(r.dataset.height)),"
        " Number(document.getElementById('height').textContent)]")
    assert heights == sorted(heights, reverse=True) and len(set(heights)) == len(heights)
    assert shown == heights[0]
    # Pushed over the Explorer's /ws (the node's new_block relayed): the page says it is live.
    assert browser.find_element(By.ID, "live-state").text == "Updates live while this page is open."
    photograph(browser, "explorer-home")


def test_search_finds_block_tx_account_and_receipt(web: Web, browser: Any) -> None:
    market = web.market
    with market.net.node() as node:
        receipt = node.get_receipt(job_id=market.job.job_id)
    assert search(browser, web.explorer, str(receipt["height"])).endswith(f"/block/{receipt['height']}")
    assert browser.find_element(By.TAG_NAME, "h1").text == f"Block {receipt['height']}"
    photograph(browser, "explorer-block")
    assert search(browser, web.explorer, receipt["tx_hash"]).endswith(f"/tx/{receipt['tx_hash']}")
    assert "job_receipt" in browser.find_element(By.TAG_NAME, "main").text
    photograph(browser, "explorer-tx")
    assert search(browser, web.explorer, market.client).endswith(f"/account/{market.client}")
    assert "escrow_deposit" in browser.find_element(By.ID, "account-txs").text
    photograph(browser, "explorer-account")
    assert search(browser, web.explorer, market.job.receipt_id).endswith(f"/receipt/{market.job.receipt_id}")
    assert browser.find_element(By.ID, "verdict").text == "Verified: every check passed"
    photograph(browser, "explorer-receipt")
    with market.net.node() as node:
        validator = node.validators()["validators"][0]["address"]
    browser.get(f"{web.explorer}/validator/{validator}")
    assert "Voting power" in browser.find_element(By.TAG_NAME, "main").text
    assert "(self-bond)" in browser.find_element(By.ID, "delegators").text
    photograph(browser, "explorer-validator")
    search(browser, web.explorer, "no-such-thing")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Nothing found"


def test_search_finds_a_proposal_and_its_page_shows_the_tally(web: Web, browser: Any) -> None:
    net, client = web.market.net, web.market.net.accounts["client"]
    with net.node() as node:
        validator = node.validators()["validators"][0]["address"]
    net.send(client, "stake", {"validator": validator, "amount": 10 * UNIT})
    net.send(client, "gov_propose", {"title": "A browser-tested vote", "action": {"kind": "text"},
                                     "deposit": 100 * UNIT})
    net.send(client, "gov_vote", {"proposal_id": 1, "option": "yes"})
    browser.get(web.explorer + "/")
    assert "A browser-tested vote" in browser.find_element(By.ID, "home-proposals").text
    assert search(browser, web.explorer, "#1").endswith("/proposal/1")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Proposal #1: A browser-tested vote"
    assert browser.find_element(By.ID, "proposal-status").text == "voting"
    assert "Turnout (quorum)" in browser.find_element(By.ID, "tally-rules").text
    assert client.address[:12] in browser.find_element(By.ID, "proposal-votes").text
    photograph(browser, "explorer-proposal")


def test_marketplace_job_completes_and_its_receipt_verifies(web: Web, browser: Any) -> None:
    browser.get(web.shop + "/")
    models = browser.find_element(By.ID, "models").text
    assert MODEL in models
    assert web.market.miner.address[:12] in browser.find_element(By.ID, "miners").text
    photograph(browser, "market-home")
    browser.find_element(By.ID, "api_key").send_keys(web.market.api_key)
    Select(browser.find_element(By.ID, "model")).select_by_value(MODEL)
    browser.find_element(By.ID, "prompt").send_keys("a job from the browser")
    browser.find_element(By.ID, "max_tokens").clear()
    browser.find_element(By.ID, "max_tokens").send_keys("8")
    browser.find_element(By.CSS_SELECTOR, "#submit button[type=submit]").click()
    wait(browser, "the job page", lambda d: "/jobs/" in d.current_url)
    assert browser.execute_script("return sessionStorage.getItem('aitbc-api-key')") == web.market.api_key
    assert web.market.api_key not in browser.current_url
    link = wait(browser, "the job to complete and its receipt to settle",
                lambda d: d.find_elements(By.CSS_SELECTOR, "#job-receipt a[href*='/receipt/']"))
    assert browser.find_element(By.ID, "job-status").text == "completed"
    assert not browser.find_element(By.ID, "key-form").is_displayed()  # the session's key was used
    assert browser.find_element(By.ID, "job-output").text.endswith("[echo]")
    photograph(browser, "market-job")
    link[0].click()
    wait(browser, "the receipt page", lambda d: "/receipt/" in d.current_url)
    assert browser.find_element(By.ID, "verdict").text == "Verified: every check passed"
    results = [row.find_elements(By.TAG_NAME, "td")[1].text for row in
               browser.find_elements(By.CSS_SELECTOR, "#checks tbody tr")]
    assert results and set(results) == {"passed"}
