"""The TUI's own settings, kept in ``HOME/tui.toml`` so they follow the installation.

Only preferences live here (theme, log view defaults). Nothing secret is ever written: the TUI
holds no keys and no passwords. A missing or unreadable file means defaults; a broken file is
reported once (the caller shows it as a notification) rather than refusing to start, because an
operator who needs the console during an incident must not be locked out by a typo in a theme
name.
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from pathlib import Path
from typing import Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from daemons.common.home import Home

CONFIG_NAME = "tui.toml"
DEFAULT_DARK = "aitbc-dark"
DEFAULT_LIGHT = "aitbc-light"
LogLevel = Literal["debug", "info", "warning", "error"]


class TuiConfig(BaseModel):
    """What the operator chose last time."""

    model_config = ConfigDict(extra="ignore")

    theme: str = Field(DEFAULT_DARK, min_length=1, max_length=64)
    dark_theme: str = Field(DEFAULT_DARK, min_length=1, max_length=64)
    light_theme: str = Field(DEFAULT_LIGHT, min_length=1, max_length=64)
    log_level: LogLevel = "info"
    log_follow: bool = True


def config_path(home: Home) -> Path:
    return home.root / CONFIG_NAME


def load_config(home: Home) -> tuple[TuiConfig, str | None]:
    """The config and, when the file was broken, a one-line reason it was ignored."""
    path = config_path(home)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return TuiConfig(), None
    except OSError as exc:
        return TuiConfig(), f"cannot read {path}: {exc.strerror or exc}"
    try:
        return TuiConfig.model_validate(tomllib.loads(raw.decode("utf-8"))), None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return TuiConfig(), f"{path} is not valid TOML ({exc}); using defaults"
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return TuiConfig(), f"{path}: {where}: {first['msg']}; using defaults"


def save_config(home: Home, config: TuiConfig) -> Path:
    """Write atomically (temp file + rename) with mode 0600; the home is created if missing."""
    path = config_path(home)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    data = tomli_w.dumps(config.model_dump(mode="json")).encode("utf-8")
    fd, tmp = tempfile.mkstemp(prefix=".tui-", suffix=".toml", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path
