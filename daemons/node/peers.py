"""The node's peers: whom it dials, who they are, how far along they are, and sending to them.

Peers are RPC URLs. The seeds come from ``peers`` in [node]; the address book grows by peer
exchange (each hello carries a few of the sender's peers) and by nodes that dial us and say
where they listen, bounded by ``MAX_BOOK``; it is remembered in ``HOME/data/peers.json`` so a
restarted node finds its network without its seeds. At most ``max_peers`` are connected at once.
A peer counts as connected after a signed handshake (:mod:`daemons.node.identity`); one that
stops answering is dropped and dialled again after a pause that doubles up to a cap
(:class:`daemons.common.backoff.Backoff`), so a peer down for good is not hammered.

Every connected peer is polled for its height (``status``) now and then; that is what
``net_info`` reports (height, last seen, round-trip time) and what catching up reads to pick
whom to fetch blocks from.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

from daemons.common.backoff import Backoff
from daemons.node.identity import HandshakeError, Hello, NodeIdentity, check_hello

log = logging.getLogger("aitbc.node.peers")
MAX_BOOK = 256
"""Most addresses the book holds: peer exchange cannot grow it without bound."""
PING_S = 2.0
"""How often a connected peer is asked its height."""
RETRY_BASE_S = 0.5
RETRY_CAP_S = 10.0
MAX_MISSES = 3
"""Pings a connected peer may miss in a row before it counts as lost: one slow answer from a
busy machine must not cut the path consensus messages take."""

Direction = Literal["outbound", "inbound"]
JSON_HEADERS = {"content-type": "application/json"}


@dataclass
class Peer:
    url: str
    node_id: str | None = None
    direction: Direction = "outbound"
    connected: bool = False
    height: int = 0
    validator: str = ""
    last_seen_ms: int | None = None
    rtt_ms: float | None = None
    retry: Backoff = field(default_factory=lambda: Backoff(RETRY_BASE_S, RETRY_CAP_S))
    next_try: float = 0.0
    last_pinged: float = 0.0
    misses: int = 0
    neighbours: set[str] = field(default_factory=set)
    """Validator addresses of the nodes this peer is connected to (from its ``net_info``): a
    message signed by one of them reached it directly, so relaying it there is wasted."""
    neighbour_ids: set[str] = field(default_factory=set)
    """Node ids of the nodes this peer relays to (its connected outbound peers, from its
    ``net_info``): a transaction it relayed reached them from it."""

    def describe(self) -> dict[str, Any]:
        return {"node_id": self.node_id, "url": self.url, "direction": self.direction, "connected": self.connected,
                "height": self.height, "validator": self.validator or None, "last_seen_ms": self.last_seen_ms,
                "rtt_ms": None if self.rtt_ms is None else round(self.rtt_ms, 1), "failures": self.retry.failures}


class PeerSet:
    """The address book and the connected peers of one node. Use from the event loop only."""

    def __init__(self, identity: NodeIdentity, *, chain_id: str, genesis_hash: str, seeds: list[str],
                 listen_url: str, max_peers: int, book_file: Path | None,
                 height: Callable[[], int], validator: str = "", timeout_s: float = 5.0) -> None:
        self.identity = identity
        self.chain_id = chain_id
        self.genesis_hash = genesis_hash
        self.listen_url = listen_url.rstrip("/")
        self.max_peers = max_peers
        self._book_file = book_file
        self._height = height
        self._validator = validator
        self.http = httpx.AsyncClient(timeout=timeout_s)
        self.peers: dict[str, Peer] = {}
        self.inbound: dict[str, Peer] = {}
        """Nodes that dialled us, by node id (they may not be dialable themselves)."""
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._on_change: Callable[[], Awaitable[None]] | None = None
        for url in seeds:
            self.add(url)
        for url, node_id in self._remembered():
            self.add(url, node_id)
            if url.rstrip("/") in self.peers and self.peers[url.rstrip("/")].node_id is None:
                self.peers[url.rstrip("/")].node_id = node_id  # a seed we reached before: hold it to its id

    # -- the book ----------------------------------------------------------------------------------

    def add(self, url: str, node_id: str | None = None) -> None:
        """Learn an address (a seed, a shared peer, a node that dialled us); bounded, never ourselves."""
        url = url.rstrip("/")
        if not url.startswith(("http://", "https://")) or len(url) > 200:
            return
        if url == self.listen_url or url in self.peers or len(self.peers) >= MAX_BOOK:
            return
        self.peers[url] = Peer(url, node_id=node_id)
        self._wake.set()

    def _remembered(self) -> list[tuple[str, str | None]]:
        """(url, node id) of the peers reached before: a remembered address must answer with the
        same node key, so whoever takes that address later cannot pose as the peer."""
        if self._book_file is None or not self._book_file.exists():
            return []
        try:
            entries = json.loads(self._book_file.read_text(encoding="utf-8"))
            return [(str(e["url"]), str(e["node_id"]) if e.get("node_id") else None) for e in entries][:MAX_BOOK]
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring an unreadable peer book", extra={"path": str(self._book_file)})
            return []

    def _remember(self) -> None:
        if self._book_file is None:
            return
        known = [{"url": p.url, "node_id": p.node_id} for p in self.peers.values() if p.node_id]
        tmp = self._book_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(known, indent=1), encoding="utf-8")
        tmp.replace(self._book_file)

    def connected(self) -> list[Peer]:
        return [p for p in self.peers.values() if p.connected]

    def urls(self) -> list[str]:
        """Where to send what this node has to say: every connected peer."""
        return [p.url for p in self.connected()]

    def relay_targets(self, relayed_by: str | None) -> list[Peer]:
        """Where to pass on a transaction that node ``relayed_by`` relayed to us (None: it came
        from a client): every connected peer but that node and the nodes it relays to itself,
        which had the transaction from it. In a full mesh only the node a client reached relays;
        without the rule every transaction crossed every link, each copy parsed and refused as
        known by its receiver. A ``relayed_by`` that is not our peer narrows nothing."""
        connected = self.connected()
        via = next((p for p in connected if relayed_by is not None and p.node_id == relayed_by), None)
        if via is None:
            return connected
        return [p for p in connected if p is not via and p.node_id not in via.neighbour_ids]

    def best_height(self) -> int:
        return max((p.height for p in self.connected()), default=0)

    def describe(self) -> list[dict[str, Any]]:
        listed = [p.describe() for p in self.peers.values() if p.connected or p.node_id]
        known = {p.node_id for p in self.connected()}
        listed += [p.describe() for p in self.inbound.values() if p.node_id not in known]
        return listed

    # -- handshakes ---------------------------------------------------------------------------------

    def my_hello(self, reply_to: str = "") -> Hello:
        shared = [p.url for p in self.connected()]
        return self.identity.hello(self.chain_id, self.genesis_hash, listen_url=self.listen_url,
                                   height=self._height(), validator=self._validator, reply_to=reply_to, peers=shared)

    def on_hello(self, hello: Hello) -> Hello:
        """A node dialled us (RPC ``peer_hello``): check it, note it, answer with our own hello."""
        check_hello(hello, self.chain_id, self.genesis_hash)
        body = hello.body
        if body.node_id == self.identity.node_id:
            raise HandshakeError("that hello is this node's own: a node does not peer with itself")
        now_ms = int(time.time() * 1000)
        seen = self.inbound.get(body.node_id) or Peer(body.listen_url or "", node_id=body.node_id, direction="inbound")
        seen.connected, seen.height, seen.validator, seen.last_seen_ms = True, body.height, body.validator, now_ms
        if body.node_id in self.inbound or len(self.inbound) < MAX_BOOK:
            self.inbound[body.node_id] = seen
        if body.listen_url:
            self.add(body.listen_url, body.node_id)
            known = self.peers.get(body.listen_url.rstrip("/"))
            if known is not None and not known.connected and known.next_try != float("inf"):
                known.next_try = 0.0  # it is back: dial it now rather than after its back-off
                self._wake.set()
        return self.my_hello(reply_to=body.nonce)

    async def _dial(self, peer: Peer) -> None:
        mine = self.my_hello()
        started = time.monotonic()
        answer = await self.rpc(peer.url, "peer_hello", {"hello": mine.model_dump()})
        hello = Hello.model_validate(answer["hello"])
        check_hello(hello, self.chain_id, self.genesis_hash, reply_to=mine.body.nonce, expected_id=peer.node_id)
        if hello.body.node_id == self.identity.node_id:
            self.peers.pop(peer.url, None)  # our own address under another name
            return
        if any(p.node_id == hello.body.node_id and p is not peer and p.connected for p in self.peers.values()):
            peer.node_id, peer.next_try = hello.body.node_id, float("inf")  # the same node at another address
            return
        peer.node_id, peer.connected, peer.validator = hello.body.node_id, True, hello.body.validator
        peer.height = hello.body.height
        self._seen(peer, started)
        for url in hello.body.peers:
            self.add(url)
        self._remember()
        log.info("peer connected", extra={"peer": peer.url, "node_id": peer.node_id})

    def _seen(self, peer: Peer, started: float) -> None:
        peer.rtt_ms = (time.monotonic() - started) * 1000
        peer.last_seen_ms = int(time.time() * 1000)
        peer.last_pinged = time.monotonic()
        peer.misses = 0
        peer.retry.reset()

    def _failed(self, peer: Peer, why: str) -> None:
        if peer.connected:
            peer.misses += 1
            peer.last_pinged = time.monotonic()
            if peer.misses < MAX_MISSES:
                return
            log.info("peer lost", extra={"peer": peer.url, "reason": why})
        peer.connected, peer.misses = False, 0
        peer.next_try = time.monotonic() + peer.retry.next()

    async def _ping(self, peer: Peer) -> None:
        """Its height and whom it is connected to (the handshake checked its chain; a node that
        restarts on another chain fails the next handshake, after this ping fails)."""
        started = time.monotonic()
        info = await self.rpc(peer.url, "net_info", {})
        if info.get("node_id") != peer.node_id:
            raise HandshakeError(f"{peer.url} now answers as node {info.get('node_id')}, not {peer.node_id}")
        peer.height = int(info["height"])
        linked = [p for p in info.get("peers", [])[:MAX_BOOK]
                  if isinstance(p, dict) and p.get("connected") and p.get("direction") == "outbound"]
        peer.neighbours = {str(p["validator"]) for p in linked if p.get("validator")}
        peer.neighbour_ids = {str(p["node_id"]) for p in linked if p.get("node_id")}
        self._seen(peer, started)

    # -- the loop -----------------------------------------------------------------------------------

    async def start(self, on_change: Callable[[], Awaitable[None]] | None = None) -> None:
        self._on_change = on_change
        self._task = asyncio.create_task(self._run(), name="peers")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.http.aclose()

    async def _run(self) -> None:
        while True:
            try:
                await self.tend()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("peer upkeep failed; continuing")
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=0.5)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()

    async def tend(self) -> None:
        """Dial peers due for a try (up to ``max_peers`` connected) and ping connected ones."""
        now = time.monotonic()
        room = self.max_peers - len(self.connected())
        due = [p for p in self.peers.values() if not p.connected and p.next_try <= now][:max(0, room)]
        stale = [p for p in self.connected() if now - p.last_pinged >= PING_S]
        jobs = [self._try(p, self._dial) for p in due] + [self._try(p, self._ping) for p in stale]
        if jobs:
            before = self.best_height()
            await asyncio.gather(*jobs)
            if self._on_change is not None and (due or self.best_height() > before):
                await self._on_change()

    async def _try(self, peer: Peer, step: Callable[[Peer], Awaitable[None]]) -> None:
        try:
            await step(peer)
        except (httpx.HTTPError, ValueError, KeyError, TypeError, HandshakeError) as exc:
            if isinstance(exc, HandshakeError):
                log.warning("peer refused", extra={"peer": peer.url, "reason": str(exc)})
            self._failed(peer, str(exc) or type(exc).__name__)

    # -- talking to peers ---------------------------------------------------------------------------

    async def rpc(self, url: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
        response = await self.http.post(url + "/", json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        body = response.json()
        if "error" in body:
            raise ValueError(body["error"].get("message", "error"))
        return body["result"]

    async def send_all(self, method: str, params: dict[str, Any], *, relayed_from: str | None = None) -> None:
        """One notification-like call to every connected peer. A relay of a message signed by
        validator ``relayed_from`` skips that validator's node and the peers connected to it,
        which had the message from the signer itself; so in a full mesh nothing is relayed and
        only nodes without a direct link get relays."""
        targets = [p for p in self.connected()
                   if relayed_from is None or (p.validator != relayed_from and relayed_from not in p.neighbours)]
        await self.post_all(targets, {"jsonrpc": "2.0", "id": 0, "method": method, "params": params})

    async def post_all(self, targets: list[Peer], request: dict[str, Any] | list[dict[str, Any]]) -> None:
        """Post one request (or batch) to several peers, encoded once: a proposal carries a whole
        block, and encoding it again for every peer was work repeated per peer."""
        if not targets:
            return
        body = json.dumps(request, separators=(",", ":")).encode()
        await asyncio.gather(*(self.post(p, body) for p in targets))

    async def post(self, peer: Peer, body: bytes) -> None:
        """Post an encoded JSON-RPC request; the answer is not read (see ``post_all``)."""
        try:
            await self.http.post(peer.url + "/", content=body, headers=JSON_HEADERS)
        except httpx.HTTPError:
            pass  # a peer that is down is noticed by its next ping; messages are rebroadcast
