"""A directory of encrypted key files: ``<dir>/<address>.json``, files 0600, directory 0700.

One file per key keeps a key's backup, export and deletion a plain file operation, and means a
damaged file costs one key, not the wallet. Addresses, public keys and names are stored in clear
(see ``keys.keyfile``), so listing and looking up by name need no password; only ``load`` and
``change_password`` decrypt.

Every change is made under an exclusive lock on the directory (so two processes cannot both
claim a name) and written atomically (``keys.atomic``), so a crash leaves either the old or the
new file. Nothing unencrypted is ever written.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from chain import crypto
from keys import atomic
from chain.errors import ChainError
from keys.errors import AmbiguousKeyName, CorruptKeystore, KeyExists, KeyNotFound, WeakKeystore
from keys.keyfile import (
    DEFAULT_SCRYPT_N,
    MAX_SCRYPT_MEMORY,
    MIN_READ_SCRYPT_N,
    MIN_SCRYPT_N,
    SCRYPT_R,
    KeyFile,
    Kind,
    Secret,
    check_new_password,
    decrypt,
    encrypt,
    parse_keyfile,
    validate_name,
)
from keys.keypair import KeyPair
from keys.mnemonic import generate_mnemonic, keypair_from_mnemonic, validate_mnemonic
from keys.slip10 import DEFAULT_PATH, format_path, parse_path

_log = logging.getLogger(__name__)
_FILE_RE = re.compile(r"(0x[0-9a-f]{40})\.json")


class KeyInfo(BaseModel):
    """The public face of a stored key: everything that can be shown without a password."""

    model_config = ConfigDict(frozen=True)

    address: str
    pubkey: str
    name: str
    created: str
    kind: Kind

    @classmethod
    def from_keyfile(cls, keyfile: KeyFile) -> KeyInfo:
        return cls(
            address=keyfile.address, pubkey=keyfile.pubkey, name=keyfile.name, created=keyfile.created, kind=keyfile.kind
        )


@dataclass(frozen=True)
class UnlockedKey:
    """A decrypted key: the signing ``keypair`` and, for phrase-backed keys, the ``mnemonic``
    and derivation ``path``. ``repr`` never shows the phrase; call ``wipe()`` when done."""

    info: KeyInfo
    keypair: KeyPair
    mnemonic: str | None = field(default=None, repr=False)
    path: str | None = None
    bip39_passphrase: bool = False

    @property
    def address(self) -> str:
        return self.keypair.address

    def wipe(self) -> None:
        self.keypair.wipe()


def _default_name(address: str) -> str:
    return f"key-{address[2:10]}"


class Keystore:
    """Encrypted keys in one directory. References (``ref``) are an address or a name."""

    def __init__(self, directory: str | os.PathLike[str], *, scrypt_n: int = DEFAULT_SCRYPT_N,
                 min_read_n: int | None = None) -> None:
        """``min_read_n``: the lowest scrypt cost opened (default :data:`MIN_READ_SCRYPT_N`, or
        ``scrypt_n`` when this keystore writes below it)."""
        if (
            not isinstance(scrypt_n, int)
            or scrypt_n < MIN_SCRYPT_N
            or scrypt_n & (scrypt_n - 1)
            or 128 * scrypt_n * SCRYPT_R > MAX_SCRYPT_MEMORY
        ):
            raise ValueError(f"scrypt_n must be a power of two from {MIN_SCRYPT_N} to {MAX_SCRYPT_MEMORY // (128 * SCRYPT_R)}")
        self._dir = Path(directory)
        self._scrypt_n = scrypt_n
        self._min_read_n = min(MIN_READ_SCRYPT_N, scrypt_n) if min_read_n is None else min_read_n
        atomic.ensure_private_dir(self._dir)

    @property
    def directory(self) -> Path:
        return self._dir

    def __repr__(self) -> str:
        return f"Keystore({str(self._dir)!r})"

    # -- reading (no password) ----------------------------------------------------------------

    def _path(self, address: str) -> Path:
        return self._dir / f"{address}.json"

    def _read(self, address: str) -> KeyFile:
        """The parsed file of ``address``; ``KeyNotFound`` / ``CorruptKeystore``."""
        path = self._path(address)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise KeyNotFound(f"no key {address} in {self._dir}") from None
        keyfile = parse_keyfile(data)
        if keyfile.address != address:
            raise CorruptKeystore(f"corrupt keystore file: {path.name} holds address {keyfile.address}")
        return keyfile

    def _scan(self) -> list[KeyFile]:
        found: list[KeyFile] = []
        for entry in sorted(self._dir.iterdir()):
            match = _FILE_RE.fullmatch(entry.name)
            if match is None:
                continue
            try:
                found.append(self._read(match.group(1)))
            except KeyNotFound:
                continue  # deleted meanwhile
            except CorruptKeystore as exc:
                _log.warning("skipping unreadable key file %s: %s", entry.name, exc.message)
        return found

    def list(self) -> list[KeyInfo]:
        """All readable keys, sorted by name then address. Unreadable files are skipped with a
        warning in the log, so one damaged file does not hide the others."""
        infos = [KeyInfo.from_keyfile(keyfile) for keyfile in self._scan()]
        return sorted(infos, key=lambda info: (info.name, info.address))

    def _resolve(self, ref: str) -> KeyFile:
        if not isinstance(ref, str) or not ref:
            raise KeyNotFound("a key is named by its address or its name")
        if ref[:2].lower() == "0x":
            return self._read(crypto.validate_address(ref))
        matches = [keyfile for keyfile in self._scan() if keyfile.name == ref]
        if not matches:
            raise KeyNotFound(f"no key named {ref!r} in {self._dir}")
        if len(matches) > 1:
            addresses = ", ".join(keyfile.address for keyfile in matches)
            raise AmbiguousKeyName(f"the name {ref!r} is used by several keys ({addresses}); use the address")
        return matches[0]

    def get(self, ref: str) -> KeyInfo:
        """The key named by address or name, without decrypting it."""
        return KeyInfo.from_keyfile(self._resolve(ref))

    def __contains__(self, ref: object) -> bool:
        if not isinstance(ref, str):
            return False
        try:
            self._resolve(ref)
        except ChainError:
            return False
        return True

    def export(self, ref: str) -> bytes:
        """An exact copy of the key's encrypted file (safe to back up; useless without the password)."""
        keyfile = self._resolve(ref)
        return self._path(keyfile.address).read_bytes()

    # -- decrypting -------------------------------------------------------------------------

    def _strong_enough(self, keyfile: KeyFile) -> KeyFile:
        """Refuse a file whose scrypt cost is below this keystore's floor (before any decryption)."""
        n = keyfile.kdfparams.n
        if n < self._min_read_n:
            raise WeakKeystore(
                f"key {keyfile.name} ({keyfile.address}) is encrypted with scrypt n={n}, below the minimum "
                f"{self._min_read_n}: a stolen copy would be cheap to brute-force. Restore it from its recovery "
                f"phrase or private key (which re-encrypts it at n={self._scrypt_n}) and delete the old file")
        return keyfile

    def load(self, ref: str, password: str) -> UnlockedKey:
        """Decrypt a key: ``WrongPassword``, ``CorruptKeystore``, ``WeakKeystore`` or ``KeyNotFound``."""
        keyfile = self._strong_enough(self._resolve(ref))
        secret = decrypt(keyfile, password)
        return UnlockedKey(
            info=KeyInfo.from_keyfile(keyfile),
            keypair=secret.keypair,
            mnemonic=secret.mnemonic,
            path=secret.path,
            bip39_passphrase=secret.bip39_passphrase,
        )

    def load_keypair(self, ref: str, password: str) -> KeyPair:
        return self.load(ref, password).keypair

    # -- changing -----------------------------------------------------------------------------

    def _check_free(self, address: str, name: str, *, ignore: str | None = None) -> None:
        """Under the lock: refuse a taken address or name (``ignore``: the key being renamed)."""
        if address != ignore and self._path(address).exists():
            raise KeyExists(f"key {address} is already held as {self._read(address).name!r} in {self._dir}; "
                            "a key is held once, under one name (rename it to change its name)")
        for keyfile in self._scan():
            if keyfile.name == name and keyfile.address != ignore:
                raise KeyExists(f"the name {name!r} is already used by key {keyfile.address}")

    def _store_new(self, secret: Secret, password: str, name: str | None) -> KeyInfo:
        check_new_password(password)
        chosen = validate_name(name if name is not None else _default_name(secret.keypair.address))
        with atomic.locked(self._dir):
            atomic.remove_stale_temps(self._dir)
            self._check_free(secret.keypair.address, chosen)
            keyfile = encrypt(secret, password, name=chosen, scrypt_n=self._scrypt_n)
            atomic.atomic_write(self._path(keyfile.address), keyfile.to_bytes())
        return KeyInfo.from_keyfile(keyfile)

    def create(self, password: str, name: str | None = None, *, words: int | None = 24) -> KeyInfo:
        """A new random key. With ``words`` (12 or 24) it comes from a fresh BIP-39 phrase that
        is stored encrypted with it (show it later through ``load(...).mnemonic``); with
        ``words=None`` it is a bare random seed (no phrase, e.g. for validator keys)."""
        if words is None:
            keypair = KeyPair.generate()
            try:
                return self._store_new(Secret(keypair=keypair), password, name)
            finally:
                keypair.wipe()
        phrase = generate_mnemonic(words)
        return self.import_mnemonic(phrase, password, name)

    def import_seed(self, seed: bytes | bytearray, password: str, name: str | None = None) -> KeyInfo:
        """Store an existing 32-byte Ed25519 seed."""
        keypair = KeyPair(seed)
        try:
            return self._store_new(Secret(keypair=keypair), password, name)
        finally:
            keypair.wipe()

    def import_keypair(self, keypair: KeyPair, password: str, name: str | None = None) -> KeyInfo:
        return self.import_seed(keypair.seed_bytes(), password, name)

    def import_mnemonic(
        self,
        phrase: str,
        password: str,
        name: str | None = None,
        *,
        passphrase: str = "",
        path: str = DEFAULT_PATH,
    ) -> KeyInfo:
        """Restore the key of a BIP-39 phrase (and optional BIP-39 passphrase) at ``path``.

        The BIP-39 passphrase itself is not stored, only whether one was used: it is the
        owner's second factor, and the derived key is what signing needs.
        """
        normalized = validate_mnemonic(phrase)
        canonical_path = format_path(parse_path(path))
        keypair = keypair_from_mnemonic(normalized, passphrase, canonical_path)
        secret = Secret(keypair=keypair, mnemonic=normalized, path=canonical_path, bip39_passphrase=bool(passphrase))
        try:
            return self._store_new(secret, password, name)
        finally:
            keypair.wipe()

    def import_file(
        self,
        source: bytes | str | os.PathLike[str],
        *,
        name: str | None = None,
        password: str | None = None,
    ) -> KeyInfo:
        """Add an exported key file (its bytes, or a path to it). With ``password`` the file is
        decrypted first, so a file that does not open is refused before it is stored; ``name``
        replaces the file's name (e.g. when that name is taken here)."""
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
        keyfile = self._strong_enough(parse_keyfile(data))
        if password is not None:
            decrypt(keyfile, password).wipe()
        if name is not None:
            keyfile = keyfile.model_copy(update={"name": validate_name(name)})
        with atomic.locked(self._dir):
            atomic.remove_stale_temps(self._dir)
            self._check_free(keyfile.address, keyfile.name)
            atomic.atomic_write(self._path(keyfile.address), keyfile.to_bytes())
        return KeyInfo.from_keyfile(keyfile)

    def rename(self, ref: str, new_name: str) -> KeyInfo:
        """Change a key's name (a clear label: no password needed, the secret is untouched)."""
        validate_name(new_name)
        with atomic.locked(self._dir):
            atomic.remove_stale_temps(self._dir)
            keyfile = self._resolve(ref)
            self._check_free(keyfile.address, new_name, ignore=keyfile.address)
            renamed = keyfile.model_copy(update={"name": new_name})
            atomic.atomic_write(self._path(keyfile.address), renamed.to_bytes())
        return KeyInfo.from_keyfile(renamed)

    def change_password(self, ref: str, old_password: str, new_password: str) -> KeyInfo:
        """Re-encrypt under ``new_password`` (fresh salt and nonce, this keystore's scrypt cost)."""
        check_new_password(new_password)
        with atomic.locked(self._dir):
            atomic.remove_stale_temps(self._dir)
            keyfile = self._resolve(ref)
            secret = decrypt(keyfile, old_password)
            try:
                updated = encrypt(secret, new_password, name=keyfile.name, scrypt_n=self._scrypt_n, created=keyfile.created)
            finally:
                secret.wipe()
            atomic.atomic_write(self._path(keyfile.address), updated.to_bytes())
        return KeyInfo.from_keyfile(updated)

    def delete(self, ref: str) -> str:
        """Remove a key's file and return its address. Irreversible unless the key was exported
        or its phrase kept. By address this also removes a file that no longer parses."""
        with atomic.locked(self._dir):
            if isinstance(ref, str) and ref[:2].lower() == "0x":
                address = crypto.validate_address(ref)
                if not self._path(address).exists():
                    raise KeyNotFound(f"no key {address} in {self._dir}")
            else:
                address = self._resolve(ref).address
            atomic.remove_durably(self._path(address))
        return address
