"""BIP-39 recovery phrases, and the key they restore.

A wallet shows its owner 12 or 24 words once; from those words alone (plus the optional BIP-39
passphrase) ``keypair_from_mnemonic`` rebuilds the same Ed25519 key on any machine:

    words --(PBKDF2-HMAC-SHA512, 2048 rounds, salt "mnemonic"+passphrase, NFKD)--> 64-byte seed
          --(SLIP-0010 Ed25519, hardened path, see keys.slip10)--> 32-byte Ed25519 seed

Both steps follow the published standards exactly (checked against their official vectors), so
the words also restore in other BIP-39/SLIP-0010 tools that use the same path.
"""

from __future__ import annotations

import hashlib
import os
import unicodedata
from functools import lru_cache
from importlib import resources

from keys.errors import InvalidMnemonic
from keys.keypair import KeyPair
from keys.slip10 import DEFAULT_PATH, derive

# Digest of the official English list: a damaged copy must fail loudly instead of mapping the
# same words to other bits (and so to another key).
_ENGLISH_SHA256 = "2f5eed53a4727b4bf8880d8f3f199efc90e58503646d9ff8eff3a2ed3b24dbda"
_PBKDF2_ROUNDS = 2048
# words -> entropy bytes; each word carries 11 bits, the checksum is entropy_bits / 32 bits.
_WORD_COUNTS = {12: 16, 15: 20, 18: 24, 21: 28, 24: 32}
GENERATE_WORD_COUNTS = (12, 24)


@lru_cache(maxsize=1)
def wordlist() -> tuple[str, ...]:
    """The 2048 BIP-39 English words, in order (index = 11-bit value)."""
    data = resources.files("keys").joinpath("wordlists", "english.txt").read_bytes()
    if hashlib.sha256(data).hexdigest() != _ENGLISH_SHA256:
        raise RuntimeError("keys/wordlists/english.txt is not the official BIP-39 English list; reinstall aitbc")
    words = tuple(data.decode("ascii").split("\n")[:2048])
    return words


@lru_cache(maxsize=1)
def _index() -> dict[str, int]:
    return {word: position for position, word in enumerate(wordlist())}


def _checksum_bits(entropy: bytes) -> int:
    """The first ``len(entropy) * 8 / 32`` bits of SHA-256(entropy), as an integer."""
    bits = len(entropy) * 8 // 32
    return hashlib.sha256(entropy).digest()[0] >> (8 - bits)


def entropy_to_mnemonic(entropy: bytes) -> str:
    """The phrase for 16, 20, 24, 28 or 32 bytes of entropy."""
    if len(entropy) not in _WORD_COUNTS.values():
        raise InvalidMnemonic(f"BIP-39 entropy is 16, 20, 24, 28 or 32 bytes, got {len(entropy)}")
    checksum_len = len(entropy) * 8 // 32
    value = (int.from_bytes(entropy, "big") << checksum_len) | _checksum_bits(bytes(entropy))
    count = (len(entropy) * 8 + checksum_len) // 11
    words = wordlist()
    return " ".join(words[(value >> (11 * (count - 1 - i))) & 0x7FF] for i in range(count))


def generate_mnemonic(words: int = 24) -> str:
    """A new phrase from ``os.urandom`` entropy: 24 words (256 bits) or 12 words (128 bits)."""
    if words not in GENERATE_WORD_COUNTS:
        raise InvalidMnemonic(f"a new recovery phrase has 12 or 24 words, not {words}")
    return entropy_to_mnemonic(os.urandom(_WORD_COUNTS[words]))


def normalize_mnemonic(phrase: str) -> str:
    """NFKD, lower case, single spaces: the one spelling that BIP-39 hashes."""
    if not isinstance(phrase, str):
        raise InvalidMnemonic(f"a recovery phrase must be text, got {type(phrase).__name__}")
    return " ".join(unicodedata.normalize("NFKD", phrase).lower().split())


def mnemonic_to_entropy(phrase: str) -> bytes:
    """Check ``phrase`` (word list, length, checksum) and return its entropy.

    Errors name the unknown word and its position so that a typo can be found; a phrase whose
    words are all valid is never echoed.
    """
    normalized = normalize_mnemonic(phrase)
    words = normalized.split(" ") if normalized else []
    if len(words) not in _WORD_COUNTS:
        raise InvalidMnemonic(f"a recovery phrase has 12 or 24 words (or 15, 18, 21), got {len(words)}")
    index = _index()
    value = 0
    for position, word in enumerate(words, start=1):
        number = index.get(word)
        if number is None:
            shown = word if len(word) <= 24 else word[:24] + "..."
            raise InvalidMnemonic(f"word {position} ({shown!r}) is not in the BIP-39 English word list")
        value = (value << 11) | number
    entropy_len = _WORD_COUNTS[len(words)]
    checksum_len = entropy_len * 8 // 32
    entropy = (value >> checksum_len).to_bytes(entropy_len, "big")
    if value & ((1 << checksum_len) - 1) != _checksum_bits(entropy):
        raise InvalidMnemonic(
            "recovery phrase checksum failed: every word is valid, but one is wrong or the order is off"
        )
    return entropy


def validate_mnemonic(phrase: str) -> str:
    """Return the normalized phrase if it is valid, else raise ``InvalidMnemonic``."""
    mnemonic_to_entropy(phrase)
    return normalize_mnemonic(phrase)


def is_valid_mnemonic(phrase: str) -> bool:
    try:
        mnemonic_to_entropy(phrase)
    except InvalidMnemonic:
        return False
    return True


def mnemonic_to_seed(phrase: str, passphrase: str = "") -> bytes:
    """The 64-byte BIP-39 seed. The phrase is validated first: a typo must not silently
    produce a valid-looking but empty wallet."""
    normalized = validate_mnemonic(phrase)
    if not isinstance(passphrase, str):
        raise InvalidMnemonic(f"a BIP-39 passphrase must be text, got {type(passphrase).__name__}")
    salt = ("mnemonic" + unicodedata.normalize("NFKD", passphrase)).encode("utf-8")
    return hashlib.pbkdf2_hmac("sha512", normalized.encode("utf-8"), salt, _PBKDF2_ROUNDS)


def keypair_from_mnemonic(phrase: str, passphrase: str = "", path: str = DEFAULT_PATH) -> KeyPair:
    """The AITBC key that ``phrase`` restores (SLIP-0010 Ed25519 at ``path``)."""
    seed = bytearray(mnemonic_to_seed(phrase, passphrase))
    try:
        key, _chain_code = derive(bytes(seed), path)
    finally:
        seed[:] = bytes(len(seed))
    return KeyPair(key)
