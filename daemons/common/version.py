"""The one software version of this installation, read from the installed distribution's metadata
(``pyproject.toml`` is where it is written), so that every daemon's ``/health``, the node's upgrade
check and ``aitbc --version`` agree."""

from __future__ import annotations

from importlib import metadata

UNKNOWN = "0+unknown"
"""Reported when the code runs without being installed: it compares below every release, so a
scheduled ``software_upgrade`` stops such a node rather than letting an unknown build go on."""


def software_version() -> str:
    try:
        return metadata.version("aitbc")
    except metadata.PackageNotFoundError:
        return UNKNOWN


VERSION = software_version()
