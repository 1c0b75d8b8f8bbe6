"""The miner daemon as a subprocess, without loading a model: its two doors, honest telemetry on
a machine without an NVIDIA driver, the event stream, the CLI, and clear refusals.

A telemetry-only rig (``compute_enabled = false``) needs no node, coordinator or model, which
makes it the quick way to see the doors; a miner told to serve a model that does not exist
shows how "not ready, and why" is reported.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from coordkit import hermetic_env, run_cli, spawn
from daemons.common.errors import DaemonError
from daemons.miner.telemetry import probe_gpus
from minerkit import Miner, wait_exit

GPUS, NVML_WHY = probe_gpus()


@pytest.fixture(scope="module")
def watcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Miner]:
    """A telemetry-only miner sampling fast."""
    miner = Miner.init(tmp_path_factory.mktemp("m"), "--no-compute")
    miner.start(AITBC_TELEMETRY_INTERVAL="0.2")
    try:
        yield miner
    finally:
        miner.stop()


def test_health_is_served_on_both_doors(watcher: Miner) -> None:
    public = watcher.public_get("/health")
    assert public.status_code == 200
    body = public.json()
    assert body["door"] == "public" and body["service"] == "miner"
    assert body["ready"] is True and body["phase"] == "telemetry_only" and body["compute_enabled"] is False
    assert body["model_loaded"] is False and body["models"] == []
    operator = watcher.health()
    assert operator.door == "operator" and operator.ready


def test_public_door_serves_only_health_and_metrics(watcher: Miner) -> None:
    for path in ("/v1/status", "/v1/telemetry", "/openapi.json"):  # the document is the operator's (tests/contract)
        answer = watcher.public_get(path)
        assert answer.status_code == 403 and answer.json()["error"]["code"] == "operator_only"
    refused = httpx.post(watcher.url("/v1/verify"), json={"model": "smollm2", "prompt": "x", "output": "y"}, timeout=10)
    assert refused.status_code == 403
    assert watcher.public_get("/docs").status_code == 404
    from daemons.miner.client import MinerClient

    with MinerClient(watcher.url()) as remote:
        with pytest.raises(DaemonError, match="403"):
            with remote.events(["telemetry"]) as stream:
                stream.receive(5)


@pytest.mark.skipif(GPUS > 0, reason="this machine has an NVIDIA GPU; the no-GPU report does not apply")
def test_no_gpu_telemetry_is_honest(watcher: Miner) -> None:
    with watcher.client() as c:
        snapshot = c.telemetry()
    assert snapshot.nvml_available is False and snapshot.gpus == []
    assert snapshot.nvml_error and "CPU and RAM only" in snapshot.nvml_error
    assert snapshot.host.ram_total_bytes and snapshot.host.ram_total_bytes > 0 and snapshot.host.cpu_count
    health = watcher.health()
    assert health.gpu_ok is False and health.gpu_reason == snapshot.nvml_error

    metrics = watcher.public_get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    lines = metrics.text.splitlines()
    assert "aitbc_nvml_available 0" in lines and "aitbc_miner_ready 1" in lines
    assert not [line for line in lines if line.startswith("aitbc_gpu_")]  # no invented GPU numbers
    assert any(line.startswith("aitbc_host_memory_total_bytes ") for line in lines)

    status = json.loads(_cli_ok("miner", "status", "--home", str(watcher.home.root), "--json"))
    assert status["gpu"] == {"ok": False, "reason": snapshot.nvml_error, "devices": [0], "seen": 0,
                             "driver_version": None}


@pytest.mark.gpu
@pytest.mark.skipif(GPUS == 0, reason=f"no NVIDIA GPU here: {NVML_WHY}")
def test_gpu_telemetry_is_reported(watcher: Miner) -> None:
    with watcher.client() as c:
        snapshot = c.telemetry()
    assert snapshot.nvml_available and snapshot.gpus and snapshot.gpus[0].memory_total_bytes
    assert "aitbc_gpu_memory_total_bytes" in watcher.public_get("/metrics").text
    assert watcher.health().gpu_ok


def test_telemetry_streams_to_subscribers(watcher: Miner) -> None:
    with watcher.client() as c, c.events(["telemetry"]) as stream:
        event = stream.receive(30)
    assert event.topic == "telemetry"
    assert {"time_ms", "gpus", "host", "nvml_available", "nvml_error"} <= set(event.data)


def test_async_client_for_the_tui(watcher: Miner) -> None:
    from daemons.common.models import Event
    from daemons.miner.client import AsyncMinerClient
    from daemons.miner.models import MinerHealth, MinerStatus

    async def look() -> tuple[MinerHealth, MinerStatus, str, Event]:
        async with AsyncMinerClient(watcher.home.socket("miner")) as client:
            async with client.events(["telemetry"]) as stream:
                event = await asyncio.wait_for(stream.__anext__(), 30)
            return await client.health(), await client.status(), await client.metrics(), event

    health, status, metrics, event = asyncio.run(look())
    assert health.ready and status.address == watcher.address
    assert "aitbc_miner_ready 1" in metrics.splitlines() and event.topic == "telemetry"


def test_cli_status_and_telemetry(watcher: Miner) -> None:
    status = json.loads(_cli_ok("miner", "status", "--home", str(watcher.home.root), "--json"))
    assert status["address"] == watcher.address and status["phase"] == "telemetry_only" and status["ready"]
    assert status["tasks"] == [] and status["bond"]["status"] == "disabled"
    assert status["earnings"]["error"]  # no node in this home: said plainly, not invented
    human = _cli_ok("miner", "status", "--home", str(watcher.home.root))
    assert watcher.address in human and "telemetry_only" in human
    telemetry = json.loads(_cli_ok("aitbc-miner", "telemetry", "--home", str(watcher.home.root), "--json"))
    assert "host" in telemetry and "nvml_available" in telemetry


def test_status_of_a_miner_that_is_not_running_is_one_line(tmp_path: Path) -> None:
    done = run_cli("miner", "status", "--home", str(tmp_path / "none"))
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0 and "miner is not running" in done.stderr


def test_unknown_model_is_reported_not_ready_with_the_reason(tmp_path: Path) -> None:
    miner = Miner.init(tmp_path, "--model", "no-such-model")
    miner.start()
    try:
        health = miner.health()
        answer = miner.public_get("/health")
        assert answer.status_code == 503 and answer.json()["ready"] is False
        assert health.phase == "failed" and not health.ready and not health.model_loaded
        assert any("no such model in the catalogue" in r and "smollm2" in r for r in health.reasons)
        status = miner.status()
        assert status.models[0].name == "no-such-model" and not status.models[0].served
        assert "no-such-model" in (status.models[0].reason or "")
    finally:
        assert miner.stop() == 0


def test_coordinator_url_without_api_key_refuses_to_start(tmp_path: Path) -> None:
    miner = Miner.init(tmp_path, "--coordinator", "http://127.0.0.1:9")
    proc = spawn("miner", ["miner", "start", "--home", str(miner.home.root), "--port", "0"], hermetic_env(), tmp_path)
    assert wait_exit(proc) == 1
    assert "needs a miner API key" in proc.output() and "aitbc miner api-key" in proc.output()


def test_sigterm_stops_a_telemetry_only_miner_cleanly(tmp_path: Path) -> None:
    miner = Miner.init(tmp_path, "--no-compute")
    proc = miner.start()
    proc.proc.send_signal(signal.SIGTERM)
    assert wait_exit(proc) == 0
    assert not miner.home.socket("miner").exists()


def _cli_ok(*args: str) -> str:
    if args[0] == "aitbc-miner":
        import subprocess
        import sys

        exe = Path(sys.executable).parent / "aitbc-miner"
        done = subprocess.run([str(exe), *args[1:]], env=hermetic_env(), capture_output=True, text=True, timeout=60)
    else:
        done = run_cli(*args)
    assert done.returncode == 0, done.stderr
    return done.stdout
