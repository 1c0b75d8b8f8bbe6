"""CLI manners: ``--home`` given before the sub-command as well as after it, flags shown in help
without a value type, and ``aitbc-miner`` named as typed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from testkit import hermetic_env
from typer.testing import CliRunner

from aitbc_tui.cli import app

runner = CliRunner()


def _wallet_list(*args: str) -> str:
    """``aitbc ARGS`` for ``wallet list`` with no daemon: the one-line refusal names the socket
    it looked for, so it shows which home the command used."""
    done = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    assert done.exit_code == 1, done.output
    return done.output


def test_home_before_and_after_the_subcommand(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    assert str(first / "run" / "wallet.sock") in _wallet_list("--home", str(first), "wallet", "list")
    assert str(second / "run" / "wallet.sock") in _wallet_list("wallet", "list", "--home", str(second))
    both = _wallet_list("--home", str(first), "wallet", "list", "--home", str(second))
    assert str(second / "run" / "wallet.sock") in both and str(first) not in both
    assert "AITBC_HOME" not in os.environ  # the command's home does not outlive it
    monkeypatch.chdir(tmp_path)
    relative = _wallet_list("--home", "first", "wallet", "list")
    assert str(first / "run" / "wallet.sock") in relative  # made absolute: no command depends on the cwd


def test_global_home_is_the_fallback_of_the_daemons_too(tmp_path: Path) -> None:
    """A command's environment carries the global home, so daemons it starts use it as well."""
    home = tmp_path / "h"
    done = subprocess.run([str(Path(sys.executable).parent / "aitbc"), "--home", str(home), "coordinator", "init",
                           "--json"], env=hermetic_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (home / "config.toml").exists()


@pytest.mark.parametrize("command", [["--help"], ["wallet", "list", "--help"], ["wallet", "send", "--help"]])
def test_flags_are_shown_without_a_value_type(command: list[str]) -> None:
    done = runner.invoke(app, command, env={"COLUMNS": "200"})
    assert done.exit_code == 0, done.output
    assert "--help" in done.output and "<bool>" not in done.output
    if command[-2:] == ["list", "--help"]:
        assert "<dir>" in done.output  # options that take a value keep their type


def test_aitbc_miner_is_named_as_typed() -> None:
    exe = Path(sys.executable).parent / "aitbc-miner"
    done = subprocess.run([str(exe), "--help"], env=hermetic_env(COLUMNS="200"), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Usage: aitbc-miner [OPTIONS] COMMAND" in done.stdout and "aitbc-miner miner" not in done.stdout
    assert "start" in done.stdout and "<bool>" not in done.stdout
