"""The coordinator daemon: the job market API, miner registry, matching, escrow and receipts.

Modules: ``settings`` (CoordinatorSettings), ``init`` (the coordinator's chain key), ``models``
(wire models), ``auth`` (API keys, rate limits), ``chain_view`` (node access), ``market``
(ranking and pricing), ``core`` (jobs, miners, results), ``settlement`` (receipts and slashes on
chain), ``api`` (REST routes), ``daemon`` (runtime and main), ``client`` (typed client).
"""
