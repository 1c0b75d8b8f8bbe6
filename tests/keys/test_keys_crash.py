"""A writer SIGKILLed in the middle of keystore writes never leaves a corrupt or missing key.

The child process loops over every kind of write (rename, change_password, import, delete) and
reports each finished round on stdout; the parent kills it with SIGKILL after a random number of
rounds, then checks the directory with a fresh Keystore. Repeated several times so that kills
land at many different points of a write.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from keys import Keystore, parse_keyfile
from keys.atomic import TEMP_PREFIX

FAST_N = 2**4
REPO = Path(__file__).resolve().parents[2]
PASSWORDS = ("pw-a", "pw-b")

WRITER = r"""
import os, sys
from keys import Keystore, WrongPassword

ks = Keystore(sys.argv[1], scrypt_n=16)
main = sys.argv[2]
try:
    ks.load(main, "pw-a")
    current, other = "pw-a", "pw-b"
except WrongPassword:
    current, other = "pw-b", "pw-a"
round_no = 0
while True:
    ks.rename(main, f"main-{round_no}")
    ks.change_password(main, current, other)
    current, other = other, current
    info = ks.import_seed(os.urandom(32), "pw", f"temp-{os.getpid()}-{round_no}")
    if round_no % 2:
        ks.delete(info.address)
    round_no += 1
    print(round_no, flush=True)
"""


def _check(directory: Path, main_address: str) -> int:
    """Every key file parses and opens with its password; the main key is always present."""
    ks = Keystore(directory, scrypt_n=FAST_N)
    files = sorted(p for p in directory.iterdir() if p.name.startswith("0x"))
    assert len(ks.list()) == len(files), "a key file is unreadable"
    assert (directory / f"{main_address}.json").exists()
    for path in files:
        keyfile = parse_keyfile(path.read_bytes())
        assert path.name == f"{keyfile.address}.json"
        candidates = PASSWORDS if keyfile.address == main_address else ("pw",)
        opened = []
        for password in candidates:
            try:
                opened.append(ks.load(keyfile.address, password))
            except Exception as exc:  # noqa: BLE001 - only WrongPassword is acceptable
                assert type(exc).__name__ == "WrongPassword", repr(exc)
        assert len(opened) == 1 and opened[0].address == keyfile.address
    return len(files)


def test_sigkill_during_writes_never_corrupts(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    ks = Keystore(directory, scrypt_n=FAST_N)
    main = ks.create("pw-a", "main-start", words=12).address
    rng = random.Random(20240611)
    for _ in range(8):
        child = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(directory), main],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            target = rng.randint(1, 25)
            assert child.stdout is not None
            for line in child.stdout:
                if int(line) >= target:
                    break
            time.sleep(rng.random() / 50)  # spread the kill over different points of a write
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        assert child.returncode == -signal.SIGKILL, child.stderr.read() if child.stderr else ""
        _check(directory, main)
    # The next writer sweeps the leftovers of killed writers.
    Keystore(directory, scrypt_n=FAST_N).rename(main, "main-final")
    assert not [p for p in directory.iterdir() if p.name.startswith(TEMP_PREFIX)]
    assert _check(directory, main) >= 1
