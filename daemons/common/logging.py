"""Structured JSON logging and the append-only audit log, both with secret redaction.

Daemons log with the standard ``logging`` module (``log.info("block committed", extra={...})``);
:func:`setup_logging` makes every record one JSON object per line in ``HOME/logs/<service>.log``
and on stderr (for journald). Secrets never reach either: a filter replaces the value of any
field whose name looks secret (password, mnemonic, api_key, ...) with ``"***"``, in extra fields,
nested dicts and ``key=value`` text alike, because one careless ``extra={"req": body}`` is enough
to leak a passphrase into a log that gets pasted into a bug report.

:func:`audit` writes security-relevant events (key unlocked, funds sent, API key refused) to
``HOME/logs/audit.log``: opened ``O_APPEND`` with mode 0600 and fsynced per record, so that a
crash cannot lose an acknowledged event and no writer can rewrite earlier lines. Refusals
(events named ``*_refused`` or ``*_rate_limited``) are counted instead: the first of a kind is
written at once, identical ones that follow within :data:`REFUSAL_WINDOW_S` become one line with
``"repeated": N``, so that a client hammering a door with a wrong key cannot flood the log and
bury the events that matter.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import re
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from daemons.common.home import Home

REDACTED = "***"
_SENSITIVE = re.compile(
    r"(^|_)(password|passwd|passphrase|mnemonic|seed|private_key|privkey|secret|api_key|apikey"
    r"|token|authorization)($|_)")
# key=value, key: value, "key": "value" inside free text (messages, URLs with query strings).
_TEXT_SECRET = re.compile(
    r"""(?P<key>[A-Za-z0-9_\-]*(?:password|passwd|passphrase|mnemonic|seed|private_key|privkey"""
    r"""|secret|api_key|apikey|api-key|token|authorization)(?:[_\-][A-Za-z0-9_\-]*)?)"""
    r"""(?P<sep>["']?\s*[=:]\s*)(?P<value>"[^"]*"|'[^']*'|(?:bearer\s+|basic\s+)?[^\s"'&,;}]+)""",
    re.IGNORECASE)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName", "color_message"}
_HANDLER_MARK = "_aitbc_handler"


def is_sensitive(key: str) -> bool:
    """True for names like password, walletPassphrase, X-Api-Key, seed_hex (but not max_tokens)."""
    norm = _CAMEL.sub("_", key).lower().replace("-", "_")
    return bool(_SENSITIVE.search(norm))


def redact(value: Any) -> Any:
    """A copy of ``value`` with secret-looking dict keys masked and secrets in text masked."""
    if isinstance(value, dict):
        return {k: (REDACTED if isinstance(k, str) and is_sensitive(k) else redact(v))
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def redact_text(text: str) -> str:
    """Mask ``password=x``, ``"api_key": "x"`` and the like inside free text."""
    def mask(m: re.Match[str]) -> str:
        quote = m["value"][0] if m["value"][0] in "\"'" else ""
        return f"{m['key']}{m['sep']}{quote}{REDACTED}{quote}"

    return _TEXT_SECRET.sub(mask, text)


class RedactionFilter(logging.Filter):
    """Masks secrets in a record's message and extra fields before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg = redact(message) if not isinstance(record.msg, dict) else redact(record.msg)
        record.args = None
        for key in list(vars(record)):
            if key not in _STANDARD and not key.startswith("_"):
                setattr(record, key, REDACTED if is_sensitive(key) else redact(getattr(record, key)))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, service, module, function, line, msg, extra fields."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "module": record.module,
            "function": record.funcName,
            "line": record.lineno,
            "msg": record.msg if isinstance(record.msg, dict) else record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = redact_text(self.formatException(record.exc_info))
        return json.dumps(entry, default=str, ensure_ascii=False)


class OncePerProcess(logging.Filter):
    """Lets uvicorn's process lifecycle lines through once per process.

    A daemon runs one uvicorn server per door (operator socket, public TCP), and each writes
    "Started server process", "Shutting down", "Finished server process"; without this every
    one of them appeared twice in the log file and the console's Logs screen. Lines that differ
    per door ("Uvicorn running on ...") pass unchanged.
    """

    LIFECYCLE = frozenset({
        "Started server process [%d]", "Waiting for application startup.", "Application startup complete.",
        "Waiting for application shutdown.", "Application shutdown complete.", "Shutting down",
        "Finished server process [%d]"})

    def __init__(self) -> None:
        super().__init__()
        self._seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if not isinstance(record.msg, str) or record.msg not in self.LIFECYCLE:
            return True
        if record.msg in self._seen:
            return False
        self._seen.add(record.msg)
        return True


