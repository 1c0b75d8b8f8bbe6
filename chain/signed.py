"""How every signed object of the protocol is signed: one rule, written once.

A signer signs the canonical JSON of a body together with a *domain* string naming what the
body is (``aitbc/vote/v1``, ``aitbc/receipt/v1``...). The domain keeps a signature made for one
kind of object from ever verifying as another kind with the same fields, and its version lets a
format change without old signatures verifying under the new meaning. The envelope around a body
(``Vote``, ``Receipt``...) carries the signer's public key and the signature, and is valid only
if that key is the one of the address the body names as its signer (``SIGNER``).
"""

from __future__ import annotations

from typing import ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from chain import crypto
from chain.encoding import canonical_json
from chain.types import PubKey, Signature


class SignedBody(BaseModel):
    """The part of a signed object that is signed; a subclass sets ``DOMAIN``."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    DOMAIN: ClassVar[str]
    SIGNER: ClassVar[str]
    """The body field holding the signer's address."""

    def signing_bytes(self) -> bytes:
        return canonical_json({"domain": self.DOMAIN, **self.model_dump()})


B = TypeVar("B", bound=SignedBody)


class Signed(BaseModel, Generic[B]):
    """A body with its signer's public key and signature."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    body: B
    pubkey: PubKey
    signature: Signature

    def is_valid(self) -> bool:
        signer = getattr(self.body, self.body.SIGNER)
        return crypto.signed_by(signer, self.pubkey, self.body.signing_bytes(), self.signature)


def signature_fields(body: SignedBody, seed: bytes) -> dict[str, str]:
    """The ``pubkey`` and ``signature`` fields of an envelope around ``body`` signed by ``seed``'s key."""
    return {"pubkey": crypto.pubkey_from_seed(seed).hex(),
            "signature": crypto.sign(seed, body.signing_bytes()).hex()}
