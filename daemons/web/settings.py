"""Settings of the web daemon (table ``[explorer]`` of config.toml).

One process serves two sites on two public ports: ``api_port`` (the Explorer, default 3000) and
``market_port`` (the Marketplace, default 5173). Which site answers is decided by the port a
request came in on, so both ports must be fixed and distinct.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, model_validator

from daemons.common.settings import CommonSettings, Port, bare_env


class ExplorerSettings(CommonSettings):
    service: ClassVar[str] = "explorer"

    api_host: str = Field("127.0.0.1", min_length=1, validation_alias=bare_env("API_HOST"),
                          description="host both sites listen on")
    api_port: Port = Field(3000, ge=1, validation_alias=bare_env("API_PORT"), description="the Explorer's port")
    market_port: Port = Field(5173, ge=1, description="the Marketplace's port")
    node_url: str = Field("", description="node RPC URL; empty: the node's socket in this home")
    coordinator_url: str = Field(
        "http://127.0.0.1:18000",
        description="the coordinator's public REST URL (its public door: visitors' API keys are checked there)")
    rpc_timeout_s: float = Field(10.0, gt=0, le=120, description="longest wait for one node or coordinator answer")
    page_size: int = Field(25, ge=1, le=200, description="rows per page of lists (blocks, an account's txs)")

    @model_validator(mode="after")
    def _distinct_ports(self) -> ExplorerSettings:
        if self.api_port == self.market_port:
            raise ValueError(f"api_port and market_port must differ (both {self.api_port})")
        return self

    def tcp_listeners(self) -> list[tuple[str, int]]:
        """Both sites' listeners: the Explorer first, then the Marketplace."""
        if not self.tcp_enabled:
            return []
        return [(self.api_host, self.api_port), (self.api_host, self.market_port)]
