"""Crash-safe file replacement and a directory lock, for the keystore.

A key file is either the old complete version or the new complete version, never a mix: the new
bytes go to a temporary file in the same directory (mode 0600 from the first byte), are flushed
to disk with fsync, renamed over the target (atomic on POSIX file systems), and the directory is
fsynced so the rename itself survives a power cut. A process killed at any point leaves at most
a stray ``.*.tmp`` file, which holds only encrypted data and is removed by the next writer.

The same function writes every secret and config file (password files, API keys, config.toml):
the temporary file is created exclusively (``O_EXCL``, so no file planted in advance is reused),
the result has mode 0600 even when the old file had another, and a target that is a symbolic
link is refused rather than written through or silently replaced.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

TEMP_PREFIX = ".tmp-"
TEMP_SUFFIX = ".tmp"
FILE_MODE = 0o600
DIR_MODE = 0o700
LOCK_NAME = ".lock"


class UnsafeTarget(OSError):
    """The file to write is a symbolic link: writing would follow it or replace it behind the owner's back."""


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably, mode 0600; refuse a symbolic link."""
    if path.is_symlink():
        raise UnsafeTarget(errno.ELOOP, "refusing to write through a symbolic link", str(path))
    directory = path.parent
    fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=directory)
    try:
        os.fchmod(fd, FILE_MODE)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    os.close(fd)
    try:
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    fsync_dir(directory)


def remove_durably(path: Path) -> None:
    os.unlink(path)
    fsync_dir(path.parent)


def ensure_private_dir(directory: Path) -> None:
    """Create ``directory`` (and parents) and make it 0700; parents keep the umask's mode."""
    directory.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    if directory.stat().st_mode & 0o777 != DIR_MODE:
        with contextlib.suppress(PermissionError):
            os.chmod(directory, DIR_MODE)


def remove_stale_temps(directory: Path) -> None:
    """Delete leftovers of killed writers. Call only while holding ``locked(directory)``:
    every writer takes that lock, so a temp file seen then belongs to no live writer."""
    for entry in directory.iterdir():
        if entry.name.startswith(TEMP_PREFIX) and entry.name.endswith(TEMP_SUFFIX):
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Exclusive advisory lock on ``directory/.lock`` for the duration of one change, so that
    two processes cannot both claim the same name or address."""
    fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
