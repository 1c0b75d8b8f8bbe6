"""Dashboard: the whole installation at a glance (chain, jobs, balances, GPUs, events)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Grid
from textual.widgets import Sparkline

from aitbc_tui.format import ait, clock, gib, seconds, short_addr, short_hash
from aitbc_tui.models import Store
from aitbc_tui.screens.base import ScreenKey, SectionScreen
from aitbc_tui.screens.governance import awaiting_vote_text
from aitbc_tui.widgets.feed import EventFeed
from aitbc_tui.widgets.overflow import Panel
from aitbc_tui.widgets.panels import TextView, bar, kv, notice, spark


def chain_summary(store: Store, full: bool = False) -> Text:
    """The Chain panel; ``full`` with whole hashes and addresses (its "in full" view)."""
    node = store.node
    if store.status["node"].state != "up" and not node.height:
        status = store.status["node"]
        return notice(f"node {status.state}: {status.message}" if status.message else "connecting to the node…")
    avg = node.avg_block_time_s()
    target = f" (target {seconds(node.target_block_ms / 1000)})" if node.target_block_ms else ""
    active = sum(1 for v in node.validators if v.active)
    own = node.own_validator
    if own is None:
        validator = Text("not a validator", style="dim")
    else:
        state = "jailed" if own.jailed else "active" if own.active else "inactive"
        shown = own.address if full else short_addr(own.address, 6, 4)
        validator = Text(f"{shown} {state}", style="green" if state == "active" else "red")
        if node.is_proposer_next:
            validator.append(", next", style="dim")
    rows = [
        ("Height", Text(f"{node.height:,}", style="bold").append(f" · {node.chain_id}", style="dim")),
        ("Latest", f"{clock(node.latest_time_ms)} {node.latest_hash if full else short_hash(node.latest_hash)}"),
        ("Block time", f"{seconds(avg)}{target}"),
        ("Finality", f"on commit, {active} validator{'s' if active != 1 else ''}"),
        ("Mempool", f"{node.mempool_size:,} tx{'s' if node.mempool_size != 1 else ''} · peers {node.n_peers}"),
        ("Validator", validator),
    ]
    return kv(rows)


def balances_summary(store: Store) -> Text:
    accounts = list(store.node.accounts.values())
    if not accounts:
        if store.status["node"].state != "up":
            return notice("balances come from the node, which is not connected")
        return notice("no accounts to show: no validator key and no wallet keys")
    text = Text(no_wrap=True, overflow="ellipsis")
    for i, account in enumerate(accounts):
        if i:
            text.append("\n")
        text.append(f"{(account.label or short_addr(account.address)):<11.11} ", style="bold")
        text.append(ait(account.balance))
        if account.stakes:
            text.append(f"\n  staked {ait(account.staked, suffix=False)}", style="dim")
            text.append(f" · rewards {ait(account.rewards, suffix=False)}", style="green")
    return text


def _absent_or_down(store: Store, daemon: str, what: str) -> Text | None:
    status = store.status[daemon]
    if status.state == "up":
        return None
    if status.state == "absent":
        return notice(f"{daemon} not available: {status.message}")
    if not status.message:
        return notice(f"connecting to the {daemon}…")
    return notice(f"{daemon} down; {what} will appear when it is back")


def jobs_summary(store: Store) -> Text:
    reason = _absent_or_down(store, "coordinator", "the job queue")
    if reason is not None:
        return reason
    model = store.coordinator
    counts = model.job_counts
    throughput = model.throughput_per_min
    served = ", ".join(m.name for m in model.served) or "none"
    receipts = model.receipt_counts
    rows = [
        ("Queue", f"{counts.get('queued', 0):,} queued · {counts.get('assigned', 0) + counts.get('running', 0):,} running"),
        ("Completed", f"{counts.get('completed', 0):,} ({counts.get('failed', 0):,} failed)"),
        ("Cancelled", f"{counts.get('cancelled', 0):,}"),
        ("Throughput", f"{throughput:.1f} jobs/min (5 min)" if throughput is not None else "-"),
        # the coordinator counts a miner live until its heartbeat times out: say when ours is down
        ("Miners", f"{model.miners_live} live of {model.miners_total}" + (
            " · local miner down" if store.status["miner"].state == "down" and model.miners_live else "")),
        ("Models", served),
        ("Receipts", f"{receipts.get('settled', 0):,} settled · "
                     f"{receipts.get('pending', 0) + receipts.get('settling', 0):,} pending"),
    ]
    return kv(rows)


def _pct(value: float | None) -> str:
    return f"{value:.0f}%" if value is not None else "-"


def gpu_summary(store: Store, width: int = 36) -> Text:
    reason = _absent_or_down(store, "miner", "GPU telemetry")
    if reason is not None:
        return reason
    model = store.miner
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"{model.phase}", style="bold")
    text.append(f" · {'ready' if model.ready else 'not ready'}", style="green" if model.ready else "red")
    served = ", ".join(m.name for m in model.models if m.served)
    text.append(f" · {served or 'no model served'}", style="dim")
    spark_width = max(8, width - 24)
    for gpu in model.gpus:
        prefix = f"gpu{gpu.index}"
        text.append(f"\nGPU{gpu.index} {gpu.name or ''}", style="bold")
        if gpu.error:
            text.append(f"\n  {gpu.error}", style="red")
            continue
        util = gpu.utilization_percent
        text.append("\n  util ")
        text.append(bar(util / 100 if util is not None else None, 8))
        text.append(f" {_pct(util):>4} ")
        text.append(spark(model.history.get(f"{prefix}.util", []), spark_width, 0, 100), style="cyan")
        used, total = gpu.memory_used_bytes, gpu.memory_total_bytes
        text.append("\n  mem  ")
        text.append(bar(used / total if used is not None and total else None, 8))
        text.append(f" {gib(used)}/{gib(total)}")
        temp = f"{gpu.temperature_celsius:.0f}°C" if gpu.temperature_celsius is not None else "-"
        power = f"{gpu.power_watts:.0f} W" if gpu.power_watts is not None else "-"
        text.append(f"\n  {temp} · {power} ")
        text.append(spark(model.history.get(f"{prefix}.power", []), spark_width - 4), style="magenta")
    if not model.gpus:
        text.append(f"\n{model.gpu_reason or 'no GPU reported'}", style="yellow")
    host = model.host
    if host is not None:
        cpu = host.cpu_percent
        text.append("\nCPU  ")
        text.append(bar(cpu / 100 if cpu is not None else None, 8))
        text.append(f" {_pct(cpu):>4} ")
        text.append(spark(model.history.get("host.cpu", []), spark_width, 0, 100), style="cyan")
        used, total = host.ram_used_bytes, host.ram_total_bytes
        text.append("\nRAM  ")
        text.append(bar(used / total if used is not None and total else None, 8))
        text.append(f" {gib(used)}/{gib(total)}")
    return text


class DashboardScreen(SectionScreen):
    SECTION = "dashboard"
    KEYS = (ScreenKey("e", "show_events", "Events in full"),)
    DEFAULT_CSS = """
    #dash {
        grid-size: 2;
        grid-columns: 1fr 1fr;
        grid-rows: 9 7 1fr;
        height: 1fr;
    }
    #dash .panel {
        height: 1fr;
        overflow-y: auto;
        scrollbar-size-vertical: 1;
    }
    #chain-info, #jobs-info, #wallet-info, #gpu-info {
        height: auto;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    #block-spark {
        height: 1;
        margin-top: 0;
    }
    #gov-awaiting {
        display: none;
        height: auto;
        padding: 0 1;
    }
    #events-panel {
        column-span: 2;
        min-height: 3;
    }
    DashboardScreen.-wide #dash {
        grid-size: 3;
        grid-columns: 1fr 1fr 1fr;
        grid-rows: 12 1fr;
    }
    DashboardScreen.-wide #gpu-panel {
        column-span: 2;
        height: 1fr;
    }
    DashboardScreen.-wide #events-panel {
        column-span: 1;
    }
    DashboardScreen.-wide #block-spark {
        height: 3;
    }
    """

    def compose_body(self) -> ComposeResult:
        yield TextView(id="gov-awaiting")
        yield TextView(id="fleet-line")
        with Grid(id="dash"):
            with Panel(title="Chain", id="chain-panel", full=lambda: chain_summary(self.store, full=True)):
                yield TextView(id="chain-info")
                yield Sparkline([], id="block-spark")
            with Panel(title="Jobs", id="jobs-panel"):
                yield TextView(id="jobs-info")
            with Panel(title="Balances & rewards", id="wallet-panel"):
                yield TextView(id="wallet-info")
            with Panel(title="Miner / GPUs", id="gpu-panel"):
                yield TextView(id="gpu-info")
            with Panel(title="Recent events", id="events-panel"):
                yield EventFeed(self.store.events, id="feed")

    def update_body(self, changed: frozenset[str]) -> None:
        store = self.store
        fleet, line = self.aitbc.fleet, self.query_one("#fleet-line", TextView)
        line.display = fleet is not None
        if fleet is not None:
            line.show(fleet.summary() + "  (F: Fleet)")
        if "node" in changed or "wallet" in changed:
            self.query_one("#chain-info", TextView).show(chain_summary(store))
            spark = self.query_one("#block-spark", Sparkline)
            spark.data = store.node.block_intervals_s[-60:]
            self.query_one("#wallet-info", TextView).show(balances_summary(store))
            awaiting = awaiting_vote_text(store)
            line = self.query_one("#gov-awaiting", TextView)
            line.display = awaiting is not None
            if awaiting is not None:
                line.show(awaiting)
        if "coordinator" in changed or "miner" in changed:  # the Miners line notes a dead local miner
            self.query_one("#jobs-info", TextView).show(jobs_summary(store))
        if "miner" in changed:
            panel = self.query_one("#gpu-panel")
            self.query_one("#gpu-info", TextView).show(gpu_summary(store, max(24, panel.size.width - 4)))
        self.query_one(EventFeed).sync()

    def action_show_events(self) -> None:
        """The recent events wrapped in full (Enter on the events panel does the same)."""
        self.query_one("#events-panel", Panel).action_show_in_full()
