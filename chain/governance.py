"""Governance by token holders: deposits, stake-weighted votes, the tally and its actions.

The rules follow Cosmos SDK ``x/gov`` (v1) and ``x/upgrade``:

* **Deposit period.** Any account proposes with an initial deposit; anyone adds to it
  (``gov_deposit``). Voting opens the moment the deposits reach ``min_deposit``. A proposal that
  does not reach it within ``deposit_period`` blocks is dropped and its deposits are **burned**
  (x/gov's rule for deposits that never reached the minimum: spam costs the spammer, and nobody,
  not even the treasury, profits from it). Deposits sit in ``GOV_DEPOSITS``, an account nobody
  holds a key to, so they stay in the supply until refunded, forfeited or burned.
* **Votes.** Any staker votes ``yes``/``no``/``abstain``/``veto`` and may change its vote until
  the end. Weight is bonded stake in active validators' pools at the tally (x/gov counts bonded
  stake only): a validator's vote carries its whole pool (own bond plus delegations) less the
  delegations of delegators who voted themselves; a delegator's own vote carries its delegations.
* **Tally** at the end of voting, with the parameters in force then: no quorum (votes below
  ``quorum_bps`` of bonded stake) rejects and sends the deposits to the treasury; ``veto`` above
  ``veto_threshold_bps`` of the votes vetoes and sends them to the treasury too (the issue's
  rule; x/gov burns them); otherwise deposits are refunded and the proposal passes when ``yes``
  exceeds ``threshold_bps`` of the non-abstain votes. The tally is stored with the proposal.
* **Cost.** A block reads only the proposals whose deposit or voting period ends at its height
  (``chain.indexes``) and, for each, only its own voters times the active validators (bounded
  by governance): never every vote of every proposal.
* **Actions** of a passed proposal run at once (``param_change``, ``treasury_spend``,
  ``coordinator_update``, ``software_upgrade``); ``validator_update`` is enacted by a separate
  transaction within ``enactment_period``; ``text`` only records the decision.
  ``software_upgrade`` schedules a plan in ``meta/upgrade`` (one at a time, a later one replaces
  it, as in x/upgrade); nodes stop at its height when their software is older than its version,
  and its ``protocol_version``, if any, takes effect at that height (``chain.protocol``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError

from chain import crypto, indexes, staking
from chain.amounts import ait
from chain.errors import InsufficientFunds, InvalidPayload, Unauthorized, UnknownEntity
from chain.ledger import Ledger
from chain.params import BPS, GOVERNABLE_PARAMS, ChainParams
from chain.protocol import apply_upgrade
from chain.tx import (
    CoordinatorSetChange, GovDepositPayload, GovProposePayload, GovVotePayload, ParamChange, SoftwareUpgrade,
    Transaction, TreasurySpend, ValidatorSetChange, ValidatorUpdatePayload,
)
from chain.validators import Signers, active_set

if TYPE_CHECKING:
    from chain.execution import BlockContext

TREASURY = crypto.address_from_pubkey(b"aitbc/treasury".ljust(32, b"\x00"))
"""The treasury's address: derived from a fixed non-key, so no one holds its private key; only
governance (``treasury_spend``) moves its funds."""

GOV_DEPOSITS = crypto.address_from_pubkey(b"aitbc/gov-deposits".ljust(32, b"\x00"))
"""Where proposal deposits are held (x/gov's module account); no key, moved only by these rules."""

OPEN_STATUSES = ("deposit", "voting")


# -- transactions -----------------------------------------------------------------------------------


def gov_propose(ledger: Ledger, tx: Transaction, body: GovProposePayload, ctx: BlockContext) -> None:
    action = body.action
    params = ledger.params
    if isinstance(action, ParamChange):
        unknown = set(action.changes) - GOVERNABLE_PARAMS
        if unknown:
            raise InvalidPayload(f"parameters cannot be changed by governance: {', '.join(sorted(unknown))}")
        try:
            ChainParams.model_validate({**params.model_dump(), **action.changes})
        except ValidationError as exc:
            raise InvalidPayload(f"proposed parameters are invalid: {exc.errors()[0]['msg']}") from None
    if isinstance(action, ValidatorSetChange):
        check_commissions(ledger, action)
    if isinstance(action, SoftwareUpgrade):
        earliest = ctx.height + params.voting_period + 1
        if action.height < earliest:
            raise InvalidPayload(f"upgrade height {action.height} is before the vote could end; use at least {earliest}")
        if action.protocol_version is not None and action.protocol_version <= params.protocol_version:
            raise InvalidPayload(f"protocol_version {action.protocol_version} is not above the chain's "
                                 f"{params.protocol_version}")
    seq = ledger.meta("proposal_seq")["next"]
    deposit_end = ctx.height + params.deposit_period
    ledger.put("meta", "proposal_seq", {"next": seq + 1})
    ledger.put("proposal", str(seq), {
        "id": seq, "proposer": tx.sender, "title": body.title, "description": body.description,
        "action": action.model_dump(), "submitted": ctx.height, "deposit_end": deposit_end,
        "total_deposit": 0, "start": None, "end": None, "status": "deposit", "tally": None,
    })
    indexes.add(ledger, f"deposits_ending/{indexes.height_key(deposit_end)}", seq)
    if body.deposit:
        _add_deposit(ledger, seq, tx.sender, body.deposit, ctx)


def gov_deposit(ledger: Ledger, tx: Transaction, body: GovDepositPayload, ctx: BlockContext) -> None:
    proposal = _require_proposal(ledger, body.proposal_id)
    if proposal["status"] not in OPEN_STATUSES:
        raise Unauthorized(f"proposal {body.proposal_id} is {proposal['status']}; it takes no more deposits")
    _add_deposit(ledger, body.proposal_id, tx.sender, body.amount, ctx)


def gov_vote(ledger: Ledger, tx: Transaction, body: GovVotePayload, ctx: BlockContext) -> None:
    proposal = _require_proposal(ledger, body.proposal_id)
    if proposal["status"] != "voting":
        raise Unauthorized(f"proposal {body.proposal_id} is {proposal['status']}, voting is not open")
    if bonded_stake(ledger, tx.sender, active_set(ledger)) <= 0:
        raise Unauthorized(f"{tx.sender} has no bonded stake in an active validator; only stakers vote")
    ledger.put("vote", f"{body.proposal_id}/{tx.sender}", {"option": body.option})
    indexes.add(ledger, f"votes/{body.proposal_id}", tx.sender)


def validator_update(ledger: Ledger, tx: Transaction, body: ValidatorUpdatePayload, ctx: BlockContext) -> None:
    proposal = ledger.get("proposal", str(body.proposal_id))
    if proposal is None or proposal["action"]["kind"] != "validator_update":
        raise UnknownEntity(f"no validator_update proposal {body.proposal_id}")
    if proposal["status"] != "passed":
        raise Unauthorized(f"proposal {body.proposal_id} is {proposal['status']}; only a passed proposal can be enacted")
    # Enactable only while the vote is recent: a passed change nobody enacted in time is stale
    # (the set it was voted against has moved on) and must be proposed again. The action itself
    # is the one voted on, read from the proposal, and re-checked against today's parameters.
    enact_by = proposal.get("enact_by", proposal["end"])
    if ctx.height > enact_by:
        raise Unauthorized(f"proposal {body.proposal_id} could be enacted until height {enact_by}; it expired")
    change = ValidatorSetChange.model_validate(proposal["action"])
    check_commissions(ledger, change)
    for new in change.add:
        existing = ledger.get("validator", new.address)
        if existing is not None and existing["pubkey"] != new.pubkey:
            raise InvalidPayload(f"validator {new.address} already exists with another key")
        if crypto.address_from_pubkey(bytes.fromhex(new.pubkey)) != new.address:
            raise InvalidPayload(f"validator {new.address} does not match its public key")
        # Re-adding a validator brings it back from removal, not from jail: a jailed one still
        # waits out its jail (or stays tombstoned after double signing).
        base = existing or staking.NEW_VALIDATOR
        ledger.put("validator", new.address, {**base, "pubkey": new.pubkey, "name": new.name,
                                              "commission_bps": new.commission_bps, "removed": False})
    for address in change.remove:
        validator = staking.require_validator(ledger, address)
        ledger.put("validator", address, {**validator, "removed": True})
    if not active_set(ledger):
        raise InvalidPayload("this change would leave no active validator")
    ledger.put("proposal", str(body.proposal_id), {**proposal, "status": "executed", "executed": ctx.height})


def check_commissions(ledger: Ledger, change: ValidatorSetChange) -> None:
    limit = ledger.params.max_commission_bps
    for new in change.add:
        if new.commission_bps > limit:
            raise InvalidPayload(f"validator {new.address} commission {new.commission_bps} bps exceeds "
                                 f"max_commission_bps {limit}")


def _require_proposal(ledger: Ledger, proposal_id: int) -> dict[str, Any]:
    proposal = ledger.get("proposal", str(proposal_id))
    if proposal is None:
        raise UnknownEntity(f"no proposal {proposal_id}")
    return proposal


def _add_deposit(ledger: Ledger, proposal_id: int, depositor: str, amount: int, ctx: BlockContext) -> None:
    balance = ledger.balance(depositor)
    if balance < amount:
        raise InsufficientFunds(f"deposit needs {ait(amount)}, {depositor} has {ait(balance)}")
    ledger.set_balance(depositor, balance - amount)
    ledger.credit(GOV_DEPOSITS, amount)
    key = f"deposit/{proposal_id}/{depositor}"
    indexes.set_amount(ledger, key, indexes.amount(ledger, key) + amount)
    indexes.add(ledger, f"depositors/{proposal_id}", depositor)
    proposal = ledger.get("proposal", str(proposal_id))
    assert proposal is not None
    # Proposals from before deposits existed carry no total: they count from zero.
    proposal = {**proposal, "total_deposit": proposal.get("total_deposit", 0) + amount}
    if proposal["status"] == "deposit" and proposal["total_deposit"] >= ledger.params.min_deposit:
        end = ctx.height + ledger.params.voting_period
        proposal = {**proposal, "status": "voting", "start": ctx.height, "end": end}
        indexes.remove(ledger, f"deposits_ending/{indexes.height_key(proposal['deposit_end'])}", proposal_id)
        # (a proposal is in "deposit" only if it was made under these rules, so it has deposit_end)
        # Tallied at exactly ``end``: the block of that height reads this list, not every proposal.
        indexes.add(ledger, f"proposals_ending/{indexes.height_key(end)}", proposal_id)
    ledger.put("proposal", str(proposal_id), proposal)


# -- the tally --------------------------------------------------------------------------------------


def bonded_stake(ledger: Ledger, address: str, signers: Signers) -> int:
    """Units ``address`` has bonded in active validators' pools (its own pool's self-bond
    included). Reads one delegation per active validator, never the delegation table."""
    total = 0
    for validator_address in signers:
        validator = ledger.get("validator", validator_address)
        delegation = ledger.get("delegation", f"{address}/{validator_address}")
        if validator is not None and delegation is not None:
            total += staking.tokens(validator, delegation["shares"])
    return total


def count_votes(ledger: Ledger, proposal_id: int, signers: Signers) -> dict[str, int]:
    """Stake behind each option (x/gov's tally): delegators who voted take their share out of
    their validator's vote; a validator's vote carries what is left of its pool."""
    totals = {"yes": 0, "no": 0, "abstain": 0, "veto": 0}
    deducted = {address: 0 for address in signers}
    validator_votes: dict[str, str] = {}
    for voter in sorted(indexes.members(ledger, f"votes/{proposal_id}")):
        vote = ledger.get("vote", f"{proposal_id}/{voter}")
        if vote is None:
            continue
        if voter in signers:
            validator_votes[voter] = vote["option"]
        for validator_address in signers:
            if validator_address == voter:
                continue  # its own bond is part of its pool, counted with its validator vote
            validator = ledger.get("validator", validator_address)
            delegation = ledger.get("delegation", f"{voter}/{validator_address}")
            if validator is None or delegation is None:
                continue
            stake = staking.tokens(validator, delegation["shares"])
            totals[vote["option"]] += stake
            deducted[validator_address] += stake
    for validator_address, option in validator_votes.items():
        totals[option] += int(signers[validator_address]["power"]) - deducted[validator_address]
    return totals


def outcome(votes: dict[str, int], bonded: int, params: ChainParams) -> tuple[str, bool]:
    """``(result, quorum_reached)`` with ``result`` one of passed/rejected/vetoed, x/gov's order:
    quorum first, then veto, then the pass threshold over non-abstain votes (strictly above)."""
    voted = sum(votes.values())
    quorum = bonded > 0 and voted * BPS >= bonded * params.quorum_bps
    if not quorum:
        return "rejected", False
    if votes["veto"] * BPS > voted * params.veto_threshold_bps:
        return "vetoed", True
    deciding = voted - votes["abstain"]
    if deciding > 0 and votes["yes"] * BPS > deciding * params.threshold_bps:
        return "passed", True
    return "rejected", True


def end_block(ledger: Ledger, ctx: BlockContext, signers: Signers) -> None:
    """Drop proposals whose deposit period ends now without the minimum, tally those whose
    voting ends now."""
    dropping = f"deposits_ending/{indexes.height_key(ctx.height)}"
    for proposal_id in sorted(indexes.members(ledger, dropping)):
        proposal = ledger.get("proposal", str(proposal_id))
        if proposal is not None and proposal["status"] == "deposit":
            burned = _settle_deposits(ledger, proposal_id, "burn")
            ledger.put("proposal", str(proposal_id), {**proposal, "status": "dropped", "deposit_burned": burned})
    indexes.store(ledger, dropping, [])
    ending = f"proposals_ending/{indexes.height_key(ctx.height)}"
    for proposal_id in sorted(indexes.members(ledger, ending)):
        proposal = ledger.get("proposal", str(proposal_id))
        if proposal is not None and proposal["status"] == "voting":
            _tally(ledger, ctx, signers, proposal)
    indexes.store(ledger, ending, [])


def _tally(ledger: Ledger, ctx: BlockContext, signers: Signers, proposal: dict[str, Any]) -> None:
    key = str(proposal["id"])
    params = ledger.params
    votes = count_votes(ledger, proposal["id"], signers)
    bonded = sum(int(s["power"]) for s in signers.values())
    result, quorum = outcome(votes, bonded, params)
    refund = result == "passed" or (result == "rejected" and quorum)
    _settle_deposits(ledger, proposal["id"], "refund" if refund else "treasury")
    status = _execute(ledger, ctx, proposal) if result == "passed" else result
    tallied = {**proposal, "status": status, "deposit_refunded": refund, "tally": {
        **votes, "bonded": bonded, "quorum_reached": quorum, "quorum_bps": params.quorum_bps,
        "threshold_bps": params.threshold_bps, "veto_threshold_bps": params.veto_threshold_bps}}
    if status == "passed" and proposal["action"]["kind"] == "validator_update":
        tallied["enact_by"] = ctx.height + params.enactment_period
    ledger.put("proposal", key, tallied)
    # Votes stay readable (who voted how) but leave the index the tally reads.
    indexes.store(ledger, f"votes/{key}", [])


def _settle_deposits(ledger: Ledger, proposal_id: int, how: Literal["refund", "treasury", "burn"]) -> int:
    """Move every deposit of a proposal out of ``GOV_DEPOSITS``: back to each depositor, to the
    treasury, or out of the supply. Returns the units moved."""
    moved = 0
    for depositor in indexes.members(ledger, f"depositors/{proposal_id}"):
        key = f"deposit/{proposal_id}/{depositor}"
        amount = indexes.amount(ledger, key)
        indexes.set_amount(ledger, key, 0)
        moved += amount
        if how == "refund":
            ledger.credit(depositor, amount)
    ledger.set_balance(GOV_DEPOSITS, ledger.balance(GOV_DEPOSITS) - moved)
    if how == "treasury":
        ledger.credit(TREASURY, moved)
    elif how == "burn":
        ledger.adjust_supply(-moved)
    indexes.store(ledger, f"depositors/{proposal_id}", [])
    return moved


def _execute(ledger: Ledger, ctx: BlockContext, proposal: dict[str, Any]) -> str:
    """Run a passed proposal's action; returns its status (executed, passed or failed)."""
    action = proposal["action"]
    kind = action["kind"]
    if kind == "param_change":
        # Checked when proposed, but an earlier change may have executed since (two share
        # changes that only together exceed 100%): then this one fails instead of halting the
        # chain with an exception out of ``end_block``.
        try:
            params = ChainParams.model_validate({**ledger.params.model_dump(), **action["changes"]})
        except ValidationError:
            return "failed"
        ledger.put("meta", "params", params.model_dump())
        return "executed"
    if kind == "treasury_spend":
        spend = TreasurySpend.model_validate(action)
        if ledger.balance(TREASURY) < spend.amount:
            return "failed"
        ledger.set_balance(TREASURY, ledger.balance(TREASURY) - spend.amount)
        ledger.credit(spend.to, spend.amount)
        return "executed"
    if kind == "coordinator_update":
        change = CoordinatorSetChange.model_validate(action)
        current = [c for c in ledger.meta("coordinators")["list"] if c not in change.remove]
        current += [c for c in change.add if c not in current]
        ledger.put("meta", "coordinators", {"list": sorted(current)})
        return "executed"
    if kind == "software_upgrade":
        plan = SoftwareUpgrade.model_validate(action)
        if plan.height <= ctx.height:
            return "failed"
        ledger.put("meta", "upgrade", {**plan.model_dump(exclude={"kind"}), "proposal_id": proposal["id"]})
        return "executed"
    return "passed"  # text: the decision is the record; validator_update: enacted by its own tx


def begin_block(ledger: Ledger, height: int) -> None:
    """Apply a scheduled upgrade's protocol version at its height, before the height's rules run."""
    plan = ledger.get("meta", "upgrade")
    if plan is not None and plan["height"] == height:
        raw = apply_upgrade(ledger.meta("params"), plan.get("protocol_version"))
        if raw is not None:
            ledger.put("meta", "params", raw)


def scheduled_upgrade(ledger: Ledger) -> dict[str, Any] | None:
    """The upgrade plan, if any (kept after its height, so a node started later still checks)."""
    return ledger.get("meta", "upgrade")
