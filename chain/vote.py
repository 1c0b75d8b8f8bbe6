"""Consensus votes (prevote / precommit), signed by validators.

They live apart from blocks because slashing evidence (``slash`` transactions) embeds them, and
blocks embed transactions.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, StrictInt

from chain.signed import Signed, SignedBody, signature_fields
from chain.types import Address, ChainId, Hash, Height

VoteType = Literal["prevote", "precommit"]


class RoundBody(SignedBody):
    """The fields that tie a consensus message (a vote, a proposal) to one round of one height of
    one chain, so that it can never count in another."""

    chain_id: ChainId
    height: Height
    round: StrictInt = Field(ge=0, le=10_000)


class VoteBody(RoundBody):
    DOMAIN: ClassVar[str] = "aitbc/vote/v1"
    SIGNER: ClassVar[str] = "validator"

    type: VoteType
    block_hash: Hash | None
    """None is a vote for nil: no acceptable proposal was seen in time."""
    validator: Address


class Vote(Signed[VoteBody]):
    """Signed by the body's ``validator``."""


def sign_vote(body: VoteBody, seed: bytes) -> Vote:
    return Vote(body=body, **signature_fields(body, seed))
