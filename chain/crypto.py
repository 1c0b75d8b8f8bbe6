"""Ed25519 (RFC 8032) signatures and AITBC addresses.

The rule for a valid signature is pycryptodome's RFC 8032 verification (:func:`_reference_accepts`);
libsodium (through PyNaCl) answers first because it is about eight times faster, and only its
"yes" is taken (:func:`verify_uncached` says why that yes is always the reference's too).

Signing lives here too (not only in ``keys/``) because it is a pure function of a 32-byte seed
and a message: the chain's own tests and benchmarks need it without any keystore.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa
from nacl.bindings import crypto_sign_open
from nacl.exceptions import CryptoError

from chain.errors import InvalidAddress

PUBKEY_BYTES = 32
SIGNATURE_BYTES = 64
SEED_BYTES = 32
FIELD_PRIME = 2**255 - 19
"""p: a coordinate is canonically encoded only as an integer below it."""
GROUP_ORDER = 2**252 + 27742317777372353535851937790883648493
"""L, the order of the base point: a signature's ``s`` must be below it (RFC 8032, 5.1.7)."""
_ADDRESS_RE = re.compile(r"0x[0-9a-f]{40}")


def address_from_pubkey(pubkey: bytes) -> str:
    """``0x`` + hex of the first 20 bytes of SHA-256(public key)."""
    if len(pubkey) != PUBKEY_BYTES:
        raise InvalidAddress(f"an Ed25519 public key is {PUBKEY_BYTES} bytes, got {len(pubkey)}")
    return "0x" + hashlib.sha256(pubkey).digest()[:20].hex()


def validate_address(value: object) -> str:
    """Return ``value`` if it is a well-formed address, else raise ``InvalidAddress``.

    Upper-case hex is refused rather than folded: an address has exactly one spelling so that
    it can be compared and indexed as a string.
    """
    if not isinstance(value, str) or not _ADDRESS_RE.fullmatch(value):
        shown = value if isinstance(value, str) and len(value) <= 80 else type(value).__name__
        raise InvalidAddress(f"invalid address {shown!r}: expected 0x followed by 40 lower-case hex digits")
    return value


def is_address(value: object) -> bool:
    return isinstance(value, str) and _ADDRESS_RE.fullmatch(value) is not None


@lru_cache(maxsize=65536)
def _verifier(pubkey: bytes) -> eddsa.EdDSASigScheme | None:
    """Decoding a point is a large share of a verification; accounts sign many times."""
    try:
        key = eddsa.import_public_key(pubkey)
    except (ValueError, TypeError):
        return None
    return eddsa.new(key, "rfc8032")


VERIFIED_KEPT = 65536
"""Valid signatures remembered (by a 32-byte digest each, about 10 MB at most); when full, the
memory starts afresh (each step a single dict operation, safe from several threads)."""
_verified: dict[bytes, None] = {}


def verify(pubkey: bytes, message: bytes, signature: bytes) -> bool:
    """True only for a valid RFC 8032 Ed25519 signature of ``message`` by ``pubkey``.

    A signature found valid is remembered (a digest of key, signature and message), because a
    node meets the same one several times: a validator's vote when it is relayed, when
    consensus counts it and again inside the next block's ``last_commit``; a commit fetched while
    catching up and again as the next block's ``last_commit``. A check costs about 60 us (half a
    millisecond where the reference rule must answer), a look-up one or two. Only valid
    signatures are kept, and the answer is a pure function of the three inputs, so remembering
    it changes no outcome.
    """
    if len(pubkey) != PUBKEY_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    seen = hashlib.sha256(b"".join((bytes(pubkey), bytes(signature), bytes(message)))).digest()
    if seen in _verified:
        return True
    if not verify_uncached(pubkey, message, signature):
        return False
    if len(_verified) >= VERIFIED_KEPT:
        _verified.clear()
    _verified[seen] = None
    return True


