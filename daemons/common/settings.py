"""Settings shared by every daemon, layered defaults < TOML file < environment < caller overrides.

Each daemon subclasses :class:`CommonSettings` and adds its own fields; the shared parts (home,
database, logging, API listener, body limit) are declared once here. Loading goes through
:func:`load_settings`, which turns any validation failure into one :class:`SettingsError` line
naming the field *and where its value came from*, because "block_time: must be > 0" is useless
to an operator who set it in three places.

Environment: every field ``x`` is read from ``AITBC_X``. Fields may also declare documented bare
names (``LOG_LEVEL``, ``BLOCK_TIME``...) with ``validation_alias=bare_env("LOG_LEVEL")``; the
``AITBC_`` name wins when both are set. A subclass that redefines a field (e.g. a different
``api_port`` default) keeps the bare names its parents declared.

TOML: ``HOME/config.toml`` (or an explicit ``--config`` file, which replaces it). Top-level keys
are common settings shared by all daemons; the table named for the daemon (``[node]``,
``[coordinator]``, ``[mining]``...) holds that daemon's settings and wins over top-level keys.
Other daemons' tables are ignored.

Durations: every time a daemon is configured with is a :data:`Duration` (seconds) or a
:data:`DurationMs` (milliseconds): a plain number in that unit, or a number with a unit, as the
seed's users write them (``BLOCK_TIME=1s``, ``500ms``, ``2m``, ``1h``, ``1h30m``).
``DEBUG=true`` turns on debug logging, the same as ``LOG_LEVEL=debug``.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import AliasChoices, BeforeValidator, Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from daemons.common.home import Home

LogLevel = Literal["debug", "info", "warning", "error"]
Port = Annotated[int, Field(ge=0, le=65535)]
ENV_PREFIX = "AITBC_"
_SECRET_HINTS = ("password", "passphrase", "mnemonic", "seed", "private", "secret", "key", "token", "database")

S = TypeVar("S", bound="CommonSettings")

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h|d)")
_DURATION_HELP = "a duration is a number of {unit} or a number with a unit (500ms, 1s, 2m, 1h, 1h30m)"


def _duration_in(unit: str) -> BeforeValidator:
    """A before-validator turning ``'1s'``, ``'2m'``... into a number of ``unit``; plain numbers are ``unit``.

    Numbers (and numeric strings) pass through untouched so that the field's own type and bounds
    judge them; only a string with unit suffixes is converted here, and one that is neither is
    refused with the units it could have used.
    """
    scale = _UNIT_SECONDS[unit]
    help_text = _DURATION_HELP.format(unit="seconds" if unit == "s" else "milliseconds")

    def convert(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        text = value.strip().lower()
        try:
            float(text)
            return text  # a plain number: the field's unit
        except ValueError:
            pass
        pos, total = 0, 0.0
        for match in _DURATION_PART.finditer(text):
            if match.start() != pos and text[pos:match.start()].strip():
                break
            total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
            pos = match.end()
        if pos == 0 or text[pos:].strip() or not math.isfinite(total):
            raise ValueError(help_text)
        converted = total / scale
        return round(converted) if abs(converted - round(converted)) < 1e-9 else converted

    return BeforeValidator(convert)


Duration = Annotated[float, _duration_in("s")]
"""Seconds: ``1.5``, ``"1.5"``, ``"1500ms"``, ``"2m"``. Bounds go on the field (``Field(gt=0)``)."""
DurationMs = Annotated[int, _duration_in("ms")]
"""Whole milliseconds: ``500``, ``"500ms"``, ``"1s"``; ``"1.5ms"`` is refused (not whole)."""


class SettingsError(Exception):
    """Settings could not be loaded; the message is one line naming the field and its source."""


def bare_env(name: str, *more: str) -> AliasChoices:
    """Declare documented bare environment names for a field (``bare_env("BLOCK_TIME")``).

    The field's own name comes first so that every settings source keys values by field name.
    """
    return AliasChoices(name.lower(), name, *more)


@dataclass
class _Provenance:
    """Where each field's value came from, filled in by the sources while loading."""

    toml_path: Path | None = None
    section: str = ""
    toml: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)


