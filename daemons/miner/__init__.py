"""The miner daemon: runs AI jobs on local hardware and reports what that hardware is doing.

Libraries the daemon shell is built on:

- ``daemons.miner.inference``: the model catalogue (public names -> local weights), inference
  backends behind one interface (llama.cpp and transformers on CPU, vLLM on GPU) and the teacher-forced
  verification check the coordinator's re-check sample relies on.
- ``daemons.miner.telemetry``: GPU (NVML) and host (CPU/RAM) samples and their Prometheus text
  form, honest about what could not be read.

The daemon itself (``aitbc miner start``), one module per job:

- ``settings``: ``MinerSettings``, table ``[mining]`` of config.toml; ``init``: the miner key,
  its password file and the coordinator API key file;
- ``serving``: which catalogue models this miner serves and their (unloaded) backends;
- ``runtime``: the parts composed, started (bring-up) and stopped (drain); the parts share
  ``state`` (the miner's facts, readiness, background tasks): ``monitor`` (telemetry),
  ``bond_keeper`` (keeping the bond), ``session`` (register, heartbeat, long poll with the
  coordinator), ``book`` (each task's change of state), ``execution`` (running tasks and
  re-checks), ``delivery`` (posting results); ``views``: the health and status answers;
- ``tasks``: what a task means without I/O (parameters, proofs, verdicts); ``journal``: the
  in-flight tasks that survive a restart; ``worker``: the inference thread per model;
  ``bonding``: the on-chain bond calls; ``metrics``: the miner's Prometheus families;
- ``api``: the HTTP API (operator socket; public door: ``/health`` and ``/metrics`` only);
  ``daemon``: ``main``; ``client`` and ``models``: the typed client and wire models.

Heavy dependencies (torch, transformers, vLLM, NVML) are imported only when used, so that the
daemon, the CLI and the tests can import this package on machines that lack them.
"""
