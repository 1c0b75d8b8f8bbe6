"""``aitbc home``: the installation home itself (its databases' versions and their migration)."""

from __future__ import annotations

from typing import Optional

import typer

from aitbc_tui.cli.common import command_group, emit, handle_errors, resolve_home
from aitbc_tui.cli.options import HomeOpt, JsonOpt

app = command_group("home", "The installation home: migrate its databases to this release.")


@app.command("migrate")
def migrate(
    home: HomeOpt = None,
    regenesis: bool = typer.Option(False, "--regenesis",
                                   help="The chain runs protocol 1: start a new chain from its final state (every "
                                        "balance, stake and validator carried over; the old chain archived)."),
    chain_id: Optional[str] = typer.Option(None, "--chain-id", help="The new chain's id (default: the old one + '-p2')."),
    as_json: JsonOpt = False,
) -> None:
    """Bring the node's and the coordinator's databases to this release's schema.

    SQLite files are copied to HOME/backups first (the daemons also do this themselves at
    start-up). A PostgreSQL database is migrated in one transaction per step: back it up with
    pg_dump before running this. Stop the daemons of the home first.
    """
    from daemons.ops.migrate import migrate_home
    from daemons.ops.migrate import regenesis as start_new_chain

    resolved = resolve_home(home)
    with handle_errors():
        if regenesis:
            new = start_new_chain(resolved, chain_id)
            emit(new.model_dump(), as_json, lambda d: (
                f"chain {d['old_chain_id']} (protocol 1, height {d['old_height']}) carried into new chain "
                f"{d['chain_id']} (genesis {d['genesis_hash'][:16]}) in {len(d['homes'])} node home(s)\n"
                + "\n".join(f"  archived {a}" for a in d["archived"])
                + "\nstart it with `aitbc up` (miners bond again and clients deposit escrow again on the new chain)"))
            return
        outcomes = migrate_home(resolved)

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
            if r.get("note"):
                lines.append(f"  {r['note']}")
        return "\n".join(lines)

    emit([o.model_dump() for o in outcomes], as_json, human)
