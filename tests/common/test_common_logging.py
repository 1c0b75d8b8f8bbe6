"""JSON log lines, secret redaction, and the append-only audit log (in-process)."""

from __future__ import annotations

import json
import logging
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import daemons.common.logging as dlog
from daemons.common.home import Home
from daemons.common.logging import audit, is_sensitive, redact, redact_text, setup_logging


@pytest.fixture
def logged(home: Home) -> Iterator[Home]:
    """setup_logging on a temp home; the root logger is restored afterwards."""
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    setup_logging("unit", home, "info")
    yield home
    for handler in list(root.handlers):
        if handler not in saved[1]:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(saved[0])
    dlog._audit = None


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def emit_from_here(log: logging.Logger) -> int:
    log.info("hello %s", "world", extra={"height": 7})
    return sys._getframe().f_lineno - 1


def test_json_lines_carry_service_module_function_line(logged: Home) -> None:
    line = emit_from_here(logging.getLogger("aitbc.test"))
    [entry] = [e for e in lines(logged.log_file("unit")) if e["msg"] == "hello world"]
    assert entry["service"] == "unit"
    assert entry["module"] == "test_common_logging"
    assert entry["function"] == "emit_from_here"
    assert entry["line"] == line
    assert entry["level"] == "info"
    assert entry["height"] == 7
    assert entry["ts"].endswith("+00:00")
    assert stat.S_IMODE(logged.log_file("unit").stat().st_mode) == 0o600


def test_debug_only_when_asked(logged: Home) -> None:
    log = logging.getLogger("aitbc.test")
    log.debug("quiet")
    setup_logging("unit", logged, "DEBUG")
    log.debug("loud")
    msgs = [e["msg"] for e in lines(logged.log_file("unit"))]
    assert "loud" in msgs and "quiet" not in msgs


def test_exceptions_are_logged_with_traceback(logged: Home) -> None:
    try:
        raise ValueError("bad thing, token=abc123")
    except ValueError:
        logging.getLogger("aitbc.test").exception("it failed")
    [entry] = [e for e in lines(logged.log_file("unit")) if e["msg"] == "it failed"]
    assert "ValueError" in entry["exc"] and "abc123" not in entry["exc"]


def test_secrets_are_redacted_everywhere(logged: Home, capsys: pytest.CaptureFixture[str]) -> None:
    log = logging.getLogger("aitbc.test")
    log.info("unlock with password=hunter2 for %s", {"mnemonic": "word1 word2", "amount": 5},
             extra={"api_key": "k-123", "request": {"to": "0xab", "wallet": {"privateKey": "p-1"}},
                    "max_tokens": 64})
    log.info({"event": "login", "X-Api-Key": "k-456"})
    text = logged.log_file("unit").read_text()
    for secret in ("hunter2", "word1", "k-123", "p-1", "k-456"):
        assert secret not in text
    first, second = [e for e in lines(logged.log_file("unit")) if "unlock" in str(e["msg"])
                     or isinstance(e["msg"], dict)]
    assert first["api_key"] == "***"
    assert first["request"] == {"to": "0xab", "wallet": {"privateKey": "***"}}
    assert first["max_tokens"] == 64
    assert "password=***" in first["msg"]
    assert second["msg"] == {"event": "login", "X-Api-Key": "***"}
    assert "hunter2" not in capsys.readouterr().err


@pytest.mark.parametrize(("key", "secret"), [
    ("password", True), ("walletPassphrase", True), ("X-Api-Key", True), ("seed_hex", True),
    ("mnemonic", True), ("client_secret", True), ("private_key", True), ("access_token", True),
    ("max_tokens", False), ("seeds", False), ("amount", False), ("tokenizer", False),
])
def test_sensitive_names(key: str, secret: bool) -> None:
    assert is_sensitive(key) is secret


def test_redact_text_and_structures() -> None:
    assert redact_text("GET /v1/jobs?api_key=abc&n=1") == "GET /v1/jobs?api_key=***&n=1"
    assert redact_text('{"passphrase": "two words"}') == '{"passphrase": "***"}'
    assert redact_text("Authorization: Bearer xyz") == "Authorization: ***"
    assert redact({"a": [{"seed": b"x"}], "b": "max_tokens=5"}) == {"a": [{"seed": "***"}], "b": "max_tokens=5"}


