"""Governance: proposals with their live tallies, the treasury, and voting, depositing and
proposing signed through the wallet daemon (``chain.governance`` has the rules).

The tally shown for an open proposal is the node's own count over the current state (what the
result would be if voting ended now), so what a voter sees here is what the chain will decide;
nothing is counted again in the console.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable

from daemons.common.errors import DaemonError

from aitbc_tui.format import ait, percent_bps, seconds, short_addr, short_hash
from aitbc_tui.models import GovModel, ProposalRow, Store, TallyView, WalletRow
from aitbc_tui.screens.base import ScreenKey
from aitbc_tui.screens.dialogs import ConfirmDialog, InfoDialog, PickDialog
from aitbc_tui.screens.gov_dialogs import DepositDialog, DepositRequest, ProposalRequest, ProposeDialog
from aitbc_tui.screens.signing import SigningScreen
from aitbc_tui.widgets.overflow import Panel
from aitbc_tui.widgets.panels import TextView, kv, notice
from aitbc_tui.widgets.table import Column, Row, Table

if TYPE_CHECKING:
    from daemons.wallet.models import TxResult

OPTIONS: tuple[tuple[str, str], ...] = (("yes", "green"), ("no", "red"), ("abstain", "bright_black"),
                                        ("veto", "magenta"))
STATUS_STYLE = {"voting": "bold yellow", "deposit": "cyan", "passed": "green", "executed": "green",
                "rejected": "red", "failed": "red", "dropped": "bright_black", "vetoed": "magenta"}
PROPOSAL_COLUMNS: list[Column] = [
    ("#", "id", 3), ("Status", "status", 8), ("Action", "kind", 14), ("Title", "title", 18),
    ("Tally", "tally", 12), ("Left", "left", 8)]


def _share(part: int, whole: int) -> int:
    """``part`` of ``whole`` in basis points (0 when there is nothing to share)."""
    return part * 10_000 // whole if whole > 0 else 0


def tally_strip(tally: TallyView | None, quorum_bps: int, width: int = 12) -> Text:
    """One line: each option's share of the bonded stake in its colour, ``┃`` at the quorum."""
    if tally is None or tally.bonded <= 0:
        return Text("-", style="dim")
    cells: list[tuple[str, str]] = []
    for option, style in OPTIONS:
        cells += [("█", style)] * (getattr(tally, option) * width // tally.bonded)
    cells += [("░", "dim")] * (width - len(cells))
    mark = min(width - 1, quorum_bps * width // 10_000)
    cells[mark] = ("┃", "bold green" if tally.quorum_reached else "bold yellow")
    text = Text()
    for char, style in cells[:width]:
        text.append(char, style=style)
    return text


def time_left(proposal: ProposalRow, short: bool = False) -> str:
    """Blocks (and about how long) until the current period ends; ``-`` for a closed proposal."""
    if proposal.period_ends is None:
        return "-"
    blocks = f"{proposal.blocks_left} blk"
    return blocks if short else f"{blocks} ~{seconds(proposal.time_left_ms / 1000)}"


def proposal_rows(gov: GovModel) -> list[Row]:
    quorum = gov.params.get("quorum_bps", 0)
    return [(str(p.id), (
        Text(str(p.id), justify="right"), Text(p.status, style=STATUS_STYLE.get(p.status, "")),
        p.kind.replace("_", "-"), p.title, tally_strip(p.tally, quorum), time_left(p, short=True)))
        for p in gov.proposals]


def tally_text(proposal: ProposalRow, params: dict[str, int], bar_width: int = 12) -> Text:
    """Per-option bars against the bonded stake, with what each is measured against: the pass
    threshold (over non-abstain votes), the veto threshold and the quorum (over bonded)."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"#{proposal.id} ", style="bold")
    text.append(proposal.status, style=STATUS_STYLE.get(proposal.status, ""))
    text.append(f" · {proposal.kind.replace('_', '-')} · {time_left(proposal)}\n", style="dim")
    tally = proposal.tally
    if tally is None:
        min_deposit = params.get("min_deposit", 0)
        text.append(f"deposit {ait(proposal.total_deposit)} of {ait(min_deposit)}")
        text.append("\nno votes yet: voting opens at the minimum deposit" if proposal.status == "deposit"
                    else "\nno tally recorded", style="dim")
        return text
    deciding = tally.voted - tally.abstain
    notes = {"yes": f"{percent_bps(_share(tally.yes, deciding))} of yes+no+veto, pass > "
                    f"{percent_bps(params.get('threshold_bps'))}",
             "veto": f"{percent_bps(_share(tally.veto, tally.voted))} of votes, veto > "
                     f"{percent_bps(params.get('veto_threshold_bps'))}"}
    for option, style in OPTIONS:
        units = getattr(tally, option)
        text.append(f"{option:<8}")
        filled = units * bar_width // tally.bonded if tally.bonded else 0
        text.append("█" * filled, style=style)
        text.append("░" * (bar_width - filled), style="dim")
        text.append(f" {ait(units, suffix=False):>9}")
        if option in notes:
            text.append(f"  {notes[option]}", style="dim")
        text.append("\n")
    turnout = _share(tally.voted, tally.bonded)
    text.append("turnout ")
    text.append(tally_strip(tally, params.get("quorum_bps", 0), bar_width))
    text.append(f" {percent_bps(turnout)} (quorum {percent_bps(params.get('quorum_bps'))} ")
    text.append("✓" if tally.quorum_reached else "✗", style="green" if tally.quorum_reached else "yellow")
    text.append(")\n")
    verdict = tally.result or proposal.status
    label = "if voting ended now" if proposal.status == "voting" else "result"
    text.append(f"{label}: ")
    text.append(verdict, style=STATUS_STYLE.get(verdict, "bold"))
    return text


def treasury_text(gov: GovModel) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append("Balance ", style="dim")
    text.append(ait(gov.treasury_balance), style="bold")
    text.append(f"\n{gov.treasury_address}", style="dim")
    if not gov.spends:
        text.append("\nno spends yet", style="italic dim")
    for spend in gov.spends:
        text.append(f"\n#{spend.proposal_id} {ait(spend.amount)} to {short_addr(spend.to)}")
        if spend.height is not None:
            text.append(f" at {spend.height}", style="dim")
    return text


def detail_text(proposal: ProposalRow, params: dict[str, int], names: dict[str, str]) -> Text:
    """What Enter shows: description, action, deposit, tally and how each validator voted."""
    action = {k: v for k, v in proposal.action.items() if k != "kind"}
    rows: list[tuple[str, str | Text]] = [
        ("Title", Text(proposal.title, style="bold")),
        ("Status", Text(proposal.status, style=STATUS_STYLE.get(proposal.status, ""))),
        ("Action", proposal.kind.replace("_", "-") + (f" {action}" if action else "")),
        ("Proposer", proposal.proposer), ("Submitted", f"height {proposal.submitted}"),
        ("Deposit", f"{ait(proposal.total_deposit)} (minimum {ait(params.get('min_deposit', 0))})"),
        ("Time left", time_left(proposal))]
    text = kv(rows)
    if proposal.description:
        text.append("\n\n")
        text.append(proposal.description)
    text.append("\n\n")
    text.append(tally_text(proposal, params, 16))
    text.append("\n\nValidators\n", style="underline")
    for vote in proposal.validator_votes:
        text.append(f"  {vote.name or short_addr(vote.validator):<16} {ait(vote.power):>14}  ")
        text.append(vote.option or "-", style=dict(OPTIONS).get(vote.option or "", "dim"))
        text.append("\n")
    others = {voter: option for voter, option in proposal.votes.items()
              if voter not in {v.validator for v in proposal.validator_votes}}
    if others:
        text.append("Other voters\n", style="underline")
        for voter, option in sorted(others.items()):
            text.append(f"  {names.get(voter) or short_addr(voter):<16} ")
            text.append(option, style=dict(OPTIONS).get(option, ""))
            text.append("\n")
    return text


def awaiting_vote_text(store: Store) -> Text | None:
    """The Dashboard's line: proposals in their voting period a wallet here has not voted on."""
    wallets = store.wallet.wallets
    pending = store.node.gov.awaiting_vote([w.address for w in wallets])
    if not pending:
        return None
    names = {w.address: w.name for w in wallets}
    text = Text()  # wrapped where the terminal is narrow, never cut (issue 21)
    text.append(f"{len(pending)} open proposal{'s' if len(pending) != 1 else ''} to vote on: ", style="bold yellow")
    text.append("; ".join(f"#{p.id} {p.title} ({', '.join(names[a] for a in missing)}, {time_left(p)})"
                          for p, missing in pending))
    return text


class GovernanceScreen(SigningScreen):
    SECTION = "governance"
    AUTO_FOCUS = "#proposals"
    DEFAULT_CSS = """
    #gov-bottom {
        height: 9;
    }
    #gov-tally-panel {
        width: 3fr;
    }
    #gov-treasury-panel {
        width: 2fr;
    }
    #gov-bottom .panel {
        height: 1fr;
    }
    #gov-tally, #gov-treasury {
        height: auto;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    GovernanceScreen.-wide #gov-bottom {
        height: 12;
    }
    """
    KEYS = (
        ScreenKey("enter", "details", "Details"),
        ScreenKey("v", "vote", "Vote", ("wallet",),
                  ("Governance: vote", "Vote on the highlighted proposal (with confirmation)")),
        ScreenKey("d", "deposit", "Deposit", ("wallet",),
                  ("Governance: deposit", "Add to the highlighted proposal's deposit")),
        ScreenKey("p", "propose", "Propose", ("wallet",),
                  ("Governance: propose", "Submit a proposal: any action, with a deposit")),
    )

    def compose_body(self) -> ComposeResult:
        with Vertical(id="governance"):
            yield Table(PROPOSAL_COLUMNS, id="proposals", title="Proposals", drop=("kind",))  # Enter: details
            yield TextView(id="gov-note", classes="note")
            with Horizontal(id="gov-bottom"):
                with Panel(title="Tally", id="gov-tally-panel"):
                    yield TextView(id="gov-tally")
                with Panel(title="Treasury", id="gov-treasury-panel"):
                    yield TextView(id="gov-treasury")

    def update_body(self, changed: frozenset[str]) -> None:
        if not changed & {"node", "wallet"}:
            return
        gov = self.store.node.gov
        table = self.query_one("#proposals", Table)
        cursor = table.cursor_row
        keys = table.refill(proposal_rows(gov))
        if keys and 0 < cursor < len(keys):
            table.move_cursor(row=cursor, animate=False)
        params = gov.params
        table.border_subtitle = (f"quorum {percent_bps(params.get('quorum_bps'))} · pass > "
                                 f"{percent_bps(params.get('threshold_bps'))} · veto > "
                                 f"{percent_bps(params.get('veto_threshold_bps'))}") if gov.loaded else ""
        note = self.unavailable_text("node", "Proposals")
        if note is None and gov.error:
            note = f"governance not available from this node: {gov.error}"
        elif note is None and gov.loaded and not gov.proposals:
            note = "no proposals yet: p proposes one"
        self.query_one("#gov-note", TextView).show_note(note)
        self.query_one("#gov-treasury", TextView).show(treasury_text(gov) if gov.loaded
                                                       else notice("the treasury comes from the node"))
        self._show_tally()

    @on(DataTable.RowHighlighted, "#proposals")
    def _highlighted(self) -> None:
        self._show_tally()

    def _show_tally(self) -> None:
        proposal = self.selected_proposal()
        view = self.query_one("#gov-tally", TextView)
        view.show(tally_text(proposal, self.store.node.gov.params) if proposal is not None
                  else notice("highlight a proposal to see its tally"))

    def selected_proposal(self) -> ProposalRow | None:
        key = self.query_one("#proposals", Table).selected_key()
        return self.store.node.gov.proposal(int(key)) if key is not None else None

    # -- details -------------------------------------------------------------------------------------

    @on(DataTable.RowSelected, "#proposals")
    def _selected(self) -> None:
        self.action_details()

    @work(exclusive=True, group="gov-details")
    async def action_details(self) -> None:
        proposal = self.selected_proposal()
        if proposal is None:
            self.notify("no proposal highlighted", severity="warning")
            return
        if not proposal.detailed:
            source = self.aitbc.sources.get("node")
            if source is not None:
                try:
                    proposal = await source.proposal(proposal.id)
                except (DaemonError, OSError) as exc:
                    self.notify(f"could not read the votes: {exc}", title="Governance", severity="warning")
        names = {w.address: w.name for w in self.store.wallet.wallets}
        await self.app.push_screen_wait(InfoDialog(f"Proposal #{proposal.id}",
                                                   detail_text(proposal, self.store.node.gov.params, names)))

    # -- actions (through the wallet daemon) -------------------------------------------------------

    def _balance(self, wallet: WalletRow) -> int | None:
        account = self.store.node.accounts.get(wallet.address)
        return account.balance if account else None

    def _proposal_in(self, statuses: tuple[str, ...], what: str) -> ProposalRow | None:
        proposal = self.selected_proposal()
        if proposal is None or proposal.status not in statuses:
            self.notify(f"highlight a proposal {what} first", severity="warning")
            return None
        return proposal

    async def _sign(self, title: str, rows: list[tuple[str, str | Text]], wallet: WalletRow, label: str,
                    call: Any) -> TxResult | None:
        """Confirm ``rows`` and sign with ``call(password)``; the result, None when cancelled or refused."""
        return await self.confirm_and_sign(ConfirmDialog(title, rows, needs_password=not wallet.unlocked,
                                                         confirm_label=label), call, "Governance")

    def _done(self, what: str, result: TxResult) -> None:
        where = f"block {result.height}" if result.height is not None else result.status
        self.notify(f"{what}: {where} (tx {short_hash(result.hash)})", title="Governance")

    @work(exclusive=True, group="gov-action")
    async def action_vote(self) -> None:
        proposal = self._proposal_in(("voting",), "in its voting period")
        if proposal is None:
            return
        wallet = await self.pick_wallet("Which wallet votes?", "no wallet to vote with: create or import one")
        if wallet is None:
            return
        current = proposal.votes.get(wallet.address)
        option = await self.app.push_screen_wait(PickDialog(
            f"Vote on #{proposal.id}", f"{proposal.title}: {wallet.name}'s vote"
            + (f" (now {current}; voting again replaces it)" if current else ""),
            [(o, o) for o, _ in OPTIONS]))
        if not isinstance(option, str):
            return
        account = self.store.node.accounts.get(wallet.address)
        fee = self.store.wallet.default_fee
        rows: list[tuple[str, str | Text]] = [
            ("Wallet", f"{wallet.name} {wallet.address}"), ("Proposal", f"#{proposal.id} {proposal.title}"),
            ("Vote", Text(option, style="bold " + dict(OPTIONS)[option])),
            ("Stake", f"{ait(account.staked, full=True) if account else 'unknown'} bonded (delegations)"),
            ("Fee", f"{ait(fee, full=True)}")]
        if current:
            rows.insert(3, ("Replaces", current))
        result = await self._sign("Confirm vote", rows, wallet, "Vote", lambda password: (
            self.wallet_source.client.gov_vote(proposal.id, option, wallet=wallet.address, fee=fee, mode="commit",
                                               password=password)))
        if result is not None:
            self._done(f"voted {option} on #{proposal.id}", result)

    @work(exclusive=True, group="gov-action")
    async def action_deposit(self) -> None:
        proposal = self._proposal_in(("deposit", "voting"), "that is open")
        if proposal is None:
            return
        wallet = await self.pick_wallet("Which wallet deposits?", "no wallet to deposit from: create or import one")
        if wallet is None:
            return
        balance = self._balance(wallet)
        missing = max(self.store.node.gov.params.get("min_deposit", 0) - proposal.total_deposit, 0)
        request = await self.app.push_screen_wait(DepositDialog(
            f"#{proposal.id}", wallet.name, balance, missing, self.store.wallet.default_fee))
        if not isinstance(request, DepositRequest):
            return
        rows: list[tuple[str, str | Text]] = [
            ("Wallet", f"{wallet.name} {wallet.address}"), ("Proposal", f"#{proposal.id} {proposal.title}"),
            ("Deposit", Text(ait(request.amount, full=True), style="bold")), ("Fee", f"{ait(request.fee, full=True)}"),
            ("Note", "refunded when the vote reaches quorum unless vetoed; else it goes to the treasury")]
        if balance is not None:
            rows.append(("Balance after", ait(balance - request.amount - request.fee, full=True)))
        result = await self._sign("Confirm deposit", rows, wallet, "Deposit", lambda password: (
            self.wallet_source.client.gov_deposit(proposal.id, request.amount, wallet=wallet.address, fee=request.fee,
                                                  mode="commit", password=password)))
        if result is not None:
            self._done(f"deposited {ait(request.amount, full=True)} on #{proposal.id}", result)

    @work(exclusive=True, group="gov-action")
    async def action_propose(self) -> None:
        wallet = await self.pick_wallet("Which wallet proposes?", "no wallet to propose with: create or import one")
        if wallet is None:
            return
        balance = self._balance(wallet)
        request = await self.app.push_screen_wait(ProposeDialog(
            wallet.name, wallet.address, balance, self.store.node.gov.params.get("min_deposit", 0),
            self.store.wallet.default_fee))
        if not isinstance(request, ProposalRequest):
            return
        action = {k: v for k, v in request.action.items() if k != "kind"}
        rows: list[tuple[str, str | Text]] = [
            ("Wallet", f"{wallet.name} {wallet.address}"), ("Title", Text(request.title, style="bold")),
            ("Action", request.action["kind"].replace("_", "-") + (f" {action}" if action else "")),
            ("Deposit", Text(ait(request.deposit, full=True), style="bold")), ("Fee", f"{ait(request.fee, full=True)}")]
        if balance is not None:
            rows.append(("Balance after", ait(balance - request.deposit - request.fee, full=True)))
        result = await self._sign("Confirm proposal", rows, wallet, "Propose", lambda password: (
            self.wallet_source.client.gov_propose(request.body(), wallet=wallet.address, fee=request.fee,
                                                  mode="commit", password=password)))
        if result is not None:
            self._done(f"proposal {request.title!r} submitted", result)
