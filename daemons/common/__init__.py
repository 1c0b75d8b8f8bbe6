"""The shared spine of every AITBC daemon (node, coordinator, miner, wallet).

One module per job, imported directly (this package re-exports nothing, so that the TUI and CLI,
which only need the client, do not pull in the server stack):

- ``home``: the installation home and its paths (``Home.resolve``, ``home.socket("node")``).
- ``settings``: ``CommonSettings`` + ``load_settings`` (defaults < TOML < env < overrides).
- ``logging``: ``setup_logging`` (JSON lines, redaction) and ``audit`` (append-only audit log).
- ``api``: ``create_app`` (uniform errors, body limit, ``/health``), ``door``, ``require_operator``.
- ``server``: ``run_daemon`` (operator socket + public TCP, pid lock, graceful shutdown).
- ``events``: ``EventHub`` and the ``/v1/events`` WebSocket router.
- ``client``: ``DaemonClient`` / ``AsyncDaemonClient`` / ``target_for`` (used by CLI, TUI, tests).
- ``models``, ``errors``, ``stream``: wire models, client errors, event-stream client.
"""