_LOADING: ContextVar[_Provenance | None] = ContextVar("aitbc_settings_loading", default=None)


class CommonSettings(BaseSettings):
    """Settings every daemon has. Subclasses set ``service`` and add their own fields."""

    model_config = SettingsConfigDict(extra="forbid", validate_default=True)

    #: Daemon name: default TOML table, socket, log and database file names.
    service: ClassVar[str] = "daemon"

    home: Home = Field(default_factory=Home.resolve, description="installation home")
    database_url: str = Field(
        "", validation_alias=bare_env("DATABASE_URL"),
        description="peewee database URL; empty means SQLite at HOME/data/<service>.db; a relative "
                    "sqlite:///data/x.db is relative to HOME")
    log_level: LogLevel = Field("info", validation_alias=bare_env("LOG_LEVEL"))
    debug: bool = Field(False, validation_alias=bare_env("DEBUG"),
                        description="debug logging, whatever log_level says (the seed's DEBUG=true)")
    api_host: str = Field("127.0.0.1", min_length=1, validation_alias=bare_env("API_HOST"),
                          description="public (TCP) API host")
    api_port: Port = Field(0, validation_alias=bare_env("API_PORT"),
                           description="public (TCP) API port; 0 lets the OS pick one")
    tcp_enabled: bool = Field(True, description="serve the public TCP door at all")
    max_body_bytes: int = Field(1 << 20, gt=0, description="largest request body accepted (413 above)")

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_level(cls, value: Any) -> Any:
        """Operators write INFO, Info or info; ``warn`` is what most tools call warning."""
        if isinstance(value, str):
            value = value.strip().lower()
            return "warning" if value == "warn" else value
        return value

    @model_validator(mode="after")
    def _debug_means_debug_level(self) -> CommonSettings:
        """Fold ``debug`` into ``log_level``: every daemon's logging set-up reads ``log_level`` only."""
        if self.debug:
            self.log_level = "debug"
        return self

    @model_validator(mode="after")
    def _default_database(self) -> CommonSettings:
        """The default database depends on home and service, so it cannot be a static default."""
        if not self.database_url:
            self.database_url = f"sqlite:///{self.home.database_file(self.service)}"
        elif self.database_url.startswith("sqlite:///") and not self.database_url.startswith("sqlite:////"):
            # The seed writes sqlite:///data/coordinator.db: relative to the home, never to the
            # working directory, which would make a daemon's data depend on where it was started.
            self.database_url = f"sqlite:///{self.home.root / self.database_url.removeprefix('sqlite:///')}"
        return self

    def tcp_listeners(self) -> list[tuple[str, int]]:
        """The public door's (host, port) pairs: none when TCP is disabled."""
        return [(self.api_host, self.api_port)] if self.tcp_enabled else []

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Highest first: caller overrides, environment, TOML. No dotenv, no secrets dir."""
        return init_settings, _EnvSource(settings_cls), _TomlSource(settings_cls)


def load_settings(cls: type[S], home: Home | str | os.PathLike[str] | None = None,
                  config_file: str | os.PathLike[str] | None = None, section: str | None = None,
                  **overrides: Any) -> S:
    """Load and validate ``cls`` for ``home``; raise :class:`SettingsError` on any bad value.

    ``config_file`` replaces ``HOME/config.toml``; ``section`` defaults to ``cls.service``;
    ``overrides`` (e.g. command-line flags) win over everything, ``None`` values are skipped.
    """
    resolved = home if isinstance(home, Home) else Home.resolve(home)
    path = Path(config_file) if config_file is not None else resolved.config_file
    if config_file is not None and not path.is_file():
        raise SettingsError(f"config file {path}: not found")
    prov = _Provenance(toml_path=path if path.is_file() else None, section=section or cls.service)
    given = {k: v for k, v in overrides.items() if v is not None}
    token = _LOADING.set(prov)
    try:
        return cls(home=resolved, **given)
    except ValidationError as exc:
        raise SettingsError(_describe(exc, cls, prov, given)) from None
    finally:
        _LOADING.reset(token)


def _env_names(settings_cls: type[BaseSettings], name: str) -> list[str]:
    """``AITBC_NAME`` then the bare names declared on this field in the class or any parent."""
    names = [ENV_PREFIX + name.upper()]
    for klass in settings_cls.__mro__:
        info = getattr(klass, "__pydantic_fields__", {}).get(name)
        alias = info.validation_alias if isinstance(info, FieldInfo) else None
        if isinstance(alias, AliasChoices):
            names += [c for c in alias.choices if isinstance(c, str) and c != name and c not in names]
    return names


class _EnvSource(PydanticBaseSettingsSource):
    """Environment variables, exact (upper-case) names; JSON for list/dict/model fields."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        for env_name in _env_names(self.settings_cls, field_name):
            if env_name in os.environ:
                return os.environ[env_name], env_name, self.field_is_complex(field)
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        prov = _LOADING.get()
        data: dict[str, Any] = {}
        for name, info in self.settings_cls.model_fields.items():
            if name == "home":  # resolved by Home.resolve (it also needs AITBC_RUNTIME_DIR)
                continue
            value, env_name, complex_ = self.get_field_value(info, name)
            if value is None:
                continue
            if complex_:
                try:
                    value = self.decode_complex_value(name, info, value)
                except ValueError:
                    raise SettingsError(f"env {env_name}: not valid JSON") from None
            data[name] = value
            if prov is not None:
                prov.env[name] = f"env {env_name}"
        return data


