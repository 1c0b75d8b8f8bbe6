"""The Fleet screen (Pilot) against the real sshd rigs: rows, filter, sort, selection, a confirmed
miner action on the rig with a real miner, the Dashboard summary, and Enter towards the console."""

from __future__ import annotations

from fleetkit import FleetEnv
from tuikit import notifications, run, screen_text, wait_for, wait_notified, wait_text

from daemons.common.home import Home

from aitbc_tui.app import AitbcApp
from aitbc_tui.screens.fleet import FleetScreen


def test_fleet_screen_acts_on_real_rigs(fleet: FleetEnv) -> None:
    async def scenario() -> None:
        app = AitbcApp(Home(root=fleet.home), save_settings=False)
        async with app.run_test(size=(160, 48)) as pilot:
            assert app.fleet is not None
            await wait_for(pilot, lambda: len([r for r in app.fleet.rows.values() if r.reachable]) == 3,
                           "three reachable rigs")
            await pilot.pause(0.4)
            assert "fleet: 3 rigs, 3 reachable, 0 unreachable" in screen_text(app)  # the Dashboard line
            await pilot.press("F")
            await wait_for(pilot, lambda: isinstance(app.screen, FleetScreen), "the Fleet screen")
            screen = app.screen
            assert isinstance(screen, FleetScreen)
            await wait_text(pilot, "gamma")
            assert [r.name for r in screen.visible_rows()] == ["alpha", "beta", "gamma"]

            await pilot.press("slash", *"gam", "enter")
            assert [r.name for r in screen.visible_rows()] == ["gamma"]
            await pilot.press("slash", "end", "backspace", "backspace", "backspace", "enter")
            assert len(screen.visible_rows()) == 3

            await pilot.press("space", "down", "space")
            assert screen.selected == {"alpha", "beta"} and screen.chosen() == ["alpha", "beta"]
            await pilot.press("a")
            assert screen.selected == {"alpha", "beta", "gamma"}
            await pilot.press("a")
            assert screen.selected == set() and screen.chosen() == ["beta"]  # the row under the cursor

            await pilot.press("up", "s")  # start alpha's miner: asks first
            await wait_text(pilot, "Start 1 miner(s)")
            await pilot.press("escape")  # cancelled: nothing happens
            await pilot.pause(0.5)
            assert fleet.aitbc("rig", "status", "alpha", "--json").stdout.count('"stopped"') == 1
            await pilot.press("s")
            await wait_text(pilot, "Start 1 miner(s)")
            await pilot.click("#ok")
            await wait_notified(pilot, "alpha: start", timeout=90)
            await wait_for(pilot, lambda: app.fleet.rows["alpha"].miner == "telemetry_only", "alpha's miner", 60)
            await pilot.press("d")
            await wait_text(pilot, "Drain 1 miner(s)")
            await pilot.click("#ok")
            await wait_notified(pilot, "alpha: drain", timeout=60)
            await wait_for(pilot, lambda: app.fleet.rows["alpha"].miner == "stopped", "alpha drained", 60)

            await pilot.press("o")
            assert screen.sort_index == 1
            await pilot.press("enter")  # headless: the console cannot take the terminal, so it says how
            await wait_notified(pilot, "aitbc-tui --rig")
            assert screen.console_command("alpha")[-2:] == ["--rig", "alpha"]
            assert not [n for n in notifications(app) if "failed" in n]
    run(scenario())


def test_rig_console_attaches_through_the_rigs_master(fleet: FleetEnv) -> None:
    """``aitbc-tui --rig alpha``: the console's sources talk to the rig's node over the forwarded
    socket, and the rig's logs arrive through the same master."""
    from daemons.ops.rigs import find_rig
    from daemons.ops.rigs_ssh import RigTunnel

    home = Home(root=fleet.home)
    rig = find_rig(home, "alpha")
    tunnel = RigTunnel(rig, home)
    tunnel.start()
    assert (tunnel.home.socket("node")).is_socket()

    async def scenario() -> None:
        app = AitbcApp(tunnel.home, settings_home=home, rig=rig, save_settings=False)
        async with app.run_test(size=(120, 36)) as pilot:
            await wait_for(pilot, lambda: app.store.up("node"), "the rig's node through SSH", 60)
            tail = app.log_tail()
            try:
                await wait_for(pilot, lambda: bool(tail.poll()) or bool(tail.lines), "the rig's logs", 60)
            finally:
                tail.close()
    run(scenario())
