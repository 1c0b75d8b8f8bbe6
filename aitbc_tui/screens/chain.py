"""Chain: recent blocks and transactions, and search by height, block/tx hash or address.

Tables are updated in place as blocks arrive (new rows on top, the highlighted row kept on the
same block), and the detail pane is loaded in a worker through the node client, so a slow answer
never freezes the screen.
"""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import DataTable, Input, Static

from daemons.common.errors import DaemonError

from aitbc_tui.format import ait, clock, short_addr, short_hash, stamp
from aitbc_tui.models import BlockRow, NodeModel, TxRow
from aitbc_tui.screens.base import ScreenKey, SectionScreen
from aitbc_tui.widgets.overflow import Panel
from aitbc_tui.widgets.panels import kv, notice
from aitbc_tui.widgets.table import Table

SEARCH_HELP = "height, block or tx hash (64 hex), or address (0x + 40 hex)"


def classify_query(query: str) -> tuple[str, str | int]:
    """What the operator typed: ('height', 12) | ('hash', 'ab..') | ('address', '0x..'); ValueError otherwise."""
    q = query.strip().lower()
    if q.isdigit():
        height = int(q)
        if height < 1:
            raise ValueError("heights start at 1")
        return "height", height
    if q.startswith("0x") and len(q) == 42 and all(c in "0123456789abcdef" for c in q[2:]):
        return "address", q
    if len(q) == 64 and all(c in "0123456789abcdef" for c in q):
        return "hash", q
    raise ValueError(f"not a {SEARCH_HELP}: {query.strip()!r}")


def catch_up_line(node: NodeModel) -> str:
    """The blocks pane's subtitle: the height, and while catching up, the peers' height, the
    rate blocks arrive at and when it will be done."""
    if not node.height:
        return ""
    if not node.catching_up:
        return f"height {node.height:,}"
    eta = f" · ETA {node.sync_eta_s:,.0f}s" if node.sync_eta_s is not None else ""
    return f"catching up {node.height:,}/{node.sync_target:,} · {node.sync_blocks_per_s:,.0f} blocks/s{eta}"


def block_detail(data: dict[str, Any]) -> Text:
    header = data["header"]
    commit = data.get("commit") or {}
    sigs = len(commit.get("signatures", [])) if commit else 0
    rows = [
        ("Block", Text(f"{header['height']:,}", style="bold")),
        ("Hash", data["hash"]),
        ("Time", stamp(header["time_ms"])),
        ("Commit", f"{sigs} signature{'s' if sigs != 1 else ''} · final" if commit else "not yet committed"),
        ("Txs", str(len(data.get("txs") or []))),
        ("Proposer", header["proposer"]),
        ("Prev hash", header["prev_hash"]),
        ("State root", header["state_root"]),
        ("Tx root", header["tx_root"]),
    ]
    text = kv(rows)
    for tx in (data.get("txs") or [])[:20]:
        text.append("\n  ")
        text.append(f"{tx.get('type', '?'):<14}", style="cyan")
        text.append(f" {short_addr(tx.get('sender'))} nonce {tx.get('nonce')} fee {ait(int(tx.get('fee', 0)))}")
    return text


def tx_detail(data: dict[str, Any]) -> Text:
    tx = data.get("tx") or {}
    payload = tx.get("payload") or {}
    rows: list[tuple[str, str | Text]] = [
        ("Tx", Text(data["hash"], style="bold")),
        ("Status", f"{data.get('status')}" + (f" in block {data['height']} (index {data['index']})"
                                              if data.get("height") is not None else "")),
        ("Type", str(tx.get("type", ""))),
        ("Sender", str(tx.get("sender", ""))),
        ("Nonce", str(tx.get("nonce", ""))),
        ("Fee", ait(int(tx.get("fee", 0)))),
    ]
    if "to" in payload:
        rows.append(("To", str(payload["to"])))
    if "amount" in payload:
        rows.append(("Amount", ait(int(payload["amount"]))))
    text = kv(rows)
    text.append("\n")
    text.append("payload ", style="dim")
    text.append(json.dumps(payload, sort_keys=True)[:600])
    return text


