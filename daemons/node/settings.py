"""Settings of the node daemon (table ``[node]`` of config.toml)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator

from daemons.common.settings import CommonSettings, Duration, DurationMs, Port, bare_env
from daemons.node.models import MAX_PEER_TX_BYTES, MIN_BODY_BYTES


class NodeSettings(CommonSettings):
    service: ClassVar[str] = "node"

    api_port: Port = Field(26657, validation_alias=bare_env("API_PORT"), description="JSON-RPC port")
    ws_port: Port = Field(26658, description="WebSocket events port; 0 picks a free port")
    block_time: Duration | None = Field(
        None, gt=0, le=600, validation_alias=bare_env("BLOCK_TIME"),
        description="seconds between blocks; default: the genesis block_time_ms")
    create_empty_blocks: bool = Field(True, description="produce blocks with no transactions")
    consensus_mode: Literal["poa", "bft"] = Field(
        "poa", validation_alias=bare_env("CONSENSUS_MODE"),
        description="poa: this node is the single authority and finalizes each block it signs; "
                    "bft: Tendermint rounds with the validators at `peers`")
    peers: list[str] = Field(
        default_factory=list,
        description="seed peers' RPC URLs (bft mode), e.g. http://10.0.0.2:26657; more are learned from them")
    external_url: str = Field(
        "", max_length=200,
        description="bft: the RPC URL other nodes reach this node at, told to peers so they can dial back "
                    "and share it; empty: this node only dials out")
    max_peers: int = Field(16, ge=1, le=256, description="bft: most peers connected at once")
    timeout_propose_ms: DurationMs = Field(1000, ge=10, le=600_000, description="bft: wait for a proposal (+50% per round)")
    timeout_vote_ms: DurationMs = Field(500, ge=10, le=600_000, description="bft: wait for prevotes/precommits (+50% per round)")
    validator_address: str = Field(
        "", validation_alias=bare_env("VALIDATOR_ADDRESS"),
        description="address of the validator key in HOME/keys; empty runs a non-validating node")
    validator_password_file: str = Field(
        "", description="file holding the validator key's password; default HOME/keys/validator.password, "
                        "or $CREDENTIALS_DIRECTORY/validator-password under systemd")
    max_mempool_txs: int = Field(50_000, gt=0, le=10_000_000)
    rpc_rate_limit: float = Field(
        1000.0, ge=0, description="public RPC: requests per second per client address (a batch is one); 0 = unmetered")
    rpc_burst: int = Field(2000, ge=1, description="public RPC: requests a client may send at once before the rate applies")
    rpc_max_in_flight: int = Field(256, ge=1, le=100_000, description="public RPC: requests served at once, all clients together")
    ws_max_subscribers: int = Field(256, ge=1, le=100_000, description="WebSocket event connections at once")
    sqlite_synchronous: Literal["normal", "full"] = Field(
        "normal", description="normal survives process crashes; full also survives power loss")

    @field_validator("max_body_bytes")
    @classmethod
    def _room_for_peer_messages(cls, value: int) -> int:
        """A node that refused its peers' proposals could not take part in consensus."""
        if value < MIN_BODY_BYTES:
            raise ValueError(f"a node takes request bodies of at least {MIN_BODY_BYTES} bytes: its peers' proposals "
                             f"carry blocks of up to {MAX_PEER_TX_BYTES} bytes of transactions")
        return value
