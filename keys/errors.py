"""Typed failures of the key layer.

They extend ``chain.errors.ChainError`` so that the wallet daemon's servers map them to stable
JSON-RPC codes with the same plumbing as chain rejections, and so that callers can branch on the
kind of failure without parsing messages. Messages never contain secret material (seeds,
passwords, mnemonic words that are valid); they say what to do instead.
"""

from __future__ import annotations

from chain.errors import ChainError


class KeysError(ChainError):
    """Base of every failure raised by ``keys``."""

    code = -32100


class InvalidKey(KeysError):
    """A seed or key has the wrong length or form."""

    code = -32101


class KeyWiped(KeysError):
    """The key pair was wiped from memory and can no longer sign."""

    code = -32102


class InvalidMnemonic(KeysError):
    """A recovery phrase has an unknown word, a wrong length or a failing checksum."""

    code = -32103


class InvalidPath(KeysError):
    """A SLIP-0010 derivation path is malformed or asks for a non-hardened step."""

    code = -32104


class WrongPassword(KeysError):
    """The password does not open the keystore entry.

    AES-GCM cannot tell a wrong password from an altered ciphertext, nonce or bound header: in
    every one of those cases authentication fails and no key is returned.
    """

    code = -32110


class CorruptKeystore(KeysError):
    """A keystore file is unreadable: bad JSON, missing or unknown fields, unsupported version,
    inconsistent header, or a decrypted secret that does not match its address."""

    code = -32111


class KeyNotFound(KeysError):
    code = -32112


class KeyExists(KeysError):
    """A key with this address or name is already in the keystore."""

    code = -32113


class InvalidKeyName(KeysError):
    code = -32114


class InvalidPassword(KeysError):
    """A new password is unusable (empty)."""

    code = -32115


class AmbiguousKeyName(KeysError):
    """Two files carry the same name (copied in by hand); the address must be used."""

    code = -32116


class WeakKeystore(KeysError):
    """A key file's scrypt cost is below the floor: a stolen copy would be cheap to brute-force."""

    code = -32117
