"""``aitbc rig``: the rigs file is edited safely and a rig that cannot be reached says why."""

from __future__ import annotations

import json
import shutil
import socket
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aitbc_tui.cli import app
from daemons.common.home import Home
from daemons.ops.rigs import load_rigs


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_add_list_remove(tmp_path: Path) -> None:
    home = str(tmp_path)
    code, out, _ = run("rig", "add", "gpu-01", "ssh://miner@10.0.0.21:2222", "--rig-home", "/srv/aitbc",
                       "--runtime-dir", "/run/aitbc", "--home", home)
    assert code == 0 and "gpu-01" in out
    rigs = load_rigs(Home.resolve(tmp_path))
    assert rigs["gpu-01"].target == ("miner", "10.0.0.21", 2222)
    assert str(rigs["gpu-01"].remote_run) == "/run/aitbc"
    code, out, _ = run("rig", "list", "--home", home, "--json")
    assert code == 0 and [r["name"] for r in json.loads(out)] == ["gpu-01"]
    code, _, err = run("rig", "add", "gpu-01", "ssh://other@host", "--home", home)
    assert code == 1 and "exists" in err
    assert load_rigs(Home.resolve(tmp_path))["gpu-01"].url == "ssh://miner@10.0.0.21:2222"  # unchanged
    code, _, _ = run("rig", "remove", "gpu-01", "--home", home)
    assert code == 0 and load_rigs(Home.resolve(tmp_path)) == {}


def test_editing_one_rig_keeps_the_others_and_the_rest_of_the_file(tmp_path: Path) -> None:
    (tmp_path / "rigs.toml").write_text('# fleet\n[defaults]\nuser = "miner"\n\n[rigs.a]\nurl = "ssh://m@a"\n')
    code, _, _ = run("rig", "add", "b", "ssh://m@b:2200", "--identity-file", "/keys/b", "--home", str(tmp_path))
    assert code == 0
    code, _, _ = run("rig", "remove", "a", "--home", str(tmp_path))
    assert code == 0
    rigs = load_rigs(Home.resolve(tmp_path))
    assert list(rigs) == ["b"] and rigs["b"].entry() == {"url": "ssh://m@b:2200", "identity_file": "/keys/b"}
    assert tomllib.loads((tmp_path / "rigs.toml").read_text())["defaults"] == {"user": "miner"}


@pytest.mark.parametrize("url,message", [("http://host", "ssh://user@host"), ("ssh://", "ssh://user@host"),
                                         ("ssh://u@h:notaport", "invalid port")])
def test_bad_urls_are_refused_and_change_nothing(tmp_path: Path, url: str, message: str) -> None:
    code, _, err = run("rig", "add", "r1", url, "--home", str(tmp_path))
    assert code == 1 and message in err and err.count("\n") == 1
    assert not (tmp_path / "rigs.toml").exists()


def test_unknown_rig_and_relative_home(tmp_path: Path) -> None:
    code, _, err = run("rig", "status", "nope", "--home", str(tmp_path))
    assert code == 1 and "no rig named 'nope'" in err
    code, _, err = run("rig", "add", "r1", "ssh://u@h", "--rig-home", "relative/path", "--home", str(tmp_path))
    assert code == 1 and "absolute" in err


@pytest.mark.skipif(shutil.which("ssh") is None, reason="the OpenSSH client is not installed")
def test_unreachable_rig_gives_one_line(tmp_path: Path) -> None:
    with socket.socket() as s:  # a loopback port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run("rig", "add", "down", f"ssh://miner@127.0.0.1:{port}", "--home", str(tmp_path))
    code, _, err = run("rig", "status", "down", "--home", str(tmp_path))
    assert code == 1 and "ssh to rig down failed" in err
