"""``aitbc wallet``: run the wallet daemon and use it (every command goes through its socket).

Secrets never go on the command line (where ``ps`` and shell history would show them):
passwords come from ``--password-file``, else ``$AITBC_WALLET_PASSWORD``, else a hidden prompt;
recovery phrases and private keys from a file or a hidden prompt. ``create`` prints the new
recovery phrase once, with a warning; it is not kept anywhere in clear.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from aitbc_tui.cli.common import command_group, confirm, emit, fail, format_ait, handle_errors, read_secret_file, serve
from aitbc_tui.cli.options import (
    AmountArg,
    ConfigOpt,
    FeeOpt,
    HomeOpt,
    JsonOpt,
    NodeOpt,
    PasswordFileOpt,
    WaitOpt,
    WalletOpt,
    YesOpt,
)
from aitbc_tui.cli.signing import (
    add_transfer_command,
    address_arg,
    amount_arg,
    client,
    fee_arg,
    mode,
    password,
    show_tx,
    sign_and_show,
    with_password,
)

app = command_group("wallet", "Wallets: encrypted keys held by the wallet daemon; balances, sends, backups.")
escrow_app = command_group("escrow", "Escrow with a coordinator: how clients fund AI jobs.")
app.add_typer(escrow_app, name="escrow")

WalletArg = Annotated[str, typer.Argument(metavar="WALLET", help="Current name or address.")]
CoordinatorArg = Annotated[str, typer.Argument(help="Coordinator address.")]
EscrowAmountArg = Annotated[str, typer.Argument(help="Amount in AIT (or units with 'u').")]


# -- the daemon -------------------------------------------------------------------------------------------


@app.command("start")
def start(
    home: HomeOpt = None,
    config: ConfigOpt = None,
    tcp: Optional[bool] = typer.Option(None, "--tcp/--no-tcp", help="Serve the public REST door (needs api_keys)."),
    api_port: Optional[int] = typer.Option(None, help="Public REST port (default 18002)."),
    node: NodeOpt = None,
    idle_lock: Optional[float] = typer.Option(None, "--idle-lock", help="Seconds of idleness before a wallet locks (0 never)."),
    scrypt_n: Optional[int] = typer.Option(None, "--scrypt-n", help="scrypt cost for new wallet files (default 2**17)."),
) -> None:
    """Run the wallet daemon in the foreground until SIGTERM or Ctrl-C."""
    from daemons.wallet.daemon import main
    from daemons.wallet.settings import WalletSettings

    serve(WalletSettings, main, home, config, tcp_enabled=tcp, api_port=api_port, node_url=node,
          idle_lock_s=idle_lock, scrypt_n=scrypt_n)


@app.command("status")
def status(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Wallet counts and the node the daemon signs for."""
    with handle_errors(), client(home) as wallet:
        data = wallet.status().model_dump()
    emit(data, as_json)


# -- wallets ----------------------------------------------------------------------------------------------