def verify_uncached(pubkey: bytes, message: bytes, signature: bytes) -> bool:
    """:func:`verify` without the memory of valid signatures: the raw Ed25519 cost, which the
    benchmarks use as their anchor.

    The answer is always :func:`_reference_accepts`'s, the protocol's rule, which a node could not
    change without forking from nodes that had not. libsodium is asked first, and its "yes" stands
    only when the public key is canonically encoded and ``s < L`` (both checked here, so that the
    argument does not rest on a libsodium version): libsodium then says yes only if
    ``[s]B = R + [k]A`` with ``R`` the canonical encoding of that point (it re-encodes the point it
    computes and compares the bytes), and multiplying both sides by the cofactor 8 gives the
    reference's equation, over the same ``k`` (both hash the key's bytes as given, which for a
    canonical key are the reference's re-encoding). So a "yes" here is the reference's "yes".
    Every "no" is asked of the reference, which accepts some signatures libsodium does not
    (a key or ``R`` of small order, a key with a small-order component: the reference's equation
    is the cofactored one). An honest signature costs libsodium's time; a bad one costs what it
    did before plus libsodium's; ``tests/chain/test_crypto_rule.py`` checks the edge cases.
    """
    if len(pubkey) != PUBKEY_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    pubkey, message, signature = bytes(pubkey), bytes(message), bytes(signature)
    return _libsodium_accepts(pubkey, message, signature) or _reference_accepts(pubkey, message, signature)


def _libsodium_accepts(pubkey: bytes, message: bytes, signature: bytes) -> bool:
    """libsodium's verification, asked only where its yes implies the reference's (above)."""
    if not _canonical_pubkey(pubkey) or int.from_bytes(signature[32:], "little") >= GROUP_ORDER:
        return False
    try:
        crypto_sign_open(signature + message, pubkey)
    except CryptoError:
        return False
    return True


def _canonical_pubkey(pubkey: bytes) -> bool:
    """The key's ``y`` is below p, and the sign bit is clear where ``x`` is 0 (``y`` = 1 or p - 1):
    the only encoding RFC 8032 gives each point."""
    y = int.from_bytes(pubkey, "little") & ((1 << 255) - 1)
    return y < FIELD_PRIME and not (pubkey[31] >> 7 and y in (1, FIELD_PRIME - 1))


def _reference_accepts(pubkey: bytes, message: bytes, signature: bytes) -> bool:
    """The protocol's rule: pycryptodome's RFC 8032 verification (cofactored)."""
    verifier = _verifier(pubkey)
    if verifier is None:
        return False
    try:
        verifier.verify(message, signature)
    except ValueError:
        return False
    return True


def forget_verified() -> None:
    """Empty the memory of valid signatures (a benchmark measuring signatures met for the first
    time starts each round with it)."""
    _verified.clear()


def signed_by(address: str, pubkey_hex: str, message: bytes, signature_hex: str) -> bool:
    """True only if ``pubkey_hex`` is ``address``'s key and signed ``message``: the check every
    signed object of the protocol makes (a valid signature by *some other* key proves nothing)."""
    pub = bytes.fromhex(pubkey_hex)
    return len(pub) == PUBKEY_BYTES and address_from_pubkey(pub) == address and verify(
        pub, message, bytes.fromhex(signature_hex))


def sign(seed: bytes, message: bytes) -> bytes:
    """Sign with a 32-byte Ed25519 seed (the RFC 8032 private key).

    Deliberately uncached: a cache would keep copies of seeds alive after a wallet locks.
    """
    if len(seed) != SEED_BYTES:
        raise ValueError(f"an Ed25519 seed is {SEED_BYTES} bytes, got {len(seed)}")
    return eddsa.new(eddsa.import_private_key(bytes(seed)), "rfc8032").sign(message)


def pubkey_from_seed(seed: bytes) -> bytes:
    if len(seed) != SEED_BYTES:
        raise ValueError(f"an Ed25519 seed is {SEED_BYTES} bytes, got {len(seed)}")
    key = eddsa.import_private_key(seed)
    return key.public_key().export_key(format="raw")


def generate_seed() -> bytes:
    """A fresh random seed. Randomness is I/O; callers outside consensus code use this."""
    key = ECC.generate(curve="Ed25519")
    return key.seed
