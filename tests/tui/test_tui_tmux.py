"""Smoke test: the real ``aitbc-tui --home H`` in a tmux pane against a real node; keys are
sent with ``tmux send-keys`` and the screen is read back with ``tmux capture-pane``."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tuikit import hermetic_env, init_node, node_daemon

TMUX = shutil.which("tmux") or ("/usr/bin/tmux" if Path("/usr/bin/tmux").exists() else None)
pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed (needed to drive a real terminal)")


def tui_command(home: Path) -> str:
    script = Path(sys.executable).parent / "aitbc-tui"
    argv = [str(script)] if script.exists() else [sys.executable, "-c", "from aitbc_tui.app import main; main()"]
    return shlex.join([*argv, "--home", str(home)])


class Pane:
    """One tmux server of our own (``-L``), so the test never touches a developer's sessions."""

    def __init__(self, socket_name: str) -> None:
        self.socket_name = socket_name

    def tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        assert TMUX is not None
        return subprocess.run([TMUX, "-L", self.socket_name, *args], capture_output=True, text=True, check=check,
                              timeout=30)

    def text(self) -> str:
        done = self.tmux("capture-pane", "-p", "-t", "tui", check=False)
        return done.stdout if done.returncode == 0 else ""

    def alive(self) -> bool:
        return self.tmux("has-session", "-t", "tui", check=False).returncode == 0

    def wait(self, predicate: Callable[[str], bool], what: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.text()
            if predicate(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; pane:\n{text}")
            time.sleep(0.1)


def test_tui_in_tmux(root: Path) -> None:
    home = root / "h"
    init_node(home, block_time=0.2)
    node = node_daemon(home).start()
    pane = Pane(f"aitbc-tui-test-{os.getpid()}")
    env = hermetic_env(TERM="xterm-256color")
    try:
        pane.tmux("-f", "/dev/null", "new-session", "-d", "-s", "tui", "-x", "100", "-y", "30",
                  *[arg for key, value in env.items() if key in ("PATH", "PYTHONPATH", "HOME", "LANG", "LC_ALL")
                    for arg in ("-e", f"{key}={value}")], tui_command(home))
        # The whole frame is waited for, not asserted on the first capture that shows a height:
        # capture-pane can catch Textual half-way through painting a frame (CI once read the body
        # with the header row still blank).
        text = pane.wait(lambda t: re.search(r"Height\s+\d", t) is not None and "AITBC" in t
                         and "Recent events" in t, "the dashboard with its header, a height and recent events")
        first = int(re.search(r"Height\s+([\d,]+)", text).group(1).replace(",", ""))  # type: ignore[union-attr]
        pane.wait(lambda t: (m := re.search(r"Height\s+([\d,]+)", t)) is not None
                  and int(m.group(1).replace(",", "")) > first, "the height to move")
        pane.tmux("send-keys", "-t", "tui", "2")
        pane.wait(lambda t: "Blocks" in t and "Transactions" in t, "the Chain screen")
        pane.tmux("send-keys", "-t", "tui", "5")
        pane.wait(lambda t: "validator-0" in t, "the Staking screen")
        pane.tmux("send-keys", "-t", "tui", "7")
        pane.wait(lambda t: "records" in t, "the Logs screen")
        pane.tmux("send-keys", "-t", "tui", "F1")
        pane.wait(lambda t: "Help" in t and "Command palette" in t, "the help screen")
        pane.tmux("send-keys", "-t", "tui", "Escape")
        pane.wait(lambda t: "Command palette" not in t, "the help to close")
        pane.tmux("send-keys", "-t", "tui", "q")
        deadline = time.monotonic() + 30
        while pane.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not pane.alive(), "q did not quit the console"
    finally:
        pane.tmux("kill-server", check=False)
        node.stop()
