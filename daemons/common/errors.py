"""Client-side errors: one exception family, one line each, for the CLI to print as-is."""

from __future__ import annotations

from pathlib import Path

from chain.errors import MessageError


class DaemonError(MessageError):
    """A daemon answered with an error (or could not be asked). ``str(e)`` is one line."""

    def __init__(self, status: int, code: int | str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class DaemonUnavailable(DaemonError):
    """Nothing answers at the target: not running, stale socket, no permission, timeout."""

    def __init__(self, message: str) -> None:
        super().__init__(0, "unavailable", message)


def unavailable(name: str, socket_path: Path | None, base_url: str, timeout: float,
                exc: BaseException) -> DaemonUnavailable:
    """Say *why* a daemon cannot be reached, from the operator's point of view."""
    root = _root(exc)
    where = str(socket_path) if socket_path is not None else base_url
    if isinstance(root, TimeoutError) or "Timeout" in type(exc).__name__:
        return DaemonUnavailable(f"{name} did not answer within {timeout:g}s ({where})")
    if isinstance(root, PermissionError):
        return DaemonUnavailable(f"cannot open {where}: permission denied (run as the daemon's user)")
    if socket_path is not None and not socket_path.exists():
        return DaemonUnavailable(f"{name} is not running (no socket at {socket_path})")
    if isinstance(root, ConnectionRefusedError):
        if socket_path is not None:
            return DaemonUnavailable(f"{name} is not running (stale socket at {socket_path})")
        return DaemonUnavailable(f"{name} is not running (connection refused at {base_url})")
    return DaemonUnavailable(f"lost connection to {name} at {where}: {_reason(exc)}")


def _root(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return exc


def _reason(exc: BaseException) -> str:
    root = _root(exc)
    return getattr(root, "strerror", None) or str(root) or type(root).__name__
