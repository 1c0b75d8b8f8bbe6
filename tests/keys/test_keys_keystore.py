"""The encrypted keystore: round trips, typed errors, file modes, no plaintext on disk, and
tamper resistance (a changed byte never yields a different key)."""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
from functools import lru_cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chain.errors import InvalidAddress
from keys import (
    DEFAULT_SCRYPT_N,
    MIN_READ_SCRYPT_N,
    AmbiguousKeyName,
    CorruptKeystore,
    InvalidKeyName,
    InvalidMnemonic,
    InvalidPassword,
    KeyExists,
    KeyNotFound,
    KeyPair,
    Keystore,
    WeakKeystore,
    WrongPassword,
    entropy_to_mnemonic,
    keypair_from_mnemonic,
    parse_keyfile,
)
from keys.keyfile import NAME_PATTERN, validate_name
FAST_N = 2**4

PHRASE = "legal winner thank year wave sausage worth useful legal winner thank yellow"
SEED = bytes(range(100, 132))


def _file(ks: Keystore, address: str) -> Path:
    return ks.directory / f"{address}.json"


# -- round trips -------------------------------------------------------------------------------


def test_create_with_phrase_and_load(keystore: Keystore) -> None:
    info = keystore.create("pw", "alice")
    assert info.kind == "mnemonic" and info.name == "alice"
    unlocked = keystore.load("alice", "pw")
    assert unlocked.address == info.address
    assert unlocked.mnemonic is not None and len(unlocked.mnemonic.split()) == 24
    assert keypair_from_mnemonic(unlocked.mnemonic, "", unlocked.path or "").address == info.address
    assert unlocked.mnemonic not in repr(unlocked)
    assert keystore.load(info.address, "pw").address == info.address


def test_create_bare_seed(keystore: Keystore) -> None:
    info = keystore.create("pw", words=None)
    assert info.kind == "seed" and info.name == f"key-{info.address[2:10]}"
    unlocked = keystore.load(info.address, "pw")
    assert unlocked.mnemonic is None and unlocked.path is None


def test_import_seed_signs_the_same(keystore: Keystore) -> None:
    info = keystore.import_seed(SEED, "pw", "imported")
    kp = keystore.load_keypair("imported", "pw")
    assert kp.address == KeyPair.from_seed(SEED).address == info.address
    assert kp.seed_bytes() == SEED


def test_restore_from_words_gives_same_key(tmp_path: Path) -> None:
    first = Keystore(tmp_path / "a", scrypt_n=FAST_N)
    created = first.create("pw", "w", words=12)
    phrase = first.load("w", "pw").mnemonic
    assert phrase is not None
    second = Keystore(tmp_path / "b", scrypt_n=FAST_N)
    restored = second.import_mnemonic(phrase, "other", "restored")
    assert restored.address == created.address
    assert second.load("restored", "other").keypair.seed_bytes() == first.load("w", "pw").keypair.seed_bytes()


def test_import_mnemonic_with_passphrase_and_path(keystore: Keystore) -> None:
    info = keystore.import_mnemonic(PHRASE, "pw", "p", passphrase="TREZOR", path="m/44h/1337h/0h/0h/7h")
    assert info.address == keypair_from_mnemonic(PHRASE, "TREZOR", "m/44'/1337'/0'/0'/7'").address
    unlocked = keystore.load("p", "pw")
    assert unlocked.path == "m/44'/1337'/0'/0'/7'" and unlocked.bip39_passphrase


def test_import_bad_mnemonic_writes_nothing(keystore: Keystore) -> None:
    with pytest.raises(InvalidMnemonic, match="word 1"):
        keystore.import_mnemonic("notaword " + PHRASE.split(" ", 1)[1], "pw", "x")
    assert keystore.list() == []


