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
from storage.database import open_database
from storage.schema import SchemaReport


class MigrationOutcome(BaseModel):
    service: str
    component: str
    found: int | None
    version: int
    backup: str | None
    applied: list[str]


def _outcome(service: str, report: SchemaReport) -> MigrationOutcome:
    return MigrationOutcome(service=service, component=report.component, found=report.found, version=report.version,
                            backup=str(report.backup) if report.backup else None, applied=list(report.applied))


def migrate_home(home: Home) -> list[MigrationOutcome]:
    """Migrate the node's and the coordinator's databases of ``home`` that exist; the others are
    left for their daemon to create."""
    from daemons.coordinator.settings import CoordinatorSettings
    from daemons.coordinator.store import CoordinatorStore
    from daemons.node.settings import NodeSettings
    from storage.chain_store import ChainStore

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
            outcomes.append(_outcome(service, store.schema))
        finally:
            database.close()
    return outcomes
