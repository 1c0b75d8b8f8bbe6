"""``aitbc gov``: governance for token holders (``chain.governance``).

Proposals, deposits and votes are signed by the wallet daemon, like ``aitbc stake``; reading
(``list``, ``show``, ``params``) asks the node. ``propose KIND`` takes one sub-form per action:
the options of that action, refused for the others, so a typo cannot turn into a different
proposal; the action is built by ``aitbc_tui.gov_actions``, as in the TUI's propose dialog.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from aitbc_tui.cli.common import command_group, emit, fail, format_ait, handle_errors, resolve_home
from aitbc_tui.cli.options import FeeOpt, HomeOpt, JsonOpt, NodeOpt, PasswordFileOpt, WaitOpt, WalletOpt
from aitbc_tui.cli.signing import add_signing_command, amount_arg, sign_and_show
from aitbc_tui.gov_actions import ActionError, build_action

app = command_group("gov", "Governance: proposals, deposits, votes, treasury (signed by the wallet daemon).")


class Kind(str, Enum):
    param_change = "param-change"
    treasury_spend = "treasury-spend"
    coordinator_update = "coordinator-update"
    validator_update = "validator-update"
    software_upgrade = "software-upgrade"
    text = "text"


class Option_(str, Enum):
    yes = "yes"
    no = "no"
    abstain = "abstain"
    veto = "veto"


STATUSES = ("deposit", "voting", "passed", "rejected", "vetoed", "executed", "failed", "dropped")
_FLAG = {"set_": "--set", "to": "--to", "amount": "--amount", "add": "--add", "remove": "--remove",
         "add_validator": "--add-validator", "name": "--name", "version": "--version", "height": "--height",
         "protocol_version": "--protocol-version"}


def _node(home: Optional[Path], node: Optional[str]):  # noqa: ANN202
    from daemons.node.client import NodeClient

    return NodeClient.for_home(resolve_home(home), node)


def _pct(bps: int) -> str:
    return f"{bps / 100:g}%"


@app.command("propose")
def propose(
    kind: Kind = typer.Argument(..., help="The action: param-change, treasury-spend, coordinator-update, "
                                          "validator-update, software-upgrade or text."),
    title: str = typer.Option(..., "--title", help="One line saying what the proposal does."),
    description: str = typer.Option("", "--description", help="Why; shown to voters."),
    deposit: str = typer.Option("0", "--deposit", help="Initial deposit in AIT (or units with 'u'); voting opens at min_deposit."),
    set_: list[str] = typer.Option([], "--set", help="param-change: NAME=INTEGER (repeatable)."),
    to: Optional[str] = typer.Option(None, "--to", help="treasury-spend: recipient address."),
    amount: Optional[str] = typer.Option(None, "--amount", help="treasury-spend: amount in AIT."),
    add: list[str] = typer.Option([], "--add", help="coordinator-update: address to register (repeatable)."),
    remove: list[str] = typer.Option([], "--remove", help="coordinator-/validator-update: address to remove (repeatable)."),
    add_validator: list[str] = typer.Option([], "--add-validator", help="validator-update: ADDRESS:PUBKEY:COMMISSION_BPS:NAME."),
    name: Optional[str] = typer.Option(None, "--name", help="software-upgrade: the upgrade's name."),
    version: Optional[str] = typer.Option(None, "--version", help="software-upgrade: minimum aitbc version (e.g. 0.2.0)."),
    height: Optional[int] = typer.Option(None, "--height", min=1, help="software-upgrade: height it takes effect."),
    protocol_version: Optional[int] = typer.Option(None, "--protocol-version", min=1, help="software-upgrade: new protocol version."),
    wallet_ref: WalletOpt = None, fee: FeeOpt = None, wait: WaitOpt = False,
    password_file: PasswordFileOpt = None, home: HomeOpt = None, as_json: JsonOpt = False,
) -> None:
    """Submit a proposal with a deposit (any account may propose)."""
    given = {"set_": set_, "to": to, "amount": amount, "add": add, "remove": remove, "add_validator": add_validator,
             "name": name, "version": version, "height": height, "protocol_version": protocol_version}
    try:
        action = build_action(kind.value.replace("-", "_"), given, _FLAG)  # type: ignore[arg-type]
    except ActionError as exc:
        fail(str(exc))
    units = 0 if deposit.strip() in ("0", "0u") else amount_arg(deposit, "deposit")
    proposal = {"title": title, "description": description, "action": action, "deposit": units}
    sign_and_show(lambda w: w.gov_propose, proposal, wallet_ref=wallet_ref, fee=fee, wait=wait, password_file=password_file, home=home, as_json=as_json)


ProposalIdArg = Annotated[int, typer.Argument(min=1, help="Proposal id.")]
add_signing_command(app, "deposit", "Add to a proposal's deposit (refunded when the vote reaches quorum and is not vetoed).",
                    lambda w: w.gov_deposit, [
                        ("proposal_id", ProposalIdArg, int),
                        ("amount", Annotated[str, typer.Argument(help="Amount in AIT, or units with a 'u' suffix.")],
                         amount_arg)])
add_signing_command(app, "vote", "Vote with the wallet's bonded stake; voting again replaces the vote until the end.",
                    lambda w: w.gov_vote, [
                        ("proposal_id", ProposalIdArg, int),
                        ("option", Annotated[Option_, typer.Argument(help="yes, no, abstain or veto.")],
                         lambda option: option.value)])


add_signing_command(app, "enact", "Enact a passed validator-update proposal (any account, within enactment_period blocks).",
                    lambda w: w.gov_enact, [
                        ("proposal_id", Annotated[int, typer.Argument(min=1, help="Id of a passed validator-update proposal.")],
                         int)])


def _line(p: dict[str, Any]) -> str:
    left = f"{p['blocks_left']} blocks left" if p["period_ends"] is not None else ""
    return f"#{p['id']:<4} {p['status']:<9} {p['action']['kind']:<19} {p['title'][:40]:<40} {left}"


@app.command("list")
def list_proposals(
    status: Optional[str] = typer.Option(None, "--status", help=f"Only proposals with this status: {', '.join(STATUSES)}."),
    home: HomeOpt = None, node: NodeOpt = None, as_json: JsonOpt = False,
) -> None:
    """Proposals, newest first."""
    if status is not None and status not in STATUSES:
        fail(f"--status must be one of {', '.join(STATUSES)}")
    with handle_errors(), _node(home, node) as rpc:
        data = rpc.get_proposals(status)
    if as_json:
        emit(data, True)
        return
    if not data["proposals"]:
        typer.echo("no proposals" + (f" with status {status}" if status else ""))
    for p in data["proposals"]:
        typer.echo(_line(p))


def render_detail(p: dict[str, Any]) -> list[str]:
    """``show``'s text: description, deposit, tally (so far) against quorum and thresholds, time
    left, and how each validator voted."""
    gp = p["gov_params"]
    lines = [f"#{p['id']} {p['title']}  [{p['status']}]", f"  action: {p['action']}",
             f"  proposer {p['proposer']}, submitted at height {p.get('submitted', p.get('start'))}"]
    if p["description"]:
        lines.append(f"  {p['description']}")
    lines.append(f"  deposit {format_ait(p.get('total_deposit', 0))} of {format_ait(gp['min_deposit'])} minimum")
    if p["period_ends"] is not None:
        seconds = p["time_left_ms"] / 1000
        lines.append(f"  {p['status']} period ends at height {p['period_ends']}: "
                     f"{p['blocks_left']} blocks left (about {seconds:.0f}s)")
    tally = p.get("tally_so_far") or p.get("tally")
    if tally and "bonded" in tally:  # (tallies from before stake-weighted voting have another shape)
        voted = sum(tally[o] for o in ("yes", "no", "abstain", "veto"))
        label = "tally so far" if "tally_so_far" in p else "final tally"
        lines.append(f"  {label}: yes {format_ait(tally['yes'])}, no {format_ait(tally['no'])}, "
                     f"abstain {format_ait(tally['abstain'])}, veto {format_ait(tally['veto'])} "
                     f"of {format_ait(tally['bonded'])} bonded")
        turnout = voted * 10_000 // tally["bonded"] if tally["bonded"] else 0
        lines.append(f"  turnout {_pct(turnout)} (quorum {_pct(gp['quorum_bps'])}), pass above "
                     f"{_pct(gp['threshold_bps'])} of non-abstain, veto above {_pct(gp['veto_threshold_bps'])}")
        if "would_be" in tally:
            lines.append(f"  if voting ended now: {tally['would_be']}")
    lines.append("  validators:")
    for v in p["validator_votes"]:
        lines.append(f"    {v['name'] or v['validator'][:12]:<16} {format_ait(v['power']):>16}  {v['option'] or '-'}")
    others = [v for v in p["votes"] if not v["validator"]]
    if others:
        lines.append(f"  {len(others)} delegator vote(s): " + ", ".join(f"{v['voter'][:10]} {v['option']}" for v in others))
    return lines


@app.command("show")
def show(
    proposal_id: int = typer.Argument(..., min=1, help="Proposal id."),
    home: HomeOpt = None, node: NodeOpt = None, as_json: JsonOpt = False,
) -> None:
    """One proposal: description, deposit, tally with quorum and thresholds, time left, votes."""
    with handle_errors(), _node(home, node) as rpc:
        data = rpc.get_proposal(proposal_id)
    if as_json:
        emit(data, True)
        return
    typer.echo("\n".join(render_detail(data)))


@app.command("params")
def params(home: HomeOpt = None, node: NodeOpt = None, as_json: JsonOpt = False) -> None:
    """Governance parameters, the treasury and the scheduled software upgrade."""
    with handle_errors(), _node(home, node) as rpc:
        data = rpc.get_gov()
    if as_json:
        emit(data, True)
        return
    gp = data["params"]
    typer.echo(f"min_deposit {format_ait(gp['min_deposit'])}, deposit_period {gp['deposit_period']} blocks, "
               f"voting_period {gp['voting_period']} blocks")
    typer.echo(f"quorum {_pct(gp['quorum_bps'])}, threshold {_pct(gp['threshold_bps'])}, "
               f"veto threshold {_pct(gp['veto_threshold_bps'])}")
    treasury = data["treasury"]
    typer.echo(f"treasury {treasury['address']}: {format_ait(treasury['balance'])}, "
               f"{len(treasury['spends'])} spend(s)")
    upgrade = data["upgrade"]
    if upgrade:
        typer.echo(f"upgrade {upgrade['name']!r} at height {upgrade['height']} needs aitbc {upgrade['version']} "
                   f"(this node runs {data['software_version']})")
