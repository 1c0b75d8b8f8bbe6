"""``aitbc home``: the installation home itself (its databases' versions and their migration)."""

from __future__ import annotations

from aitbc_tui.cli.common import command_group, emit, handle_errors, resolve_home
from aitbc_tui.cli.options import HomeOpt, JsonOpt

app = command_group("home", "The installation home: migrate its databases to this release.")


@app.command("migrate")
def migrate(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Bring the node's and the coordinator's databases to this release's schema.

    SQLite files are copied to HOME/backups first (the daemons also do this themselves at
    start-up). A PostgreSQL database is migrated in one transaction per step: back it up with
    pg_dump before running this. Stop the daemons of the home first.
    """
    from daemons.ops.migrate import migrate_home

    with handle_errors():
        outcomes = migrate_home(resolve_home(home))

    def human(rows: list[dict]) -> str:  # type: ignore[type-arg]
        if not rows:
            return "no databases in this home yet: nothing to migrate"
        lines = []
        for r in rows:
            if r["found"] == r["version"]:
                lines.append(f"{r['service']}: {r['component']} schema version {r['version']}, current")
            elif r["found"] is None:
                lines.append(f"{r['service']}: {r['component']} created at schema version {r['version']}")
            else:
                lines.append(f"{r['service']}: {r['component']} schema {r['found']} -> {r['version']}"
                             + (f" (backup {r['backup']})" if r["backup"] else ""))
                lines += [f"  - {step}" for step in r["applied"]]
        return "\n".join(lines)

    emit([o.model_dump() for o in outcomes], as_json, human)
