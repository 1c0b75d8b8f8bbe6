"""Typed failures of the storage layer.

Daemons turn these into one-line operator errors; they are kept apart from ``chain.errors``
because a storage failure says nothing about the validity of a block or transaction, only that
the database cannot hold, or does not hold, what the caller expected.
"""

from __future__ import annotations

from chain.errors import MessageError


class StorageError(MessageError):
    """Base of every storage failure; ``str(exc)`` is one line an operator can act on."""


class DatabaseUnavailable(StorageError):
    """The database URL is malformed or names a server that cannot be reached."""


class NotInitialized(StorageError):
    """The chain store holds no genesis yet: ``initialize`` must run first."""


class GenesisMismatch(StorageError):
    """The database was initialized for another chain or another genesis document."""


class BlockOutOfOrder(StorageError):
    """A block does not extend the stored head (wrong height, parent or state root)."""


class StateMismatch(StorageError):
    """The state rebuilt from the rows does not commit to the head block's ``state_root``:
    the database was altered or damaged outside this store."""


class SchemaVersionMismatch(StorageError):
    """The database was written by a newer or older storage schema than this code reads."""
