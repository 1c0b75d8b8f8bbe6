"""A node's identity on the network: its node key, and the signed hello two nodes exchange.

Every node, validator or not, has a node key (``HOME/keys/node_key``, 0600, made on first
start, as CometBFT's ``node_key.json``). It signs nothing of value on chain; it names the node
(its address is the node id) so that a peer remembered as ``id@url`` cannot be impersonated by
whoever answers at that address later. Funds and votes stay with the validator key.

The handshake is one ``peer_hello`` call: the caller sends a hello with a fresh nonce, signed by
its node key, bound to the chain id and the genesis hash; the callee checks it and answers with
its own hello carrying the caller's nonce in ``reply_to``, so the answer cannot be replayed
from an earlier handshake. A node of another chain is refused with both genesis hashes named.
"""

from __future__ import annotations

import secrets
import time
from typing import ClassVar

from pydantic import Field, StrictInt, StrictStr

from chain import crypto
from chain.signed import Signed, SignedBody, signature_fields
from chain.types import Address, ChainId
from daemons.common.daemon_key import write_private
from daemons.common.home import Home

NODE_KEY_FILE = "node_key"
HELLO_MAX_AGE_MS = 5 * 60 * 1000
"""A hello older (or further ahead) than this is refused: clocks of live nodes agree far better,
and a recorded hello must not open a session later."""
MAX_SHARED_PEERS = 16
"""Peer exchange: most addresses one hello carries, so what a peer can make us learn is bounded."""


class HelloBody(SignedBody):
    DOMAIN: ClassVar[str] = "aitbc/peer-hello/v1"
    SIGNER: ClassVar[str] = "node_id"

    chain_id: ChainId
    genesis_hash: StrictStr = Field(max_length=80)
    node_id: Address
    listen_url: StrictStr = Field("", max_length=200)
    """Where this node serves RPC for its peers ("" for a node peers cannot dial)."""
    height: StrictInt = Field(ge=0)
    validator: StrictStr = Field("", max_length=80)
    """The validator address this node signs consensus messages with, if any (for operators)."""
    nonce: StrictStr = Field(min_length=16, max_length=64)
    reply_to: StrictStr = Field("", max_length=64)
    time_ms: StrictInt = Field(ge=0)
    peers: list[StrictStr] = Field(default_factory=list, max_length=MAX_SHARED_PEERS)
    """Some peers this node knows (``listen_url`` values): peer exchange."""


class Hello(Signed[HelloBody]):
    """Signed by the body's ``node_id``."""


class HandshakeError(Exception):
    """A hello that does not authenticate its sender for this chain; the message says why."""


class NodeIdentity:
    """The node key in memory: its id, and hellos signed with it."""

    def __init__(self, seed: bytes) -> None:
        self._seed = seed
        self.node_id = crypto.address_from_pubkey(crypto.pubkey_from_seed(seed))

    @classmethod
    def load_or_create(cls, home: Home) -> NodeIdentity:
        path = home.keys_dir / NODE_KEY_FILE
        if not path.exists():
            write_private(path, crypto.generate_seed().hex().encode())
        text = path.read_text(encoding="utf-8").strip()
        try:
            seed = bytes.fromhex(text)
        except ValueError:
            raise HandshakeError(f"{path} is not a node key (64 hex digits); move it away to make a new one") from None
        if len(seed) != 32:
            raise HandshakeError(f"{path} is not a node key (64 hex digits); move it away to make a new one")
        return cls(seed)

    def hello(self, chain_id: str, genesis_hash: str, *, listen_url: str, height: int, validator: str = "",
              reply_to: str = "", peers: list[str] | None = None, now_ms: int | None = None) -> Hello:
        body = HelloBody(chain_id=chain_id, genesis_hash=genesis_hash, node_id=self.node_id, listen_url=listen_url,
                         height=height, validator=validator, nonce=secrets.token_hex(16), reply_to=reply_to,
                         time_ms=now_ms if now_ms is not None else int(time.time() * 1000),
                         peers=(peers or [])[:MAX_SHARED_PEERS])
        return Hello(body=body, **signature_fields(body, self._seed))


def check_hello(hello: Hello, chain_id: str, genesis_hash: str, *, reply_to: str = "",
                expected_id: str | None = None, now_ms: int | None = None) -> None:
    """Raise ``HandshakeError`` unless ``hello`` is a fresh hello of this chain signed by its node id
    (and by ``expected_id`` when we know whom we dialled, answering our nonce ``reply_to``)."""
    body = hello.body
    if body.chain_id != chain_id or body.genesis_hash != genesis_hash:
        raise HandshakeError(f"peer {body.node_id} follows another chain: chain {body.chain_id} with genesis "
                             f"{body.genesis_hash}, this node chain {chain_id} with genesis {genesis_hash}")
    if not hello.is_valid():
        raise HandshakeError(f"hello of {body.node_id} is not signed by that node's key: refused")
    if expected_id is not None and body.node_id != expected_id:
        raise HandshakeError(f"the peer answered as node {body.node_id}, but it is known as {expected_id}: refused")
    if body.reply_to != reply_to:
        raise HandshakeError(f"hello of {body.node_id} does not answer this handshake (a replay?): refused")
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    if abs(now - body.time_ms) > HELLO_MAX_AGE_MS:
        raise HandshakeError(f"hello of {body.node_id} is {abs(now - body.time_ms) // 1000}s off this node's "
                             f"clock: refused (check the clocks)")
