"""Read-only views of governance for the node's RPC (``get_proposals``, ``get_proposal``,
``get_gov``): what ``aitbc gov`` and the TUI show.

The "tally so far" of an open proposal is the chain's own count (``chain.governance``) over the
current state, so a voter sees exactly what the tally would be if voting ended now. Listing reads
the whole proposal table: that is fine for a query (never for a block rule), and ``limit`` caps
the answer.
"""

from __future__ import annotations

from typing import Any

from chain import governance, indexes
from chain.ledger import Ledger
from chain.state import State
from chain.validators import active_set

GOV_PARAMS = ("min_deposit", "deposit_period", "voting_period", "quorum_bps", "threshold_bps", "veto_threshold_bps",
              "enactment_period")


def gov_params(state: State) -> dict[str, Any]:
    params = Ledger(state).params
    return {name: getattr(params, name) for name in GOV_PARAMS}


def _timing(state: State, proposal: dict[str, Any], block_time_ms: int) -> dict[str, Any]:
    """Blocks (and an estimate of the time) left in the current period."""
    status = proposal["status"]
    until = proposal.get("deposit_end") if status == "deposit" else proposal.get("end") if status == "voting" else None
    if until is None:
        return {"period_ends": None, "blocks_left": 0, "time_left_ms": 0}
    blocks = max(until - state.height, 0)
    return {"period_ends": until, "blocks_left": blocks, "time_left_ms": blocks * block_time_ms}


def summary(state: State, proposal: dict[str, Any], block_time_ms: int) -> dict[str, Any]:
    return {**proposal, **_timing(state, proposal, block_time_ms)}


def list_proposals(state: State, status: str | None, limit: int, block_time_ms: int) -> list[dict[str, Any]]:
    found = [p for _, p in state.items("proposal") if status is None or p["status"] == status]
    found.sort(key=lambda p: -int(p["id"]))
    return [summary(state, p, block_time_ms) for p in found[:limit]]


def proposal_detail(state: State, proposal: dict[str, Any], block_time_ms: int) -> dict[str, Any]:
    """The proposal with its deposits, every vote (validators marked) and the tally so far."""
    ledger = Ledger(state)
    pid = int(proposal["id"])
    signers = active_set(ledger)
    voters = indexes.members(ledger, f"votes/{pid}")
    votes = []
    for voter in sorted(voters):
        vote = state.get("vote", f"{pid}/{voter}")
        if vote is not None:
            votes.append({"voter": voter, "option": vote["option"], "validator": voter in signers,
                          "stake": governance.bonded_stake(ledger, voter, signers)})
    deposits = [{"depositor": d, "amount": indexes.amount(ledger, f"deposit/{pid}/{d}")}
                for d in indexes.members(ledger, f"depositors/{pid}")]
    detail = {**summary(state, proposal, block_time_ms), "votes": votes, "deposits": deposits,
              "gov_params": gov_params(state)}
    if proposal["status"] == "voting":
        counted = governance.count_votes(ledger, pid, signers)
        bonded = sum(int(s["power"]) for s in signers.values())
        result, quorum = governance.outcome(counted, bonded, ledger.params)
        detail["tally_so_far"] = {**counted, "bonded": bonded, "quorum_reached": quorum, "would_be": result}
    validators = {a: v for a, v in state.items("validator") if a in signers}
    detail["validator_votes"] = [{"validator": a, "name": v["name"], "power": v["power"],
                                  "option": (state.get("vote", f"{pid}/{a}") or {}).get("option")}
                                 for a, v in sorted(validators.items())]
    return detail


def treasury(state: State, address: str) -> dict[str, Any]:
    """The treasury's balance and the spends governance executed."""
    spends = [{"proposal_id": p["id"], "to": p["action"]["to"], "amount": p["action"]["amount"],
               "title": p["title"], "height": p.get("end")}
              for _, p in state.items("proposal")
              if p["action"]["kind"] == "treasury_spend" and p["status"] == "executed"]
    spends.sort(key=lambda s: -int(s["proposal_id"]))
    return {"address": address, "balance": (state.get("account", address) or {"balance": 0})["balance"],
            "spends": spends}