def test_list_get_contains(keystore: Keystore) -> None:
    b = keystore.import_seed(SEED, "pw", "bravo")
    a = keystore.create("pw2", "alpha", words=12)
    assert [info.name for info in keystore.list()] == ["alpha", "bravo"]
    assert keystore.get("bravo") == b == keystore.get(b.address)
    assert "alpha" in keystore and a.address in keystore and "nobody" not in keystore
    assert keystore.get("alpha").pubkey == keystore.load("alpha", "pw2").keypair.pubkey.hex()


def test_rename_change_password_delete(keystore: Keystore) -> None:
    info = keystore.import_seed(SEED, "pw", "old")
    assert keystore.rename("old", "new").name == "new"
    with pytest.raises(KeyNotFound):
        keystore.get("old")
    keystore.change_password("new", "pw", "pw2")
    with pytest.raises(WrongPassword):
        keystore.load("new", "pw")
    assert keystore.load("new", "pw2").address == info.address
    assert keystore.get("new").created == info.created
    assert keystore.delete("new") == info.address
    assert keystore.list() == [] and not _file(keystore, info.address).exists()
    with pytest.raises(KeyNotFound):
        keystore.delete(info.address)


def test_export_and_import_file(keystore: Keystore, tmp_path: Path) -> None:
    info = keystore.import_seed(SEED, "pw", "moving")
    exported = keystore.export("moving")
    assert exported == _file(keystore, info.address).read_bytes()
    other = Keystore(tmp_path / "other", scrypt_n=FAST_N)
    with pytest.raises(WrongPassword):
        other.import_file(exported, password="nope")
    assert other.list() == []
    (tmp_path / "backup.json").write_bytes(exported)
    assert other.import_file(tmp_path / "backup.json", password="pw").address == info.address
    with pytest.raises(KeyExists):
        other.import_file(exported)
    third = Keystore(tmp_path / "third", scrypt_n=FAST_N)
    third.import_seed(bytes(32), "pw", "moving")
    with pytest.raises(KeyExists, match="name 'moving'"):
        third.import_file(exported)
    assert third.import_file(exported, name="moved").name == "moved"
    assert third.load("moved", "pw").keypair.seed_bytes() == SEED
    with pytest.raises(CorruptKeystore):
        third.import_file(b"{not json")


# -- refusals ----------------------------------------------------------------------------------


def test_duplicates_refused(keystore: Keystore) -> None:
    keystore.import_seed(SEED, "pw", "one")
    # Importing a held key again, even under a new name, says which name holds it.
    with pytest.raises(KeyExists, match="already held as 'one'"):
        keystore.import_seed(SEED, "pw", "two")
    keystore.create("pw", "three", words=None)
    with pytest.raises(KeyExists, match="name 'one'"):
        keystore.create("pw", "one", words=None)
    with pytest.raises(KeyExists):
        keystore.rename("three", "one")
    assert sorted(info.name for info in keystore.list()) == ["one", "three"]


@pytest.mark.parametrize("name", ["", " x", "a/b", "0xabc", "x" * 65, "naïve", "-dash"])
def test_bad_names_refused(keystore: Keystore, name: str) -> None:
    with pytest.raises(InvalidKeyName):
        keystore.import_seed(SEED, "pw", name)
    assert keystore.list() == []


@settings(max_examples=400)
@given(st.one_of(
    st.text(alphabet="0xX1aZ._-/é \n", max_size=4),
    st.text(alphabet="abcxX0189._-", min_size=60, max_size=66),
    st.text(max_size=70),
    st.sampled_from(["0", "0x", "0X", "0y", "0.", "x", "00x", "0xabc", "0Xa", "a" * 64, "a" * 65, "abc\n"]),
))
def test_the_schema_pattern_is_the_name_rule(name: str) -> None:
    """``NAME_PATTERN`` (what API schemas tell clients) accepts exactly what ``validate_name`` does."""
    matches = re.fullmatch(NAME_PATTERN, name) is not None
    if matches:
        validate_name(name)
    else:
        with pytest.raises(InvalidKeyName):
            validate_name(name)


def test_empty_password_refused(keystore: Keystore) -> None:
    with pytest.raises(InvalidPassword):
        keystore.create("", "x")
    assert keystore.list() == []


