"""Polling a fleet: every rig at once, a dead rig shown unreachable while the others refresh, and
back again when its sshd returns."""

from __future__ import annotations

from fleetkit import FleetEnv, wait_gone
from testkit import wait_for

from daemons.common.backoff import Backoff
from daemons.common.home import Home
from daemons.ops.rigs import load_rigs
from daemons.ops.rigs_fleet import Fleet, fleet_summary


def test_dead_rig_does_not_stop_the_others_and_recovers(fleet: FleetEnv) -> None:
    home = Home(root=fleet.home)
    poller = Fleet(home, list(load_rigs(home).values()), connect_timeout_s=3)
    for link in poller.links.values():
        link.backoff = Backoff(0.1, 0.3)
    first = {r.name: r for r in poller.poll()}
    assert all(r.reachable for r in first.values()), first
    masters = {name: link.master_pid() for name, link in poller.links.items()}
    assert all(masters.values())  # one master per rig ...
    first = {r.name: r for r in poller.poll()}
    assert {name: link.master_pid() for name, link in poller.links.items()} == masters  # ... reused by each poll

    gamma = fleet.sshd["gamma"]
    gamma.stop()
    wait_gone(masters["gamma"])  # its master saw the connection close (what the operator's machine sees)
    try:
        seen: list[str] = []
        rows = {r.name: r for r in poller.poll(on_row=lambda row: seen.append(row.name))}
        assert sorted(seen) == ["alpha", "beta", "gamma"]
        assert not rows["gamma"].reachable and "gamma" in (rows["gamma"].error or "")
        assert rows["gamma"].last_seen_ms == first["gamma"].last_seen_ms  # kept from its last answer
        for name in ("alpha", "beta"):
            assert rows[name].reachable and rows[name].last_seen_ms > first[name].last_seen_ms
        assert "1 unreachable" in fleet_summary(list(rows.values()))
    finally:
        gamma.start()
    wait_for(lambda: poller.poll(["gamma"])[0].reachable, "gamma to be reachable again", timeout=30, interval=0.2)
    assert "0 unreachable" in fleet_summary(poller.poll())