def test_audit_appends_private_fsynced_redacted_lines(logged: Home) -> None:
    audit("key_unlocked", address="0xab", passphrase="hunter2")
    audit("funds_sent", amount=5, params={"mnemonic": "a b c"})
    path = logged.audit_log
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first, second = lines(path)
    assert first["event"] == "key_unlocked" and first["address"] == "0xab"
    assert first["passphrase"] == "***" and first["service"] == "unit"
    assert second["params"] == {"mnemonic": "***"}
    assert "hunter2" not in path.read_text()


def test_audit_is_append_only_across_processes(logged: Home) -> None:
    audit("first")
    before = logged.audit_log.read_bytes()
    code = (f"from daemons.common.logging import setup_logging, audit\n"
            f"from daemons.common.home import Home\n"
            f"setup_logging('other', Home(root={str(logged.root)!r}))\n"
            f"audit('second', token='t-1')\n")
    subprocess.run([sys.executable, "-c", code], check=True)
    after = logged.audit_log.read_bytes()
    assert after.startswith(before)
    assert [e["event"] for e in lines(logged.audit_log)] == ["first", "second"]
    assert lines(logged.audit_log)[1]["service"] == "other"


def test_audit_tightens_a_loose_existing_file(logged: Home) -> None:
    logged.audit_log.write_text("")
    logged.audit_log.chmod(0o644)
    audit("anything")
    assert stat.S_IMODE(logged.audit_log.stat().st_mode) == 0o600


def test_audit_without_setup_refuses() -> None:
    saved, dlog._audit = dlog._audit, None
    try:
        with pytest.raises(RuntimeError, match="setup_logging"):
            audit("lost")
    finally:
        dlog._audit = saved


def test_repeated_refusals_are_counted_not_written_one_line_each(logged: Home) -> None:
    for port in range(100):
        audit("api_key_refused", reason="invalid_api_key", path="/v1/jobs", client=f"10.0.0.9:{port}")
    audit("api_key_refused", reason="wrong_role", path="/v1/jobs")  # another refusal: its own line at once
    audit("key_unlocked", address="0xab")  # not a refusal: written as always
    assert [(e["event"], e.get("reason")) for e in lines(logged.audit_log)] == [
        ("api_key_refused", "invalid_api_key"), ("api_key_refused", "wrong_role"), ("key_unlocked", None)]
    assert dlog._audit is not None
    dlog._audit.flush()  # what the window's timer and the process's exit do
    *_, counted = lines(logged.audit_log)
    assert (counted["event"], counted["reason"], counted["repeated"]) == ("api_key_refused", "invalid_api_key", 99)
    assert counted["client"] == "10.0.0.9:99" and "last_ts" in counted
    assert len(lines(logged.audit_log)) == 4
    dlog._audit.flush()  # nothing pending: nothing written
    audit("api_key_refused", reason="invalid_api_key", path="/v1/jobs", client="10.0.0.9:1")  # a new window
    assert len(lines(logged.audit_log)) == 5 and "repeated" not in lines(logged.audit_log)[-1]


def test_pending_refusal_counts_are_written_when_the_process_exits(logged: Home) -> None:
    code = (f"from daemons.common.logging import setup_logging, audit\n"
            f"from daemons.common.home import Home\n"
            f"setup_logging('other', Home(root={str(logged.root)!r}))\n"
            f"for _ in range(5):\n    audit('api_key_rate_limited', key_id='k1')\n")
    subprocess.run([sys.executable, "-c", code], check=True)
    assert [(e["event"], e.get("repeated")) for e in lines(logged.audit_log)] == [
        ("api_key_rate_limited", None), ("api_key_rate_limited", 4)]


def test_uvicorn_lifecycle_lines_once_per_process(logged: Home) -> None:
    """One uvicorn server per door wrote each lifecycle line twice (web daemon: "Started server
    process", "Shutting down", "Finished server process"); per-door lines still pass."""
    uvicorn_log = logging.getLogger("uvicorn.error")
    for _door in ("operator", "public"):
        uvicorn_log.info("Started server process [%d]", 42)
        uvicorn_log.info("Uvicorn running on %s", _door)
        uvicorn_log.info("Shutting down")
    messages = [e["msg"] for e in lines(logged.log_file("unit"))]
    assert messages.count("Started server process [42]") == 1 and messages.count("Shutting down") == 1
    assert "Uvicorn running on operator" in messages and "Uvicorn running on public" in messages
