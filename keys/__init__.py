"""Ed25519 keys, BIP-39 recovery phrases, SLIP-0010 derivation and the encrypted keystore.

Depends only on ``chain`` (for the signature math, addresses and canonical JSON).
"""

from keys.errors import (
    AmbiguousKeyName,
    WeakKeystore,
    CorruptKeystore,
    InvalidKey,
    InvalidKeyName,
    InvalidMnemonic,
    InvalidPassword,
    InvalidPath,
    KeyExists,
    KeyNotFound,
    KeysError,
    KeyWiped,
    WrongPassword,
)
from keys.keyfile import DEFAULT_SCRYPT_N, FORMAT_VERSION, MIN_READ_SCRYPT_N, KeyFile, parse_keyfile, validate_name
from keys.keypair import KeyPair
from keys.keystore import KeyInfo, Keystore, UnlockedKey
from keys.mnemonic import (
    entropy_to_mnemonic,
    generate_mnemonic,
    is_valid_mnemonic,
    keypair_from_mnemonic,
    mnemonic_to_entropy,
    mnemonic_to_seed,
    validate_mnemonic,
)
from keys.slip10 import AITBC_COIN_TYPE, DEFAULT_PATH, account_path, derive, parse_path

__all__ = [
    "AITBC_COIN_TYPE",
    "DEFAULT_PATH",
    "DEFAULT_SCRYPT_N",
    "MIN_READ_SCRYPT_N",
    "FORMAT_VERSION",
    "AmbiguousKeyName",
    "WeakKeystore",
    "CorruptKeystore",
    "InvalidKey",
    "InvalidKeyName",
    "InvalidMnemonic",
    "InvalidPassword",
    "InvalidPath",
    "KeyExists",
    "KeyFile",
    "KeyInfo",
    "KeyNotFound",
    "KeyPair",
    "KeyWiped",
    "KeysError",
    "Keystore",
    "UnlockedKey",
    "WrongPassword",
    "account_path",
    "derive",
    "entropy_to_mnemonic",
    "generate_mnemonic",
    "is_valid_mnemonic",
    "keypair_from_mnemonic",
    "mnemonic_to_entropy",
    "mnemonic_to_seed",
    "parse_keyfile",
    "parse_path",
    "validate_mnemonic",
    "validate_name",
]
