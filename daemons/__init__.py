"""Headless AITBC daemons: node, coordinator, miner, wallet, and the operations that run them.

Each daemon is a thin shell (settings -> storage -> core -> servers) over the shared plumbing in
``daemons.common``. ``daemons.ops`` starts, supervises and installs them (``aitbc up``, systemd
units, SSH rigs); the front ends in ``aitbc_tui`` import from here, never the other way round.
"""
