"""The signature rule does not move when libsodium answers first.

``chain.crypto.verify_uncached`` asks libsodium before the protocol's reference rule (pycryptodome,
cofactored RFC 8032) and takes only libsodium's "yes". If that yes were ever given where the
reference says no, nodes could disagree on a block: these tests build the signatures on which
Ed25519 implementations are known to differ (small-order and mixed-order keys and ``R``,
non-canonical encodings, ``s`` at or past the group order; the cases of Chalkias, Garillot and
Nikolaenko, "Taming the many EdDSAs", 2020) and check, for each, that the answer is the
reference's and that libsodium's yes implies the reference's.
"""

from __future__ import annotations

import hashlib
import itertools
import os

from Crypto.PublicKey import ECC
from Crypto.PublicKey._point import EccPoint
from hypothesis import given, settings
from hypothesis import strategies as st

from chain import crypto

P = crypto.FIELD_PRIME
L = crypto.GROUP_ORDER
BASE = ECC.generate(curve="Ed25519")._curve.G
ORDER_8 = EccPoint._decode_eddsa(
    bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"), "Ed25519")
TORSION = [ORDER_8 * i if i else ORDER_8 * 8 for i in range(8)]  # the eight points of order dividing 8


def encode(point: EccPoint) -> bytes:
    """RFC 8032's encoding: ``y`` little-endian, the parity of ``x`` in the top bit."""
    x, y = (int(c) for c in point.xy)
    return (y | (x & 1) << 255).to_bytes(32, "little")


def sign_raw(a: int, r: int, key: bytes, message: bytes, r_point: EccPoint | None = None) -> bytes:
    """A signature by scalar ``a`` under any key encoding (``key`` need not be ``a``'s), nonce ``r``,
    and optionally an ``R`` other than ``rB``: what an attacker can produce."""
    r_bytes = encode(r_point if r_point is not None else BASE * r)
    k = int.from_bytes(hashlib.sha512(r_bytes + key + message).digest(), "little") % L
    return r_bytes + ((r + k * a) % L).to_bytes(32, "little")


def non_canonical_encodings() -> list[bytes]:
    """Every encoding RFC 8032 does not give a point: ``y + p`` where that still fits in 255 bits,
    and the sign bit set where ``x`` is 0."""
    wide = [((y + P) | sign << 255).to_bytes(32, "little") for y in range(19) for sign in (0, 1)]
    zero_x = [(y | 1 << 255).to_bytes(32, "little") for y in (1, P - 1)]
    return wide + zero_x


def assert_same_answer(pubkey: bytes, message: bytes, signature: bytes) -> bool:
    reference = crypto._reference_accepts(pubkey, message, signature)
    fast = crypto._libsodium_accepts(pubkey, message, signature)
    assert not fast or reference, f"libsodium accepts what the rule refuses: {pubkey.hex()} {signature.hex()}"
    assert crypto.verify_uncached(pubkey, message, signature) is reference
    return reference


def test_the_rfc_8032_vector_is_signed_and_accepted_by_both() -> None:
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    pubkey = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    signature = bytes.fromhex(
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
    assert crypto.pubkey_from_seed(seed) == pubkey
    assert crypto.sign(seed, b"") == signature
    assert crypto._libsodium_accepts(pubkey, b"", signature) and crypto._reference_accepts(pubkey, b"", signature)


def test_honest_signatures_are_answered_by_libsodium_and_tampered_ones_refused_by_both() -> None:
    for _ in range(20):
        seed, message = os.urandom(32), os.urandom(100)
        pubkey, signature = crypto.pubkey_from_seed(seed), crypto.sign(seed, message)
        assert crypto._libsodium_accepts(pubkey, message, signature)
        assert assert_same_answer(pubkey, message, signature)
        for bit in (0, 255, 256, 511):  # R's low and top bits, s's low and top bits
            bad = bytearray(signature)
            bad[bit // 8] ^= 1 << bit % 8
            assert not assert_same_answer(pubkey, message, bytes(bad))
        assert not assert_same_answer(pubkey, message + b"!", signature)
        other = crypto.pubkey_from_seed(os.urandom(32))
        assert not assert_same_answer(other, message, signature)


def test_s_at_or_past_the_group_order_is_refused() -> None:
    seed, message = os.urandom(32), b"transfer"
    pubkey, signature = crypto.pubkey_from_seed(seed), crypto.sign(seed, message)
    s = int.from_bytes(signature[32:], "little")
    for wide in (s + L, s + 2 * L, L, 2**256 - 1):
        if wide < 2**256:
            assert not assert_same_answer(pubkey, message, signature[:32] + wide.to_bytes(32, "little"))


def test_small_order_keys_and_r_follow_the_cofactored_rule() -> None:
    """With a key and ``R`` of small order and ``s = 0``, the cofactored equation holds for any
    message (the reference says yes, libsodium no): the answer must be the reference's."""
    accepted = 0
    for key_point, r_point in itertools.product(TORSION, TORSION):
        key = encode(key_point)
        signature = encode(r_point) + bytes(32)
        for message in (b"", b"transfer"):
            assert not crypto._libsodium_accepts(key, message, signature)
            accepted += assert_same_answer(key, message, signature)
    assert accepted == 2 * 64  # the rule is the cofactored one: each of these holds


def test_mixed_order_keys_and_r_are_accepted_as_the_reference_accepts_them() -> None:
    """A key ``aB + T`` (``T`` of order 8) signing with ``a``: the cofactored equation holds, the
    cofactorless one only where ``kT = 0``; likewise for ``R = rB + T``."""
    a = int.from_bytes(os.urandom(32), "little") % L
    refused_by_libsodium = 0
    for index, torsion in enumerate(TORSION[1:]):
        key = encode(BASE * a + torsion)
        for n in range(4):
            message, r = f"job {index} {n}".encode(), int.from_bytes(os.urandom(32), "little") % L
            signature = sign_raw(a, r, key, message)
            assert assert_same_answer(key, message, signature)
            refused_by_libsodium += not crypto._libsodium_accepts(key, message, signature)
            honest_key = encode(BASE * a)
            mixed_r = sign_raw(a, r, honest_key, message, r_point=BASE * r + torsion)
            assert assert_same_answer(honest_key, message, mixed_r)
            assert not crypto._libsodium_accepts(honest_key, message, mixed_r)
    assert refused_by_libsodium  # the fall-back to the reference is what keeps these valid


def test_non_canonical_encodings_of_key_and_r_get_the_reference_answer() -> None:
    message = b"vote"
    for bad in non_canonical_encodings():
        assert not crypto._canonical_pubkey(bad)
        for r_point in TORSION[:2]:
            assert_same_answer(bad, message, encode(r_point) + bytes(32))
        assert_same_answer(bad, message, bad + bytes(32))
        honest = crypto.pubkey_from_seed(os.urandom(32))
        assert_same_answer(honest, message, bad + bytes(32))
    for point in TORSION:
        assert crypto._canonical_pubkey(encode(point))


@settings(max_examples=300, deadline=None)
@given(pubkey=st.binary(min_size=32, max_size=32), message=st.binary(max_size=64),
       signature=st.binary(min_size=64, max_size=64))
def test_arbitrary_bytes_get_the_reference_answer(pubkey: bytes, message: bytes, signature: bytes) -> None:
    assert_same_answer(pubkey, message, signature)
