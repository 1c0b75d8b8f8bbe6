"""Jobs: the coordinator's job queue; submit (model picker), watch progress and output, cancel,
open a job's receipt and verify it from chain data alone.

Progress is live: the coordinator pushes every status change on ``job:*``, the detail pane
follows the highlighted job. Receipt verification fetches the node's ``get_receipt`` evidence
and checks it with ``chain.receipt_verify`` (the same code as ``aitbc receipts verify``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import DataTable

from chain.receipt_verify import ReceiptVerification, verify_settled_receipt
from daemons.common.errors import DaemonError

from aitbc_tui.format import ait, clock, short_addr, short_hash, stamp
from aitbc_tui.models import JOB_STATES, JobRow, Store
from aitbc_tui.screens.base import ScreenKey
from aitbc_tui.screens.dialogs import ConfirmDialog, InfoDialog, JobDialog, JobRequestForm, TransferDialog
from aitbc_tui.screens.signing import SigningScreen
from aitbc_tui.widgets.overflow import Panel
from aitbc_tui.widgets.panels import TextView, kv, notice
from aitbc_tui.widgets.table import Column, Row, Table

if TYPE_CHECKING:
    from daemons.coordinator.models import Job

_STATUS_STYLE = {"queued": "yellow", "assigned": "cyan", "running": "bold cyan", "completed": "green",
                 "failed": "bold red", "cancelled": "dim"}


def queue_line(store: Store) -> Text:
    counts = store.coordinator.job_counts
    text = Text()
    for i, state in enumerate(JOB_STATES):
        if i:
            text.append(" · ", style="dim")
        text.append(f"{counts.get(state, 0):,} {state}", style=_STATUS_STYLE[state])
    return text


JOB_COLUMNS: list[Column] = [("Job", "job", 13), ("Model", "model", 8), ("Status", "status", 9), ("Out", "tokens", 4),
                             ("Price", "price", 9), ("Updated", "updated", 8)]


def job_rows(store: Store) -> list[Row]:
    rows = []
    for job in store.coordinator.jobs:
        tokens = f"{job.completion_tokens}" if job.completion_tokens is not None else "-"
        price = ait(job.price, suffix=False) if job.price is not None else "-"
        rows.append((job.job_id, (short_hash(job.job_id, 12), job.model[:12], Text(job.status, style=_STATUS_STYLE.get(job.status, "")),
                                  Text(tokens, justify="right"), Text(price, justify="right"), clock(job.updated_ms))))
    return rows


def job_detail(job: JobRow, live: str | None = None) -> Text:
    """The job's facts, prompt and output; ``live`` is a running job's text so far (the miner's
    pushes), shown growing until the result replaces it."""
    rows: list[tuple[str, str | Text]] = [
        ("Job", Text(job.job_id, style="bold")),
        ("Status", Text(job.status + (f": {job.error}" if job.error else ""), style=_STATUS_STYLE.get(job.status, ""))),
        ("Model", job.model),
        ("Client", job.client),
        ("Miner", job.miner or "-"),
        ("Tokens", f"{job.prompt_tokens if job.prompt_tokens is not None else '-'} in, "
                   f"{job.completion_tokens if job.completion_tokens is not None else '-'} out"),
        ("Price", f"{ait(job.price) if job.price is not None else '-'} (max {ait(job.max_price)})"),
        ("Receipt", (f"{short_hash(job.receipt_id, 16)} settled at {job.settled_height}" if job.settled_height
                     else short_hash(job.receipt_id, 16) if job.receipt_id else "-")),
        ("Created", stamp(job.created_ms)),
        ("Params", ", ".join(f"{k}={v}" for k, v in sorted(job.params.items()))),
    ]
    text = kv(rows)
    text.append("\n\nPrompt\n", style="bold dim")
    text.append(job.prompt)
    text.append("\n\nOutput\n", style="bold dim")
    if job.output is not None:
        text.append(job.output)
    elif live:
        text.append(live)
        text.append("▌", style="bold")
    else:
        text.append({"queued": "waiting for a miner…", "assigned": "assigned to a miner…",
                     "running": "running…"}.get(job.status, "no output"), style="italic dim")
    return text


def verification_text(data: dict[str, Any], result: ReceiptVerification) -> Text:
    receipt = data.get("receipt") or {}
    body = receipt.get("body") or {}
    rows: list[tuple[str, str | Text]] = [
        ("Verdict", Text("VALID — proven from chain data" if result.valid else "INVALID",
                         style="bold green" if result.valid else "bold red")),
        ("Receipt", str(result.receipt_id or data.get("receipt_id", "-"))),
        ("Job", str(result.job_id or "-")),
        ("Block", f"{result.height} {short_hash(result.block_hash, 16)}"),
        ("Price", ait(int(body["price"])) if "price" in body else "-"),
        ("Client", str(body.get("client", "-"))),
    ]
    text = kv(rows)
    text.append("\n")
    for check in result.checks:
        text.append("\n")
        text.append(" ✓ " if check.ok else " ✗ ", style="bold green" if check.ok else "bold red")
        text.append(f"{check.name:<22}", style="bold")
        text.append(check.detail, style="dim" if check.ok else "red")
    return text


class JobsScreen(SigningScreen):
    SECTION = "jobs"
    DEFAULT_CSS = """
    #jobs-queue {
        height: auto;
        padding: 0 1;
    }
    #jobs-body {
        height: 1fr;
    }
    #job-table {
        width: 67;
    }
    JobsScreen.-narrow #jobs-body {
        layout: vertical;
    }
    JobsScreen.-narrow #job-table {
        width: 1fr;
    }
    #job-detail {
        width: 1fr;
        height: 1fr;
    }
    """
    AUTO_FOCUS = "#job-table"
    KEYS = (
        ScreenKey("n", "submit_job", "New job", ("coordinator",), ("Jobs: submit", "Submit a job (model picker)")),
        ScreenKey("x", "cancel_job", "Cancel job", ("coordinator",), ("Jobs: cancel", "Cancel the highlighted job")),
        ScreenKey("r", "verify_receipt", "Receipt", ("coordinator",),
                  ("Jobs: open receipt and verify", "Verify the highlighted job's receipt from chain data")),
        ScreenKey("e", "escrow", "Escrow", ("coordinator", "wallet"),
                  ("Jobs: escrow deposit", "Lock funds for this coordinator")),
    )

    def __init__(self) -> None:
        super().__init__()
        self._selected: str | None = None

    def compose_body(self) -> ComposeResult:
        yield TextView(id="jobs-queue")
        with Horizontal(id="jobs-body"):
            yield Table(JOB_COLUMNS, id="job-table", title="Jobs")
            with Panel(title="Job", id="job-detail"):
                yield TextView(id="job-info")

    @property
    def source(self) -> Any:
        return self.aitbc.sources.get("coordinator")

    def update_body(self, changed: frozenset[str]) -> None:
        store = self.store
        queue = self.query_one("#jobs-queue", TextView)
        note = self.unavailable_text("coordinator", "Jobs")
        if note is not None:
            queue.show(notice(note))
        else:
            line = queue_line(store)
            served = store.coordinator.served
            line.append("   models: ", style="dim")
            line.append(", ".join(f"{m.name} ({m.miners} miner{'s' if m.miners != 1 else ''})" for m in served)
                        if served else "none served")
            queue.show(line)
        if "coordinator" not in changed:
            return
        self.query_one("#job-table", Table).refill(job_rows(store))
        self._show_detail()

    @on(DataTable.RowHighlighted, "#job-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._selected = event.row_key.value
        self._show_detail()

    def _show_detail(self) -> None:
        info = self.query_one("#job-info", TextView)
        job = self.store.coordinator.job(self._selected) if self._selected else None
        live = self.store.coordinator.live_output.get(job.job_id) if job else None
        info.show(job_detail(job, live) if job else notice("no job selected; press n to submit one"))

    def selected_job(self) -> JobRow | None:
        return self.store.coordinator.job(self._selected) if self._selected else None

    # -- actions -----------------------------------------------------------------------------------

    def _job_to_act_on(self) -> JobRow | None:
        """The highlighted job, or None after asking the operator to select one."""
        job = self.selected_job()
        if job is None:
            self.notify("select a job first", severity="warning")
        return job

    @work(exclusive=True, group="job-action")
    async def action_submit_job(self) -> None:
        store = self.store
        clients = [(f"{w.name} {short_addr(w.address)}", w.address) for w in store.wallet.wallets]
        models = [(f"{m.name} · {m.miners} miner{'s' if m.miners != 1 else ''}, {m.free_slots} free, "
                   f"from {ait(m.min_price_per_1k_tokens, suffix=False)}/1k tok", m.name)
                  for m in store.coordinator.served]
        form = await self.app.push_screen_wait(JobDialog(clients, models))
        if not isinstance(form, JobRequestForm):
            return
        client = self.source.acting_for(form.client)
        try:
            job = await client.submit(form.model, form.prompt, max_tokens=form.max_tokens, max_price=form.max_price,
                                      temperature_milli=form.temperature_milli, seed=form.seed)
        except DaemonError as exc:
            self.notify(exc.message, title="Submit", severity="error", timeout=10)
            return
        finally:
            await client.aclose()
        self._selected = job.job_id
        # the coordinator's job:* events may already have brought a newer state (even the output)
        # while the answer to submit was on its way; it must not be overwritten
        self._answered(job, "Submit", replace=False)

    @work(exclusive=True, group="job-action")
    async def action_cancel_job(self) -> None:
        job = self._job_to_act_on()
        if job is None:
            return
        if job.finished:
            self.notify(f"job {job.job_id[:12]} is already {job.status}", severity="warning")
            return
        cancelled = await self.confirm_and_sign(ConfirmDialog(
            "Cancel job", [("Job", job.job_id), ("Status", job.status), ("Reserved", ait(job.max_price, full=True))],
            needs_password=False, confirm_label="Cancel job"), lambda _: self.source.client.cancel(job.job_id), "Cancel")
        if cancelled is not None:
            self._answered(cancelled, "Cancel")

    def _answered(self, job: Job, title: str, *, replace: bool = True) -> None:
        """Show the coordinator's answer about ``job`` at once, not when its ``job:*`` event comes;
        ``replace=False`` keeps a state the events already brought for it."""
        if replace or self.store.coordinator.job(job.job_id) is None:
            self.store.coordinator.put_job(JobRow.model_validate(job.model_dump()))
        self.refresh_data({"coordinator"})
        self.notify(f"job {job.job_id[:12]} {job.status}", title=title)

    @work(exclusive=True, group="job-action")
    async def action_verify_receipt(self) -> None:
        job = self._job_to_act_on()
        if job is None:
            return
        node = self.aitbc.sources.get("node")
        if node is None or not self.store.up("node"):
            self.notify("verifying a receipt needs the node (chain data)", severity="error")
            return
        try:
            coordinator = self.store.coordinator.coordinator_address or None
            data = await node.client.get_receipt(job_id=job.job_id, coordinator=coordinator)
        except DaemonError as exc:
            state = "" if job.status != "completed" else " yet (settlement runs in batches)"
            self.notify(f"{exc.message}{state}", title="Receipt", severity="warning", timeout=8)
            return
        result = verify_settled_receipt(data, job_id=job.job_id, coordinator=coordinator,
                                        chain_id=self.store.node.chain_id or None)
        await self.app.push_screen_wait(InfoDialog("Receipt " + short_hash(result.receipt_id, 16),
                                                   verification_text(data, result), ok=result.valid))

    @work(exclusive=True, group="job-action")
    async def action_escrow(self) -> None:
        store = self.store
        coordinator = store.coordinator.coordinator_address
        wallet = await self.pick_wallet("Which wallet escrows?",
                                        "no wallet to pay from: create or import one on the Wallets screen")
        if wallet is None:
            return
        account = store.node.accounts.get(wallet.address)
        balance = account.balance if account else None
        escrowed = (sum(e.balance for e in account.escrows if e.coordinator == coordinator)
                    if account is not None else None)
        done = await self.transfer(
            TransferDialog("escrow", wallet.name, wallet.address, balance, store.wallet.default_fee, target=coordinator,
                           escrowed=escrowed),
            wallet, balance, "Confirm escrow deposit", "Deposit",
            lambda request, password: self.wallet_source.client.escrow_deposit(
                coordinator, request.amount, wallet=wallet.address, fee=request.fee, mode="commit", password=password),
            "Escrow")
        if done is not None:
            request, result = done
            self.notify(f"escrowed {ait(request.amount, full=True)} in block {result.height}", title="Escrow")
