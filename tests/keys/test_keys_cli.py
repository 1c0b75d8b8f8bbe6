"""``aitbc keys new | show | list`` through typer's CliRunner, on real keystore files.

These use the real default scrypt cost (the CLI has no knob to weaken it), so only a handful
of keys are created.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aitbc_tui.cli import app
from keys import Keystore

runner = CliRunner()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AITBC_KEY_PASSWORD", raising=False)
    monkeypatch.delenv("AITBC_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "user-home"))


def _one_line_error(result: object) -> str:
    stderr = result.stderr  # type: ignore[attr-defined]
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert stderr.startswith("error: ") and stderr.count("\n") == 1, stderr
    return stderr


def test_new_with_password_file_then_show_and_list(tmp_path: Path) -> None:
    home = tmp_path / "home"
    password_file = tmp_path / "pw.txt"
    password_file.write_text("s3cret-pass\n")
    result = runner.invoke(app, ["keys", "new", "alice", "--password-file", str(password_file), "--home", str(home), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["name"] == "alice" and info["kind"] == "mnemonic"
    keys_dir = home / "keys"
    key_file = keys_dir / f"{info['address']}.json"
    assert stat.S_IMODE(keys_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    # The trailing newline of the file is not part of the password.
    unlocked = Keystore(keys_dir).load("alice", "s3cret-pass")
    assert unlocked.address == info["address"]
    assert unlocked.mnemonic is not None

    for ref in ("alice", info["address"]):
        shown = runner.invoke(app, ["keys", "show", ref, "--home", str(home), "--json"])
        assert shown.exit_code == 0, shown.output
        assert json.loads(shown.stdout) == info
    human = runner.invoke(app, ["keys", "show", "alice", "--home", str(home)])
    assert human.exit_code == 0
    assert info["address"] in human.stdout and info["pubkey"] in human.stdout and "alice" in human.stdout
    listed = runner.invoke(app, ["keys", "list", "--home", str(home), "--json"])
    assert json.loads(listed.stdout) == [info]
    table = runner.invoke(app, ["keys", "list", "--home", str(home)])
    assert "NAME" in table.stdout and info["address"] in table.stdout

    everything = result.output + shown.output + human.output + listed.output + table.output
    assert "s3cret-pass" not in everything
    assert unlocked.mnemonic.split()[0] + " " + unlocked.mnemonic.split()[1] not in everything
    assert unlocked.keypair.seed_bytes().hex() not in everything


def test_new_with_env_password_and_aitbc_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "envhome"
    monkeypatch.setenv("AITBC_HOME", str(home))
    monkeypatch.setenv("AITBC_KEY_PASSWORD", "from-env")
    result = runner.invoke(app, ["keys", "new", "--words", "12"])
    assert result.exit_code == 0, result.output
    assert "created key key-" in result.stdout
    (info,) = Keystore(home / "keys").list()
    assert info.address in result.stdout
    assert len((Keystore(home / "keys").load(info.address, "from-env").mnemonic or "").split()) == 12


def test_new_prompts_twice(tmp_path: Path) -> None:
    home = tmp_path / "h"
    result = runner.invoke(app, ["keys", "new", "bob", "--home", str(home)], input="typed-pw\ntyped-pw\n")
    assert result.exit_code == 0, result.output
    assert "typed-pw" not in result.output
    assert Keystore(home / "keys").load("bob", "typed-pw").info.name == "bob"


def test_prompt_mismatch_creates_nothing(tmp_path: Path) -> None:
    home = tmp_path / "h"
    result = runner.invoke(app, ["keys", "new", "bob", "--home", str(home)], input="one\ntwo\n")
    assert result.exit_code == 1
    assert not (home / "keys").exists() or not any((home / "keys").glob("0x*.json"))


def test_default_home_is_dot_aitbc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AITBC_KEY_PASSWORD", "pw")
    result = runner.invoke(app, ["keys", "new", "d", "--json"])
    assert result.exit_code == 0, result.output
    address = json.loads(result.stdout)["address"]
    assert (tmp_path / "user-home" / ".aitbc" / "keys" / f"{address}.json").exists()


def test_errors_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "h"
    assert "no keystore" in _one_line_error(runner.invoke(app, ["keys", "show", "ghost", "--home", str(home)]))
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    assert "empty" in _one_line_error(
        runner.invoke(app, ["keys", "new", "x", "--password-file", str(empty), "--home", str(home)])
    )
    missing = tmp_path / "missing.txt"
    assert "cannot read password file" in _one_line_error(
        runner.invoke(app, ["keys", "new", "x", "--password-file", str(missing), "--home", str(home)])
    )
    monkeypatch.setenv("AITBC_KEY_PASSWORD", "pw")
    assert "invalid key name" in _one_line_error(runner.invoke(app, ["keys", "new", "bad/name", "--home", str(home)]))
    assert "12 or 24" in _one_line_error(runner.invoke(app, ["keys", "new", "x", "--words", "15", "--home", str(home)]))
    assert not any((home / "keys").glob("0x*.json")) if (home / "keys").exists() else True

    assert runner.invoke(app, ["keys", "new", "dup", "--home", str(home)]).exit_code == 0
    assert "already used" in _one_line_error(runner.invoke(app, ["keys", "new", "dup", "--home", str(home)]))
    assert "no key named 'nobody'" in _one_line_error(runner.invoke(app, ["keys", "show", "nobody", "--home", str(home)]))
    assert "invalid address" in _one_line_error(runner.invoke(app, ["keys", "show", "0xZZ", "--home", str(home)]))


def test_list_without_keystore_creates_nothing(tmp_path: Path) -> None:
    home = tmp_path / "none"
    result = runner.invoke(app, ["keys", "list", "--home", str(home), "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout) == []
    human = runner.invoke(app, ["keys", "list", "--home", str(home)])
    assert "no keys" in human.stdout
    assert not home.exists()


def test_help() -> None:
    for command in ([], ["new"], ["show"], ["list"]):
        result = runner.invoke(app, ["keys", *command, "--help"])
        assert result.exit_code == 0
        assert "--home" in result.stdout or not command
