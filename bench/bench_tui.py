"""TUI benchmark: CPU use of ``aitbc-tui`` while idle and while blocks and telemetry stream in,
and start-up time to first paint.

Run: ``.venv/bin/python bench/bench_tui.py [--seconds 10] [--size 160x48]``

The console runs exactly as an operator runs it (``aitbc-tui --home H``) on a pseudo-terminal
of the given size; a thread drains its output like a terminal would. CPU is read from
``/proc/<pid>/stat`` (user + system time of the TUI process, all its threads) over a window of
``--seconds`` after a warm-up, and printed as a percentage of one core. Daemons are real
subprocesses (``aitbc node start``; ``aitbc miner start --no-compute`` when this build has a
miner) on a temp home.

Scenarios:

1. start-up: spawn -> first frame on the terminal ("first paint"), and -> first chain height
   drawn from the node ("first data");
2. idle: node up with one block per second and nothing else happening (target < 3 %);
   also with every daemon down, where the console only retries its connections;
3. load: node at block time 0.1 s (10 blocks/s) and, when a miner exists, telemetry at 2 Hz,
   on the Dashboard and on the Chain screen (target < 15 %).

Figures depend on the machine and on what else runs on it; the load average is printed with
them. Nothing here is asserted: tests never assert on timings.
"""

from __future__ import annotations

import argparse
import fcntl
import importlib.util
import json
import os
import re
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for _path in (REPO, REPO / "tests"):  # the product, and the process helpers it shares with the tests
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from benchkit import process_cpu_seconds  # noqa: E402
from testkit import Daemon, aitbc_command, free_port, hermetic_env, service_daemon, temp_root  # noqa: E402

_ANSI = re.compile(rb"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]")


def run(*args: str) -> str:
    done = subprocess.run(aitbc_command(*args), env=hermetic_env(), cwd=REPO, capture_output=True, text=True, timeout=180)
    if done.returncode != 0:
        raise SystemExit(f"aitbc {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


class Console:
    """``aitbc-tui`` on a pseudo-terminal; remembers when it first painted and first showed a height."""

    def __init__(self, home: Path, cols: int, rows: int) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        script = Path(sys.executable).parent / "aitbc-tui"
        argv = [str(script)] if script.exists() else [sys.executable, "-c", "from aitbc_tui.app import main; main()"]
        self.started = time.monotonic()
        self.proc = subprocess.Popen([*argv, "--home", str(home)], stdin=slave, stdout=slave, stderr=slave,
                                     env=hermetic_env(TERM="xterm-256color", COLUMNS=str(cols), LINES=str(rows)), cwd=REPO,
                                     start_new_session=True)
        os.close(slave)
        self.master = master
        self.first_paint: float | None = None
        self.first_data: float | None = None
        self._tail = b""
        self._stop = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while not self._stop:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            now = time.monotonic()
            if self.first_data is None:
                self._tail = (self._tail + chunk)[-200_000:]
                plain = _ANSI.sub(b"", self._tail)
                if self.first_paint is None and (b"AITBC" in plain or b"Help" in plain):  # nav bar or footer
                    self.first_paint = now - self.started
                if re.search(rb"Height\s+[\d,]+", plain):
                    self.first_data = now - self.started

    def keys(self, text: str) -> None:
        os.write(self.master, text.encode())

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.proc.pid)

    def cpu_percent(self, seconds: float) -> float:
        start_cpu, start = self.cpu_seconds(), time.monotonic()
        time.sleep(seconds)
        return 100 * (self.cpu_seconds() - start_cpu) / (time.monotonic() - start)

    def wait_data(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.first_data is None and time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"aitbc-tui exited with {self.proc.returncode}")
            time.sleep(0.02)

    def close(self) -> None:
        self.keys("q")
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._stop = True
        os.close(self.master)


