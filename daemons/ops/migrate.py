"""``aitbc home migrate``: bring every database of a home to this release's schema, with backups.

The daemons migrate their SQLite files themselves at start-up; this is the operator's explicit path,
and the only one for a server database (PostgreSQL), which an operator backs up with the server's
own tools first. Each database is opened exactly as its daemon opens it (its settings, its URL).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from daemons.common.home import Home
from daemons.common.settings import load_settings
from daemons.common.version import VERSION
from storage.chain_store import ChainStore
from storage.database import open_database
from storage.schema import SchemaReport, backup_database


class MigrationOutcome(BaseModel):
    service: str
    component: str
    found: int | None
    version: int
    backup: str | None
    applied: list[str]
    note: str | None = None


def _outcome(service: str, report: SchemaReport) -> MigrationOutcome:
    return MigrationOutcome(service=service, component=report.component, found=report.found, version=report.version,
                            backup=str(report.backup) if report.backup else None, applied=list(report.applied))


def migrate_home(home: Home) -> list[MigrationOutcome]:
    """Migrate the node's and the coordinator's databases of ``home`` that exist; the others are
    left for their daemon to create."""
    from daemons.coordinator.settings import CoordinatorSettings
    from daemons.coordinator.store import CoordinatorStore
    from daemons.node.settings import NodeSettings

    outcomes: list[MigrationOutcome] = []
    written_by = f"aitbc {VERSION}"
    for service, settings_cls, store_cls in (("node", NodeSettings, ChainStore),
                                             ("coordinator", CoordinatorSettings, CoordinatorStore)):
        settings = load_settings(settings_cls, home)
        url: str = settings.database_url  # type: ignore[attr-defined]
        if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///").split("?")[0]).exists():
            continue
        database = open_database(url, home.database_file(service))
        try:
            store = store_cls(database, written_by=written_by, backup_dir=home.backups_dir)  # type: ignore[operator]
            outcome = _outcome(service, store.schema)
            if isinstance(store, ChainStore):
                outcome.note = _protocol_note(store)
            outcomes.append(outcome)
        finally:
            database.close()
    return outcomes


def _protocol_note(store: ChainStore) -> str | None:
    from chain.protocol import PROTOCOL_VERSION, chain_protocol_version

    version = chain_protocol_version(store.get_entry("meta", "params") or {})
    if store.head() is None or version == PROTOCOL_VERSION:
        return None
    return (f"the chain runs protocol {version}, this release runs protocol {PROTOCOL_VERSION}: run "
            "`aitbc home migrate --regenesis` to start a new chain carrying every balance, stake and validator "
            "(the old chain is archived in HOME/backups)")


class RegenesisOutcome(BaseModel):
    old_chain_id: str
    old_height: int
    chain_id: str
    genesis_hash: str
    archived: list[str]
    homes: list[str]


def chain_homes(home: Home) -> list[Home]:
    """The home and the extra validator homes of a local multi-validator network (``HOME/validators``)."""
    extra = home.root / "validators"
    found = sorted(p for p in extra.iterdir() if (p / "genesis.json").is_file()) if extra.is_dir() else []
    return [home, *(Home(root=p) for p in found)]


def regenesis(home: Home, chain_id: str | None = None) -> RegenesisOutcome:
    """Start a new protocol-2 chain from a protocol-1 chain's final state (``chain.regenesis``), in
    every node home of this network; each old chain database and genesis is archived untouched in
    its home's ``backups/``. Refused while a node runs, and for a chain that is not protocol 1."""
    import time

    from chain.regenesis import export_protocol_one
    from daemons.node.init import write_genesis
    from daemons.node.settings import NodeSettings
    from daemons.ops.supervisor import running_pid
    from storage.errors import StorageError

    node_url: str = load_settings(NodeSettings, home).database_url
    if not node_url.startswith("sqlite:///"):
        raise StorageError("--regenesis works on SQLite node databases; export a server database's chain by hand")
    homes = chain_homes(home)
    for each in homes:
        if running_pid(each, "node") is not None:
            raise StorageError(f"the node of {each.root} is running: stop the network first (aitbc down --home {home.root})")
    database = open_database(None, home.database_file("node"))
    try:
        store = ChainStore(database, written_by=f"aitbc {VERSION}", backup_dir=home.backups_dir)
        head = store.head()
        state = store.load_state(head.chain_id) if head is not None else None
        if head is None or state is None:
            raise StorageError(f"{home.root} holds no chain yet: nothing to carry over")
    finally:
        database.close()
    new_id = chain_id or f"{head.chain_id}-p2"[:64]
    genesis = export_protocol_one(state.entries(), new_id, int(time.time() * 1000))
    stamp = int(time.time() * 1000)
    archived: list[str] = []
    for each in homes:
        db_file = each.database_file("node")
        if db_file.exists():
            old = open_database(None, db_file)
            try:  # one consistent file, the WAL folded in: the archive opens on its own
                archived.append(str(backup_database(old, each.backups_dir, "protocol1")))
            finally:
                old.close()
        for path in (db_file, db_file.with_name(f"{db_file.name}-wal"), db_file.with_name(f"{db_file.name}-shm")):
            path.unlink(missing_ok=True)
        if each.genesis_file.exists():
            target = each.backups_dir / f"genesis.json.protocol1.{stamp}"
            each.genesis_file.rename(target)
            archived.append(str(target))
        write_genesis(each, genesis)
    return RegenesisOutcome(old_chain_id=head.chain_id, old_height=head.height, chain_id=new_id,
                            genesis_hash=genesis.hash, archived=archived, homes=[str(h.root) for h in homes])
