"""The coordinator daemon: the job market API, miner registry, matching, escrow and receipts.

Modules: ``settings`` (CoordinatorSettings), ``init`` (the coordinator's chain key), ``models``
(wire models, and the job's life cycle and shape, defined once), ``auth`` (API keys, rate
limits), ``chain_view`` (node access), ``market`` (the matching, expiry and pricing rules, pure
functions), ``store`` (the coordinator's state in SQLite or PostgreSQL: guarded updates and
locks), ``part`` (what the core and the settler share), ``core`` (jobs, miners, results),
``settlement`` (receipts and slashes on chain), ``api`` (REST routes), ``daemon`` (runtime and
main), ``client`` (typed client).
"""
