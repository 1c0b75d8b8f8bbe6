"""The Explorer's governance pages: the proposal list and one proposal (tally, deposits, votes).

Everything comes from the node's ``get_proposals`` / ``get_proposal``; the outcome a page names
is the chain's own (``tally`` once voting ended, ``tally_so_far.would_be`` while it runs), and this
module only turns the counts into the three ratios the rules compare: turnout against the quorum,
veto against the veto threshold (both over all votes), yes against the pass threshold (over votes
that are not abstain). Search takes ``#3`` or ``proposal 3`` for a proposal, since a bare number
is a block height.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, Response

from chain.params import BPS
from daemons.web.pages import render
from daemons.web.sources import MAX_HEIGHT, Chain, PageError

PROPOSAL_REF = re.compile(r"(?:#|proposal\s*#?\s*)(\d{1,19})", re.IGNORECASE)
"""What the search box reads as a proposal id: ``#3``, ``proposal 3``, ``Proposal #3``."""
Status = Literal["deposit", "voting", "passed", "rejected", "vetoed", "executed", "failed", "dropped"]
LIST_LIMIT = 200
"""Proposals one list page shows (newest first); older ones are reached by status or id."""


def proposal_id(text: str) -> int | None:
    """The id a search names (``#3``, ``proposal 3``), or None when it names no proposal."""
    found = PROPOSAL_REF.fullmatch(text.strip())
    return int(found.group(1)) if found else None


def check_proposal_id(ref: str) -> int:
    if not ref.isdigit() or not 1 <= int(ref[:20]) <= MAX_HEIGHT:
        raise PageError(400, "Not a proposal id", f"{ref[:80]!r} is not a proposal id (a number from 1)")
    return int(ref)


def _ratio(part: int, whole: int) -> float:
    return 100 * part / whole if whole else 0.0


def tally_rows(counts: dict[str, int], bonded: int, rules: dict[str, int]) -> list[dict[str, Any]]:
    """Each rule of the tally: what it measures now (%), the bar (%), and whether it is met."""
    voted = sum(int(counts.get(k, 0)) for k in ("yes", "no", "abstain", "veto"))
    deciding = voted - int(counts.get("abstain", 0))
    rows = [("Turnout (quorum)", _ratio(voted, bonded), rules["quorum_bps"], voted * BPS >= bonded * rules["quorum_bps"]
             and bonded > 0),
            ("Yes of non-abstain (threshold)", _ratio(int(counts.get("yes", 0)), deciding), rules["threshold_bps"],
             deciding > 0 and int(counts.get("yes", 0)) * BPS > deciding * rules["threshold_bps"]),
            ("Veto (veto threshold)", _ratio(int(counts.get("veto", 0)), voted), rules["veto_threshold_bps"],
             int(counts.get("veto", 0)) * BPS > voted * rules["veto_threshold_bps"])]
    return [{"rule": rule, "now": now, "bar": bar / 100, "met": met} for rule, now, bar, met in rows]


def tally_of(detail: dict[str, Any]) -> dict[str, Any] | None:
    """The counts a proposal page shows: the final tally, or the tally so far while voting."""
    final, running = detail.get("tally"), detail.get("tally_so_far")
    if final:
        rules = {k: final[k] for k in ("quorum_bps", "threshold_bps", "veto_threshold_bps")}
        return {"final": True, "counts": final, "bonded": final["bonded"], "result": detail["status"],
                "rows": tally_rows(final, final["bonded"], rules)}
    if running:
        return {"final": False, "counts": running, "bonded": running["bonded"], "result": running["would_be"],
                "rows": tally_rows(running, running["bonded"], detail["gov_params"])}
    return None


def add_governance(app: FastAPI, chain: Chain) -> None:
    @app.get("/proposals", response_class=HTMLResponse)
    def proposals(request: Request, status: Status | None = Query(None)) -> Response:
        data = chain.proposals(LIST_LIMIT, status)
        return render(request, "explorer/proposals.html", data=data, status=status, limit=LIST_LIMIT)

    @app.get("/proposal/{ref}", response_class=HTMLResponse)
    def proposal(request: Request, ref: str) -> Response:
        detail = chain.proposal(check_proposal_id(ref))
        return render(request, "explorer/proposal.html", p=detail, tally=tally_of(detail))
