"""Typed rejections of the chain core.

Every rule that refuses something raises one of these, with a message a human can act on. Each
class has a stable ``code`` that RPC servers map to JSON-RPC error codes, so that clients can
branch on the kind of failure without parsing messages.
"""

from __future__ import annotations


class MessageError(Exception):
    """An exception whose message is one line a person can act on, kept as ``.message``.

    The base of every layer's typed failures (chain, storage, inference, the wallet's refusals, the
    explorer's pages), so that servers and the CLI read ``exc.message`` the same way everywhere
    instead of each layer re-declaring the same constructor.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ChainError(MessageError):
    """Base of all rejections by the chain core."""

    code: int = -32000


class EncodingError(ChainError):
    """Data is not canonical JSON (floats, non-string keys, bad UTF-8, non-canonical form)."""

    code = -32010


class InvalidAddress(ChainError):
    """A string is not a well-formed ``0x`` + 40 lower-case hex address."""

    code = -32011


class InvalidTransaction(ChainError):
    """A transaction breaks a stateless rule: schema, bounds, size."""

    code = -32020


class InvalidSignature(InvalidTransaction):
    code = -32021


class WrongChainId(InvalidTransaction):
    code = -32022


class TxTooLarge(InvalidTransaction):
    code = -32023


class InvalidPayload(InvalidTransaction):
    code = -32024


class TxRejected(ChainError):
    """A transaction is well formed but not applicable to the current state."""

    code = -32030


class BadNonce(TxRejected):
    code = -32031


class InsufficientFunds(TxRejected):
    code = -32032


class FeeTooLow(TxRejected):
    code = -32033


class FeeUnaffordable(InsufficientFunds):
    """The sender cannot pay the transaction's fee at all: a fault of the sender's own account,
    which a client must tell apart from a payload whose funds are short (a receipt whose escrow
    is empty) without reading the message, since messages carry job ids and addresses."""

    code = -32039


class Unauthorized(TxRejected):
    """The sender may not perform this action (not a coordinator, not a validator, ...)."""

    code = -32034


class UnknownEntity(TxRejected):
    """The transaction names a validator, escrow, proposal or job that does not exist."""

    code = -32035


class DuplicateJob(TxRejected):
    code = -32036


class InvalidBlock(ChainError):
    code = -32040


class InvalidGenesis(ChainError):
    code = -32050
