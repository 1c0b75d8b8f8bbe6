"""Persistence for the daemons: peewee models and the stores built on them.

- ``storage.database``: ``open_database(url, default_path)`` (SQLite in WAL mode by default, any
  peewee URL such as ``postgresql://`` through ``DATABASE_URL``) and ``bind_model``, which gives
  each store its own copy of a table declaration bound to its own database.
- ``storage.chain_store``: ``ChainStore``: final blocks, transactions, the address and receipt
  indexes and the world state; a block is stored whole or not at all.
- ``storage.mempool_store``: ``MempoolStore``: accepted transactions survive restarts.

Storage depends on ``chain`` (its types and ``State``) and on nothing above it. Import what you
need from its module: the package re-exports nothing, so that a light import (``storage.errors``,
which every CLI command reaches) does not load peewee and the chain's types with it.
"""
