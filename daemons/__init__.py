"""Headless AITBC daemons: node, coordinator, miner, wallet.

Each daemon is a thin shell (settings -> storage -> core -> servers) over the shared plumbing in
``daemons.common``.
"""
