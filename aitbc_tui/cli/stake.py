"""``aitbc stake``: delegate to validators, unbond, claim rewards, through the wallet daemon."""

from __future__ import annotations

from typing import Annotated

import typer

from aitbc_tui.cli.common import command_group, emit, format_ait, handle_errors, pending_text
from aitbc_tui.cli.options import AmountArg, HomeOpt, JsonOpt, WalletOpt
from aitbc_tui.cli.signing import add_signing_command, add_transfer_command, address_arg, client

app = command_group("stake", "Staking: delegate to validators, unbond, rewards (signed by the wallet daemon).")

ValidatorArg = Annotated[str, typer.Argument(help="Validator address.")]


add_transfer_command(app, "delegate",
                     "Stake AIT with a validator (adds to its voting power; earns a share of block rewards).",
                     lambda w: w.delegate, ("validator", ValidatorArg), AmountArg)
add_transfer_command(app, "unbond", "Unstake from a validator; the funds return after the chain's unbonding period.",
                     lambda w: w.unbond, ("validator", ValidatorArg), AmountArg)


add_signing_command(app, "claim", "Move the rewards earned with a validator into the wallet's balance.",
                    lambda w: w.claim_rewards, [("validator", ValidatorArg, address_arg)])


@app.command("rewards")
def rewards(wallet_ref: WalletOpt = None, home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Stakes and unclaimed rewards per validator, and funds still unbonding."""
    with handle_errors(), client(home) as wallet:
        data = wallet.rewards(wallet_ref)
    if as_json:
        emit(data.model_dump(), True)
        return
    typer.echo(f"{data.name}  {data.address}")
    typer.echo(f"  staked {format_ait(data.total_staked)}, unclaimed rewards {format_ait(data.total_rewards)}")
    for s in data.stakes:
        typer.echo(f"  {s.validator}  staked {format_ait(s.amount)}  rewards {format_ait(s.rewards)}")
    for u in data.unbonding_entries:
        typer.echo(f"  {pending_text(u.model_dump())}")


@app.command("validators")
def validators(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """The chain's validators with their power and commission."""
    with handle_errors(), client(home) as wallet:
        data = wallet.validators()
    if as_json:
        emit(data.model_dump(), True)
        return
    typer.echo(f"height {data.height}, total power {format_ait(data.total_power)}")
    for v in data.validators:
        state = "active" if v.active else ("jailed" if v.jailed else "inactive")
        typer.echo(f"  {v.address}  {v.name:<16} power {format_ait(v.power)}  "
                   f"commission {v.commission_bps / 100:.2f}%  {state}")
