"""Consensus votes (prevote / precommit), signed by validators.

They live apart from blocks because slashing evidence (``slash`` transactions) embeds them, and
blocks embed transactions.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from chain import crypto
from chain.encoding import canonical_json
from chain.types import Address, ChainId, Hash, Height, PubKey, Signature

VoteType = Literal["prevote", "precommit"]


class VoteBody(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    chain_id: ChainId
    height: Height
    round: StrictInt = Field(ge=0, le=10_000)
    type: VoteType
    block_hash: Hash | None
    """None is a vote for nil: no acceptable proposal was seen in time."""
    validator: Address

    def signing_bytes(self) -> bytes:
        return canonical_json({"domain": "aitbc/vote/v1", **self.model_dump()})


class Vote(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    body: VoteBody
    pubkey: PubKey
    signature: Signature

    def is_valid(self) -> bool:
        pub = bytes.fromhex(self.pubkey)
        return crypto.address_from_pubkey(pub) == self.body.validator and crypto.verify(
            pub, self.body.signing_bytes(), bytes.fromhex(self.signature)
        )


def sign_vote(body: VoteBody, seed: bytes) -> Vote:
    pub = crypto.pubkey_from_seed(seed)
    return Vote(body=body, pubkey=pub.hex(), signature=crypto.sign(seed, body.signing_bytes()).hex())
