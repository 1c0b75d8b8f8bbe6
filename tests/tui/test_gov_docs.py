"""Every ``aitbc gov`` command in docs/governance.md parses with the real CLI: its sub-command,
arguments and options exist and take the values shown. (The commands run for real, against
daemons, in tests/wallet/test_gov_cli.py.)"""

from __future__ import annotations

import shlex
from pathlib import Path

import click
import typer.main

from aitbc_tui.cli import app

DOC = Path(__file__).resolve().parents[2] / "docs" / "governance.md"


def doc_commands() -> list[list[str]]:
    commands, in_block = [], False
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_block = not in_block
        elif in_block and line.startswith("aitbc gov"):
            commands.append(shlex.split(line)[1:])
    return commands


def test_every_documented_command_parses() -> None:
    commands = doc_commands()
    assert len(commands) >= 14
    assert {c[1] for c in commands} == {"params", "propose", "deposit", "vote", "list", "show"}
    assert {c[2] for c in commands if c[1] == "propose"} == {
        "param-change", "treasury-spend", "coordinator-update", "validator-update", "software-upgrade", "text"}
    root = typer.main.get_command(app)
    for args in commands:
        ctx = root.make_context("aitbc", list(args), resilient_parsing=False)
        group = root
        rest = list(args)
        while isinstance(group, click.Group):
            name, group, rest = group.resolve_command(ctx, rest)
            assert group is not None, args
            ctx = group.make_context(name or "", rest, parent=ctx)
            rest = ctx.protected_args + ctx.args if isinstance(group, click.Group) else []
        assert ctx.params, args