@app.command("create")
def create(
    name: Optional[str] = typer.Argument(None, help="Name of the wallet (default: key-<address digits>)."),
    words: int = typer.Option(24, "--words", help="Length of the recovery phrase: 12 or 24."),
    password_file: PasswordFileOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a wallet from a new recovery phrase and show the phrase ONCE."""
    if words not in (12, 24):
        fail(f"--words must be 12 or 24, not {words}")
    secret = password(password_file, "Password for the new wallet", confirm=True)
    with handle_errors(), client(home) as wallet:
        created = wallet.create(secret, name, words)
    if as_json:
        emit(created.model_dump(), True)
        return
    info = created.wallet
    typer.echo(f"created wallet {info.name}\n  address: {info.address}\n")
    typer.echo("RECOVERY PHRASE (shown only now):\n")
    typer.echo("  " + created.mnemonic + "\n")
    typer.echo(f"WARNING: {created.warning}")


@app.command("import")
def import_wallet(
    name: Optional[str] = typer.Argument(None, help="Name of the wallet."),
    mnemonic_file: Optional[Path] = typer.Option(None, "--mnemonic-file", dir_okay=False, help="File holding the recovery phrase."),
    private_key_file: Optional[Path] = typer.Option(None, "--private-key-file", dir_okay=False,
                                                    help="File holding the private key (64 hex digits)."),
    backup: Optional[Path] = typer.Option(None, "--backup", dir_okay=False, help="An exported wallet file."),
    path: Optional[str] = typer.Option(None, "--path", help="SLIP-0010 derivation path for a phrase."),
    password_file: PasswordFileOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Restore a wallet from its recovery phrase (prompted without a file), a private key file, or a backup."""
    if sum(x is not None for x in (mnemonic_file, private_key_file, backup)) > 1:
        fail("give at most one of --mnemonic-file, --private-key-file, --backup")
    if backup is not None:
        text = read_secret_file(backup, "backup")
        secret = password(password_file, "Password of the backup")
        with handle_errors(), client(home) as wallet:
            info = wallet.import_backup(text, secret, name)
    elif private_key_file is not None:
        key = read_secret_file(private_key_file, "private key")
        secret = password(password_file, "Password for the wallet", confirm=True)
        with handle_errors(), client(home) as wallet:
            info = wallet.import_private_key(key, secret, name)
    else:
        if mnemonic_file is not None:
            phrase = read_secret_file(mnemonic_file, "recovery phrase")
        elif sys.stdin.isatty():
            phrase = typer.prompt("Recovery phrase", hide_input=True)
        else:
            fail("give the recovery phrase with --mnemonic-file (or run interactively)")
        secret = password(password_file, "Password for the wallet", confirm=True)
        with handle_errors(), client(home) as wallet:
            info = wallet.import_mnemonic(phrase, secret, name, path=path)
    emit(info.model_dump(), as_json, lambda d: f"imported wallet {d['name']}\n  address: {d['address']}")


@app.command("list")
def list_wallets(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Wallets in the daemon's keystore and whether each is unlocked."""
    with handle_errors(), client(home) as wallet:
        wallets = wallet.list()
    if as_json:
        emit([w.model_dump() for w in wallets], True)
        return
    if not wallets:
        typer.echo("no wallets yet: aitbc wallet create")
        return
    width = max(4, *(len(w.name) for w in wallets))
    typer.echo(f"{'NAME':<{width}}  {'ADDRESS':<42}  STATE")
    for w in wallets:
        state = "unlocked" if w.unlocked else "locked"
        if w.unlocked and w.locks_in_s is not None:
            state += f" ({int(w.locks_in_s)}s left)"
        typer.echo(f"{w.name:<{width}}  {w.address:<42}  {state}")


@app.command("balance")
def balance(wallet_ref: WalletOpt = None, home: HomeOpt = None,
            as_json: JsonOpt = False) -> None:
    """Balance, stake, rewards, unbonding and escrow of a wallet (from the node)."""
    with handle_errors(), client(home) as wallet:
        data = wallet.balance(wallet_ref)

    def human(b: Any) -> str:
        lines = [f"{b.name}  {b.address}  (height {b.height})",
                 f"  available  {format_ait(b.balance)}", f"  staked     {format_ait(b.staked)}",
                 f"  rewards    {format_ait(b.rewards)}", f"  unbonding  {format_ait(b.unbonding)}",
                 f"  escrowed   {format_ait(b.escrowed)}"]
        if b.withdrawing:
            lines.append(f"  withdrawing {format_ait(b.withdrawing)} (escrow on its way back)")
        if b.miner is not None:
            lines.append(f"  miner bond {format_ait(b.miner.bond)}")
        return "\n".join(lines)

    if as_json:
        emit(data.model_dump(), True)
    else:
        typer.echo(human(data))


@app.command("send")
def send(
    to: Annotated[str, typer.Argument(help="Recipient address.")],
    amount: AmountArg,
    wallet_ref: WalletOpt = None, fee: FeeOpt = None, wait: WaitOpt = False, yes: YesOpt = False,
    password_file: PasswordFileOpt = None, home: HomeOpt = None, as_json: JsonOpt = False,
) -> None:
    """Send AIT: build, sign and broadcast a transfer (asks to confirm fee and total)."""
    units, fee_units = amount_arg(amount), fee_arg(fee)
    address_arg(to)
    with handle_errors(), client(home) as wallet:
        source = wallet.balance(wallet_ref)
        actual_fee = fee_units if fee_units is not None else wallet.status().default_fee
        if not yes:
            typer.echo(f"Send {format_ait(units)} from {source.name} ({source.address})\n"
                       f"  to    {to}\n  fee   {format_ait(actual_fee)}\n  total {format_ait(units + actual_fee)}"
                       f"  (available {format_ait(source.balance)})")
            if not confirm("Proceed?"):
                fail("cancelled; nothing was sent")
        result = with_password(password_file, lambda pw: wallet.send(
            to, units, wallet=source.address, fee=actual_fee, mode=mode(wait), password=pw))
    show_tx(result, as_json)


@app.command("history")
def history(
    wallet_ref: WalletOpt = None,
    limit: int = typer.Option(20, "--limit", min=1, max=1000, help="How many transactions."),
    before_height: Optional[int] = typer.Option(None, "--before-height", min=1, help="Page: only older blocks."),
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The wallet's transactions, newest first."""
    with handle_errors(), client(home) as wallet:
        data = wallet.history(wallet_ref, limit, before_height)
    if as_json:
        emit(data.model_dump(), True)
        return
    if not data.txs:
        typer.echo(f"no transactions for {data.name} ({data.address})")
        return
    for tx in data.txs:
        amount = format_ait(tx.amount) if tx.amount is not None else ""
        other = tx.sender if tx.direction == "in" else (tx.counterparty or "")
        typer.echo(f"{tx.height:>8}  {tx.direction:<4}  {tx.type:<15} {amount:>22}  {other}  {tx.hash[:16]}")


@app.command("unlock")
def unlock(
    wallet_ref: WalletOpt = None,
    timeout: Optional[float] = typer.Option(None, "--timeout", min=0, help="Idle seconds before it locks (0 never)."),
    password_file: PasswordFileOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Decrypt a wallet's key into the daemon's memory so that it can sign."""
    secret = password(password_file)
    with handle_errors(), client(home) as wallet:
        info = wallet.unlock(secret, wallet_ref, timeout)
    emit(info.model_dump(), as_json, lambda d: f"unlocked {d['name']} ({d['address']})" + (
        f"; locks after {d['locks_in_s']:.0f}s idle" if d["locks_in_s"] is not None else ""))


@app.command("lock")
def lock(
    wallet_ref: WalletOpt = None,
    all_wallets: bool = typer.Option(False, "--all", help="Lock every wallet."),
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Wipe a wallet's key (or all keys) from the daemon's memory."""
    with handle_errors(), client(home) as wallet:
        locked = wallet.lock(wallet_ref, all_wallets)
    emit({"locked": locked}, as_json, lambda d: "locked " + ", ".join(d["locked"]) if d["locked"] else "nothing was unlocked")


@app.command("export")
def export(
    wallet_ref: WalletOpt = None,
    out: Optional[Path] = typer.Option(None, "--out", "-o", dir_okay=False, help="Write the backup here (mode 0600)."),
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Export the wallet's encrypted file as a backup (restore with import --backup)."""
    with handle_errors(), client(home) as wallet:
        data = wallet.export(wallet_ref)
    if out is None:
        if as_json:
            emit(data.model_dump(), True)
        else:
            typer.echo(data.backup, nl=False)
        return
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        fail(f"{out} already exists; choose another file")
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror}")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(data.backup)
    emit({"name": data.name, "address": data.address, "file": str(out)}, as_json,
         lambda d: f"exported {d['name']} ({d['address']}) to {d['file']}; it opens only with the wallet's password")


@app.command("rename")
def rename(
    wallet_ref: WalletArg,
    new_name: Annotated[str, typer.Argument(help="New name.")],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Give a wallet a new name."""
    with handle_errors(), client(home) as wallet:
        info = wallet.rename(wallet_ref, new_name)
    emit(info.model_dump(), as_json, lambda d: f"renamed to {d['name']} ({d['address']})")


@app.command("delete")
def delete(
    wallet_ref: str = typer.Argument(..., metavar="WALLET", help="Name or address of the wallet to delete."),
    confirm: Optional[str] = typer.Option(None, "--confirm", help="The wallet's name or address again (else asked)."),
    password_file: PasswordFileOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete a wallet's file (irreversible without its recovery phrase or an export)."""
    if confirm is None:
        if not sys.stdin.isatty():
            fail("repeat the wallet's name or address with --confirm")
        typer.echo(f"This deletes wallet {wallet_ref}. Funds are lost unless you kept its recovery phrase or a backup.")
        confirm = typer.prompt("Type the wallet's name or address to confirm")
    secret = password(password_file)
    with handle_errors(), client(home) as wallet:
        result = wallet.delete(wallet_ref, confirm, secret)
    emit(result.model_dump(), as_json, lambda d: f"deleted wallet {d['name']} ({d['address']})")


@app.command("miner-bond")
def miner_bond(
    amount: Annotated[str, typer.Argument(help="Bond in AIT (or units with 'u').")],
    unbond: Annotated[bool, typer.Option("--unbond", help="Release bond instead of adding it.")] = False,
    wallet_ref: WalletOpt = None, fee: FeeOpt = None, wait: WaitOpt = False,
    password_file: PasswordFileOpt = None, home: HomeOpt = None, as_json: JsonOpt = False,
) -> None:
    """Bond funds as a miner (needed before a miner is paid for jobs), or --unbond them."""
    sign_and_show(lambda w: w.miner_unbond if unbond else w.miner_bond, amount_arg(amount), wallet_ref=wallet_ref,
                  fee=fee, wait=wait, password_file=password_file, home=home, as_json=as_json)


# -- escrow ------------------------------------------------------------------------------------------------


add_transfer_command(escrow_app, "deposit",
                     "Lock funds with a coordinator so that it can charge your AI jobs against them.",
                     lambda w: w.escrow_deposit, ("coordinator", CoordinatorArg), EscrowAmountArg)
add_transfer_command(escrow_app, "withdraw", "Ask for escrow back; it returns after the chain's withdrawal delay.",
                     lambda w: w.escrow_withdraw, ("coordinator", CoordinatorArg), EscrowAmountArg)


@escrow_app.command("show")
def escrow_show(wallet_ref: WalletOpt = None, home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """The wallet's escrow balance with each coordinator."""
    with handle_errors(), client(home) as wallet:
        data = wallet.balance(wallet_ref)
    escrows = [e.model_dump() for e in data.escrows]
    if as_json:
        emit({"address": data.address, "escrows": escrows}, True)
    elif not escrows:
        typer.echo(f"no escrow for {data.name} ({data.address})")
    else:
        for e in data.escrows:
            typer.echo(f"{e.coordinator}  {format_ait(e.balance)}")
