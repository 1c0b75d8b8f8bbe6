"""The systemd branch of ``aitbc rig miner``, over real SSH to a rig whose service manager is a
recording stand-in.

The test machine has no systemd as PID 1, so the rig's ``systemctl`` is
:func:`fleetkit.fake_systemctl`: a real program first on the sshd sessions' PATH that answers
``LoadState`` from a list of units and records every call. It stands for the OS service manager
only; the operator's CLI, SSH, the rig-side agent and its choice between systemd and the
supervisor are the real code. What it proves: a rig whose systemd has the unit is controlled by
exactly the systemctl command lines below (and a failing unit is one clear error); a rig whose
systemd does not have it falls back to the supervisor.

``rig provision --service`` and ``--gpu`` are tested here on the same rig without a whole
provisioning: what they need of the rig is checked first (a rig without systemd, or without an
NVIDIA GPU, is one clear error that created nothing), and the step that installs the unit runs the
rig's real ``aitbc miner install-service``, whose sshd sees a test folder bound over
/etc/systemd/system (a mount namespace of its own), so the unit written there is read back.
``nvidia-smi`` is a stand-in too, for the hardware: what the real one prints for an H200 and
without a driver.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fleetkit import HAVE_SSH, Sshd, can_mount, fake_systemctl, keygen, rig_root
from testkit import aitbc_command, hermetic_env, skip_unless_ci

from daemons.ops.rigs import RigError

pytestmark = pytest.mark.skipif(not HAVE_SSH, reason="openssh-server is not installed (apt-get install openssh-server)")
UNIT = "aitbc-miner.service"
NO_DRIVER = ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
             "Make sure that the latest NVIDIA driver is installed and running.")


class Rig:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.bin = root / "bin"
        fake_systemctl(self.bin)
        self.units = root / "units"  # the rig's /etc/systemd/system
        self.units.mkdir()
        mounts = ((self.units, Path("/etc/systemd/system")),) if can_mount() else ()
        self.sshd = Sshd(root / "sshd", keygen(root / "client_ed25519"), bin_dir=self.bin, mounts=mounts).start()

    def nvidia_smi(self, output: str, code: int) -> None:
        """The rig's ``nvidia-smi`` prints ``output`` and exits with ``code``."""
        path = self.bin / "nvidia-smi"
        path.write_text(f"#!/bin/sh\nprintf '%s\\n' {shlex.quote(output)}\nexit {code}\n")
        path.chmod(0o755)

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


def test_provision_service_and_gpu_are_refused_first_on_a_rig_without_them(rig: Rig) -> None:
    (rig.bin / "state").unlink(missing_ok=True)  # systemctl says "offline", as in a container
    rig.nvidia_smi(NO_DRIVER, 9)
    common = ["rig", "provision", "svc", "--coordinator", "http://127.0.0.1:9", "--base-python", sys.executable,
              "--no-start"]
    done = rig.aitbc(*common, "--service")
    assert done.returncode == 1
    assert ("--service needs systemd as the rig's service manager, and it has none (systemctl is-system-running: "
            "offline); provision without --service") in done.stderr
    done = rig.aitbc(*common, "--gpu")
    assert done.returncode == 1
    assert f"--gpu installs the GPU extra (vLLM), which needs an NVIDIA GPU and its driver, and the rig shows none " \
           f"(nvidia-smi -L: {NO_DRIVER}); provision without --gpu" in done.stderr
    (rig.bin / "nvidia-smi").unlink()  # no driver installed at all: the shell's own word for it
    done = rig.aitbc(*common, "--gpu")
    assert done.returncode == 1 and "(nvidia-smi -L: sh: " in done.stderr and "not found); provision" in done.stderr
    assert not (rig.root / "rig").exists()  # checked before anything was copied or created on the rig


def test_provision_service_installs_the_unit_on_a_rig_with_systemd(rig: Rig) -> None:
    if not can_mount():
        skip_unless_ci("the rig's /etc/systemd/system is a test folder only in a mount namespace, which needs root")
    from daemons.common.home import Home
    from daemons.ops.rigs import find_rig
    from daemons.ops.rigs_provision import ProvisionPlan, Provisioner
    from daemons.ops.rigs_ssh import RigLink

    (rig.bin / "state").write_text("running\n")
    rig.nvidia_smi("GPU 0: NVIDIA H200 (UUID: GPU-a1)\nGPU 1: NVIDIA H200 (UUID: GPU-b2)", 0)
    home = Home(root=rig.root / "op")
    plan = ProvisionPlan(coordinator="http://127.0.0.1:9", gpu=True, service=True, base_python=sys.executable)
    provisioner = Provisioner(RigLink(find_rig(home, "svc"), home), plan, progress=lambda _: None)
    assert provisioner.preflight() == ["2 NVIDIA GPU(s)", "systemd running"]

    # the rig's venv as provisioning leaves it, its packages lent by the test environment
    venv = rig.root / "rig" / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = json.loads(subprocess.run([sys.executable, "-c", "import json,site; print(json.dumps(site.getsitepackages()))"],
                                     capture_output=True, text=True, check=True).stdout)
    (next((venv / "lib").glob("python3*")) / "site-packages" / "test-env.pth").write_text("\n".join(site) + "\n")
    (rig.bin / "calls").unlink(missing_ok=True)

    assert provisioner.install_service() == f"/etc/systemd/system/{UNIT}"
    unit = rig.units / UNIT
    assert (unit.stat().st_mode & 0o777) == 0o644
    lines = unit.read_text().splitlines()
    rig_home = rig.root / "rig"
    assert f"ExecStart={venv}/bin/python -P -m aitbc_tui.cli miner start --home {rig_home}" in lines
    assert {"User=root", f"Environment=AITBC_HOME={rig_home}", f"ReadWritePaths={rig_home}"} <= set(lines)
    assert (rig.bin / "calls").read_text().splitlines() == ["daemon-reload", f"enable {UNIT}"]
    assert not Path(f"/etc/systemd/system/{UNIT}").exists()  # this machine's own systemd folder is untouched
