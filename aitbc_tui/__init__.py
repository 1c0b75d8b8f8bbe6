"""The operator's face of AITBC: the Textual TUI and the typer CLI.

Both reach daemons only through ``daemons.common.client``; nothing here opens a daemon's
database or imports its internals.
"""

from daemons.common.version import VERSION as __version__

__all__ = ["__version__"]