def account_detail(account: dict[str, Any], txs: dict[str, Any]) -> Text:
    rows: list[tuple[str, str | Text]] = [
        ("Address", Text(account["address"], style="bold")),
        ("Balance", ait(int(account.get("balance", 0)))),
        ("Nonce", f"{account.get('nonce', 0)} (pending {account.get('pending_nonce', 0)})"),
    ]
    for stake in account.get("stakes") or []:
        rows.append(("Stake", f"{ait(int(stake['amount']))} with {short_addr(stake['validator'])}, "
                              f"rewards {ait(int(stake.get('rewards', 0)))}"))
    for entry in account.get("unbonding") or []:
        rows.append(("Unbonding", f"{ait(int(entry['amount']))} ({entry.get('kind', '')}) at {entry.get('release')}"))
    for escrow in account.get("escrows") or []:
        rows.append(("Escrow", f"{ait(int(escrow['balance']))} for {short_addr(escrow['coordinator'])}"))
    if account.get("miner"):
        rows.append(("Miner bond", ait(int(account["miner"].get("bond", 0)))))
    if account.get("validator"):
        rows.append(("Validator", str(account["validator"].get("name", "yes"))))
    text = kv(rows)
    history = txs.get("txs") or []
    text.append(f"\n\n{len(history)} recent transaction{'s' if len(history) != 1 else ''}", style="dim")
    for item in history[:20]:
        tx = item.get("tx") or {}
        text.append("\n  ")
        text.append(f"{item.get('height', ''):>8} ", style="dim")
        text.append(f"{tx.get('type', '?'):<14}", style="cyan")
        text.append(f" {short_hash(item.get('hash'))} from {short_addr(tx.get('sender'))}")
    return text


