"""``aitbc chain``: read blocks, transactions, balances, accounts and validators from a node."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import typer

from aitbc_tui.cli.common import command_group, emit, fail, format_ait, handle_errors, pending_text, resolve_home
from aitbc_tui.cli.options import HomeOpt, JsonOpt, NodeOpt

app = command_group("chain", "Query the chain: blocks, transactions, balances, accounts, validators.")


def _client(home: Optional[Path], node: Optional[str]):  # noqa: ANN202
    from daemons.node.client import NodeClient

    return NodeClient.for_home(resolve_home(home), node)


def _check_address(address: str) -> None:
    from chain.crypto import validate_address

    with handle_errors():
        validate_address(address)


def _hash(value: str, what: str) -> str:
    """A hash as the node stores it (64 lower-case hex digits); ``0x`` and upper case are accepted,
    anything else is refused here in words, before the node is asked."""
    digits = value.strip().lower().removeprefix("0x")
    if len(digits) != 64 or any(c not in "0123456789abcdef" for c in digits):
        fail(f"{value!r} is not a {what} hash: a hash is 64 hex digits (32 bytes)")
    return digits


def _time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


@app.command("block")
def block(
    height: Optional[int] = typer.Argument(None, min=1, help="Block height (default: the latest)."),
    hash: Optional[str] = typer.Option(None, "--hash", help="Look the block up by hash instead."),
    home: HomeOpt = None, node: NodeOpt = None, as_json: JsonOpt = False,
) -> None:
    """Show a block."""
    hash = _hash(hash, "block") if hash is not None else None
    with handle_errors(), _client(home, node) as client:
        data = client.get_block(height=height, hash=hash)

    def human(d: dict[str, Any]) -> str:
        h = d["header"]
        lines = [f"block {h['height']}  {d['hash']}", f"  time       {_time(h['time_ms'])}",
                 f"  proposer   {h['proposer']}", f"  prev       {h['prev_hash']}",
                 f"  state root {h['state_root']}", f"  txs        {len(d['txs'])}",
                 f"  final      {'yes' if d.get('commit') else 'no'}"]
        lines += [f"    {tx['type']:16} nonce {tx['nonce']:<6} from {tx['sender']}" for tx in d["txs"][:50]]
        if len(d["txs"]) > 50:
            lines.append(f"    ... {len(d['txs']) - 50} more (use --json)")
        return "\n".join(lines)

    emit(data, as_json, human)


@app.command("tx")
def tx(tx_hash: str = typer.Argument(..., help="Transaction hash (64 hex)."),
       home: HomeOpt = None, node: NodeOpt = None, as_json: JsonOpt = False) -> None:
    """Show a transaction: committed (with its height) or pending in the mempool."""
    tx_hash = _hash(tx_hash, "transaction")
    with handle_errors(), _client(home, node) as client:
        data = client.get_tx(tx_hash)
    emit(data, as_json)


@app.command("balance")
def balance(address: str = typer.Argument(..., help="Account address (0x + 40 hex)."),
            home: HomeOpt = None, node: NodeOpt = None, as_json: JsonOpt = False) -> None:
    """Show an account's spendable balance."""
    _check_address(address)
    with handle_errors(), _client(home, node) as client:
        data = client.call("get_balance", address=address)
    emit(data, as_json, lambda d: f"{format_ait(d['balance'])}  ({d['balance']} units at height {d['height']})")


@app.command("account")
def account(address: str = typer.Argument(..., help="Account address (0x + 40 hex)."),
            home: HomeOpt = None, node: NodeOpt = None, as_json: JsonOpt = False) -> None:
    """Show balance, nonce, stakes, unbonding, escrows and miner bond of an account."""
    _check_address(address)
    with handle_errors(), _client(home, node) as client:
        data = client.get_account(address)
    emit(data, as_json, _account_text)


def _account_text(d: dict[str, Any]) -> str:
    """The account in AIT, each pending release named for what it is; ``--json`` keeps raw units."""
    lines = [f"{d['address']}  (height {d['height']})",
             f"  balance    {format_ait(d['balance'])}",
             f"  nonce      {d['nonce']}" + (f" (next {d['pending_nonce']} with pending)" if d['pending_nonce'] != d['nonce'] else "")]
    lines += [f"  staked     {format_ait(s['amount'])} with {s['validator']}, rewards {format_ait(s['rewards'])}"
              for s in d["stakes"]]
    lines += [f"  escrow     {format_ait(e['balance'])} with coordinator {e['coordinator']}" for e in d["escrows"]]
    lines += [f"  {pending_text(u)}" for u in d["unbonding"]]
    if d.get("miner"):
        lines.append(f"  miner bond {format_ait(d['miner'].get('bond', 0))}")
    if d.get("validator"):
        v = d["validator"]
        lines.append(f"  validator  power {format_ait(v.get('power', 0))}, self bond {format_ait(v.get('self_bond', 0))}")
    return "\n".join(lines)


@app.command("validators")
def validators(home: HomeOpt = None, node: NodeOpt = None, as_json: JsonOpt = False) -> None:
    """List validators with voting power, commission and status."""
    with handle_errors(), _client(home, node) as client:
        data = client.validators()

    def human(d: dict[str, Any]) -> str:
        lines = [f"height {d['height']}  total power {format_ait(d['total_power'])}"]
        for v in d["validators"]:
            state = "active" if v["active"] else ("jailed" if v["jailed"] else ("removed" if v["removed"] else "inactive"))
            lines.append(f"  {v['address']}  {v['name'] or '-':14} {format_ait(v['power']):>24}  "
                         f"commission {v['commission_bps'] / 100:.2f}%  {state}")
        return "\n".join(lines)

    emit(data, as_json, human)