class _TomlSource(PydanticBaseSettingsSource):
    """Top-level common keys plus the daemon's own table, from the file chosen by load_settings."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads the whole file at once

    def __call__(self) -> dict[str, Any]:
        prov = _LOADING.get()
        if prov is None or prov.toml_path is None:
            return {}
        path = prov.toml_path
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"{path}: cannot read TOML: {exc}") from None
        common = set(CommonSettings.model_fields)
        data: dict[str, Any] = {}
        for key, value in doc.items():
            if isinstance(value, dict):
                continue  # a daemon's table: ours is read below, the others are not our business
            if key not in common:
                raise SettingsError(f"{path} {key}: unknown common setting "
                                    f"(daemon settings go in their own table, e.g. [{prov.section}])")
            data[key] = value
            prov.toml[key] = f"{path} {key}"
        table = doc.get(prov.section, {})
        if not isinstance(table, dict):
            raise SettingsError(f"{path} {prov.section}: must be a table [{prov.section}]")
        for key, value in table.items():
            data[key] = value
            prov.toml[key] = f"{path} [{prov.section}].{key}"
        if "home" in data:
            raise SettingsError(f"{prov.toml['home']}: the home cannot be set in a config file "
                                "(use --home or AITBC_HOME)")
        return data


def _describe(exc: ValidationError, cls: type[CommonSettings], prov: _Provenance,
              given: dict[str, Any]) -> str:
    """One line per error joined with '; ': '<source>.<field>: <what is wrong> (got <value>)'."""
    parts = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        name = loc[0] if loc else ""
        if name in given:
            where = f"argument {name}"
        elif name in prov.env:
            where = prov.env[name]
        elif name in prov.toml:
            where = prov.toml[name]
        elif name in cls.model_fields:
            where = f"default {name}"
        else:
            where = name or cls.__name__
        where += "".join(f".{p}" for p in loc[1:])
        msg = "unknown setting" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
        msg = msg[:1].lower() + msg[1:]
        shown = "" if any(h in name.lower() for h in _SECRET_HINTS) or "input" not in err \
            or err["type"] == "extra_forbidden" else f" (got {err['input']!r})"
        parts.append(f"{where}: {msg}{shown}")
    return "; ".join(parts)
