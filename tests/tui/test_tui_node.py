"""Pilot tests of the console against a real node daemon (``aitbc node start`` subprocess)."""

from __future__ import annotations

import re
import tomllib
from typing import Any
from collections.abc import Iterator
from pathlib import Path

import pytest
from testkit import temp_root
from textual.pilot import Pilot
from tuikit import Daemon, account, drive, init_node, node_daemon, screen_text, wait_for, wait_notified, wait_text

from daemons.common.home import Home

from aitbc_tui.app import AitbcApp

FUNDED = account(0)
SIZE = (100, 30)


@pytest.fixture(scope="module")
def node() -> Iterator[Daemon]:
    """One node for the read-only tests of this module (block time 0.2 s)."""
    with temp_root("at-") as root:
        home = root / "h"
        init_node(home, block_time=0.2, funded={FUNDED.address: 5_000 * 10**6})
        daemon = node_daemon(home).start()
        yield daemon
        daemon.stop()


def height_on_screen(app: AitbcApp) -> int:
    match = re.search(r"Height\s+([\d,]+)", screen_text(app))
    return int(match.group(1).replace(",", "")) if match else 0


def test_every_screen_and_live_height(node: Daemon) -> None:
    async def scenario(app: AitbcApp, pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: height_on_screen(app) > 0, "a height on the dashboard")
        first = height_on_screen(app)
        await wait_for(pilot, lambda: height_on_screen(app) > first, "the height to move on its own")
        assert "Recent events" in screen_text(app)
        assert "connected to node" in screen_text(app)
        for key, mode, marker in (("2", "chain", "Blocks"), ("3", "jobs", "Jobs"), ("4", "wallets", "Wallets"),
                                  ("5", "staking", "Validators"), ("6", "miner", "miner"),
                                  ("7", "logs", "records"), ("1", "dashboard", "Recent events")):
            await pilot.press(key)
            await wait_for(pilot, lambda: app.current_mode == mode, f"the {mode} screen")
            await wait_text(pilot, marker)
            assert " AITBC " in screen_text(app).splitlines()[0]
        # the mouse: the navigation bar's labels are clickable (" 2 Chain " starts at column 21)
        await pilot.click("#nav", offset=(23, 0))
        await wait_for(pilot, lambda: app.current_mode == "chain", "a click on the Chain tab")

    drive(node.home, scenario, SIZE)


def test_chain_tables_and_search(node: Daemon) -> None:
    async def scenario(app: AitbcApp, pilot: Pilot[Any]) -> None:
        await pilot.press("2")
        await wait_for(pilot, lambda: len(app.store.node.blocks) > 3, "blocks")
        await wait_for(pilot, lambda: app.screen.query_one("#blocks").row_count > 3, "rows in the blocks table")
        # by height
        await pilot.press("slash")
        await pilot.press(*"2", "enter")
        await wait_text(pilot, "Block       2")
        assert "signature" in screen_text(app)
        # by address: the genesis-funded account
        search = app.screen.query_one("#chain-search")
        search.value = FUNDED.address
        await pilot.pause()
        await pilot.press("enter")
        await wait_text(pilot, "5,000.00 AIT")  # the detail pane: screen precision
        # by block hash, taken from the table's data
        block = app.store.node.blocks[1]
        search.value = block.hash
        await pilot.pause()
        await pilot.press("enter")
        await wait_text(pilot, f"{block.height:,}")
        await wait_text(pilot, block.hash[:40])
        # a selection in the table opens the block
        await pilot.press("escape")
        app.screen.query_one("#blocks").focus()
        await pilot.press("enter")
        await wait_text(pilot, "Prev hash")
        # nonsense: a clear one-line refusal
        search.value = "zz-not-a-thing"
        search.focus()
        await pilot.pause()
        await pilot.press("enter")
        await wait_notified(pilot, "not a height")

    drive(node.home, scenario, SIZE)


def test_staking_logs_palette_help(node: Daemon) -> None:
    async def scenario(app: AitbcApp, pilot: Pilot[Any]) -> None:
        await pilot.press("5")
        await wait_text(pilot, "validator-0")
        await wait_text(pilot, "active")
        await wait_text(pilot, "Rewards (AIT)")
        # logs: the node's own JSON log, filtered by level
        await pilot.press("7")
        await wait_text(pilot, "records")
        await pilot.press("slash", *"node started")

        def shown() -> str:
            return "\n".join(strip.text for strip in app.screen.query_one("#log-view").lines)

        await wait_for(pilot, lambda: "node started" in shown(), "the node's start in its log")
        app.screen.query_one("#log-view").focus()
        await pilot.pause()
        await pilot.press("l", "l")  # info -> warning -> error
        await wait_for(pilot, lambda: "node started" not in shown(), "the level filter")
        await pilot.press("l", "l")  # critical -> debug
        await wait_for(pilot, lambda: "node started" in shown(), "debug level to show it again")
        # the command palette lists navigation and actions; choosing one runs it
        await pilot.press("ctrl+p")
        await pilot.press(*"go to chain")
        await wait_text(pilot, "Go to Chain")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.current_mode == "chain", "the palette to switch screens")
        await pilot.press("ctrl+p")
        await pilot.press(*"chain: search")
        await wait_text(pilot, "Chain: search")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.focused is not None and app.focused.id == "chain-search",
                       "the palette to focus the search")
        # help lists the global keys and the screen's own keys
        app.screen.query_one("#blocks").focus()
        await pilot.press("f1")
        await wait_text(pilot, "Help")
        text = screen_text(app)
        assert "Command palette" in text and "Search" in text and "Quit" in text
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen.id != "help", "help to close")

    drive(node.home, scenario, SIZE)


def test_theme_toggle_is_remembered(node: Daemon, root: Path) -> None:
    home = root / "h"

    def make() -> AitbcApp:
        return AitbcApp(Home(root=home, runtime_dir=node.home / "run"))

    async def toggle(app: AitbcApp, pilot: Pilot[Any]) -> None:
        assert app.theme == "aitbc-dark"
        await pilot.press("t")
        await wait_for(pilot, lambda: app.theme == "aitbc-light", "the light theme")

    async def reopen(app: AitbcApp, pilot: Pilot[Any]) -> None:
        await pilot.pause(0.1)
        assert app.theme == "aitbc-light"

    drive(make, toggle, SIZE)
    saved = tomllib.loads((home / "tui.toml").read_text())
    assert saved["theme"] == "aitbc-light"
    assert (home / "tui.toml").stat().st_mode & 0o777 == 0o600
    drive(make, reopen, SIZE)


def test_killed_node_shows_banner_and_recovers(root: Path) -> None:
    home = root / "h"
    init_node(home, block_time=0.2)
    daemon = node_daemon(home).start()
    try:
        async def scenario(app: AitbcApp, pilot: Pilot[Any]) -> None:
            await wait_for(pilot, lambda: height_on_screen(app) > 0, "a height")
            daemon.kill()
            await wait_text(pilot, "node down")
            assert "node down (reconnecting)" in screen_text(app)
            before = app.store.node.height
            for key in "2345671":  # the banner is on every screen
                await pilot.press(key)
                await wait_text(pilot, "node down")
            daemon.start()
            await wait_for(pilot, lambda: "node down" not in screen_text(app), "the banner to go")
            await wait_for(pilot, lambda: app.store.node.height > before, "blocks after the restart")
            await wait_for(pilot, lambda: height_on_screen(app) > before, "the new height on screen")
            assert app.store.status["node"].state == "up"

        drive(home, scenario, SIZE)
    finally:
        daemon.stop()
