"""The node daemon: the chain's state, mempool, block production and consensus, served over JSON-RPC.

Modules: ``settings`` (NodeSettings), ``init`` (genesis, validator key), ``models`` (params of
each RPC method, error codes), ``core`` (state, mempool and blocks, no server), ``mempool`` and
``admission`` (what gets in, in arrival order), ``bft`` (multi-validator consensus driver),
``api`` (the RPC methods and the app), ``daemon`` (runtime and main), ``client`` (typed client).
"""
