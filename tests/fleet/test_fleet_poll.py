"""Polling a fleet: every rig at once, a dead rig shown unreachable while the others refresh, and
back again when its sshd returns."""

from __future__ import annotations

from fleetkit import FleetEnv, wait_gone
from testkit import wait_for

from daemons.common.backoff import Backoff
from daemons.common.home import Home
from daemons.ops.rigs import load_rigs
from daemons.miner.telemetry.models import GpuSample
from daemons.ops.rigs_fleet import Fleet, RigRow, fleet_summary, gpu_summary


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


def test_gpu_figures_of_a_multi_gpu_rig() -> None:
    """The GPU branch of a poll, on the samples a miner's telemetry carries (the test machine has
    no NVIDIA GPU, so the miner's own telemetry never has any): every GPU counted, an unreadable
    one left out of the figures, utilization averaged, the hottest temperature, memory summed."""
    gib = 2**30
    gpus = [GpuSample(index=0, utilization_percent=90.0, temperature_celsius=71.0, memory_used_bytes=20 * gib,
                      memory_total_bytes=24 * gib),
            GpuSample(index=1, utilization_percent=30.0, temperature_celsius=78.0, memory_used_bytes=4 * gib,
                      memory_total_bytes=24 * gib),
            GpuSample(index=2, error="Unknown Error (GPU is lost)")]
    row = RigRow(name="g", url="ssh://m@h", reachable=True, **gpu_summary(gpus))
    assert (row.gpus, row.gpu_util, row.gpu_temp) == (3, 60.0, 78.0)
    assert (row.gpu_mem_used, row.gpu_mem_total) == (24 * gib, 48 * gib)
    lost = gpu_summary(gpus[2:])  # only a lost GPU: counted, and no figure pretends it is idle
    assert lost == {"gpus": 1, "gpu_util": None, "gpu_temp": None, "gpu_mem_used": None, "gpu_mem_total": None}
    assert gpu_summary([])["gpus"] == 0
