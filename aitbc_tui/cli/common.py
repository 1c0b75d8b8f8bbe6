"""What every ``aitbc`` command shares: ``--json`` output, one-line errors, running a daemon.

Commands call :func:`fail` or let :func:`handle_errors` turn a known exception into
``error: <one line>`` on stderr with exit status 1, so no command prints a traceback for a
condition an operator can cause. The options they share are in :mod:`aitbc_tui.cli.options`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, Optional

import typer

from chain.errors import ChainError
from daemons.common.errors import DaemonError
from daemons.common.home import Home
from daemons.common.settings import SettingsError
from storage.errors import StorageError


def _flags_show_no_type() -> None:
    """typer's rich help labels every flag ``<bool>``, as if it took a value (``--json <bool>``);
    a flag takes none, so its type column stays empty (options that take a value keep theirs)."""
    from typer.core import TyperOption

    labelled = TyperOption.display_type_rich

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag else labelled(self, ctx)

    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flags_show_no_type()

from aitbc_tui.format import ait


def command_group(name: str, help: str, **kwargs: Any) -> typer.Typer:
    """A typer group as every ``aitbc`` group is made: ``--help`` when called bare, no shell
    completion installer, and plain one-line errors instead of typer's decorated tracebacks."""
    kwargs.setdefault("no_args_is_help", True)
    return typer.Typer(name=name, help=help, add_completion=False, pretty_exceptions_enable=False, **kwargs)


def fail(message: str) -> NoReturn:
    typer.echo(f"error: {' '.join(str(message).split())}", err=True)
    raise typer.Exit(1)


def confirm(question: str) -> bool:
    """Ask yes/no on the terminal. With no answer to read (no terminal, input closed) it fails in
    words, naming ``--yes``, where typer would print only ``Aborted.``."""
    try:
        return typer.confirm(question, default=False)
    except typer.Abort:
        fail("no answer to the confirmation (no terminal?); nothing was done. Pass --yes to go ahead without asking")


def resolve_home(home: Optional[Path]) -> Home:
    try:
        return Home.resolve(home)
    except (ValueError, OSError) as exc:
        fail(f"invalid home: {exc}")


def read_secret_file(path: Path, what: str) -> str:
    """The secret in ``path`` (a password, a recovery phrase, a key): secrets are read from files
    or prompts, never taken as arguments that ``ps`` and shell history would show. The one line
    break editors and ``echo`` add is not part of it."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"cannot read {what} file {path}: {exc.strerror}")
    except UnicodeDecodeError:
        fail(f"{what} file {path} is not UTF-8 text")
    value = text.removesuffix("\n").removesuffix("\r")
    if not value:
        fail(f"{what} file {path} is empty")
    return value


@contextmanager
def handle_errors(*worded: type[Exception]) -> Iterator[None]:
    """Known failures become one line and exit status 1; so do the ``worded`` exceptions a command
    names, whose text is already a sentence for the operator (``InitError``: a missing key, a home
    already set up; a daemon's reasons to refuse to start)."""
    try:
        yield
    except worded as exc:
        fail(str(exc))
    except (DaemonError, ChainError, StorageError) as exc:
        fail(exc.message)
    except SettingsError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{exc.strerror or exc}: {exc.filename}" if getattr(exc, "filename", None) else str(exc))


def run_daemon(run: Callable[[], int], *start_errors: type[Exception]) -> NoReturn:
    """Run a daemon in the foreground and exit with its status.

    ``run`` loads the settings and runs the daemon's main loop; ``start_errors`` are the
    exceptions with which that daemon refuses to start (a missing key, an unreachable chain),
    each already worded for the operator, so they become one line like the usual failures.
    """
    with handle_errors(*start_errors):
        code = run()
    raise typer.Exit(code)


def serve(settings_cls: type[Any], main: Callable[[Any], int], home: Optional[Path], config: Optional[Path],
          *start_errors: type[Exception], **overrides: Any) -> NoReturn:
    """What every ``aitbc <daemon> start`` does: load the daemon's ``settings_cls`` for ``home``
    (``config`` replacing HOME/config.toml; ``overrides`` are its command-line flags, ``None`` for
    one not given) and run its ``main`` in the foreground (see :func:`run_daemon`)."""
    from daemons.common.settings import load_settings

    resolved = resolve_home(home)
    run_daemon(lambda: main(load_settings(settings_cls, resolved, config, **overrides)), *start_errors)


def emit(data: Any, as_json: bool, human: Callable[[Any], str] | None = None) -> None:
    if as_json:
        typer.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
    elif human is not None:
        typer.echo(human(data))
    else:
        typer.echo(render_kv(data))


Row = dict[str, Any]


def table(empty: str, header: str | None, line: Callable[[Row], str]) -> Callable[[list[Row]], str]:
    """The human form of a list answer for :func:`emit`: ``header`` (if any) and one ``line`` a row,
    or the sentence ``empty`` when there are no rows (an empty table reads like an error)."""
    def render(rows: list[Row]) -> str:
        if not rows:
            return empty
        return "\n".join(([header] if header else []) + [line(r) for r in rows])
    return render


def render_kv(data: Any, indent: int = 0) -> str:
    """A readable key: value rendering of nested JSON for humans."""
    pad = "  " * indent
    if isinstance(data, dict):
        lines = []
        for key, value in data.items():
            if isinstance(value, (dict, list)) and value:
                lines.append(f"{pad}{key}:")
                lines.append(render_kv(value, indent + 1))
            else:
                lines.append(f"{pad}{key}: {format_value(value)}")
        return "\n".join(lines)
    if isinstance(data, list):
        return "\n".join(
            (f"{pad}-\n{render_kv(item, indent + 1)}" if isinstance(item, (dict, list)) else f"{pad}- {format_value(item)}")
            for item in data
        )
    return f"{pad}{format_value(data)}"


def format_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def format_ait(units: int) -> str:
    """Units as AIT with all six decimals: the CLI's context of the one amount formatter
    (:func:`aitbc_tui.format.ait`), fixed width so scripts and columns line up."""
    return ait(units, full=True)


PENDING_KINDS = {"unbond": "unbonding stake", "miner_unbond": "unbonding miner bond",
                 "escrow_withdraw": "escrow withdrawal"}


def pending_text(entry: dict[str, Any]) -> str:
    """One pending release as a person reads it: what is coming back, from where, and when."""
    source = entry.get("validator") or entry.get("coordinator")
    return (f"{PENDING_KINDS.get(entry['kind'], entry['kind'])} {format_ait(entry['amount'])}"
            f"{' from ' + source if source else ''}, released at height {entry['release']}")
