"""Persistence for the daemons: peewee models and the stores built on them.

- ``storage.database``: ``open_database(url, default_path)`` (SQLite in WAL mode by default, any
  peewee URL such as ``postgresql://`` through ``DATABASE_URL``) and ``bind_model``, which gives
  each store its own copy of a table declaration bound to its own database.
- ``storage.chain_store``: ``ChainStore``: final blocks, transactions, the address and receipt
  indexes and the world state; a block is stored whole or not at all.
- ``storage.mempool_store``: ``MempoolStore``: accepted transactions survive restarts.

Storage depends on ``chain`` (its types and ``State``) and on nothing above it.
"""

from storage.chain_store import ChainHead, ChainStore, StoredReceipt, StoredTx, addresses_of
from storage.database import SchemaModel, bind_model, open_database
from storage.errors import (
    BlockOutOfOrder, DatabaseUnavailable, GenesisMismatch, NotInitialized, SchemaVersionMismatch, StateMismatch,
    StorageError,
)
from storage.mempool_store import MempoolEntry, MempoolStore

__all__ = [
    "BlockOutOfOrder", "ChainHead", "ChainStore", "DatabaseUnavailable", "GenesisMismatch", "MempoolEntry",
    "MempoolStore", "NotInitialized", "SchemaModel", "SchemaVersionMismatch", "StateMismatch", "StorageError",
    "StoredReceipt", "StoredTx", "addresses_of", "bind_model", "open_database",
]
