"""Canonical JSON and Ed25519/address primitives."""

from __future__ import annotations

import enum
import json

import pytest
from chainkit import ALICE, Key
from hypothesis import given, settings
from hypothesis import strategies as st

from chain import crypto
from chain.encoding import _check, _plain, canonical_json, decode_canonical, hash_value, sha256
from chain.errors import EncodingError, InvalidAddress

# JSON values without floats: what canonical JSON can carry.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(min_value=-(2**70), max_value=2**70) | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=25,
)


@settings(max_examples=100, deadline=None)
@given(json_values)
def test_round_trip(value: object) -> None:
    data = canonical_json(value)
    assert decode_canonical(data) == value
    assert canonical_json(decode_canonical(data)) == data
    # Matches an independent encoder with the documented rules.
    assert data == json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(max_size=8), st.integers(), min_size=2, max_size=6))
def test_non_canonical_forms_are_refused(value: dict[str, int]) -> None:
    canonical = canonical_json(value)
    spaced = json.dumps(value, sort_keys=True).encode()  # ", " and ": " separators
    assert spaced != canonical
    with pytest.raises(EncodingError, match="canonical form"):
        decode_canonical(spaced)
    reordered = json.dumps(dict(reversed(list(value.items()))), separators=(",", ":"), ensure_ascii=False).encode()
    if reordered != canonical:
        with pytest.raises(EncodingError, match="canonical form"):
            decode_canonical(reordered)


@settings(max_examples=60, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False), st.lists(st.integers(), max_size=3))
def test_floats_are_refused(number: float, siblings: list[int]) -> None:
    with pytest.raises(EncodingError, match="floats"):
        canonical_json({"a": siblings + [number]})
    with pytest.raises(EncodingError, match="float"):
        decode_canonical(json.dumps([number]).encode())  # Python always writes a float with '.' or 'e'.


@pytest.mark.parametrize("data, message", [
    (b"1.0", "floats"),
    (b"1e3", "floats"),
    (b"NaN", "NaN"),
    (b"-Infinity", "Infinity"),
    (b'{"b":1,"a":2}', "canonical"),
    (b'{"a":1,"a":1}', "canonical"),
    (b'{"a": 1}', "canonical"),
    (b" 1", "canonical"),
    (b"-0", "canonical"),
    (b"01", "malformed"),
    (b'"\\u0041"', "canonical"),
    (b'"\\/"', "canonical"),
    (b"\xff", "UTF-8"),
    (b"{", "malformed"),
    (b"", "malformed"),
])
def test_decode_refuses(data: bytes, message: str) -> None:
    with pytest.raises(EncodingError, match=message):
        decode_canonical(data)


@pytest.mark.parametrize("value, message", [
    (1.5, "floats"),
    ({1: 2}, "keys must be strings"),
    ({"a": {2: 3}}, "keys must be strings"),
    (b"bytes", "cannot be encoded"),
    ({1, 2}, "cannot be encoded"),
    ({"a": [0.0]}, r"floats .*\$?\.a\[0\]"),
])
def test_encode_refuses(value: object, message: str) -> None:
    with pytest.raises(EncodingError, match=message):
        canonical_json(value)


class _Kind(enum.IntEnum):
    ONE = 1


class _Text(str):
    pass


# Anything the full check may meet: floats, bytes, sets, subclasses of the accepted types, and
# keys of other types, at any depth.
any_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=4) | st.floats(allow_nan=False)
    | st.binary(max_size=2) | st.just(_Kind.ONE) | st.builds(_Text, st.text(max_size=3)),
    lambda children: st.lists(children, max_size=4) | st.lists(children, max_size=3).map(tuple)
    | st.dictionaries(st.text(max_size=4) | st.integers(0, 3), children, max_size=4) | st.frozensets(st.integers(), max_size=2),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(any_values)
