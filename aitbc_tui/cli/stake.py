"""``aitbc stake``: delegate to validators, unbond, claim rewards, through the wallet daemon."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from aitbc_tui.cli.common import HOME_OPTION, JSON_OPTION, emit, format_ait, handle_errors
from aitbc_tui.cli.wallet import (
    FEE_OPTION,
    PASSWORD_FILE_OPTION,
    WAIT_OPTION,
    WALLET_OPTION,
    amount_arg,
    client,
    fee_arg,
    mode,
    show_tx,
    with_password,
)

app = typer.Typer(name="stake", help="Staking: delegate to validators, unbond, rewards (signed by the wallet daemon).",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

VALIDATOR_ARG = typer.Argument(..., help="Validator address.")
AMOUNT_ARG = typer.Argument(..., help="Amount in AIT (up to 6 decimals), or units with a 'u' suffix.")


def _validator(address: str) -> str:
    from chain.crypto import validate_address

    with handle_errors():
        return validate_address(address)


@app.command("delegate")
def delegate(
    validator: str = VALIDATOR_ARG,
    amount: str = AMOUNT_ARG,
    wallet_ref: Optional[str] = WALLET_OPTION,
    fee: Optional[str] = FEE_OPTION,
    wait: bool = WAIT_OPTION,
    password_file: Optional[Path] = PASSWORD_FILE_OPTION,
    home: Optional[Path] = HOME_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Stake AIT with a validator (adds to its voting power; earns a share of block rewards)."""
    address, units, fee_units = _validator(validator), amount_arg(amount), fee_arg(fee)
    with handle_errors(), client(home) as wallet:
        result = with_password(password_file, lambda pw: wallet.delegate(
            address, units, wallet=wallet_ref, fee=fee_units, mode=mode(wait), password=pw))
    show_tx(result, as_json)


@app.command("unbond")
def unbond(
    validator: str = VALIDATOR_ARG,
    amount: str = AMOUNT_ARG,
    wallet_ref: Optional[str] = WALLET_OPTION,
    fee: Optional[str] = FEE_OPTION,
    wait: bool = WAIT_OPTION,
    password_file: Optional[Path] = PASSWORD_FILE_OPTION,
    home: Optional[Path] = HOME_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Unstake from a validator; the funds return after the chain's unbonding period."""
    address, units, fee_units = _validator(validator), amount_arg(amount), fee_arg(fee)
    with handle_errors(), client(home) as wallet:
        result = with_password(password_file, lambda pw: wallet.unbond(
            address, units, wallet=wallet_ref, fee=fee_units, mode=mode(wait), password=pw))
    show_tx(result, as_json)


@app.command("claim")
def claim(
    validator: str = VALIDATOR_ARG,
    wallet_ref: Optional[str] = WALLET_OPTION,
    fee: Optional[str] = FEE_OPTION,
    wait: bool = WAIT_OPTION,
    password_file: Optional[Path] = PASSWORD_FILE_OPTION,
    home: Optional[Path] = HOME_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Move the rewards earned with a validator into the wallet's balance."""
    address, fee_units = _validator(validator), fee_arg(fee)
    with handle_errors(), client(home) as wallet:
        result = with_password(password_file, lambda pw: wallet.claim_rewards(
            address, wallet=wallet_ref, fee=fee_units, mode=mode(wait), password=pw))
    show_tx(result, as_json)


@app.command("rewards")
def rewards(wallet_ref: Optional[str] = WALLET_OPTION, home: Optional[Path] = HOME_OPTION,
            as_json: bool = JSON_OPTION) -> None:
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
        typer.echo(f"  unbonding {format_ait(u.amount)} ({u.kind}), released at height {u.release}")


@app.command("validators")
def validators(home: Optional[Path] = HOME_OPTION, as_json: bool = JSON_OPTION) -> None:
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
