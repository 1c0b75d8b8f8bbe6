"""The node source: ``new_block``, ``tx:*`` and ``receipt`` events, plus a slow status poll.

Events carry height, hash, time and transactions; mempool size, validator set, peers and account
balances have no event, so those are re-read on a slow timer (every 2 s for the status, every
6 s for the rest) and, for watched accounts, when a transaction touching them commits.
Governance (proposals, tallies, treasury) changes only with blocks, so it is re-read after a new
block, at most once every ``GOV_EVERY_S`` however fast blocks come.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from chain.tx import parse_transaction
from daemons.common.home import Home
from daemons.common.models import Event
from daemons.node.client import AsyncNodeClient, NodeRpcError

from aitbc_tui.format import ait, short_addr, short_hash
from aitbc_tui.models import (
    AccountView,
    BlockRow,
    EventLine,
    GovModel,
    ProposalRow,
    SpendRow,
    Store,
    TxRow,
    ValidatorRow,
)
from aitbc_tui.sources.base import Changed, StreamingSource, when_set

STATUS_EVERY_S = 2.0
SLOW_EVERY = 3
"""Validators, peers and accounts are refreshed every SLOW_EVERY-th status poll."""
INITIAL_BLOCKS = 30
TOPICS = ["new_block", "tx:*", "receipt"]
GOV_EVERY_S = 1.0
GOV_LIMIT = 50
"""Proposals listed (newest first); the open ones among them are read with their votes."""


class NodeSource(StreamingSource[AsyncNodeClient]):
    service = "node"
    topics = TOPICS
    status_every_s = STATUS_EVERY_S

    def __init__(self, home: Home, store: Store, changed: Changed) -> None:
        super().__init__(home, store, changed)
        self.watched: dict[str, str] = {}
        """Extra addresses to keep balances for (wallet keys), address -> label."""
        self._accounts_dirty = asyncio.Event()
        self._gov_dirty = asyncio.Event()
        self._polls = 0

    def open_client(self) -> AsyncNodeClient:
        return AsyncNodeClient(self.socket, timeout=10.0)

    def watch(self, addresses: dict[str, str]) -> None:
        """Keep balances of these addresses (the wallet source calls this)."""
        if addresses != self.watched:
            self.watched = dict(addresses)
            self._accounts_dirty.set()

    # -- session -----------------------------------------------------------------------------------

    def timers(self) -> list[Coroutine[Any, Any, None]]:
        return [*super().timers(), when_set(self._accounts_dirty, self._refresh_accounts),
                when_set(self._gov_dirty, self._refresh_gov, settle_s=GOV_EVERY_S)]

    async def _snapshot(self) -> None:
        """Everything a screen needs right after (re)connecting."""
        await self._read_status()
        node = self.store.node
        if node.height > 0:
            start = max(1, node.height - INITIAL_BLOCKS + 1)
            known = {b.height for b in node.blocks}
            wanted = [h for h in range(start, node.height + 1) if h not in known]
            blocks = await asyncio.gather(*(self.client.get_block(height=h) for h in wanted))
            for data in sorted(blocks, key=lambda b: b["header"]["height"]):
                self._add_full_block(data)
        await self._read_slow()
        await self._read_gov()

    async def _poll(self) -> None:
        await self._read_status()
        self._polls += 1
        if self._polls % SLOW_EVERY == 0:
            await self._read_slow()
        self.changed()

    async def _refresh_accounts(self) -> None:
        await self._read_accounts()
        self.changed()

    async def _refresh_gov(self) -> None:
        await self._read_gov()
        self.changed()

    # -- reads -------------------------------------------------------------------------------------

    async def _read_status(self) -> None:
        status = await self.client.status()
        node = self.store.node
        node.chain_id = status["chain_id"]
        node.mempool_size = int(status.get("mempool_size", 0))
        node.validator_address = status.get("validator_address")
        node.is_proposer_next = bool(status.get("is_proposer_next"))
        node.target_block_ms = status.get("block_time_ms")
        node.consensus_mode = str(status.get("consensus_mode", ""))
        node.catching_up = bool(status.get("catching_up"))
        sync = status.get("sync") or {}
        node.sync_target = int(sync.get("target") or 0)
        node.sync_blocks_per_s = float(sync.get("blocks_per_s") or 0.0)
        node.sync_eta_s = sync.get("eta_s")
        node.version = str(status.get("version", ""))
        if int(status["height"]) >= node.height:
            node.height = int(status["height"])
            node.latest_hash = status.get("latest_block_hash")
            node.latest_time_ms = status.get("latest_block_time_ms")

    async def _read_slow(self) -> None:
        validators, net = await asyncio.gather(self.client.validators(), self.client.call("net_info"))
        node = self.store.node
        node.total_power = int(validators.get("total_power", 0))
        node.validators = [ValidatorRow(
            address=v["address"], name=v.get("name", ""), power=int(v.get("power", 0)),
            self_bond=int(v.get("self_bond", 0)), commission_bps=int(v.get("commission_bps", 0)),
            jailed=bool(v.get("jailed")), removed=bool(v.get("removed")), active=bool(v.get("active")))
            for v in validators.get("validators", [])]
        node.n_peers = int(net.get("n_peers", 0))
        await self._read_accounts()

    async def _read_accounts(self) -> None:
        node = self.store.node
        labels = dict(self.watched)
        if node.validator_address:
            labels.setdefault(node.validator_address, "validator")
        if not labels:
            node.accounts = {}
            return
        answers = await asyncio.gather(*(self.client.get_account(a) for a in labels), return_exceptions=True)
        accounts: dict[str, AccountView] = {}
        for (address, label), answer in zip(labels.items(), answers):
            if isinstance(answer, NodeRpcError):
                continue  # an address the node refuses (malformed) is simply not shown
            if isinstance(answer, BaseException):
                raise answer
            accounts[address] = AccountView.from_rpc(answer, label)
        node.accounts = accounts

    async def _read_gov(self) -> None:
        """Parameters, treasury and proposals; votes and tally so far of the open ones. A node
        that refuses these calls (one older than governance's RPC) leaves the rest of the console
        working and the Governance screen saying why."""
        try:
            gov, listed = await asyncio.gather(self.client.call("get_gov"),
                                               self.client.call("get_proposals", limit=GOV_LIMIT))
            summaries = listed.get("proposals", [])
            open_ids = [int(p["id"]) for p in summaries if p["status"] in ("deposit", "voting")]
            details = await asyncio.gather(*(self.client.call("get_proposal", id=i) for i in open_ids))
        except NodeRpcError as exc:
            self.store.node.gov = GovModel(error=exc.message)
            return
        detailed = {int(d["id"]): d for d in details}
        treasury = gov.get("treasury", {})
        self.store.node.gov = GovModel(
            loaded=True, params={k: int(v) for k, v in gov.get("params", {}).items()},
            treasury_address=str(treasury.get("address", "")), treasury_balance=int(treasury.get("balance", 0)),
            spends=[SpendRow.model_validate(s) for s in treasury.get("spends", [])],
            proposals=[ProposalRow.from_rpc(detailed.get(int(p["id"]), p)) for p in summaries])

    async def proposal(self, proposal_id: int) -> ProposalRow:
        """One proposal with its votes (the screen's detail view of a closed one)."""
        return ProposalRow.from_rpc(await self.client.call("get_proposal", id=proposal_id))

    # -- events ------------------------------------------------------------------------------------

    def _add_full_block(self, data: dict[str, Any]) -> None:
        """A block read with ``get_block`` (snapshot after connecting): the same rows an event gives."""
        header = data["header"]
        txs = [parse_transaction(tx) for tx in data.get("txs") or []]
        row = BlockRow(height=header["height"], hash=data["hash"], time_ms=header["time_ms"],
                       proposer=header["proposer"], num_txs=len(txs), tx_hashes=[tx.hash for tx in txs][:50])
        node = self.store.node
        if node.add_block(row):
            for index, tx in enumerate(txs):
                node.add_tx(TxRow(hash=tx.hash, height=row.height, index=index, type=tx.type, sender=tx.sender))

    def _on_event(self, event: Event) -> None:
        data, node = event.data, self.store.node
        if event.topic == "new_block":
            row = BlockRow(height=data["height"], hash=data["hash"], time_ms=data["time_ms"],
                           proposer=data["proposer"], num_txs=int(data.get("num_txs", 0)),
                           tx_hashes=list(data.get("tx_hashes", []))[:50])
            if node.add_block(row):
                self.store.events.add_block(row.height, row.time_ms, row.num_txs)
                self._gov_dirty.set()
                self.changed()
        elif event.topic.startswith("tx:"):
            self._on_tx(event.topic[3:], data)
        elif event.topic == "receipt":
            self.store.events.add(EventLine(
                time_ms=self._event_time(), source="node",
                text=f"receipt for job {short_hash(str(data.get('job_id')), 12)} settled at {data.get('height')}: "
                     f"{ait(int(data.get('price', 0)))} to {short_addr(data.get('miner'))}"))
            self.changed()

    def _on_tx(self, subject: str, data: dict[str, Any]) -> None:
        node = self.store.node
        if subject in self.watched or subject == node.validator_address:
            self._accounts_dirty.set()
        status = str(data.get("status", ""))
        if status == "evicted":
            self.store.events.add(EventLine(time_ms=self._event_time(), source="node", level="warning",
                                            text=f"tx {short_hash(data.get('hash'))} evicted: {data.get('reason', '')}"))
            self.changed()
            return
        row = TxRow(hash=data["hash"], height=data.get("height"), index=data.get("index"),
                    type=str(data.get("type", "")), sender=str(data.get("sender", "")), status=status or "committed")
        if node.add_tx(row):
            self.store.events.add(EventLine(
                time_ms=self._event_time(), source="node",
                text=f"{row.type or 'tx'} {short_hash(row.hash)} from {short_addr(row.sender)} in block {row.height}"))
            self.changed()

    def _event_time(self) -> int:
        return self.store.node.latest_time_ms or 0
