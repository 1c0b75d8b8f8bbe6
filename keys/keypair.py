"""An Ed25519 key pair whose secret can be wiped from memory.

The 32-byte seed (the RFC 8032 private key) lives in a ``bytearray`` so that ``wipe()`` can
overwrite it in place when a wallet locks. Python cannot promise that no other copy exists (an
immutable ``bytes`` copy is made for each call into the signing library, and
``chain.crypto``'s signer cache keeps one), so wiping is defence in depth, not a guarantee: it
stops this object from leaking the seed through later use, a debugger or a core dump of
long-lived state.

The signing math is ``chain.crypto``'s; this class only guards the secret.
"""

from __future__ import annotations

import hmac
from types import TracebackType
from typing import NoReturn

from chain import crypto
from keys.errors import InvalidKey, KeyWiped


class KeyPair:
    """An Ed25519 key pair: ``.pubkey``, ``.address``, ``.sign(msg)``, ``.wipe()``.

    ``repr`` and ``str`` show only the address. Pickling and copying are refused so that the seed
    does not travel by accident (into a multiprocessing queue, a cache, a log).
    """

    __slots__ = ("_seed", "_pubkey", "_address")

    def __init__(self, seed: bytes | bytearray | memoryview) -> None:
        if not isinstance(seed, (bytes, bytearray, memoryview)):
            raise InvalidKey(f"an Ed25519 seed must be bytes, got {type(seed).__name__}")
        if len(seed) != crypto.SEED_BYTES:
            raise InvalidKey(f"an Ed25519 seed is {crypto.SEED_BYTES} bytes, got {len(seed)}")
        self._seed = bytearray(seed)
        self._pubkey = crypto.pubkey_from_seed(bytes(self._seed))
        self._address = crypto.address_from_pubkey(self._pubkey)

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def generate(cls) -> KeyPair:
        """A fresh key from the operating system's randomness."""
        return cls(crypto.generate_seed())

    @classmethod
    def from_seed(cls, seed: bytes | bytearray | memoryview) -> KeyPair:
        return cls(seed)

    @classmethod
    def from_hex(cls, text: str) -> KeyPair:
        """From 64 hex digits (an optional ``0x`` prefix is accepted).

        The error never echoes the input: it may be a real seed with a typo.
        """
        if not isinstance(text, str):
            raise InvalidKey(f"a hex seed must be a string, got {type(text).__name__}")
        body = text.strip()
        if body[:2] in ("0x", "0X"):
            body = body[2:]
        if len(body) != 2 * crypto.SEED_BYTES:
            raise InvalidKey(f"a hex seed is {2 * crypto.SEED_BYTES} hex digits, got {len(body)} characters")
        try:
            raw = bytearray.fromhex(body)
        except ValueError:
            raise InvalidKey("a hex seed may contain only the digits 0-9 and a-f") from None
        try:
            return cls(raw)
        finally:
            raw[:] = bytes(len(raw))

    # -- public face --------------------------------------------------------------------------

    @property
    def pubkey(self) -> bytes:
        """The 32-byte Ed25519 public key (still available after ``wipe()``)."""
        return self._pubkey

    @property
    def address(self) -> str:
        return self._address

    @property
    def wiped(self) -> bool:
        return not self._seed

    def sign(self, message: bytes) -> bytes:
        """RFC 8032 signature of ``message``; ``KeyWiped`` once the seed is gone."""
        if not self._seed:
            raise KeyWiped(f"key {self._address} was wiped from memory; unlock it again to sign")
        return crypto.sign(bytes(self._seed), message)

    def verify(self, message: bytes, signature: bytes) -> bool:
        return crypto.verify(self._pubkey, message, signature)

    def seed_bytes(self) -> bytes:
        """A copy of the secret seed, for the keystore to encrypt. Never log or print it."""
        if not self._seed:
            raise KeyWiped(f"key {self._address} was wiped from memory")
        return bytes(self._seed)

    def same_secret(self, other: KeyPair) -> bool:
        """Constant-time comparison of two seeds (for checks after a restore)."""
        if self.wiped or other.wiped:
            raise KeyWiped("cannot compare a wiped key")
        return hmac.compare_digest(bytes(self._seed), bytes(other._seed))

    def wipe(self) -> None:
        """Overwrite the seed with zeros and drop it; the key can no longer sign."""
        for index in range(len(self._seed)):
            self._seed[index] = 0
        del self._seed[:]

    # -- safety -------------------------------------------------------------------------------

    def __enter__(self) -> KeyPair:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.wipe()

    def __repr__(self) -> str:
        state = ", wiped" if self.wiped else ""
        return f"KeyPair(address={self._address!r}{state})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        """Two key pairs are equal when they hold the same public key."""
        if not isinstance(other, KeyPair):
            return False
        return self._pubkey == other._pubkey

    def __hash__(self) -> int:
        return hash(self._pubkey)

    def __reduce__(self) -> NoReturn:
        raise TypeError("KeyPair cannot be pickled: store it with keys.Keystore instead")

    def __copy__(self) -> NoReturn:
        raise TypeError("KeyPair cannot be copied: it guards a secret that wipe() must reach")

    def __deepcopy__(self, memo: object) -> NoReturn:
        raise TypeError("KeyPair cannot be copied: it guards a secret that wipe() must reach")
