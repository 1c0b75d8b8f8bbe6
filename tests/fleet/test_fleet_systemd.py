"""The systemd branch of ``aitbc rig miner``, over real SSH to a rig whose service manager is a
recording stand-in.

The test machine has no systemd as PID 1, so the rig's ``systemctl`` is
:func:`fleetkit.fake_systemctl`: a real program first on the sshd sessions' PATH that answers
``LoadState`` from a list of units and records every call. It stands for the OS service manager
only; the operator's CLI, SSH, the rig-side agent and its choice between systemd and the
supervisor are the real code. What it proves: a rig whose systemd has the unit is controlled by
exactly the systemctl command lines below (and a failing unit is one clear error); a rig whose
systemd does not have it falls back to the supervisor.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fleetkit import HAVE_SSH, Sshd, fake_systemctl, keygen, rig_root
from testkit import aitbc_command, hermetic_env

from daemons.ops.rigs import RigError

pytestmark = pytest.mark.skipif(not HAVE_SSH, reason="openssh-server is not installed (apt-get install openssh-server)")
UNIT = "aitbc-miner.service"


class Rig:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.bin = root / "bin"
        fake_systemctl(self.bin)
        self.sshd = Sshd(root / "sshd", keygen(root / "client_ed25519"), bin_dir=self.bin).start()

    def aitbc(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(aitbc_command(*args), env=hermetic_env(AITBC_HOME=str(self.root / "op")),
                              capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL)

    def miner(self, action: str) -> tuple[dict[str, Any] | RigError, list[str]]:
        """``aitbc rig miner ACTION svc``'s answer (what ``miner_action`` returns or raises, in
        process: the CLI around it is tested in test_fleet_cli) and the systemctl calls it made."""
        from daemons.common.home import Home
        from daemons.ops.rigs import find_rig
        from daemons.ops.rigs_actions import miner_action
        from daemons.ops.rigs_ssh import RigLink

        home = Home(root=self.root / "op")
        try:
            answer: dict[str, Any] | RigError = miner_action(RigLink(find_rig(home, "svc"), home), action)
        except RigError as exc:
            answer = exc
        calls = self.bin / "calls"
        made = calls.read_text().splitlines() if calls.exists() else []
        calls.unlink(missing_ok=True)
        return answer, made


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    import shutil

    from daemons.common.home import Home
    from daemons.ops.rigs import load_rigs
    from daemons.ops.rigs_ssh import close_all

    rig = Rig(rig_root())
    try:
        done = rig.aitbc("rig", "add", "svc", rig.sshd.url, "--identity-file", str(rig.sshd.client_key), "--rig-home",
                         str(rig.root / "rig"), "--python", sys.executable, "--accept-new")
        assert done.returncode == 0, done.stderr
        yield rig
    finally:
        op = Home(root=rig.root / "op")
        if (op.root / "rigs.toml").exists():
            close_all(op, list(load_rigs(op).values()))
        rig.sshd.stop()
        shutil.rmtree(rig.root, ignore_errors=True)


def test_a_loaded_unit_is_controlled_through_systemctl(rig: Rig) -> None:
    (rig.bin / "units").write_text(UNIT + "\n")
    show = f"show --property=LoadState --value {UNIT}"
    assert rig.miner("start") == ({"miner": "started", "via": "systemd"}, [show, f"start {UNIT}"])
    # drain does not wait: systemd delivers the stop signal and the miner hands its tasks back
    assert rig.miner("drain") == ({"miner": "draining", "via": "systemd"}, [show, f"stop --no-block {UNIT}"])
    answer, calls = rig.miner("restart")
    assert answer == {"stop": {"miner": "stopped", "via": "systemd"}, "start": {"miner": "started", "via": "systemd"}}
    assert calls == [show, f"stop {UNIT}", show, f"start {UNIT}"]

    (rig.bin / "fail").touch()
    try:
        error, calls = rig.miner("stop")
    finally:
        (rig.bin / "fail").unlink()
    assert isinstance(error, RigError) and calls == [show, f"stop {UNIT}"]
    # the rig's one-line reason, named after the command that failed
    assert str(error).startswith(f"rig svc: systemctl stop {UNIT} failed: Job for {UNIT} failed")
    assert "\n" not in str(error)


def test_without_the_unit_the_supervisor_controls_the_miner(rig: Rig) -> None:
    (rig.bin / "units").write_text("")  # systemd runs but has no aitbc-miner unit
    answer, calls = rig.miner("stop")
    assert answer == {"miner": "was not running", "pid": None, "via": "supervisor"}
    assert calls == [f"show --property=LoadState --value {UNIT}"]  # asked, then nothing more