def setup_logging(service: str, home: Home, level: str | int = "info") -> None:
    """Route all logging (ours, uvicorn's, libraries') to JSON lines in the file and on stderr.

    Idempotent: calling it again replaces the handlers it installed before. Also points
    :func:`audit` at ``HOME/logs/audit.log``.
    """
    home.logs_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    log_path = home.log_file(service)
    os.close(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600))
    numeric = level if isinstance(level, int) else logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(handler)
        handler.close()
    formatter, redaction = JsonFormatter(service), RedactionFilter()
    for handler in (logging.FileHandler(log_path, encoding="utf-8"), logging.StreamHandler(sys.stderr)):
        setattr(handler, _HANDLER_MARK, True)
        handler.addFilter(redaction)
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(numeric)
    # One line per HTTP request (client or server side) drowns what matters at info level;
    # LOG_LEVEL=debug brings them back.
    for noisy in ("httpx", "httpcore", "websockets", "asyncio", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(numeric if numeric <= logging.DEBUG else logging.WARNING)
    uvicorn_log = logging.getLogger("uvicorn.error")
    for stale in [f for f in uvicorn_log.filters if isinstance(f, OncePerProcess)]:
        uvicorn_log.removeFilter(stale)
    uvicorn_log.addFilter(OncePerProcess())
    logging.captureWarnings(True)
    configure_audit(service, home)


REFUSAL_SUFFIXES = ("_refused", "_rate_limited")
"""Audit events that are counted when they repeat (see the module docstring)."""
REFUSAL_WINDOW_S = 60.0
"""How long identical refusals are counted before their count is written."""
_VARYING = frozenset({"client", "failures", "delay_s"})
"""Fields that differ between repeats of one refusal (a client's port, a running count): not part
of what makes two refusals identical; the count's line carries their latest values."""


class AuditLog:
    """Append-only JSON-lines file of security-relevant events; each record fsynced."""

    def __init__(self, path: Path, service: str, refusal_window_s: float = REFUSAL_WINDOW_S) -> None:
        self.path = path
        self.service = service
        self.refusal_window_s = refusal_window_s
        self._lock = threading.Lock()
        self._repeats: dict[str, dict[str, Any]] = {}
        """Refusals seen again since their line was written: identity -> latest fields, count, first ts."""
        self._timer: threading.Timer | None = None

    def write(self, event: str, **fields: Any) -> None:
        if event.endswith(REFUSAL_SUFFIXES):
            identity = json.dumps([event, {k: v for k, v in fields.items() if k not in _VARYING}],
                                  sort_keys=True, default=str)
            with self._lock:
                pending = self._repeats.get(identity)
                if pending is not None:
                    pending["fields"], pending["repeated"] = fields, pending["repeated"] + 1
                    pending["last_ts"] = _now()
                    return
                self._repeats[identity] = {"event": event, "fields": fields, "repeated": 0, "first_ts": None}
                self._arm_timer()
        self._append(self._record(event, fields))

    def flush(self) -> None:
        """Write the count of every refusal that repeated since its line; called by a timer and at exit."""
        with self._lock:
            repeats, self._repeats = self._repeats, {}
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        for pending in repeats.values():
            if pending["repeated"]:
                record = self._record(pending["event"], pending["fields"])
                record["repeated"] = pending["repeated"]
                record["last_ts"] = pending["last_ts"]
                self._append(record)

    def _arm_timer(self) -> None:
        if self._timer is None:
            self._timer = threading.Timer(self.refusal_window_s, self.flush)
            self._timer.daemon = True
            self._timer.start()

    def _record(self, event: str, fields: dict[str, Any]) -> dict[str, Any]:
        record: dict[str, Any] = {"ts": _now(), "service": self.service, "event": event, "pid": os.getpid()}
        record.update({k: (REDACTED if is_sensitive(k) else redact(v)) for k, v in fields.items()
                       if k not in record})
        return record

    def _append(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, default=str, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                if os.fstat(fd).st_mode & 0o077:
                    os.fchmod(fd, 0o600)
                os.write(fd, line)  # one write() per record: O_APPEND keeps concurrent writers whole
                os.fsync(fd)
            finally:
                os.close(fd)


_audit: AuditLog | None = None


def configure_audit(service: str, home: Home) -> AuditLog:
    """Point :func:`audit` at ``HOME/logs/audit.log`` (done by :func:`setup_logging`)."""
    global _audit
    home.logs_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if _audit is not None:
        _audit.flush()
    _audit = AuditLog(home.audit_log, service)
    return _audit


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@atexit.register
def _flush_audit() -> None:
    """Counts of repeated refusals still pending are written before the process ends."""
    if _audit is not None:
        _audit.flush()


def audit(event: str, **fields: Any) -> None:
    """Record a security-relevant event. Raises if logging was never set up: an audit event
    silently dropped is worse than a loud failure."""
    if _audit is None:
        raise RuntimeError("audit log not configured: call setup_logging() first")
    _audit.write(event, **fields)
