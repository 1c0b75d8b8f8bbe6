"""Annotated field types shared by every model of the protocol.

Each constraint is stated once here so that a reader finds, for instance, "what is a valid
amount" in exactly one place.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, StrictInt, StrictStr, WithJsonSchema

from chain.crypto import validate_address
from chain.errors import InvalidAddress
from chain.params import MAX_AMOUNT

_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX128 = re.compile(r"[0-9a-f]{128}")
_CHAIN_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def _address(value: str) -> str:
    try:
        return validate_address(value)
    except InvalidAddress as exc:
        raise ValueError(exc.message) from None


def _hex32(value: str) -> str:
    if not _HEX64.fullmatch(value):
        raise ValueError("expected 64 lower-case hex digits (32 bytes)")
    return value


def _hex64(value: str) -> str:
    if not _HEX128.fullmatch(value):
        raise ValueError("expected 128 lower-case hex digits (64 bytes)")
    return value


def _pattern(regex: str) -> WithJsonSchema:
    """The document of a string checked by a validator: the pattern it enforces, so that an API's
    OpenAPI document says which strings it accepts (validators alone are invisible there)."""
    return WithJsonSchema({"type": "string", "pattern": f"^{regex}$"})


def _chain_id(value: str) -> str:
    if not _CHAIN_ID.fullmatch(value):
        raise ValueError("chain id must be 1-64 characters of a-z, 0-9, '.', '_', '-'")
    return value


Address = Annotated[StrictStr, AfterValidator(_address), _pattern("0x[0-9a-f]{40}")]
Hash = Annotated[StrictStr, AfterValidator(_hex32), _pattern(_HEX64.pattern)]
"""A SHA-256 digest as 64 lower-case hex digits."""
PubKey = Annotated[StrictStr, AfterValidator(_hex32), _pattern(_HEX64.pattern)]
Signature = Annotated[StrictStr, AfterValidator(_hex64), _pattern(_HEX128.pattern)]
ChainId = Annotated[StrictStr, AfterValidator(_chain_id), _pattern(_CHAIN_ID.pattern)]
Amount = Annotated[StrictInt, Field(gt=0, le=MAX_AMOUNT)]
"""A positive amount of units: transfers and stakes of zero are refused as meaningless."""
NonNegAmount = Annotated[StrictInt, Field(ge=0, le=MAX_AMOUNT)]
Nonce = Annotated[StrictInt, Field(ge=0, le=2**63 - 1)]
Height = Annotated[StrictInt, Field(ge=0, le=2**63 - 1)]
Bps = Annotated[StrictInt, Field(ge=0, le=10_000)]
JobId = Annotated[StrictStr, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]
ModelName = Annotated[StrictStr, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:/-]+$")]
TokenCount = Annotated[StrictInt, Field(ge=0, le=10_000_000)]
