"""``aitbc-tui --rig NAME``: the rig registry, the SSH command lines, and clear refusals.

The command lines are checked exactly here, and an unreachable rig up to ssh's own refusal (a
closed port on 127.0.0.1); ``tests/fleet`` drives the same code against real sshd servers.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tuikit import REPO, hermetic_env

from daemons.common.home import Home

from daemons.ops.rigs import Rig, RigError, find_rig, load_rigs
from daemons.ops.rigs_ssh import RigTunnel


def write_rigs(home: Path, text: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "rigs.toml").write_text(text)


def test_registry_and_commands(tmp_path: Path) -> None:
    home = tmp_path / "h"
    write_rigs(home, '[rigs.gpu-01]\nurl = "ssh://miner@10.0.0.21:2222"\nhome = "/srv/aitbc"\n'
                     'identity_file = "/keys/rig"\n\n[rigs.lab]\nurl = "ssh://root@lab"\nruntime_dir = "/run/aitbc"\n')
    rigs = load_rigs(Home(root=home))
    assert sorted(rigs) == ["gpu-01", "lab"]
    gpu = rigs["gpu-01"]
    command = gpu.forward_command(Path("/tmp/x/run"))
    assert command[0] == "ssh" and command[-2:] == ["--", "10.0.0.21"] and ["-l", "miner"] == command[
        command.index("-l"):command.index("-l") + 2]
    assert ["-p", "2222"] == command[command.index("-p"):command.index("-p") + 2]
    assert "BatchMode=yes" in command and "ExitOnForwardFailure=yes" in command and "-N" in command
    assert "/tmp/x/run/node.sock:/srv/aitbc/run/node.sock" in command
    assert "/tmp/x/run/wallet.sock:/srv/aitbc/run/wallet.sock" in command
    assert gpu.tail_argv() == ["sh", "-c", 'exec tail -q -n "$1" -F "$2"/*.log', "sh", "300", "/srv/aitbc/logs"]
    assert gpu.tail_argv(5, follow=False, service="miner")[2:] == ['exec tail -q -n "$1" "$2"/"$3".log', "sh", "5",
                                                                     "/srv/aitbc/logs", "miner"]
    lab = rigs["lab"]
    assert str(lab.remote_home) == "/root/.aitbc" and str(lab.remote_run) == "/run/aitbc"
    assert "/tmp/y/miner.sock:/run/aitbc/miner.sock" in lab.forward_command(Path("/tmp/y"))


def test_refusals(tmp_path: Path) -> None:
    home = Home(root=tmp_path / "h")
    assert load_rigs(home) == {}
    with pytest.raises(RigError, match="no rig named 'x'"):
        find_rig(home, "x")
    write_rigs(home.root, '[rigs.bad]\nurl = "http://host"\n')
    with pytest.raises(RigError, match=r"ssh://user@host"):
        _ = find_rig(home, "bad").target
    write_rigs(home.root, '[rigs.bad]\nurl = "ssh://u@h"\nhome = "relative/path"\n')
    with pytest.raises(RigError, match="absolute"):
        _ = find_rig(home, "bad").remote_home
    write_rigs(home.root, '[rigs.bad]\nurl = "ssh://u@h"\ncolour = "blue"\n')
    with pytest.raises(RigError, match="rig bad"):
        load_rigs(home)
    write_rigs(home.root, "[rigs\n")
    with pytest.raises(RigError, match="cannot read"):
        load_rigs(home)


@pytest.mark.skipif(shutil.which("ssh") is None, reason="the ssh client is not installed")
def test_unreachable_rig_is_one_line_error(tmp_path: Path) -> None:
    rig = Rig(name="closed", url="ssh://nobody@127.0.0.1:1", home="/srv/aitbc")
    tunnel = RigTunnel(rig, Home(root=tmp_path / "op"))
    with pytest.raises(RigError, match="ssh to rig closed failed"):
        tunnel.start()
    assert tunnel.link.dir.stat().st_mode & 0o777 == 0o700  # the rig's private socket directory
    home = tmp_path / "h"
    write_rigs(home, '[rigs.closed]\nurl = "ssh://nobody@127.0.0.1:1"\nhome = "/srv/aitbc"\n')
    done = subprocess.run([sys.executable, "-c", "from aitbc_tui.app import main; main()", "--home", str(home),
                           "--rig", "closed"], env=hermetic_env(), cwd=REPO, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert done.stderr.startswith("aitbc-tui: ssh to rig closed failed") and len(done.stderr.splitlines()) == 1