class ChainScreen(SectionScreen):
    SECTION = "chain"
    DEFAULT_CSS = """
    #chain-search {
        margin: 0 1;
    }
    #chain-tables {
        height: 1fr;
    }
    #blocks, #txs {
        width: 1fr;
    }
    #chain-detail {
        height: 9;
    }
    ChainScreen.-wide #chain-detail {
        height: 1fr;
    }
    """
    REPAINT_S = 0.5  # every visible row moves with each block; twice a second is plenty to read
    AUTO_FOCUS = "#blocks"
    KEYS = (
        ScreenKey("slash", "focus_search", "Search", palette=("Chain: search", f"Find a {SEARCH_HELP}"), key_display="/"),
        ScreenKey("b", "focus_blocks", "Blocks"),
        ScreenKey("x", "focus_txs", "Txs"),
        ScreenKey("escape", "clear_detail", "Clear", show=False),
    )

    def __init__(self) -> None:
        super().__init__()
        self._block_keys: list[str] = []
        self._tx_keys: list[str] = []

    def compose_body(self) -> ComposeResult:
        yield Input(placeholder=f"Search: {SEARCH_HELP}", id="chain-search", compact=True)
        with Horizontal(id="chain-tables"):
            yield Table([("Height", "height", 7), ("Time", "time", 8), ("Txs", "txs", 3), ("Hash", "hash", 10),
                         ("Proposer", "proposer", 13)], id="blocks", title="Blocks")
            yield Table([("Hash", "hash", 10), ("Type", "type", 12), ("Height", "height", 7), ("Sender", "sender", 13)],
                        id="txs", title="Transactions")
        with Panel(title="Detail", id="chain-detail"):
            yield Static(notice("select a block or transaction, or search (/)"), id="detail")

    # -- live data ---------------------------------------------------------------------------------

    def update_body(self, changed: frozenset[str]) -> None:
        if "node" not in changed:
            return
        node = self.store.node
        blocks = self.query_one("#blocks", DataTable)
        blocks.border_subtitle = catch_up_line(node)
        self._sync_table(blocks, self._block_keys, [(b.hash, self._block_cells(b)) for b in node.blocks])
        txs = self.query_one("#txs", DataTable)
        self._sync_table(txs, self._tx_keys, [(t.hash, self._tx_cells(t)) for t in node.txs])
        txs.border_subtitle = "none in the recent blocks" if not node.txs and node.blocks else ""

    @staticmethod
    def _block_cells(b: BlockRow) -> tuple[Any, ...]:
        return (Text(f"{b.height:,}", justify="right"), clock(b.time_ms), Text(str(b.num_txs), justify="right"),
                short_hash(b.hash, 9), short_addr(b.proposer, 7, 4))

    @staticmethod
    def _tx_cells(t: TxRow) -> tuple[Any, ...]:
        return (short_hash(t.hash, 9), t.type, Text(f"{t.height:,}" if t.height else "-", justify="right"),
                short_addr(t.sender, 7, 4))

    @staticmethod
    def _sync_table(table: DataTable[Any], keys: list[str], rows: list[tuple[str, tuple[Any, ...]]]) -> None:
        """Make ``table`` show ``rows`` (newest first); keep the highlighted row on the same item,
        also on the top row (new blocks arrive above it and never slide under the cursor).

        Incremental: only new rows are added and gone ones removed, then the rows are put in
        order by their position in ``rows`` (a sort of references, no cell is re-rendered), told
        apart by their first cell (a height or a hash prefix, unique among the rows shown). That
        keeps a chain at ten blocks a second cheap while this screen is visible.
        """
        wanted = [key for key, _ in rows]
        if wanted == keys:
            return
        cursor_key = keys[table.cursor_row] if table.row_count and 0 <= table.cursor_row < len(keys) else None
        wanted_set, known = set(wanted), set(keys)
        for key in known - wanted_set:
            table.remove_row(key)
        for key, cells in rows:
            if key not in known:
                table.add_row(*cells, key=key)
        position = {key: index for index, key in enumerate(wanted)}
        order = {str(cells[0]): index for index, (_, cells) in enumerate(rows)}
        table.sort(key=lambda values: order.get(str(values[0]), len(order)))
        keys[:] = wanted
        if cursor_key is not None and cursor_key in position:
            table.move_cursor(row=position[cursor_key], animate=False)

    # -- selection and search ----------------------------------------------------------------------

    @on(DataTable.RowSelected, "#blocks")
    def _block_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value:
            self.load_detail("hash", event.row_key.value, "block")

    @on(DataTable.RowSelected, "#txs")
    def _tx_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value:
            self.load_detail("hash", event.row_key.value, "tx")

    @on(Input.Submitted, "#chain-search")
    def _search(self, event: Input.Submitted) -> None:
        try:
            kind, value = classify_query(event.value)
        except ValueError as exc:
            self.notify(str(exc), title="Search", severity="warning")
            return
        self.load_detail(kind, value)

    @work(exclusive=True, group="chain-detail")
    async def load_detail(self, kind: str, value: str | int, hint: str | None = None) -> None:
        """Fetch and show one block, transaction or account (``hint`` says what a hash is)."""
        detail = self.query_one("#detail", Static)
        node = self.aitbc.sources.get("node")
        if node is None:
            detail.update(notice("the node is not connected; search needs it"))
            return
        client = node.client  # type: ignore[attr-defined]
        detail.update(notice(f"loading {value}…"))
        try:
            if kind == "height":
                detail.update(block_detail(await client.get_block(height=int(value))))
            elif kind == "address":
                account = await client.get_account(str(value))
                txs = await client.get_address_txs(str(value), limit=20)
                detail.update(account_detail(account, txs))
            elif hint == "tx":
                detail.update(tx_detail(await client.get_tx(str(value))))
            else:
                detail.update(await self._by_hash(client, str(value), prefer_block=hint == "block"))
        except DaemonError as exc:
            detail.update(notice(f"{value}: {exc.message}"))
            self.notify(exc.message, title="Chain", severity="error")

    @staticmethod
    async def _by_hash(client: Any, value: str, prefer_block: bool) -> Text:
        """A 64-hex string is a block hash or a tx hash; ask for both, block first."""
        from daemons.node.client import NodeRpcError

        try:
            return block_detail(await client.get_block(hash=value))
        except NodeRpcError:
            pass
        try:
            return tx_detail(await client.get_tx(value))
        except NodeRpcError:
            return notice(f"no block or transaction with hash {value}")

    # -- actions -----------------------------------------------------------------------------------

    def action_focus_search(self) -> None:
        self.query_one("#chain-search", Input).focus()

    def action_focus_blocks(self) -> None:
        self.query_one("#blocks", DataTable).focus()

    def action_focus_txs(self) -> None:
        self.query_one("#txs", DataTable).focus()

    def action_clear_detail(self) -> None:
        self.query_one("#chain-search", Input).value = ""
        self.query_one("#detail", Static).update(notice("select a block or transaction, or search (/)"))
