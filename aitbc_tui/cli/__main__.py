"""``python -m aitbc_tui.cli``: the ``aitbc`` command without its console script (used by
``aitbc up`` to start each daemon with the same interpreter)."""

from aitbc_tui.cli import main

main()
