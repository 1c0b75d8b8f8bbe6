"""Secret and config files: atomic, exclusive, 0600 even over a looser file, never through a symlink."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from daemons.common.daemon_key import update_config, write_private
from daemons.common.home import Home
from keys.atomic import TEMP_PREFIX, UnsafeTarget, atomic_write


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.mark.parametrize("write", [atomic_write, write_private])
def test_an_existing_loose_file_is_replaced_with_mode_0600(tmp_path: Path, write: object) -> None:
    target = tmp_path / "miner.password"
    target.write_text("old")
    target.chmod(0o644)
    inode = target.stat().st_ino
    write(target, b"new")  # type: ignore[operator]
    assert (target.read_bytes(), mode(target)) == (b"new", 0o600)
    assert target.stat().st_ino != inode, "a new file replaced the old one (no write into an opened file)"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(TEMP_PREFIX)]


@pytest.mark.parametrize("write", [atomic_write, write_private])
def test_a_symbolic_link_is_refused_and_nothing_changes(tmp_path: Path, write: object) -> None:
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("someone else's file")
    elsewhere.chmod(0o644)
    link = tmp_path / "client.apikey"
    link.symlink_to(elsewhere)
    with pytest.raises(UnsafeTarget, match="symbolic link"):
        write(link, b"secret")  # type: ignore[operator]
    assert link.is_symlink() and os.readlink(link) == str(elsewhere)
    assert (elsewhere.read_text(), mode(elsewhere)) == ("someone else's file", 0o644)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["client.apikey", "elsewhere.txt"]


def test_a_dangling_symbolic_link_is_refused_too(tmp_path: Path) -> None:
    link = tmp_path / "node.password"
    link.symlink_to(tmp_path / "would-be-created")
    with pytest.raises(UnsafeTarget):
        write_private(link, b"secret")
    assert not (tmp_path / "would-be-created").exists()


def test_update_config_writes_0600_atomically_and_refuses_a_link(tmp_path: Path) -> None:
    home = Home.resolve(tmp_path / "home")
    home.root.mkdir()
    home.config_file.write_text('log_level = "info"\n')
    home.config_file.chmod(0o644)
    update_config(home, "mining", {"coordinator_api_key": "k" * 20})
    assert mode(home.config_file) == 0o600
    assert 'log_level = "info"' in home.config_file.read_text() and "[mining]" in home.config_file.read_text()
    real = tmp_path / "shared.toml"
    real.write_text('log_level = "warning"\n')
    home.config_file.unlink()
    home.config_file.symlink_to(real)
    with pytest.raises(UnsafeTarget):
        update_config(home, "node", {"api_port": 1})
    assert real.read_text() == 'log_level = "warning"\n' and home.config_file.is_symlink()
