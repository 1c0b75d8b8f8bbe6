"""API keys (hashed) and named leases."""

from __future__ import annotations

from daemons.coordinator.store.base import StoreBase
from daemons.coordinator.store.records import ApiKeyRecord
from daemons.coordinator.store.tables import ApiKeyRow


class KeysAndLeases(StoreBase):
    # -- API keys --------------------------------------------------------------------------------

    def add_key(self, key_id: str, key_hash: str, role: str, address: str, label: str, now_ms: int,
                default_max_price: int | None = None) -> ApiKeyRecord:
        self.Key.insert(key_id=key_id, key_hash=key_hash, role=role, address=address, label=label,
                        created_ms=now_ms, revoked_ms=None, default_max_price=default_max_price).execute()
        return self._key_record(self.Key.get_by_id(key_id))

    def key_by_hash(self, key_hash: str) -> ApiKeyRecord | None:
        return self._maybe(self.Key.get_or_none(self.Key.key_hash == key_hash), self._key_record)

    def get_key(self, key_id: str) -> ApiKeyRecord | None:
        return self._maybe(self.Key.get_or_none(self.Key.key_id == key_id), self._key_record)

    def list_keys(self) -> list[ApiKeyRecord]:
        return [self._key_record(r) for r in self.Key.select().order_by(self.Key.created_ms, self.Key.key_id)]

    def revoke_key(self, key_id: str, now_ms: int) -> bool:
        """True when the key existed and was active; revoking twice is a no-op."""
        updated = (self.Key.update(revoked_ms=now_ms)
                   .where((self.Key.key_id == key_id) & (self.Key.revoked_ms.is_null())).execute())
        return updated == 1

    def set_key_max_price(self, key_id: str, default_max_price: int | None) -> bool:
        """Give an active key a default max price (``None``: back to the coordinator's); True when
        the key exists and is active. A revoked key is left as it was: it is never used again."""
        updated = (self.Key.update(default_max_price=default_max_price)
                   .where((self.Key.key_id == key_id) & (self.Key.revoked_ms.is_null())).execute())
        return updated == 1

    @staticmethod
    def _key_record(row: ApiKeyRow) -> ApiKeyRecord:
        return ApiKeyRecord(key_id=row.key_id, role=row.role, address=row.address, label=row.label,
                            created_ms=row.created_ms, revoked_ms=row.revoked_ms,
                            default_max_price=row.default_max_price)

    # -- leases -----------------------------------------------------------------------------------

    def hold_lease(self, name: str, holder: str, now_ms: int, ttl_ms: int) -> bool:
        """Take or renew the named lease; True while ``holder`` has it. A crashed holder's lease
        lapses after ``ttl_ms``, and another process takes over."""
        L = self.Lease
        with self._db.atomic():
            L.insert(name=name, holder=holder, expires_ms=now_ms + ttl_ms).on_conflict_ignore().execute()
            updated = (L.update(holder=holder, expires_ms=now_ms + ttl_ms)
                       .where((L.name == name) & ((L.holder == holder) | (L.expires_ms < now_ms))).execute())
        return updated == 1

    def release_lease(self, name: str, holder: str) -> None:
        L = self.Lease
        L.delete().where((L.name == name) & (L.holder == holder)).execute()