def test_the_fast_check_accepts_only_what_the_full_check_accepts(value: object) -> None:
    """``canonical_json`` skips ``_check`` for values ``_plain`` vouches for: it must never vouch
    for one ``_check`` refuses, and the encoder's answer is ``_check``'s either way."""
    try:
        _check(value, "")
        refusal = None
    except EncodingError as exc:
        refusal = str(exc)
    if _plain(value):
        assert refusal is None
    if refusal is None:
        assert canonical_json(value) == json.dumps(value, sort_keys=True, separators=(",", ":"),
                                                   ensure_ascii=False).encode()
    else:
        with pytest.raises(EncodingError) as raised:
            canonical_json(value)
        assert str(raised.value) == refusal


def test_unencodable_values_are_typed_errors() -> None:
    """Lone surrogates, huge integers and runaway nesting are refused as ``EncodingError`` like
    any other bad input, not as stray ``UnicodeEncodeError``/``ValueError``/``RecursionError``."""
    with pytest.raises(EncodingError):
        canonical_json("\ud800")
    with pytest.raises(EncodingError):
        canonical_json({"k\udfff": 1})
    with pytest.raises(EncodingError):
        decode_canonical(b'"\\ud800"')
    with pytest.raises(EncodingError):
        decode_canonical(b"1" * 5000)
    with pytest.raises(EncodingError):
        canonical_json(10**5000)
    with pytest.raises(EncodingError):
        decode_canonical(b"[" * 100_000 + b"]" * 100_000)
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(EncodingError):
        canonical_json(deep)


def test_unicode_is_raw_utf8_and_hash_is_sha256_of_encoding() -> None:
    value = {"z": "é✓", "a": [1, None, True]}
    data = canonical_json(value)
    assert data == '{"a":[1,null,true],"z":"é✓"}'.encode()
    assert hash_value(value) == sha256(data).hex()
    assert len(sha256(b"")) == 32


# -- crypto and addresses ----------------------------------------------------------------------------


def test_address_is_first_20_bytes_of_sha256_of_pubkey() -> None:
    assert ALICE.address == "0x" + sha256(ALICE.pub).hex()[:40]
    assert crypto.validate_address(ALICE.address) == ALICE.address
    assert crypto.is_address(ALICE.address)
    with pytest.raises(InvalidAddress, match="32 bytes"):
        crypto.address_from_pubkey(b"\x01" * 31)


@pytest.mark.parametrize("bad", [
    "0x" + "AB" * 20,                 # upper case
    "0X" + "ab" * 20,                 # upper-case prefix
    "0x" + "ab" * 19,                 # too short
    "0x" + "ab" * 21,                 # too long
    "ab" * 21,                        # no prefix
    "0x" + "zz" * 20,                 # not hex
    " 0x" + "ab" * 20,                # white space
    "0x" + "ab" * 20 + "\n",          # trailing newline (a `$` regex would let it pass)
    42,
    None,
    b"0x" + b"ab" * 20,
])
def test_malformed_addresses_are_refused(bad: object) -> None:
    with pytest.raises(InvalidAddress, match="40 lower-case hex"):
        crypto.validate_address(bad)
    assert not crypto.is_address(bad)


def test_upper_case_variant_of_real_address_is_refused() -> None:
    shouty = "0x" + ALICE.address[2:].upper()
    with pytest.raises(InvalidAddress):
        crypto.validate_address(shouty)


def test_sign_and_verify() -> None:
    key = Key.named("signer")
    sig = crypto.sign(key.seed, b"message")
    assert len(sig) == crypto.SIGNATURE_BYTES
    assert crypto.verify(key.pub, b"message", sig)
    assert not crypto.verify(key.pub, b"messagE", sig)
    assert not crypto.verify(ALICE.pub, b"message", sig)
    assert not crypto.verify(key.pub, b"message", sig[:-1])
    assert not crypto.verify(key.pub[:31], b"message", sig)
    assert not crypto.verify(b"\xff" * 32, b"message", sig)  # not a curve point
    flipped = bytes([sig[0] ^ 1]) + sig[1:]
    assert not crypto.verify(key.pub, b"message", flipped)
    # RFC 8032 test vector 1 (empty message).
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    assert crypto.pubkey_from_seed(seed).hex() == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    assert crypto.sign(seed, b"").hex().startswith("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb88215")
    with pytest.raises(ValueError):
        crypto.sign(b"short", b"m")
    assert len(crypto.generate_seed()) == 32
