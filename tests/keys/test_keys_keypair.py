"""KeyPair: signing through chain.crypto, a wipeable seed, and no way for the seed to leak."""

from __future__ import annotations

import copy
import pickle

import pytest

from chain import crypto
from keys import InvalidKey, KeyPair, KeyWiped

SEED = bytes(range(32))


def test_from_seed_matches_chain_crypto() -> None:
    kp = KeyPair.from_seed(SEED)
    assert kp.pubkey == crypto.pubkey_from_seed(SEED)
    assert kp.address == crypto.address_from_pubkey(kp.pubkey)
    crypto.validate_address(kp.address)


def test_rfc8032_test_vector_1() -> None:
    # RFC 8032 section 7.1, TEST 1 (empty message).
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    kp = KeyPair.from_seed(seed)
    assert kp.pubkey.hex() == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    assert kp.sign(b"").hex() == (
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )


def test_sign_verifies() -> None:
    kp = KeyPair.generate()
    signature = kp.sign(b"hello")
    assert crypto.verify(kp.pubkey, b"hello", signature)
    assert kp.verify(b"hello", signature)
    assert not kp.verify(b"hellO", signature)


def test_a_remembered_valid_signature_vouches_for_nothing_else() -> None:
    """``crypto.verify`` remembers valid signatures; the same signature with another message,
    another key or one flipped bit is still checked and refused, before and after."""
    kp, other = KeyPair.generate(), KeyPair.generate()
    signature = kp.sign(b"vote")
    for _ in range(2):
        assert crypto.verify(kp.pubkey, b"vote", signature)
        assert not crypto.verify(kp.pubkey, b"votE", signature)
        assert not crypto.verify(other.pubkey, b"vote", signature)
        assert not crypto.verify(kp.pubkey, b"vote", bytes([signature[0] ^ 1]) + signature[1:])
    # the benchmarks' anchor checks for real every time, and forgetting changes no answer
    assert crypto.verify_uncached(kp.pubkey, b"vote", signature)
    assert not crypto.verify_uncached(kp.pubkey, b"votE", signature)
    crypto.forget_verified()
    assert crypto.verify(kp.pubkey, b"vote", signature) and not crypto.verify(other.pubkey, b"vote", signature)


def test_generate_is_random() -> None:
    assert KeyPair.generate().address != KeyPair.generate().address


def test_from_hex_accepts_prefix_and_refuses_garbage_without_echo() -> None:
    assert KeyPair.from_hex(SEED.hex()).address == KeyPair.from_hex("0x" + SEED.hex()).address
    bad = "zz" + SEED.hex()[2:]
    with pytest.raises(InvalidKey) as excinfo:
        KeyPair.from_hex(bad)
    assert SEED.hex()[2:] not in str(excinfo.value)
    with pytest.raises(InvalidKey, match="64 hex digits"):
        KeyPair.from_hex(SEED.hex()[:-2])


@pytest.mark.parametrize("bad", [b"", bytes(31), bytes(33)])
def test_wrong_seed_length(bad: bytes) -> None:
    with pytest.raises(InvalidKey, match="32 bytes"):
        KeyPair.from_seed(bad)


def test_repr_never_shows_seed() -> None:
    kp = KeyPair.from_seed(SEED)
    for text in (repr(kp), str(kp), f"{kp}"):
        assert SEED.hex() not in text
        assert kp.address in text


def test_wipe_zeroes_and_disables_signing() -> None:
    kp = KeyPair.from_seed(SEED)
    inner = kp._seed  # the bytearray that held the secret
    kp.wipe()
    assert kp.wiped
    assert not any(inner)
    assert kp.address == crypto.address_from_pubkey(crypto.pubkey_from_seed(SEED))
    with pytest.raises(KeyWiped):
        kp.sign(b"x")
    with pytest.raises(KeyWiped):
        kp.seed_bytes()
    assert "wiped" in repr(kp)


def test_context_manager_wipes() -> None:
    with KeyPair.from_seed(SEED) as kp:
        kp.sign(b"x")
    assert kp.wiped


def test_cannot_pickle_or_copy() -> None:
    kp = KeyPair.from_seed(SEED)
    with pytest.raises(TypeError):
        pickle.dumps(kp)
    with pytest.raises(TypeError):
        copy.copy(kp)
    with pytest.raises(TypeError):
        copy.deepcopy(kp)


def test_equality_by_public_key() -> None:
    a, b = KeyPair.from_seed(SEED), KeyPair.from_seed(bytearray(SEED))
    assert a == b and hash(a) == hash(b)
    assert a.same_secret(b)
    assert a != KeyPair.generate()
