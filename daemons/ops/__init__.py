"""Operations: running the daemons of one installation, not being one of them.

Modules: ``supervisor`` (start, watch and stop a home's daemons: ``aitbc up/down/status``),
``devnet`` (what ``aitbc up`` creates in an empty home and the order it starts things),
``systemd`` (render and install the systemd units: ``aitbc <daemon> install-service``) and
``rigs*`` (other machines' daemons reached over SSH: registry, connections, fleet polling,
actions, the rig-side agent and provisioning).

This package sits between the front ends and the daemons: ``aitbc_tui`` (TUI and CLI) imports it,
and it imports ``daemons.common``, the daemons' clients and inits, ``keys`` and ``chain``; it never
imports ``aitbc_tui``. It does *run* the CLI as a program (:data:`CLI_MODULE`), because a
supervised daemon and a systemd unit start the same way an operator does (``aitbc node start``):
that is a process boundary, not an import.
"""

from __future__ import annotations

SERVICES: tuple[str, ...] = ("node", "wallet", "coordinator", "miner", "explorer")
"""Every daemon of an installation, in start order; stop order is the reverse (the node outlives
everyone who talks to it)."""

CLI_MODULE = "aitbc_tui.cli"
"""The module ``python -m`` runs to start a daemon (``<service> start --home H``)."""
