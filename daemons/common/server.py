"""Run one daemon process: pid lock, operator socket + public TCP doors, graceful shutdown.

:func:`run_daemon` serves a daemon's single FastAPI app (built with
:func:`daemons.common.api.create_app`) on ``HOME/run/<service>.sock`` (mode 0600: the operator's
door) and on the public TCP listeners, with one uvicorn server per door so that each request is
tagged with the door it came through. Sockets are bound *before* the daemon's startup hooks run,
so a port clash is reported before any heavy work, and a client that connects during startup
waits instead of being told the daemon is not running.

A second daemon on the same home is refused by an ``flock`` on ``HOME/run/<service>.pid``; only
the lock holder may remove a stale socket left by a crash, which is why the lock comes first.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import signal
import socket
import stat
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from daemons.common.api import Door, DoorApp
from daemons.common.home import MAX_SOCKET_PATH
from daemons.common.settings import CommonSettings

Hook = Callable[[], Awaitable[None]]
log = logging.getLogger(__name__)
GRACEFUL_SHUTDOWN_S = 10


class DaemonStartError(Exception):
    """The daemon cannot start; the message is the one line shown to the operator."""


class PidLock:
    """Exclusive ``flock`` on the pid file for the life of the process.

    The kernel drops the lock when the process dies, so a crash never leaves a daemon
    "running"; the pid written inside is only there for the operator's error message.
    """

    def __init__(self, path: Path, service: str) -> None:
        self.path = path
        self.service = service
        self._fd: int | None = None

    def acquire(self) -> None:
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as exc:
                raise DaemonStartError(f"cannot open pid file {self.path}: {exc.strerror}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                raise DaemonStartError(f"{self.service} already running on this home, pid {holder} "
                                       f"({self.path})") from None
            # The previous holder may have unlinked the file between our open and our lock:
            # then we hold a lock on a dead inode and must start over on the new file.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # unlink while still locked: nobody can lock this inode meanwhile
        os.close(self._fd)
        self._fd = None


def bind_unix_socket(path: Path) -> socket.socket:
    """Listen on ``path`` with mode 0600 from the first instant (umask while binding)."""
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise DaemonStartError(f"socket path too long ({len(os.fsencode(path))} bytes, max "
                               f"{MAX_SOCKET_PATH}): {path}; use a shorter --home or AITBC_RUNTIME_DIR")
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise DaemonStartError(f"{path} exists and is not a socket; refusing to remove it")
        path.unlink()  # stale: we hold the pid lock, so no live daemon owns it
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        sock.bind(os.fspath(path))
    except OSError as exc:
        sock.close()
        raise DaemonStartError(f"cannot listen on {path}: {exc.strerror}") from None
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)
    sock.listen(128)
    return sock


def bind_tcp(host: str, port: int) -> socket.socket:
    """Listen on host:port (IPv4 or IPv6), with a message an operator can act on when it fails."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.create_server((host, port), family=family, backlog=128)
        # TCP_NODELAY on the listener, inherited by every accepted connection: asyncio sets it
        # only on sockets whose ``proto`` is IPPROTO_TCP, and create_server's are proto 0. Without
        # it an answer written in two pieces (headers, body) waits for the client's delayed ACK:
        # every keep-alive request took about 40 ms, whatever the server's own work.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    except OSError as exc:
        why = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
        raise DaemonStartError(f"cannot listen on {host}:{port}: {why}") from None


class _Server(uvicorn.Server):
    """uvicorn server that leaves signals to run_daemon (one handler stops every door)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _door_server(app: FastAPI, door: Door, settings: CommonSettings) -> _Server:
    config = uvicorn.Config(
        DoorApp(app, door), lifespan="off", log_config=None, access_log=True,
        proxy_headers=False, server_header=False, ws_max_size=settings.max_body_bytes,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S)
    return _Server(config)


def run_daemon(app: FastAPI, settings: CommonSettings, *,
               tcp: Sequence[tuple[str, int]] | None = None,
               on_startup: Sequence[Hook] = (), on_shutdown: Sequence[Hook] = (),
               on_stopping: Sequence[Hook] = ()) -> int:
    """Serve ``app`` until SIGTERM/SIGINT; return the process exit code (0 clean, 1 failed).

    ``tcp`` defaults to ``settings.tcp_listeners()``; pass ``[]`` for a socket-only daemon.
    Startup hooks run in order after the sockets are bound (if one raises, the daemon exits 1
    without running shutdown hooks); shutdown hooks run in order after both doors stopped
    accepting and open requests drained (up to 10 s); then socket and pid file are removed.
    """
    service, home = settings.service, settings.home
    listeners = settings.tcp_listeners() if tcp is None else list(tcp)
    lock = PidLock(home.pid_file(service), service)
    sock_path = home.socket(service)
    sockets: list[socket.socket] = []
    try:
        try:
            home.ensure()
        except OSError as exc:
            raise DaemonStartError(f"cannot prepare home {home.root}: {exc}") from None
        lock.acquire()
        try:
            sockets.append(bind_unix_socket(sock_path))
            sockets += [bind_tcp(host, port) for host, port in listeners]
            return asyncio.run(_serve(app, settings, sockets, on_startup, on_shutdown, on_stopping))
        finally:
            for sock in sockets:
                sock.close()
            if sockets:  # only the socket we bound; never a file we refused to touch
                with contextlib.suppress(FileNotFoundError):
                    sock_path.unlink()
            lock.release()
    except DaemonStartError as exc:
        log.error("%s", exc)
        print(f"aitbc {service}: {exc}", file=sys.stderr)
        return 1


async def _serve(app: FastAPI, settings: CommonSettings, sockets: list[socket.socket],
                 on_startup: Sequence[Hook], on_shutdown: Sequence[Hook], on_stopping: Sequence[Hook] = ()) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        for hook in on_startup:
            await hook()
    except Exception as exc:
        log.exception("startup failed")
        raise DaemonStartError(f"startup failed: {exc}") from exc
    unix, public = sockets[0], sockets[1:]
    doors = [(_door_server(app, "operator", settings), [unix])]
    if public:
        doors.append((_door_server(app, "public", settings), public))
    tasks = [asyncio.create_task(server.serve(sockets=socks)) for server, socks in doors]
    log.info("%s listening", settings.service, extra={
        "socket": str(unix.getsockname()),
        "tcp": [f"{s.getsockname()[0]}:{s.getsockname()[1]}" for s in public]})
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
    log.info("%s shutting down", settings.service)
    for hook in on_stopping:
        try:
            await hook()
        except Exception:
            log.exception("stopping hook failed")
    for server, _ in doors:
        server.should_exit = True
    results = await asyncio.gather(*tasks, return_exceptions=True)
    stopper.cancel()
    code = 0
    for result in results:
        if isinstance(result, BaseException):
            log.error("server failed: %r", result)
            code = 1
    for hook in on_shutdown:
        try:
            await hook()
        except Exception:
            log.exception("shutdown hook failed")
            code = 1
    return code
