"""Crash safety: a writer process SIGKILLed at any moment never leaves half a block behind.

The writer (``crash_writer.py``) is a real subprocess committing real signed blocks into a
SQLite file. After each kill the database is opened as a restarting node would open it and
checked whole (``check_store_integrity``: contiguous heights, every transaction and index row
of every block, state rows hashing to the head's state root, a full replay from genesis
matching the stored state, no final transaction left in the mempool). Then the writer is
restarted and must continue from the stored head.
"""

from __future__ import annotations

import queue
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

from store_testkit import check_store_integrity
from testkit import hermetic_env

WRITER = Path(__file__).with_name("crash_writer.py")
LINE_TIMEOUT_S = 60  # a bound against hangs, never a performance assertion


class Writer:
    """The writer subprocess and the lines it prints, read by a thread so waits can time out."""

    def __init__(self, db: Path, *extra: str, max_height: int = 1_000_000) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(WRITER), str(db), str(max_height), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=hermetic_env(),
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def next_line(self) -> str:
        try:
            line = self.lines.get(timeout=LINE_TIMEOUT_S)
        except queue.Empty:
            self.proc.kill()
            raise AssertionError("the writer printed nothing for too long") from None
        if line is None:
            assert self.proc.stderr is not None
            raise AssertionError(f"the writer exited early: {self.proc.wait()} {self.proc.stderr.read()[-2000:]}")
        return line

    def expect(self, word: str) -> int:
        kind, _, height = self.next_line().partition(" ")
        assert kind == word, f"expected {word!r}, the writer said {kind} {height}"
        return int(height)

    def committed_so_far(self) -> int:
        """The newest height the writer reported committed before it died."""
        newest = 0
        while (line := self.lines.get(timeout=LINE_TIMEOUT_S)) is not None:
            if line.startswith("committed "):
                newest = int(line.split()[1])
        return newest


def test_sigkill_at_random_moments_never_leaves_half_a_block(tmp_path: Path) -> None:
    db = tmp_path / "chain.db"
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    stored = 0
    for round_ in range(6):
        writer = Writer(db)
        assert writer.expect("ready") == stored, "the writer must resume from the stored head"
        reported = writer.expect("committed")
        # Kill at a random moment: while building, while writing, between blocks.
        threading.Event().wait(rng.uniform(0.0, 0.3))
        writer.proc.send_signal(signal.SIGKILL)
        assert writer.proc.wait() == -signal.SIGKILL
        reported = max(reported, writer.committed_so_far())
        stored = check_store_integrity(db)
        # What was reported committed survived the crash; at most the block being written
        # when the kill landed (committed, not yet reported) is there too.
        assert reported <= stored <= reported + 1, f"round {round_}, random seed {seed}"
    assert stored >= 6


def test_a_kill_inside_the_block_transaction_rolls_the_whole_block_back(tmp_path: Path) -> None:
    db = tmp_path / "chain.db"
    writer = Writer(db, max_height=2)
    assert writer.proc.wait() == 0
    stored = check_store_integrity(db)
    assert stored == 2
    # Block 3's transaction runs 9 statements: BEGIN, head read, block row, transactions,
    # address rows, state upserts, mempool removal, head update, COMMIT. Kill before each.
    for statement in range(1, 10):
        writer = Writer(db, "--die-at-statement", str(statement))
        assert writer.expect("ready") == stored
        assert writer.expect("dying") == stored + 1
        assert writer.proc.wait() == -signal.SIGKILL
        assert check_store_integrity(db) == stored, f"block {stored + 1} was partly stored (statement {statement})"
    # And the interrupted block is stored whole by the next run.
    writer = Writer(db, max_height=stored + 1)
    assert writer.expect("ready") == stored
    assert writer.expect("committed") == stored + 1
    assert writer.proc.wait() == 0
    assert check_store_integrity(db) == stored + 1