def measure(label: str, console: Console, warmup: float, seconds: float, target: float | None) -> float:
    time.sleep(warmup)
    value = console.cpu_percent(seconds)
    verdict = "" if target is None else (f"  (target < {target:g} %: {'met' if value < target else 'MISSED'})")
    print(f"  {label:<58} {value:6.2f} % of one core{verdict}", flush=True)
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measurement window per scenario")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before each measurement")
    parser.add_argument("--size", default="160x48", help="terminal size COLSxROWS")
    args = parser.parse_args()
    cols, rows = (int(x) for x in args.size.lower().split("x"))
    has_miner = importlib.util.find_spec("daemons.miner.client") is not None

    with temp_root("abt-") as root:
        run_bench(root / "h", args, cols, rows, has_miner)


def run_bench(home: Path, args: argparse.Namespace, cols: int, rows: int, has_miner: bool) -> None:
    daemons: list[Daemon] = []
    consoles: list[Console] = []
    print(f"aitbc-tui benchmark on {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, "
          f"terminal {cols}x{rows}, Python {sys.version.split()[0]}", flush=True)
    try:
        run("node", "init", "--home", str(home), "--block-time", "1.0")
        node = service_daemon("node", home, "--rpc-port", str(free_port()), "--ws-port", str(free_port()))
        miner = None
        if has_miner:
            run("miner", "init", "--home", str(home), "--no-compute", "--stake", "0", "--json")
            miner = service_daemon("miner", home, "--no-tcp", env={"AITBC_TELEMETRY_INTERVAL": "0.5"})
        daemons = [d for d in (node, miner) if d is not None]

        print("\nstart-up (node up, block time 1 s)", flush=True)
        node.start()
        paints, datas = [], []
        for _ in range(3):
            console = Console(home, cols, rows)
            console.wait_data()
            if console.first_paint is not None:
                paints.append(console.first_paint)
            if console.first_data is not None:
                datas.append(console.first_data)
            console.close()
        print(f"  {'spawn -> first paint (median of 3)':<58} {sorted(paints)[len(paints) // 2] * 1000:8.0f} ms")
        print(f"  {'spawn -> first chain height drawn (median of 3)':<58} {sorted(datas)[len(datas) // 2] * 1000:8.0f} ms")

        print("\nidle", flush=True)
        console = Console(home, cols, rows)
        consoles.append(console)
        console.wait_data()
        idle = measure("dashboard, node at 1 block/s, nothing else", console, args.warmup, args.seconds, 3)
        node.stop()
        measure("dashboard, every daemon down (reconnect attempts only)", console, args.warmup, args.seconds, 3)
        console.close()
        consoles.clear()

        streams = "10 blocks/s" + (" + telemetry at 2 Hz" if miner else " (no miner in this build)")
        print(f"\nload: {streams}", flush=True)
        node.start("--block-time", "0.1")
        if miner is not None:
            miner.start()
        console = Console(home, cols, rows)
        consoles.append(console)
        console.wait_data()
        load = measure(f"dashboard, {streams}", console, args.warmup, args.seconds, 15)
        console.keys("2")
        measure(f"chain screen (tables), {streams}", console, args.warmup, args.seconds, 15)
        if miner is not None:
            console.keys("6")
            measure(f"miner screen (sparklines), {streams}", console, args.warmup, args.seconds, 15)
        console.close()
        consoles.clear()
        print(f"\nsummary: idle {idle:.2f} % (target < 3 %), load {load:.2f} % (target < 15 %) of one core; "
              f"load average now {os.getloadavg()[0]:.2f}")
        print(json.dumps({"idle_percent": round(idle, 2), "load_percent": round(load, 2),
                          "first_paint_ms": round(sorted(paints)[len(paints) // 2] * 1000),
                          "first_data_ms": round(sorted(datas)[len(datas) // 2] * 1000)}))
    finally:
        for console in consoles:
            console.close()
        for daemon in reversed(daemons):
            daemon.stop()


if __name__ == "__main__":
    main()
