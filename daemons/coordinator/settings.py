"""Settings of the coordinator daemon (table ``[coordinator]`` of config.toml, ``AITBC_*`` env).

Durations are seconds or a number with a unit (``30s``, ``2m``; floats are fine here: they never
reach the chain). Amounts are integer units (1 AIT = 10**6 units).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from daemons.common.settings import CommonSettings, Duration, Port, bare_env


class CoordinatorSettings(CommonSettings):
    service: ClassVar[str] = "coordinator"

    api_port: Port = Field(18000, validation_alias=bare_env("API_PORT"), description="public REST port")
    node: str = Field("", description="node RPC target: an http:// URL or a socket path; "
                                      "empty means HOME/run/node.sock")
    coordinator_address: str = Field(
        "", description="address of the coordinator's chain key in HOME/keys (written by `aitbc coordinator init`)")
    key_password_file: str = Field(
        "", description="file holding the coordinator key's password; default HOME/keys/coordinator.password, "
                        "or $CREDENTIALS_DIRECTORY/coordinator-password under systemd")
    genesis_file: str = Field(
        "", description="genesis.json: start-up fallback for the chain parameters while the node does not "
                        "answer get_params, and a check that the node runs this chain; default "
                        "HOME/genesis.json when present")
    params_refresh: Duration = Field(30.0, gt=0, le=3600,
                                  description="seconds between re-reading the chain parameters in force from the "
                                              "node (governance may change them)")

    settle_interval: Duration = Field(5.0, gt=0, le=3600, description="seconds between receipt settlement batches")
    max_receipts_per_tx: int = Field(0, ge=0, le=10_000,
                                     description="receipts per job_receipt transaction; 0: the chain's limit")
    commit_timeout: Duration = Field(30.0, gt=0, le=300, description="seconds to wait for a settlement to commit")
    recheck_rate: float = Field(0.05, ge=0, le=1, description="share of results re-checked by another miner")
    heartbeat_interval: Duration = Field(5.0, gt=0, le=600, description="seconds between miner heartbeats (told to miners)")
    heartbeat_timeout: Duration = Field(20.0, gt=0, le=3600,
                                     description="a miner silent this long is lost: its jobs are re-assigned")
    job_deadline: Duration = Field(300.0, gt=0, le=86_400, description="seconds a miner has to answer an assigned task")
    queue_timeout: Duration = Field(3600.0, gt=0, le=7 * 86_400, description="a job nobody takes this long fails")
    verify_wait: Duration = Field(600.0, gt=0, le=86_400,
                               description="a re-check nobody takes this long is dropped; the result stands")
    max_attempts: int = Field(3, ge=1, le=100, description="assignments of one job before it fails")
    reap_interval: Duration = Field(1.0, gt=0, le=600, description="seconds between checks for lost miners")
    bond_refresh: Duration = Field(10.0, gt=0, le=3600, description="seconds between re-reading miners' bonds on chain")
    escrow_cache: Duration = Field(1.0, ge=0, le=60, description="seconds an escrow balance read from the node is reused")
    key_cache: Duration = Field(1.0, ge=0, le=60,
                                description="seconds a known API key is reused without a database read; a revocation "
                                            "is honoured at once by the coordinator process that revokes, by others "
                                            "sharing its database within this time")

    client_rate: float = Field(20.0, gt=0, description="requests per second per client API key (sustained)")
    client_burst: int = Field(60, ge=1, description="requests a client API key may make at once")
    miner_rate: float = Field(50.0, gt=0, description="requests per second per miner API key (sustained)")
    miner_burst: int = Field(200, ge=1, description="requests a miner API key may make at once")

    default_max_price: int = Field(1_000_000, gt=0, description="max price (units) of a job that names none")
    max_tokens_limit: int = Field(8192, ge=1, le=1_000_000, description="largest max_tokens a job may ask for")
    max_prompt_chars: int = Field(200_000, ge=1, description="longest prompt accepted (characters)")
    max_output_chars: int = Field(500_000, ge=1, description="longest output a miner may return (characters)")
    max_wait: Duration = Field(30.0, gt=0, le=120, description="longest miner long-poll (seconds)")
