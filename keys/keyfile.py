"""The encrypted key file: one JSON document per key, version 1.

    {
      "version": 1,
      "address": "0x...",                 clear: lets a wallet list keys without a password
      "pubkey": "<64 hex>",              clear: lets `keys show` print it without a password
      "name": "validator",               clear label; not authenticated, so rename needs no password
      "created": "2025-01-01T00:00:00Z",
      "kind": "seed" | "mnemonic",
      "kdf": "scrypt",
      "kdfparams": {"n": 131072, "r": 8, "p": 1, "salt": "<hex>", "dklen": 32},
      "cipher": "aes-256-gcm",
      "nonce": "<24 hex>", "ciphertext": "<hex>", "tag": "<32 hex>"
    }

Secret: the password (NFKC-normalized, UTF-8) goes through scrypt to a 32-byte AES-256 key;
AES-GCM encrypts the plaintext under a fresh 96-bit nonce and a fresh salt on every write. The
plaintext is the 32-byte Ed25519 seed, followed for ``kind == "mnemonic"`` by the canonical JSON
``{"bip39_passphrase": bool, "mnemonic": words, "path": derivation path}`` so that a wallet can
show its recovery phrase again later.

Associated data (authenticated, not encrypted) is the canonical JSON of ``address, cipher, kdf,
kdfparams, kind, pubkey, version``: changing any of them, or a single bit of nonce, ciphertext or
tag, makes authentication fail. After decryption the seed must also yield the recorded public
key and address, so a file can never hand back a different key than the one it names.

Why scrypt with n = 2**17 (r = 8, p = 1) by default: each password guess then costs 128 MiB of
memory and roughly half a second of one core, which makes GPU/ASIC guessing expensive while a
daemon unlocking once at start-up, or a small rig with little memory, still copes. (geth's
"standard" is 2**18 = 256 MiB; 2**17 halves that for small rigs.) It is a parameter of each
file, so stronger settings work without a format change; reading refuses settings above 1 GiB
so that a hostile file cannot exhaust memory.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from Crypto.Cipher import AES
from Crypto.Protocol.KDF import scrypt
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from chain import crypto
from chain.encoding import canonical_json, decode_canonical
from chain.errors import EncodingError, InvalidAddress
from keys.errors import (
    CorruptKeystore,
    InvalidKeyName,
    InvalidMnemonic,
    InvalidPassword,
    InvalidPath,
    WrongPassword,
)
from keys.keypair import KeyPair
from keys.mnemonic import validate_mnemonic
from keys.slip10 import format_path, parse_path

FORMAT_VERSION = 1
DEFAULT_SCRYPT_N = 2**17
SCRYPT_R = 8
SCRYPT_P = 1
MIN_SCRYPT_N = 2
MIN_READ_SCRYPT_N = 2**14
"""The lowest scrypt cost a keystore opens by default (16 MiB per guess). A file below it, written
by an old or careless tool, or planted, would let a stolen copy be brute-forced cheaply, so it is
refused on read until it is re-encrypted. A keystore that itself writes below this cost (tests,
which say so with ``scrypt_n``) opens what it writes: its floor is its own cost."""
MAX_SCRYPT_MEMORY = 2**30  # bytes: 128 * n * r
_SALT_BYTES = 32
_NONCE_BYTES = 12
_TAG_BYTES = 16
_MAX_FILE_BYTES = 64 * 1024
_MAX_EXTRA_PLAINTEXT = 4096
_HEX_RE = re.compile(r"(?:[0-9a-f]{2})*")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
NAME_PATTERN = r"^(?:[A-Za-z1-9][A-Za-z0-9._-]{0,63}|0(?:[A-WYZa-wyz0-9._-][A-Za-z0-9._-]{0,62})?)$"
""":func:`validate_name`'s rule as one regular expression without look-arounds, for API schemas
(JSON Schema and pydantic's regex engine): it says "not ``0x``" by spelling out the second
character after a leading ``0``. ``validate_name`` stays the rule; a test holds the two equal."""

Kind = Literal["seed", "mnemonic"]


def validate_name(name: object) -> str:
    """A key name: 1-64 of ``A-Z a-z 0-9 . _ -``, starting with a letter or digit, not ``0x...``.

    Names are looked up interchangeably with addresses, so one that looks like an address is
    refused rather than guessed about.
    """
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        shown = repr(name) if isinstance(name, str) and len(name) <= 80 else type(name).__name__
        raise InvalidKeyName(
            f"invalid key name {shown}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    if name[:2].lower() == "0x":
        raise InvalidKeyName(f"invalid key name {name!r}: names may not start with 0x (that is how addresses start)")
    return name


def _hex_field(value: str, label: str, size: int | None = None) -> str:
    if not _HEX_RE.fullmatch(value):
        raise ValueError(f"{label} must be lower-case hex")
    if size is not None and len(value) != 2 * size:
        raise ValueError(f"{label} must be {size} bytes")
    return value


class KdfParams(BaseModel):
    """scrypt settings stored with each file (so the cost can rise without a format change)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    n: int
    r: int
    p: int
    salt: str
    dklen: int

    @field_validator("salt")
    @classmethod
    def _salt(cls, value: str) -> str:
        _hex_field(value, "salt")
        if not 16 <= len(value) // 2 <= 64:
            raise ValueError("salt must be 16 to 64 bytes")
        return value

    @model_validator(mode="after")
    def _bounds(self) -> KdfParams:
        if self.dklen != 32:
            raise ValueError("dklen must be 32 (AES-256)")
        if self.n < MIN_SCRYPT_N or self.n & (self.n - 1):
            raise ValueError("n must be a power of two, at least 2")
        if not 1 <= self.r <= 32 or not 1 <= self.p <= 16:
            raise ValueError("r must be 1-32 and p 1-16")
        if 128 * self.n * self.r > MAX_SCRYPT_MEMORY:
            raise ValueError("scrypt settings need more than 1 GiB of memory")
        return self


class KeyFile(BaseModel):
    """One parsed, structurally valid key file (nothing decrypted yet)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    version: Literal[1]
    address: str
    pubkey: str
    name: str
    created: str
    kind: Kind
    kdf: Literal["scrypt"]
    kdfparams: KdfParams
    cipher: Literal["aes-256-gcm"]
    nonce: str
    ciphertext: str
    tag: str

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        try:
            return crypto.validate_address(value)
        except InvalidAddress as exc:
            raise ValueError(exc.message) from None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        try:
            return validate_name(value)
        except InvalidKeyName as exc:
            raise ValueError(exc.message) from None

    @field_validator("created")
    @classmethod
    def _created(cls, value: str) -> str:
        if len(value) > 40:
            raise ValueError("created must be an ISO 8601 time")
        datetime.fromisoformat(value)
        return value

    @field_validator("pubkey")
    @classmethod
    def _pubkey(cls, value: str) -> str:
        return _hex_field(value, "pubkey", crypto.PUBKEY_BYTES)

    @field_validator("nonce")
    @classmethod
    def _nonce(cls, value: str) -> str:
        return _hex_field(value, "nonce", _NONCE_BYTES)

    @field_validator("tag")
    @classmethod
    def _tag(cls, value: str) -> str:
        return _hex_field(value, "tag", _TAG_BYTES)

    @field_validator("ciphertext")
    @classmethod
    def _ciphertext(cls, value: str) -> str:
        return _hex_field(value, "ciphertext")

    @model_validator(mode="after")
    def _consistent(self) -> KeyFile:
        if crypto.address_from_pubkey(bytes.fromhex(self.pubkey)) != self.address:
            raise ValueError("address does not belong to pubkey")
        size = len(self.ciphertext) // 2
        if self.kind == "seed" and size != crypto.SEED_BYTES:
            raise ValueError(f"a seed entry holds {crypto.SEED_BYTES} encrypted bytes")
        if self.kind == "mnemonic" and not crypto.SEED_BYTES < size <= crypto.SEED_BYTES + _MAX_EXTRA_PLAINTEXT:
            raise ValueError("a mnemonic entry has an implausible ciphertext length")
        return self

    def associated_data(self) -> bytes:
        """The header fields that AES-GCM authenticates (see module docstring)."""
        return canonical_json(
            {
                "address": self.address,
                "cipher": self.cipher,
                "kdf": self.kdf,
                "kdfparams": self.kdfparams.model_dump(),
                "kind": self.kind,
                "pubkey": self.pubkey,
                "version": self.version,
            }
        )

    def to_bytes(self) -> bytes:
        """The file's bytes: indented JSON in a fixed key order, newline-terminated."""
        return (json.dumps(self.model_dump(), indent=2) + "\n").encode("utf-8")


@dataclass(frozen=True)
class Secret:
    """What a key file decrypts to. ``repr`` shows only the address: the recovery phrase and
    the key pair's seed must not end up in a log line or a traceback."""

    keypair: KeyPair
    mnemonic: str | None = field(default=None, repr=False)
    path: str | None = None
    bip39_passphrase: bool = False

    def __repr__(self) -> str:
        return f"Secret(address={self.keypair.address!r}, has_mnemonic={self.mnemonic is not None})"

    def wipe(self) -> None:
        """Wipe the key pair (the phrase is an immutable ``str``; drop references to it)."""
        self.keypair.wipe()


def _corrupt(message: str) -> CorruptKeystore:
    return CorruptKeystore(f"corrupt keystore file: {message}")


def parse_keyfile(data: bytes) -> KeyFile:
    """Bytes -> ``KeyFile``, or ``CorruptKeystore`` saying what is wrong (never a secret)."""
    if len(data) > _MAX_FILE_BYTES:
        raise _corrupt(f"{len(data)} bytes is far larger than a key file")
    try:
        document: Any = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise _corrupt("not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise _corrupt(f"not valid JSON ({exc.msg} at position {exc.pos})") from None
    if not isinstance(document, dict):
        raise _corrupt("the top level is not a JSON object")
    if "version" not in document:
        raise _corrupt("the 'version' field is missing")
    version = document["version"]
    if version != FORMAT_VERSION or isinstance(version, bool):
        shown = version if isinstance(version, (int, str)) and len(str(version)) <= 20 else type(version).__name__
        raise CorruptKeystore(f"unsupported keystore version {shown!r}: this AITBC reads version {FORMAT_VERSION}")
    try:
        return KeyFile.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "file"
        reason = first["msg"].removeprefix("Value error, ")
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        raise _corrupt(f"{where}: {reason}{more}") from None


def _derive_key(password: str, params: KdfParams) -> bytes:
    secret = unicodedata.normalize("NFKC", password).encode("utf-8")
    key = scrypt(secret, bytes.fromhex(params.salt), params.dklen, N=params.n, r=params.r, p=params.p)
    assert isinstance(key, bytes)
    return key


def check_new_password(password: object) -> str:
    if not isinstance(password, str):
        raise InvalidPassword(f"a password must be text, got {type(password).__name__}")
    if not password:
        raise InvalidPassword("the password must not be empty")
    return password


def encrypt(
    secret: Secret,
    password: str,
    *,
    name: str,
    scrypt_n: int = DEFAULT_SCRYPT_N,
    created: str | None = None,
) -> KeyFile:
    """Encrypt ``secret`` under ``password`` into a new ``KeyFile`` (fresh salt and nonce)."""
    check_new_password(password)
    keypair = secret.keypair
    plaintext = bytearray(keypair.seed_bytes())
    if secret.mnemonic is not None:
        plaintext += canonical_json(
            {
                "bip39_passphrase": secret.bip39_passphrase,
                "mnemonic": validate_mnemonic(secret.mnemonic),
                "path": format_path(parse_path(secret.path or "")),
            }
        )
    params = KdfParams(n=scrypt_n, r=SCRYPT_R, p=SCRYPT_P, salt=os.urandom(_SALT_BYTES).hex(), dklen=32)
    header = KeyFile.model_construct(
        version=FORMAT_VERSION,
        address=keypair.address,
        pubkey=keypair.pubkey.hex(),
        name=validate_name(name),
        created=created or datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        kind="mnemonic" if secret.mnemonic is not None else "seed",
        kdf="scrypt",
        kdfparams=params,
        cipher="aes-256-gcm",
        nonce=os.urandom(_NONCE_BYTES).hex(),
        ciphertext="",
        tag="",
    )
    cipher = AES.new(_derive_key(password, params), AES.MODE_GCM, nonce=bytes.fromhex(header.nonce), mac_len=_TAG_BYTES)
    cipher.update(header.associated_data())
    try:
        ciphertext, tag = cipher.encrypt_and_digest(bytes(plaintext))
    finally:
        plaintext[:] = bytes(len(plaintext))
    # Re-validate the finished document: a file this code writes must be one it can read.
    return KeyFile.model_validate(header.model_copy(update={"ciphertext": ciphertext.hex(), "tag": tag.hex()}).model_dump())


def decrypt(keyfile: KeyFile, password: str) -> Secret:
    """Open ``keyfile``: ``WrongPassword`` if authentication fails, ``CorruptKeystore`` if an
    authentic plaintext is still not the key the header names (which only a bug could cause)."""
    if not isinstance(password, str):
        raise WrongPassword(f"a password must be text, got {type(password).__name__}")
    cipher = AES.new(
        _derive_key(password, keyfile.kdfparams), AES.MODE_GCM, nonce=bytes.fromhex(keyfile.nonce), mac_len=_TAG_BYTES
    )
    cipher.update(keyfile.associated_data())
    try:
        plaintext = bytearray(cipher.decrypt_and_verify(bytes.fromhex(keyfile.ciphertext), bytes.fromhex(keyfile.tag)))
    except ValueError:
        raise WrongPassword(
            f"wrong password for {keyfile.name!r} ({keyfile.address}), or its encrypted part was altered"
        ) from None
    seed = plaintext[: crypto.SEED_BYTES]
    try:
        keypair = KeyPair(seed)
        if keypair.address != keyfile.address or keypair.pubkey.hex() != keyfile.pubkey:
            keypair.wipe()
            raise _corrupt(f"the decrypted key does not match address {keyfile.address}")
        if keyfile.kind == "seed":
            return Secret(keypair=keypair)
        try:
            extra = decode_canonical(bytes(plaintext[crypto.SEED_BYTES :]))
            if not isinstance(extra, dict) or set(extra) != {"bip39_passphrase", "mnemonic", "path"}:
                raise EncodingError("unexpected fields")
            if not isinstance(extra["bip39_passphrase"], bool):
                raise EncodingError("bip39_passphrase is not a boolean")
            mnemonic = validate_mnemonic(extra["mnemonic"])
            path = format_path(parse_path(extra["path"]))
        except (EncodingError, InvalidMnemonic, InvalidPath):
            keypair.wipe()
            raise _corrupt(f"the recovery phrase record of {keyfile.address} is malformed") from None
        return Secret(keypair=keypair, mnemonic=mnemonic, path=path, bip39_passphrase=extra["bip39_passphrase"])
    finally:
        plaintext[:] = bytes(len(plaintext))
        seed[:] = bytes(len(seed))
