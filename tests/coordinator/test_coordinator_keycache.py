"""The coordinator's in-memory API key cache (``Authenticator.key``) on a real SQLite store: a
known key is reused without a database read, a revocation is honoured at once once the revoking
process forgets the key, a lookup that raced the revocation caches nothing, unknown keys are not
cached, and ``key_cache = 0`` reads the database every time. The end-to-end case (a key used,
revoked through the CLI, refused on its next request) is in ``test_coordinator_access``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from daemons.common.home import Home
from daemons.common.settings import load_settings
from daemons.coordinator.auth import Authenticator, hash_key, new_api_key
from daemons.coordinator.settings import CoordinatorSettings
from daemons.coordinator.store import ApiKeyRecord, CoordinatorStore
from storage.database import open_database

CLIENT = "0x" + "11" * 20


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CoordinatorStore]:
    opened = CoordinatorStore(open_database("", tmp_path / "coordinator.db"))
    yield opened
    opened.close()


def authenticator(tmp_path: Path, store: CoordinatorStore, key_cache: float) -> Authenticator:
    settings = load_settings(CoordinatorSettings, Home(root=tmp_path / "home"), key_cache=key_cache)
    return Authenticator(settings, lambda: store)


def new_key(store: CoordinatorStore) -> tuple[str, str]:
    """(key_id, hash) of a fresh client key."""
    key_id, api_key = new_api_key()
    store.add_key(key_id, hash_key(api_key), "client", CLIENT, "", 1)
    return key_id, hash_key(api_key)


def test_a_known_key_is_reused_until_forgotten(tmp_path: Path, store: CoordinatorStore) -> None:
    auth = authenticator(tmp_path, store, key_cache=60)
    key_id, key_hash = new_key(store)
    first = auth.key(key_hash)
    assert first is not None and first.revoked_ms is None
    assert store.revoke_key(key_id, 2)
    cached = auth.key(key_hash)
    assert cached is not None and cached.revoked_ms is None, "within key_cache the database is not read again"
    auth.forget(key_id)
    revoked = auth.key(key_hash)
    assert revoked is not None and revoked.revoked_ms == 2, "forgotten: the revocation is seen at once"


def test_a_lookup_racing_a_revocation_caches_nothing(tmp_path: Path, store: CoordinatorStore,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A request reads the key's row, the key is revoked and forgotten before that request stores
    what it read: the stale, still-active record must not be cached."""
    auth = authenticator(tmp_path, store, key_cache=60)
    key_id, key_hash = new_key(store)
    read_row = store.key_by_hash

    def read_then_revoked(wanted: str) -> ApiKeyRecord | None:
        record = read_row(wanted)
        assert store.revoke_key(key_id, 3)
        auth.forget(key_id)
        return record

    monkeypatch.setattr(store, "key_by_hash", read_then_revoked)
    stale = auth.key(key_hash)
    assert stale is not None and stale.revoked_ms is None, "this one request saw the row before the revocation"
    monkeypatch.setattr(store, "key_by_hash", read_row)
    after = auth.key(key_hash)
    assert after is not None and after.revoked_ms == 3


def test_unknown_keys_are_not_cached_and_zero_turns_the_cache_off(tmp_path: Path, store: CoordinatorStore) -> None:
    auth = authenticator(tmp_path, store, key_cache=60)
    key_id, api_key = new_api_key()
    assert auth.key(hash_key(api_key)) is None
    store.add_key(key_id, hash_key(api_key), "client", CLIENT, "", 1)
    found = auth.key(hash_key(api_key))
    assert found is not None and found.key_id == key_id, "a key created after a miss works at once"

    uncached = authenticator(tmp_path, store, key_cache=0)
    other_id, other_hash = new_key(store)
    assert uncached.key(other_hash) is not None
    assert store.revoke_key(other_id, 4)
    seen = uncached.key(other_hash)
    assert seen is not None and seen.revoked_ms == 4
