"""BIP-39 against the official (Trezor) vectors, validation errors, and restore round trips."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keys import DEFAULT_PATH, InvalidMnemonic, mnemonic
from keys.slip10 import derive

# Official BIP-39 English vectors (trezor/python-mnemonic vectors.json), passphrase "TREZOR".
TREZOR_VECTORS = [
    (
        "00000000000000000000000000000000",
        "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
        "c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e53495531f09a6987599d18264c1e1c92f2cf141630c7a3c4ab7c81b2f001698e7463b04",
    ),
    (
        "7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f",
        "legal winner thank year wave sausage worth useful legal winner thank yellow",
        "2e8905819b8723fe2c1d161860e5ee1830318dbf49a83bd451cfb8440c28bd6fa457fe1296106559a3c80937a1c1069be3a3a5bd381ee6260e8d9739fce1f607",
    ),
    (
        "80808080808080808080808080808080",
        "letter advice cage absurd amount doctor acoustic avoid letter advice cage above",
        "d71de856f81a8acc65e6fc851a38d4d7ec216fd0796d0a6827a3ad6ed5511a30fa280f12eb2e47ed2ac03b5c462a0358d18d69fe4f985ec81778c1b370b652a8",
    ),
    (
        "ffffffffffffffffffffffffffffffff",
        "zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo wrong",
        "ac27495480225222079d7be181583751e86f571027b0497b5b5d11218e0a8a13332572917f0f8e5a589620c6f15b11c61dee327651a14c34e18231052e48c069",
    ),
    (
        "0000000000000000000000000000000000000000000000000000000000000000",
        "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon "
        "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon art",
        "bda85446c68413707090a52022edd26a1c9462295029f2e60cd7c4f2bbd3097170af7a4d73245cafa9c3cca8d561a7c3de6f5d4a10be8ed2a5e608d68f92fcc8",
    ),
    (
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo vote",
        "dd48c104698c30cfe2b6142103248622fb7bb0ff692eebb00089b32d22484e1613912f0a5b694407be899ffd31ed3992c456cdf60f5d4564b8ba3f05a69890ad",
    ),
    (
        "9e885d952ad362caeb4efe34a8e91bd2",
        "ozone drill grab fiber curtain grace pudding thank cruise elder eight picnic",
        "274ddc525802f7c828d8ef7ddbcdc5304e87ac3535913611fbbfa986d0c9e5476c91689f9c8a54fd55bd38606aa6a8595ad213d4c9c9f9aca3fb217069a41028",
    ),
    (
        "68a79eaca2324873eacc50cb9c6eca8cc68ea5d936f98787c60c7ebc74e6ce7c",
        "hamster diagram private dutch cause delay private meat slide toddler razor book happy fancy gospel "
        "tennis maple dilemma loan word shrug inflict delay length",
        "64c87cde7e12ecf6704ab95bb1408bef047c22db4cc7491c4271d170a1b213d20b385bc1588d9c7b38f1b39d415665b8a9030c9ec653d75e65f847d8fc1fc440",
    ),
    (
        "f585c11aec520db57dd353c69554b21a89b20fb0650966fa0a9d6f74fd989d8f",
        "void come effort suffer camp survey warrior heavy shoot primary clutch crush open amazing screen "
        "patrol group space point ten exist slush involve unfold",
        "01f5bced59dec48e362f2c45b5de68b9fd6c92c6634f44d6d40aab69056506f0e35524a518034ddc1192e1dacd32c1ed3eaa3c3b131c88ed8e7e54c49a5d0998",
    ),
]


def test_wordlist_is_the_official_one() -> None:
    words = mnemonic.wordlist()
    assert len(words) == 2048 == len(set(words))
    assert words[0] == "abandon" and words[-1] == "zoo"
    assert list(words) == sorted(words)
    digest = hashlib.sha256(("\n".join(words) + "\n").encode()).hexdigest()
    assert digest == "2f5eed53a4727b4bf8880d8f3f199efc90e58503646d9ff8eff3a2ed3b24dbda"


@pytest.mark.parametrize(("entropy", "phrase", "seed"), TREZOR_VECTORS)
def test_trezor_vectors(entropy: str, phrase: str, seed: str) -> None:
    assert mnemonic.entropy_to_mnemonic(bytes.fromhex(entropy)) == phrase
    assert mnemonic.mnemonic_to_entropy(phrase) == bytes.fromhex(entropy)
    assert mnemonic.mnemonic_to_seed(phrase, "TREZOR").hex() == seed


def test_normalization_of_spacing_case_and_nfkd_passphrase() -> None:
    phrase = TREZOR_VECTORS[0][1]
    messy = "  " + phrase.upper().replace(" ", " \t ") + "\n"
    assert mnemonic.validate_mnemonic(messy) == phrase
    assert mnemonic.mnemonic_to_seed(messy, "TREZOR") == mnemonic.mnemonic_to_seed(phrase, "TREZOR")
    # NFC and NFKD spellings of a passphrase give the same seed (BIP-39 applies NFKD).
    assert mnemonic.mnemonic_to_seed(phrase, "caf\u00e9") == mnemonic.mnemonic_to_seed(phrase, "cafe\u0301")
    assert mnemonic.mnemonic_to_seed(phrase, "") != mnemonic.mnemonic_to_seed(phrase, "TREZOR")


def test_unknown_word_is_named() -> None:
    words = TREZOR_VECTORS[1][1].split()
    words[4] = "wavy"
    with pytest.raises(InvalidMnemonic, match=r"word 5 \('wavy'\) is not in the BIP-39 English word list"):
        mnemonic.validate_mnemonic(" ".join(words))


def test_checksum_error() -> None:
    words = TREZOR_VECTORS[1][1].split()
    words[-1] = "zoo"
    with pytest.raises(InvalidMnemonic, match="checksum") as excinfo:
        mnemonic.validate_mnemonic(" ".join(words))
    assert "legal" not in str(excinfo.value)  # valid words are never echoed


@pytest.mark.parametrize("count", [0, 1, 11, 13, 23, 25])
def test_wrong_length(count: int) -> None:
    with pytest.raises(InvalidMnemonic, match=f"got {count}"):
        mnemonic.validate_mnemonic(" ".join(["abandon"] * count))


def test_generate_lengths() -> None:
    assert len(mnemonic.generate_mnemonic(12).split()) == 12
    assert len(mnemonic.generate_mnemonic().split()) == 24
    assert mnemonic.generate_mnemonic() != mnemonic.generate_mnemonic()
    with pytest.raises(InvalidMnemonic):
        mnemonic.generate_mnemonic(13)


def test_keypair_from_mnemonic_is_slip10_at_default_path() -> None:
    phrase = TREZOR_VECTORS[0][1]
    kp = mnemonic.keypair_from_mnemonic(phrase, "TREZOR")
    expected, _ = derive(bytes.fromhex(TREZOR_VECTORS[0][2]), DEFAULT_PATH)
    assert kp.seed_bytes() == expected
    assert mnemonic.keypair_from_mnemonic(phrase, "TREZOR", "m/44'/1337'/0'/0'/1'").address != kp.address
    assert mnemonic.keypair_from_mnemonic(phrase).address != kp.address


def test_keypair_from_bad_mnemonic_refused() -> None:
    assert not mnemonic.is_valid_mnemonic("abandon " * 12)
    with pytest.raises(InvalidMnemonic):
        mnemonic.keypair_from_mnemonic("abandon " * 12)


@settings(max_examples=60, deadline=None)
@given(entropy=st.one_of(st.binary(min_size=16, max_size=16), st.binary(min_size=32, max_size=32)))
def test_any_phrase_round_trips(entropy: bytes) -> None:
    phrase = mnemonic.entropy_to_mnemonic(entropy)
    assert len(phrase.split()) in (12, 24)
    assert mnemonic.is_valid_mnemonic(phrase)
    assert mnemonic.mnemonic_to_entropy(phrase) == entropy
    assert mnemonic.keypair_from_mnemonic(phrase).address == mnemonic.keypair_from_mnemonic(phrase.upper()).address


@settings(max_examples=60, deadline=None)
@given(
    entropy=st.binary(min_size=16, max_size=16),
    position=st.integers(min_value=0, max_value=11),
    word=st.sampled_from(mnemonic.wordlist()),
)
def test_single_word_change_is_caught_or_changes_key(entropy: bytes, position: int, word: str) -> None:
    """A one-word substitution either fails the checksum or is a different valid phrase (the
    4-bit checksum of 12 words lets 1 in 16 through); it never restores the original key."""
    words = mnemonic.entropy_to_mnemonic(entropy).split()
    if words[position] == word:
        return
    original = mnemonic.keypair_from_mnemonic(" ".join(words)).address
    words[position] = word
    changed = " ".join(words)
    if mnemonic.is_valid_mnemonic(changed):
        assert mnemonic.keypair_from_mnemonic(changed).address != original
    else:
        with pytest.raises(InvalidMnemonic):
            mnemonic.keypair_from_mnemonic(changed)
