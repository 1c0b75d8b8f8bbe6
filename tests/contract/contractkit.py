"""Helpers of the contract tests: Schemathesis run against a real daemon's own OpenAPI document,
and a loopback bridge that puts a daemon's operator socket on a TCP port for it.

The fuzzer is the Schemathesis command line (``schemathesis run``) as a subprocess: it runs every
phase (examples, coverage, fuzzing, stateful) and every check against whatever routes the
daemon's document lists, so a route added tomorrow is fuzzed without changing a test. Its work is
bounded by a number of examples per operation and a fixed seed (the same cases each run). A door of
many operations is also bounded in time by ``--max-time``: the fuzzing and stateful phases repeat
until that budget is spent, so such a run takes about that long however fast the machine is (a
budget, never a performance assertion), and on a loaded machine the budget can end before every
operation had its coverage and fuzzing cases. A door where a whole run is quick (a few operations,
or operations that all refuse before doing any work) runs ``complete``: every phase once, to its
end, on every operation (the run checks that each was tested), which there is both quicker than
the budget and independent of the machine's load.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
from xml.etree import ElementTree
from pathlib import Path
from typing import Any

import tomli_w
from testkit import hermetic_env

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
SEED = 20
MAX_EXAMPLES = int(os.environ.get("AITBC_TEST_FUZZ_EXAMPLES", "10"))
"""Cases per operation and phase; ``AITBC_TEST_FUZZ_EXAMPLES`` raises it for a deeper run."""
BUDGET_S = int(os.environ.get("AITBC_TEST_FUZZ_BUDGET", "20"))
"""Seconds one budgeted Schemathesis run fuzzes (its ``--max-time``); ``AITBC_TEST_FUZZ_BUDGET`` for a
deeper run, ``0`` to run every door complete (minutes on the doors of many operations)."""
STATEFUL = ["2xx", "401", "403", "404", "409", "423", "429"]
"""What a request its document allows may still get: refusals of who asks, of a missing or
conflicting thing and of a locked wallet depend on the daemon's state, not on the request's shape."""
REFUSED = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]
"""What a request its document forbids may get: Schemathesis's own list plus 413, the shared refusal
of a body over the daemon's size limit (declared on every route), which a string past its
``maxLength`` by megabytes meets before validation does."""
HANG_S = max(280, BUDGET_S + 120)
"""Bound against a hung fuzzer process: within pytest's 300 s a test, or the budget plus start-up
and the report (a deeper run passes a longer ``--timeout`` too)."""


def fuzz(openapi_url: str, workdir: Path, *, base_url: str | None = None, headers: dict[str, str] | None = None,
         by_tag: dict[str, dict[str, str]] | None = None, semantic_422: str | None = None,
         max_examples: int = MAX_EXAMPLES, complete: bool = False) -> str:
    """Run Schemathesis with all checks and phases on every operation of the document at
    ``openapi_url`` (requests to ``base_url``, default its origin); its output, or AssertionError
    with the failures.

    ``complete``: no time budget; every phase runs once to its end and every operation of the
    document must have been tested (for the doors where that is quick).

    ``headers``: sent with every request; ``by_tag``: more headers for the operations of a tag
    (the API key of the role the tag names). ``semantic_422``: a regular expression of the paths whose bodies carry a rule
    JSON Schema cannot state (a public key that must hash to the address, names unique in a
    list, a signed chain object's strict integers), where a schema-valid body may still be a 422;
    every other path must accept every request its document allows.
    """
    config: dict[str, Any] = {"headers": headers or {}, "operations": [],
                              "checks": {"positive_data_acceptance": {"expected-statuses": STATEFUL},
                                             "negative_data_rejection": {"expected-statuses": REFUSED}}}
    for tag, tag_headers in (by_tag or {}).items():
        config["operations"].append({"include-tag": tag, "headers": tag_headers})
    if semantic_422:
        config["operations"].append({"include-path-regex": semantic_422, "checks": {"positive_data_acceptance": {
            "expected-statuses": [*STATEFUL, "422"]}}})
    config_file = workdir / "schemathesis.toml"
    config_file.write_text(tomli_w.dumps(config), encoding="utf-8")
    args = [str(SCHEMATHESIS), "--config-file", str(config_file), "--no-color", "run", openapi_url,
            "--checks", "all", "--phases", "examples,coverage,fuzzing,stateful", "--max-examples", str(max_examples),
            "--seed", str(SEED), "--request-timeout", "30", "--workers", "1",
            "--suppress-health-check", "all", "--warnings", "off", "--report", "junit", "--report-dir", str(workdir)]
    if base_url:
        args += ["--url", base_url]
    if BUDGET_S and not complete:
        args += ["--max-time", str(BUDGET_S)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=HANG_S, env=hermetic_env(NO_COLOR="1"),
                          cwd=workdir)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"schemathesis found failures in {openapi_url}:\n{_failures(workdir, output)}"
    assert re.search(r"\b[1-9][0-9]* generated", output), f"no test case was generated:\n{output[-4000:]}"
    if complete or not BUDGET_S:
        selected = re.search(r"Selected: [0-9]+/([0-9]+)", output)
        tested = re.search(r"Tested: ([0-9]+)", output)
        assert selected and tested and tested[1] == selected[1], f"not every operation was tested:\n{output[-4000:]}"
    return output


def _failures(workdir: Path, output: str, line_chars: int = 400) -> str:
    """The failures of the JUnit report (each line cut to ``line_chars``, since a fuzzed body can be
    megabytes long and would push every other line out of the message), else the output's end."""
    reports = sorted(workdir.glob("junit-*.xml"))
    if not reports:
        return output[-12000:]
    root = ElementTree.parse(reports[-1]).getroot()
    found = [failure.text or failure.get("message", "") for failure in root.iter("failure")]
    lines = [line if len(line) <= line_chars else f"{line[:line_chars]}… ({len(line)} characters)"
             for text in found for line in text.splitlines()]
    return "\n".join(lines)[-12000:] + "\n" + output[-1500:]


class SocketBridge:
    """127.0.0.1:<port> forwarded to a Unix socket, byte for byte, as ``ssh -L`` forwards an
    operator socket to another machine: requests through it arrive on the operator door."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, name="socket-bridge", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> SocketBridge:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return  # closed
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                upstream.connect(str(self.path))
            except OSError:
                conn.close()
                upstream.close()
                continue
            threading.Thread(target=_join, args=(conn, upstream), daemon=True).start()


def _join(conn: socket.socket, upstream: socket.socket) -> None:
    """Pump both ways until both sides are done, then close both."""
    back = threading.Thread(target=_pump, args=(upstream, conn), daemon=True)
    back.start()
    _pump(conn, upstream)
    back.join()
    conn.close()
    upstream.close()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass  # the other side went away: its pump ends too