def test_not_found_and_bad_address(keystore: Keystore) -> None:
    with pytest.raises(KeyNotFound, match="no key named 'ghost'"):
        keystore.load("ghost", "pw")
    with pytest.raises(KeyNotFound):
        keystore.get("0x" + "ab" * 20)
    with pytest.raises(InvalidAddress):
        keystore.get("0xABC")


def test_wrong_password_message_has_no_secret(keystore: Keystore) -> None:
    keystore.import_seed(SEED, "correct horse", "k")
    with pytest.raises(WrongPassword) as excinfo:
        keystore.load("k", "battery staple")
    text = str(excinfo.value)
    assert "battery" not in text and "correct" not in text and SEED.hex() not in text
    assert "wrong password for 'k' (0x" in text  # the name the user typed, not only an address


# -- the file on disk --------------------------------------------------------------------------


def test_modes(tmp_path: Path) -> None:
    ks = Keystore(tmp_path / "deep" / "keys", scrypt_n=FAST_N)
    info = ks.create("pw", "m", words=None)
    assert stat.S_IMODE(ks.directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(_file(ks, info.address).stat().st_mode) == 0o600
    ks.rename("m", "m2")
    ks.change_password("m2", "pw", "pw2")
    assert stat.S_IMODE(_file(ks, info.address).stat().st_mode) == 0o600


def test_loose_existing_dir_is_tightened(tmp_path: Path) -> None:
    loose = tmp_path / "keys"
    loose.mkdir(mode=0o755)
    os.chmod(loose, 0o755)
    Keystore(loose, scrypt_n=FAST_N)
    assert stat.S_IMODE(loose.stat().st_mode) == 0o700


def test_no_plaintext_on_disk(keystore: Keystore) -> None:
    info = keystore.import_mnemonic(PHRASE, "pw", "plain")
    seed = keystore.load("plain", "pw").keypair.seed_bytes()
    keystore.rename("plain", "plain2")
    keystore.change_password("plain2", "pw", "pw-two")
    for entry in keystore.directory.iterdir():
        data = entry.read_bytes()
        assert seed not in data and seed.hex().encode() not in data
        assert PHRASE.encode() not in data and PHRASE.replace(" ", "").encode() not in data
        assert b"pw-two" not in data
    document = json.loads(_file(keystore, info.address).read_text())
    assert set(document) == {
        "version", "address", "pubkey", "name", "created", "kind",
        "kdf", "kdfparams", "cipher", "nonce", "ciphertext", "tag",
    }
    assert document["version"] == 1 and document["kind"] == "mnemonic"
    assert document["kdf"] == "scrypt" and document["cipher"] == "aes-256-gcm"
    assert document["kdfparams"] == {"n": FAST_N, "r": 8, "p": 1, "salt": document["kdfparams"]["salt"], "dklen": 32}


def test_fresh_salt_and_nonce_every_write(keystore: Keystore) -> None:
    info = keystore.import_seed(SEED, "pw", "s")
    before = json.loads(_file(keystore, info.address).read_text())
    keystore.change_password("s", "pw", "pw")
    after = json.loads(_file(keystore, info.address).read_text())
    assert before["nonce"] != after["nonce"] and before["kdfparams"]["salt"] != after["kdfparams"]["salt"]
    assert before["ciphertext"] != after["ciphertext"]


def test_default_cost_is_documented_value(tmp_path: Path) -> None:
    assert DEFAULT_SCRYPT_N == 2**17
    ks = Keystore(tmp_path / "keys")
    info = ks.create("pw", "real", words=None)
    assert json.loads(_file(ks, info.address).read_text())["kdfparams"]["n"] == 2**17
    assert ks.load("real", "pw").address == info.address
    with pytest.raises(ValueError):
        Keystore(tmp_path / "x", scrypt_n=1000)


# -- corrupt files -----------------------------------------------------------------------------


def _edit(ks: Keystore, address: str, change: dict[str, object] | None = None, drop: str | None = None) -> None:
    path = _file(ks, address)
    document = json.loads(path.read_text())
    if change:
        document.update(change)
    if drop:
        del document[drop]
    path.write_text(json.dumps(document))


@pytest.mark.parametrize(
    ("change", "drop", "error", "message"),
    [
        ({"version": 2}, None, CorruptKeystore, "unsupported keystore version 2"),
        (None, "version", CorruptKeystore, "'version' field is missing"),
        (None, "tag", CorruptKeystore, "tag"),
        ({"extra": 1}, None, CorruptKeystore, "extra"),
        ({"kdf": "pbkdf2"}, None, CorruptKeystore, "kdf"),
        ({"cipher": "aes-128-ctr"}, None, CorruptKeystore, "cipher"),
        ({"address": "0x" + "00" * 20}, None, CorruptKeystore, "address"),
        ({"nonce": "00"}, None, CorruptKeystore, "nonce"),
        ({"kind": "mnemonic"}, None, CorruptKeystore, "ciphertext"),
        ({"kdfparams": {"n": 2**30, "r": 8, "p": 1, "salt": "00" * 32, "dklen": 32}}, None, CorruptKeystore, "1 GiB"),
        ({"nonce": "00" * 12}, None, WrongPassword, "wrong password"),
        ({"tag": "00" * 16}, None, WrongPassword, "wrong password"),
    ],
)
def test_damaged_files(
    keystore: Keystore, change: dict[str, object] | None, drop: str | None, error: type[Exception], message: str
) -> None:
    info = keystore.import_seed(SEED, "pw", "victim")
    _edit(keystore, info.address, change, drop)
    with pytest.raises(error, match=message):
        keystore.load(info.address, "pw")


def test_address_and_pubkey_swapped_consistently_is_caught(keystore: Keystore) -> None:
    """Replacing the clear address and pubkey with another valid pair still fails: both are
    authenticated as associated data, so the old ciphertext no longer opens."""
    info = keystore.import_seed(SEED, "pw", "victim")
    other = KeyPair.generate()
    path = _file(keystore, info.address)
    document = json.loads(path.read_text())
    document.update(address=other.address, pubkey=other.pubkey.hex())
    path.unlink()
    _file(keystore, other.address).write_text(json.dumps(document))
    with pytest.raises(WrongPassword):
        keystore.load(other.address, "pw")


def test_file_under_wrong_name_is_corrupt(keystore: Keystore) -> None:
    info = keystore.import_seed(SEED, "pw", "victim")
    fake = "0x" + "11" * 20
    _file(keystore, info.address).rename(_file(keystore, fake))
    with pytest.raises(CorruptKeystore, match="holds address"):
        keystore.load(fake, "pw")


def test_corrupt_file_skipped_in_list_and_deletable(keystore: Keystore) -> None:
    good = keystore.import_seed(SEED, "pw", "good")
    bad = keystore.create("pw", "bad", words=None)
    _file(keystore, bad.address).write_text("garbage")
    assert [info.address for info in keystore.list()] == [good.address]
    with pytest.raises(CorruptKeystore, match="not valid JSON"):
        keystore.load(bad.address, "pw")
    assert keystore.delete(bad.address) == bad.address
    with pytest.raises(CorruptKeystore):
        parse_keyfile(b"[]")
    with pytest.raises(CorruptKeystore):
        parse_keyfile(b"\xff\xfe")


def test_duplicate_names_from_outside_are_ambiguous(keystore: Keystore) -> None:
    a = keystore.import_seed(SEED, "pw", "twin")
    b = keystore.create("pw", "other", words=None)
    _edit(keystore, b.address, {"name": "twin"})
    with pytest.raises(AmbiguousKeyName):
        keystore.get("twin")
    assert keystore.get(a.address).name == "twin"


# -- tampering: a changed byte never gives a different key -------------------------------------


@lru_cache(maxsize=1)
def _pristine() -> tuple[bytes, str, bytes, str]:
    with tempfile.TemporaryDirectory() as directory:
        ks = Keystore(directory, scrypt_n=FAST_N)
        info = ks.import_mnemonic(PHRASE, "pw", "orig")
        return ks.export("orig"), info.address, ks.load("orig", "pw").keypair.seed_bytes(), PHRASE


def _open_tampered(data: bytes) -> None:
    original, address, seed, phrase = _pristine()
    with tempfile.TemporaryDirectory() as directory:
        ks = Keystore(directory, scrypt_n=FAST_N)
        (Path(directory) / f"{address}.json").write_bytes(data)
        try:
            unlocked = ks.load(address, "pw")
        except (CorruptKeystore, WrongPassword):
            return
        # Opening is allowed only when the secret is exactly the original one (e.g. the byte
        # was in the clear, unauthenticated name).
        assert unlocked.address == address
        assert unlocked.keypair.seed_bytes() == seed
        assert unlocked.mnemonic == phrase


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_flipped_byte(data: st.DataObject) -> None:
    original = _pristine()[0]
    position = data.draw(st.integers(min_value=0, max_value=len(original) - 1))
    value = data.draw(st.integers(min_value=0, max_value=255).filter(lambda v: v != original[position]))
    _open_tampered(original[:position] + bytes([value]) + original[position + 1 :])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_changed_hex_digit(data: st.DataObject) -> None:
    """Flips aimed at the values that matter: ciphertext, tag, nonce, salt, pubkey, address."""
    original = _pristine()[0]
    text = original.decode()
    field = data.draw(st.sampled_from(["ciphertext", "tag", "nonce", "salt", "pubkey", "address"]))
    marker = f'"{field}": "'
    start = text.index(marker) + len(marker)
    if field == "address":
        start += 2
    end = text.index('"', start)
    position = data.draw(st.integers(min_value=start, max_value=end - 1))
    digit = data.draw(st.sampled_from("0123456789abcdef").filter(lambda d: d != text[position]))
    _open_tampered((text[:position] + digit + text[position + 1 :]).encode())


@settings(max_examples=40, deadline=None)
@given(entropy=st.one_of(st.binary(min_size=16, max_size=16), st.binary(min_size=32, max_size=32)))
def test_any_phrase_survives_the_keystore(entropy: bytes) -> None:
    phrase = entropy_to_mnemonic(entropy)
    with tempfile.TemporaryDirectory() as directory:
        ks = Keystore(directory, scrypt_n=FAST_N)
        info = ks.import_mnemonic(phrase, "pw")
        assert info.address == keypair_from_mnemonic(phrase).address
        unlocked = ks.load(info.address, "pw")
        assert unlocked.mnemonic == phrase
        assert keypair_from_mnemonic(unlocked.mnemonic).address == info.address


def test_a_key_file_below_the_scrypt_floor_is_refused_on_read_and_nothing_changes(tmp_path: Path) -> None:
    weak = Keystore(tmp_path / "weak", scrypt_n=2**10)  # written by a careless tool (or planted)
    info = weak.create("pw-of-the-weak-file", "old", words=12)
    data = weak.export("old")
    strong = Keystore(tmp_path / "weak")  # this AITBC's default: opens nothing below 2**14
    assert MIN_READ_SCRYPT_N == 2**14
    with pytest.raises(WeakKeystore, match=r"scrypt n=1024, below the minimum 16384.*Restore it"):
        strong.load("old", "pw-of-the-weak-file")
    other = Keystore(tmp_path / "other")
    with pytest.raises(WeakKeystore):
        other.import_file(data, password="pw-of-the-weak-file")
    with pytest.raises(WeakKeystore):
        other.import_file(data)  # no password given: refused all the same, before anything is stored
    assert other.list() == [] and strong.export(info.address) == data
    # at the floor it opens; a keystore that writes below the floor itself opens its own files
    assert Keystore(tmp_path / "weak", min_read_n=2**10).load("old", "pw-of-the-weak-file").info.address == info.address
    assert weak.load("old", "pw-of-the-weak-file").info.address == info.address
