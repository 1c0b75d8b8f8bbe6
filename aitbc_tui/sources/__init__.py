"""One asynchronous source per daemon: connect over the operator socket, subscribe to events,
keep the shared :class:`~aitbc_tui.models.Store` current, reconnect with backoff.

Sources never touch widgets. They call ``changed(name)`` after updating the store; the app turns
that into a Textual message and repaints at a bounded rate.
"""
