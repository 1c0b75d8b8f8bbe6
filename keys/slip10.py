"""SLIP-0010 hierarchical derivation for Ed25519 (hardened steps only).

SLIP-0010 is the variant of BIP-32 that other Ed25519 wallets (Solana, Stellar, Cardano's
Icarus predecessor, hardware wallets) use, so a phrase written down for AITBC derives the same
key anywhere that follows the standard with the same path. Ed25519 has no public-key derivation,
so every step must be hardened; asking for a normal step is an error rather than a silent
hardening, because two wallets that disagree on that would show different addresses for the
same words.

Path: ``m/44'/1337'/ACCOUNT'/0'/INDEX'`` (BIP-44 layout, everything hardened). The coin type
``AITBC_COIN_TYPE = 1337`` is AITBC's own choice; it is not a SLIP-0044 registration. It is
fixed forever: changing it would move every restored wallet to different addresses.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from keys.errors import InvalidPath

AITBC_COIN_TYPE = 1337
HARDENED = 0x8000_0000
DEFAULT_PATH = f"m/44'/{AITBC_COIN_TYPE}'/0'/0'/0'"
_MASTER_HMAC_KEY = b"ed25519 seed"
_STEP_RE = re.compile(r"(0|[1-9][0-9]*)(['hH])?")


def account_path(account: int = 0, index: int = 0) -> str:
    """The standard AITBC path for ``account`` and address ``index``."""
    for label, value in (("account", account), ("index", index)):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < HARDENED:
            raise InvalidPath(f"{label} must be an integer from 0 to {HARDENED - 1}")
    return f"m/44'/{AITBC_COIN_TYPE}'/{account}'/0'/{index}'"


def parse_path(path: str) -> list[int]:
    """``"m/44'/1337'/0'"`` -> child numbers with the hardened bit set.

    ``'``, ``h`` and ``H`` all mark a hardened step (the spellings used by BIP-32 tools).
    """
    if not isinstance(path, str):
        raise InvalidPath(f"a derivation path must be a string, got {type(path).__name__}")
    parts = path.strip().split("/")
    if parts[0] != "m":
        raise InvalidPath(f"derivation path {path!r} must start with 'm'")
    steps: list[int] = []
    for position, part in enumerate(parts[1:], start=1):
        match = _STEP_RE.fullmatch(part)
        if match is None:
            raise InvalidPath(f"step {position} of path {path!r} is not a number: {part!r}")
        number = int(match.group(1))
        if number >= HARDENED:
            raise InvalidPath(f"step {position} of path {path!r} is {number}; the largest index is {HARDENED - 1}")
        if match.group(2) is None:
            raise InvalidPath(
                f"step {position} of path {path!r} is not hardened; Ed25519 (SLIP-0010) allows only hardened steps, write {number}'"
            )
        steps.append(number | HARDENED)
    return steps


def format_path(steps: list[int]) -> str:
    return "/".join(["m", *(f"{step & ~HARDENED}'" for step in steps)])


def master_key(seed: bytes) -> tuple[bytes, bytes]:
    """(private key, chain code) of the root node for a BIP-39 seed (16 to 64 bytes)."""
    if not 16 <= len(seed) <= 64:
        raise InvalidPath(f"a SLIP-0010 seed is 16 to 64 bytes, got {len(seed)}")
    digest = hmac.new(_MASTER_HMAC_KEY, bytes(seed), hashlib.sha512).digest()
    return digest[:32], digest[32:]


def child_key(private_key: bytes, chain_code: bytes, index: int) -> tuple[bytes, bytes]:
    """One hardened step: HMAC-SHA512(chain code, 0x00 || key || ser32(index))."""
    if not HARDENED <= index <= 0xFFFF_FFFF:
        raise InvalidPath("Ed25519 (SLIP-0010) allows only hardened child indices")
    data = b"\x00" + private_key + index.to_bytes(4, "big")
    digest = hmac.new(chain_code, data, hashlib.sha512).digest()
    return digest[:32], digest[32:]


def derive(seed: bytes, path: str = DEFAULT_PATH) -> tuple[bytes, bytes]:
    """(Ed25519 seed, chain code) at ``path`` below the root of ``seed``."""
    steps = parse_path(path)
    key, chain_code = master_key(seed)
    for step in steps:
        key, chain_code = child_key(key, chain_code, step)
    return key, chain_code
