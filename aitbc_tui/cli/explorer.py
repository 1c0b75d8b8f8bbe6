"""``aitbc explorer``: the web daemon serving the Explorer (port 3000) and the Marketplace (5173)."""

from __future__ import annotations

from typing import Optional

import typer

from aitbc_tui.cli.common import command_group, serve
from aitbc_tui.cli.options import ConfigOpt, HomeOpt, NodeOpt

app = command_group("explorer", "The Explorer and Marketplace web daemon (read-only, holds no key).")


@app.command("start")
def start(
    home: HomeOpt = None,
    config: ConfigOpt = None,
    host: Optional[str] = typer.Option(None, "--host", help="Host both sites listen on (default 127.0.0.1)."),
    port: Optional[int] = typer.Option(None, "--port", help="Explorer port (default 3000)."),
    market_port: Optional[int] = typer.Option(None, "--market-port", help="Marketplace port (default 5173)."),
    node: NodeOpt = None,
    coordinator: Optional[str] = typer.Option(None, "--coordinator", help="Coordinator public URL (default http://127.0.0.1:18000)."),
) -> None:
    """Run the web daemon in the foreground until SIGTERM or Ctrl-C."""
    from daemons.web.daemon import main
    from daemons.web.settings import ExplorerSettings

    serve(ExplorerSettings, main, home, config, api_host=host, api_port=port, market_port=market_port,
          node_url=node, coordinator_url=coordinator)
