"""The Explorer (port 3000): blocks, transactions, accounts, validators and receipts, one search box.

Every object links to the others (a block to its proposer and transactions, a transaction to its
block and parties, a receipt to its transaction, block and miner). The block list updates live
through ``/fragment/blocks?after=H``, which ``static/live.js`` fetches each time the ``/ws``
WebSocket (the node's ``new_block`` relayed, :mod:`daemons.web.live`) announces a block; without
JavaScript the page is simply as fresh as its last load.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from daemons.common.events import EventHub, events_router
from daemons.web.governance import add_governance, proposal_id
from daemons.web.live import WS_PATH
from daemons.web.pages import build_site, render
from daemons.web.settings import ExplorerSettings
from daemons.web.sources import (
    MAX_HEIGHT, Chain, PageError, check_address, check_hash, check_height, is_hash, tx_hash,
)

JOB_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
MAX_TXS_CALL = 1000
"""The node's largest ``get_address_txs`` page: the most transactions of one account in one block
that the account page can show together."""
HOME_PROPOSALS = 5
"""Newest proposals the home page links to (the section shows only when the chain has any)."""
UPTIME_WINDOW = 20
"""Recent blocks whose commits the validator page reads to show who signed them."""


def block_row(block: dict[str, Any]) -> dict[str, Any]:
    header = block["header"]
    return {"height": header["height"], "hash": block["hash"], "time_ms": header["time_ms"],
            "proposer": header["proposer"], "txs": len(block["txs"]), "final": block.get("commit") is not None}


def tx_rows(block: dict[str, Any]) -> list[dict[str, Any]]:
    height = block["header"]["height"]
    return [{"hash": tx_hash(tx), "height": height, "index": i, "type": tx["type"], "sender": tx["sender"],
             "fee": tx["fee"], "payload": tx["payload"]} for i, tx in enumerate(block["txs"])]


def history_page(rows: list[dict[str, Any]], limit: int,
                 whole_block: Callable[[int], list[dict[str, Any]]]) -> tuple[list[dict[str, Any]], int | None]:
    """An account's transactions for one page and the ``before`` height of the next.

    The node pages by height, so a page that ends inside a block would lose that block's other
    transactions: a full page gives its last block back to the next page, and a page that is
    one block alone is completed with ``whole_block(height)`` (that block's transactions of the
    account, however many there are), then the next page starts below it.
    """
    if len(rows) < limit:
        return rows, None
    last = rows[-1]["height"]
    kept = [r for r in rows if r["height"] != last]
    if kept:
        return kept, last + 1
    return whole_block(last), last


def build_explorer(settings: ExplorerSettings, chain: Chain, blocks: EventHub) -> FastAPI:
    """The Explorer's routes; ``blocks`` carries the node's ``new_block`` events to ``/ws``."""
    app = build_site("explorer", settings)
    app.include_router(events_router(blocks, WS_PATH))
    size = settings.page_size

    def latest(top: int | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        status = chain.status()
        height = status["height"] if top is None else min(top, status["height"])
        return status, chain.blocks(height, size)

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request, before: int | None = Query(None, ge=2, le=MAX_HEIGHT)) -> Response:
        status, blocks = latest(None if before is None else before - 1)
        txs = [row for block in blocks for row in tx_rows(block)][:size]
        older = blocks[-1]["header"]["height"] if blocks and blocks[-1]["header"]["height"] > 1 else None
        proposals = chain.proposals(HOME_PROPOSALS)["proposals"] if before is None else []
        return render(request, "explorer/home.html", status=status, blocks=[block_row(b) for b in blocks], txs=txs,
                      older=older, live=before is None, proposals=proposals)

    @app.get("/fragment/blocks", response_class=HTMLResponse)
    def new_blocks(request: Request, after: int = Query(..., ge=0, le=MAX_HEIGHT)) -> Response:
        """Rows of the blocks above ``after`` (newest first); 204 when there is none yet."""
        status = chain.status()
        if status["height"] <= after:
            return Response(status_code=204)
        count = min(size, status["height"] - after)
        blocks = chain.blocks(status["height"], count)
        return render(request, "explorer/fragment.html", blocks=[block_row(b) for b in blocks],
                      txs=[row for block in blocks for row in tx_rows(block)][:size], height=status["height"])

    @app.get("/block/{ref}", response_class=HTMLResponse)
    def block(request: Request, ref: str) -> Response:
        if ref.isdigit():
            data = chain.block(height=check_height(int(ref[:20])))
        else:
            data = chain.block(hash=check_hash(ref, "block"))
        return render(request, "explorer/block.html", block=data, row=block_row(data), txs=tx_rows(data))

    @app.get("/tx/{ref}", response_class=HTMLResponse)
    def tx(request: Request, ref: str) -> Response:
        data = chain.tx(check_hash(ref, "transaction"))
        return render(request, "explorer/tx.html", tx=data)

    @app.get("/account/{address}", response_class=HTMLResponse)
    def account(request: Request, address: str,
                before: int | None = Query(None, ge=1, le=MAX_HEIGHT)) -> Response:
        data = chain.account(check_address(address))
        rows = chain.address_txs(address, size, before)
        page, older = history_page(rows, size, lambda height: [
            r for r in chain.address_txs(address, MAX_TXS_CALL, height + 1) if r["height"] == height])
        txs = [{"hash": r["hash"], "height": r["height"], "index": r["index"], "type": r["tx"]["type"],
                "sender": r["tx"]["sender"], "fee": r["tx"]["fee"], "payload": r["tx"]["payload"]} for r in page]
        return render(request, "explorer/account.html", account=data, txs=txs, older=older, before=before)

    @app.get("/validators", response_class=HTMLResponse)
    def validators(request: Request) -> Response:
        return render(request, "explorer/validators.html", data=chain.validators())

    @app.get("/validator/{address}", response_class=HTMLResponse)
    def validator(request: Request, address: str, after: str | None = Query(None, max_length=42)) -> Response:
        """The validator's facts and its delegators a page at a time (``after``: the last one shown)."""
        check_address(address)
        delegators = chain.delegations(address, size, None if after is None else check_address(after))
        data = chain.validators()
        found = next((v for v in data["validators"] if v["address"] == address), None)
        if found is None:
            raise PageError(404, "Not a validator", f"{address} is not a validator of this chain")
        recent = chain.blocks(data["height"], UPTIME_WINDOW)
        signed = sum(1 for b in recent if b.get("commit") and any(
            s["validator"] == address for s in b["commit"]["signatures"]))
        return render(request, "explorer/validator.html", v=found, total=data["total_power"], signed=signed,
                      window=len(recent), delegators=delegators, after=after)

    @app.get("/receipt/{ref}", response_class=HTMLResponse)
    def receipt(request: Request, ref: str) -> Response:
        if is_hash(ref):
            data = chain.receipt(receipt_id=ref)
            verdict = chain.verify(data, receipt_id=ref, job_id=None)
        elif JOB_ID.fullmatch(ref):
            data = chain.receipt(job_id=ref)
            verdict = chain.verify(data, receipt_id=None, job_id=ref)
        else:
            raise PageError(400, "Not a receipt id", f"{ref[:80]!r} is neither a receipt id nor a job id")
        return render(request, "explorer/receipt.html", data=data, body=data["receipt"]["body"], verdict=verdict)

    @app.get("/search")
    def search(request: Request, q: str = Query("", max_length=200)) -> Response:
        """One box for everything: height, block or tx hash, address, receipt id, job id, or a
        proposal as ``#3`` / ``proposal 3`` (a bare number is a height)."""
        text = q.strip()
        if text.startswith("0X"):
            text = "0x" + text[2:]
        if not text:
            raise PageError(400, "Empty search", "type a block height, a block or transaction hash, an address, "
                                                 "a receipt id, a job id or a proposal (#3)")
        wanted = proposal_id(text)
        if wanted is not None:
            return RedirectResponse(f"/proposal/{wanted}", status_code=303)
        if text.isdigit():
            return RedirectResponse(f"/block/{check_height(int(text[:20]))}", status_code=303)
        if text.startswith("0x") and len(text) == 42:
            return RedirectResponse(f"/account/{check_address(text.lower())}", status_code=303)
        lowered = text.lower()
        if is_hash(lowered):
            for path, lookup in (("block", lambda: chain.block(hash=lowered)), ("tx", lambda: chain.tx(lowered)),
                                 ("receipt", lambda: chain.receipt(receipt_id=lowered))):
                try:
                    lookup()
                except PageError as exc:
                    if exc.status != 404:
                        raise
                    continue
                return RedirectResponse(f"/{path}/{lowered}", status_code=303)
        elif JOB_ID.fullmatch(text):
            try:
                chain.receipt(job_id=text)
            except PageError as exc:
                if exc.status != 404:
                    raise
            else:
                return RedirectResponse(f"/receipt/{text}", status_code=303)
        raise PageError(404, "Nothing found", f"no block, transaction, account, receipt or proposal matches "
                                              f"{text[:80]!r}")

    add_governance(app, chain)
    return app
