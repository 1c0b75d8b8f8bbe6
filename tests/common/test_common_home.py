"""Home resolution and layout: --home > $AITBC_HOME > ~/.aitbc; private directories."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from daemons.common.client import target_for
from daemons.common.home import Home


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_resolution_order(tmp_path: Path) -> None:
    env = {"AITBC_HOME": str(tmp_path / "from-env")}
    assert Home.resolve(tmp_path / "flag", env=env).root == tmp_path / "flag"
    assert Home.resolve(None, env=env).root == tmp_path / "from-env"
    assert Home.resolve(None, env={}).root == Path("~/.aitbc").expanduser()


def test_paths_are_absolute_and_named_for_the_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    home = Home.resolve("rel", env={})
    assert home.root == tmp_path / "rel"
    assert home.config_file == tmp_path / "rel" / "config.toml"
    assert home.genesis_file.name == "genesis.json"
    assert home.socket("node") == tmp_path / "rel" / "run" / "node.sock"
    assert home.pid_file("node") == tmp_path / "rel" / "run" / "node.pid"
    assert home.log_file("miner") == tmp_path / "rel" / "logs" / "miner.log"
    assert home.database_file("coordinator") == tmp_path / "rel" / "data" / "coordinator.db"
    assert target_for(home, "wallet") == home.socket("wallet")


def test_runtime_dir_env_moves_sockets_only(tmp_path: Path) -> None:
    home = Home.resolve(tmp_path / "h", env={"AITBC_RUNTIME_DIR": str(tmp_path / "rt"),
                                             "XDG_RUNTIME_DIR": str(tmp_path / "xdg")})
    assert home.socket("node") == tmp_path / "rt" / "node.sock"
    assert home.log_file("node").parent == tmp_path / "h" / "logs"
    # XDG_RUNTIME_DIR alone is not used: two homes must never share a socket directory.
    assert Home.resolve(tmp_path / "h", env={"XDG_RUNTIME_DIR": str(tmp_path / "xdg")}).run_dir \
        == tmp_path / "h" / "run"


def test_ensure_creates_private_dirs_and_tightens_keys(tmp_path: Path) -> None:
    home = Home(root=tmp_path / "h")
    home.keys_dir.mkdir(parents=True, mode=0o755)
    home.keys_dir.chmod(0o755)
    home.ensure()
    for path in (home.root, home.data_dir, home.run_dir, home.logs_dir):
        assert path.is_dir()
    assert mode(home.keys_dir) == 0o700
    assert mode(home.run_dir) == 0o700
    assert mode(home.data_dir) & 0o077 == 0
    home.ensure()  # idempotent


def test_a_path_is_accepted_where_a_home_is_expected(tmp_path: Path) -> None:
    assert Home.model_validate(str(tmp_path)) == Home(root=tmp_path)


@pytest.mark.parametrize("bad", ["", "../x", "a/b", "node.sock"])
def test_service_names_cannot_escape_the_home(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="invalid service name"):
        Home(root=tmp_path).socket(bad)
