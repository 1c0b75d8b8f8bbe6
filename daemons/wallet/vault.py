"""Unlocked keys, in memory only, each with an idle deadline.

The vault is the one place a decrypted key lives. Every way out of the unlocked state goes
through :meth:`Vault.lock` / :meth:`Vault.lock_all` / :meth:`Vault.expire`, which wipe the key
pair's seed in place (``KeyPair.wipe``) before dropping it, so that a locked wallet leaves no
usable secret behind in this process, not even in an object someone still holds.

Time is injected (``clock``) so that idle expiry is testable without sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from keys import KeyPair


@dataclass
class _Entry:
    keypair: KeyPair
    timeout_s: float  # 0: no idle lock
    deadline: float


class Vault:
    """Key pairs by address. Use a key with :meth:`use`, which also counts as activity."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[str, _Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, address: object) -> bool:
        return address in self._entries

    def put(self, keypair: KeyPair, timeout_s: float) -> None:
        """Hold ``keypair`` (the vault now owns it and will wipe it). A key already held for the
        same address is wiped and replaced."""
        old = self._entries.pop(keypair.address, None)
        if old is not None and old.keypair is not keypair:
            old.keypair.wipe()
        self._entries[keypair.address] = _Entry(keypair, timeout_s, self._clock() + timeout_s)

    def use(self, address: str) -> KeyPair | None:
        """The unlocked key of ``address`` (its idle deadline restarts), or None when locked."""
        entry = self._entries.get(address)
        if entry is None:
            return None
        entry.deadline = self._clock() + entry.timeout_s
        return entry.keypair

    def remaining(self, address: str) -> float | None:
        """Seconds until the idle lock, or None when locked or without a timeout."""
        entry = self._entries.get(address)
        if entry is None or entry.timeout_s == 0:
            return None
        return max(0.0, entry.deadline - self._clock())

    def lock(self, address: str) -> bool:
        """Wipe and drop the key of ``address``; False when it was not unlocked."""
        entry = self._entries.pop(address, None)
        if entry is None:
            return False
        entry.keypair.wipe()
        return True

    def lock_all(self) -> list[str]:
        addresses = sorted(self._entries)
        for address in addresses:
            self.lock(address)
        return addresses

    def expire(self) -> list[str]:
        """Lock every key idle past its deadline; the addresses locked."""
        now = self._clock()
        due = sorted(a for a, e in self._entries.items() if e.timeout_s and e.deadline <= now)
        for address in due:
            self.lock(address)
        return due
