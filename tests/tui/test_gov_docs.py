"""Every ``aitbc gov`` command in docs/governance.md parses with the real CLI: its sub-command,
arguments and options exist and take the values shown, and each documented proposal's options
build a valid action with the builder ``aitbc gov propose`` and the TUI share. (The commands run
for real, against daemons, in tests/wallet/test_gov_cli.py and tests/node/test_node_gov_network.py.)"""

from __future__ import annotations

import shlex
from pathlib import Path

import typer.main

from aitbc_tui.cli import app
from aitbc_tui.cli.gov import _FLAG
from aitbc_tui.gov_actions import build_action

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
    assert {c[1] for c in commands} == {"params", "propose", "deposit", "vote", "enact", "list", "show"}
    assert {c[2] for c in commands if c[1] == "propose"} == {
        "param-change", "treasury-spend", "coordinator-update", "validator-update", "software-upgrade", "text"}
    root = typer.main.get_command(app)
    for args in commands:
        command, rest = root, list(args)
        while hasattr(command, "commands"):  # a group: descend by name (typer vendors its own click)
            assert rest and rest[0] in command.commands, args
            command, rest = command.commands[rest[0]], rest[1:]
        ctx = command.make_context(" ".join(args[:2]), rest)  # parses and converts every value
        assert command.name == args[1] and ctx.params, args
        if args[1] == "propose":
            given = {k: v for k, v in ctx.params.items() if k in _FLAG}
            action = build_action(ctx.params["kind"].value.replace("-", "_"), given, _FLAG)
            assert action["kind"] == args[2].replace("-", "_"), args
