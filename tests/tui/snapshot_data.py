"""A fixed, deterministic data snapshot for the snapshot tests.

Every value below is typed into the same store models the live sources fill, so the screens run
their real rendering code on data that never changes between runs (no clock, no daemon, no
random). Times are fixed milliseconds; hashes are SHA-256 of fixed strings.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from aitbc_tui.models import (
    AccountView,
    BlockRow,
    EventLine,
    GovModel,
    GpuView,
    HistoryRow,
    HostView,
    JobRow,
    LocalModel,
    MinerRow,
    MinerTask,
    ProposalRow,
    ServedModel,
    SourceStatus,
    SpendRow,
    StakeRow,
    Store,
    TallyView,
    TxRow,
    UnbondingRow,
    ValidatorRow,
    ValidatorVoteRow,
    WalletRow,
)

T0 = 1_795_000_000_000  # 2026-11-18 ... UTC, fixed
UNIT = 10**6


def h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def addr(text: str) -> str:
    return "0x" + h(text)[:40]


VALIDATOR = addr("validator-0")
VALIDATOR_2 = addr("validator-1")
OPERATOR = addr("wallet-operator")
SAVINGS = addr("wallet-savings")
COORDINATOR = addr("coordinator")
MINER = addr("miner-0")


TREASURY = addr("treasury")


def fixed_gov() -> GovModel:
    """Four proposals: one voting (delegator override, operator voted), one collecting deposits,
    one executed treasury spend, one vetoed."""
    params = {"min_deposit": 1_000 * UNIT, "deposit_period": 100, "voting_period": 200, "quorum_bps": 3340,
              "threshold_bps": 5000, "veto_threshold_bps": 3340, "enactment_period": 50}
    bonded = 160_150 * UNIT
    voters = [ValidatorVoteRow(validator=VALIDATOR, name="validator-0", power=100_150 * UNIT, option="yes"),
              ValidatorVoteRow(validator=VALIDATOR_2, name="validator-1", power=60_000 * UNIT, option=None)]
    proposals = [
        ProposalRow(id=4, title="Lower min_fee to 5 units", description="Fees dominate small transfers.",
                    proposer=SAVINGS, action={"kind": "param_change", "changes": {"min_fee": 5}}, status="voting",
                    submitted=1_180, total_deposit=1_000 * UNIT, period_ends=1_380, blocks_left=140,
                    time_left_ms=28_000, tally=TallyView(yes=100_000 * UNIT, no=150 * UNIT, bonded=bonded,
                                                          quorum_reached=True, result="passed"),
                    votes={VALIDATOR: "yes", OPERATOR: "no"}, validator_votes=voters,
                    deposits={SAVINGS: 1_000 * UNIT}, detailed=True),
        ProposalRow(id=3, title="Fund the explorer", proposer=OPERATOR,
                    action={"kind": "treasury_spend", "to": SAVINGS, "amount": 500 * UNIT}, status="deposit",
                    submitted=1_220, total_deposit=400 * UNIT, period_ends=1_320, blocks_left=80, time_left_ms=16_000,
                    deposits={OPERATOR: 400 * UNIT}, detailed=True),
        ProposalRow(id=2, title="Pay the audit", proposer=OPERATOR,
                    action={"kind": "treasury_spend", "to": OPERATOR, "amount": 250 * UNIT}, status="executed",
                    submitted=900, total_deposit=1_000 * UNIT,
                    tally=TallyView(yes=120_000 * UNIT, no=10_000 * UNIT, bonded=bonded, quorum_reached=True)),
        ProposalRow(id=1, title="Rename the token", proposer=SAVINGS, action={"kind": "text"}, status="vetoed",
                    submitted=600, total_deposit=1_000 * UNIT,
                    tally=TallyView(yes=20_000 * UNIT, veto=70_000 * UNIT, bonded=bonded, quorum_reached=True)),
    ]
    return GovModel(loaded=True, params=params, treasury_address=TREASURY, treasury_balance=12_345 * UNIT,
                    spends=[SpendRow(proposal_id=2, to=OPERATOR, amount=250 * UNIT, title="Pay the audit",
                                     height=1_100)],
                    proposals=proposals)


def fixed_store() -> Store:
    store = Store()
    for name in ("node", "coordinator", "miner", "wallet"):
        store.status[name] = SourceStatus(name=name, state="up", since_ms=T0)
    node = store.node
    node.chain_id, node.height, node.target_block_ms = "aitbc-dev", 1_240, 200
    node.validator_address, node.is_proposer_next, node.mempool_size, node.n_peers = VALIDATOR, True, 3, 0
    node.consensus_mode, node.version = "poa", "0.1.0"
    for i in range(40):
        height = 1_201 + i
        txs = [h(f"tx-{height}-{k}") for k in range(3 if height % 7 == 0 else 0)]
        node.add_block(BlockRow(height=height, hash=h(f"block-{height}"), time_ms=T0 + i * 200 + (i % 3) * 15,
                                proposer=VALIDATOR if height % 3 else VALIDATOR_2, num_txs=len(txs), tx_hashes=txs))
    types = ["transfer", "stake", "escrow_deposit", "job_receipt", "transfer", "miner_bond"]
    for i, block in enumerate(reversed([b for b in node.blocks if b.num_txs])):
        for k, tx_hash in enumerate(block.tx_hashes):
            node.add_tx(TxRow(hash=tx_hash, height=block.height, index=k, type=types[(i + k) % len(types)],
                              sender=[OPERATOR, SAVINGS, COORDINATOR][k % 3]))
    node.validators = [
        ValidatorRow(address=VALIDATOR, name="validator-0", power=100_150 * UNIT, self_bond=100_000 * UNIT,
                     commission_bps=1000, active=True),
        ValidatorRow(address=VALIDATOR_2, name="validator-1", power=60_000 * UNIT, self_bond=60_000 * UNIT,
                     commission_bps=500, active=True),
    ]
    node.total_power = sum(v.power for v in node.validators)
    node.accounts = {
        VALIDATOR: AccountView(address=VALIDATOR, label="validator", balance=1_000_248_520_000,
                               stakes=[StakeRow(validator=VALIDATOR, amount=100_000 * UNIT, rewards=223_560_000)],
                               is_validator=True),
        OPERATOR: AccountView(address=OPERATOR, label="operator", balance=9_887_499_990, nonce=3, pending_nonce=3,
                              stakes=[StakeRow(validator=VALIDATOR, amount=150 * UNIT, rewards=1_250_000)],
                              unbonding=[UnbondingRow(amount=50 * UNIT, kind="unstake", release_height=1_320)]),
        SAVINGS: AccountView(address=SAVINGS, label="savings", balance=12_500_000),
    }
    node.gov = fixed_gov()
    wallet = store.wallet
    wallet.default_fee, wallet.idle_lock_s, wallet.chain_id = 10, 300.0, "aitbc-dev"
    wallet.wallets = [
        WalletRow(name="operator", address=OPERATOR, pubkey=h("wallet-operator-pubkey"), kind="mnemonic",
                  created="2026-11-18T10:00:00Z", unlocked=True, locks_in_s=245.0),
        WalletRow(name="savings", address=SAVINGS, pubkey=h("wallet-savings-pubkey"), kind="seed",
                  created="2026-11-18T10:05:00Z"),
    ]
    wallet.history[OPERATOR] = [
        HistoryRow(hash=h("hist-3"), height=1_238, index=0, type="stake", sender=OPERATOR, direction="out",
                   counterparty=VALIDATOR, amount=150 * UNIT, fee=10, nonce=2,
                   payload={"validator": VALIDATOR, "amount": 150 * UNIT}),
        HistoryRow(hash=h("hist-2"), height=1_231, index=0, type="transfer", sender=OPERATOR, direction="out",
                   counterparty=SAVINGS, amount=12_500_000, fee=10, nonce=1,
                   payload={"to": SAVINGS, "amount": 12_500_000}),
        HistoryRow(hash=h("hist-1"), height=1_203, index=0, type="escrow_deposit", sender=OPERATOR, direction="out",
                   counterparty=COORDINATOR, amount=50 * UNIT, fee=10, nonce=0,
                   payload={"coordinator": COORDINATOR, "amount": 50 * UNIT}),
    ]
    coord = store.coordinator
    coord.coordinator_address, coord.chain_id, coord.settler = COORDINATOR, "aitbc-dev", True
    coord.job_counts = {"queued": 1, "assigned": 0, "running": 1, "completed": 41, "failed": 2, "cancelled": 1}
    coord.receipt_counts = {"settled": 40, "pending": 1}
    coord.miners_total, coord.miners_live, coord.throughput_per_min = 2, 1, 4.2
    coord.served = [ServedModel(name="smollm2", miners=1, free_slots=1, min_price_per_1k_tokens=1000)]
    coord.miners = [MinerRow(address=MINER, models=["smollm2"], capacity=2, active=1, live=True, bonded=True,
                             completed=41, failed=2, reputation=95, price_per_1k_tokens=1000)]
    prompts = ["What is the capital of France?", "Write a haiku about GPUs.", "Summarise the AITBC whitepaper.",
               "Translate 'good morning' to German.", "List three prime numbers."]
    outputs = ["The capital of France is Paris.", "Silicon rivers hum\nthousands of small suns at work\nanswers cool to dusk",
               None, None, None]
    states = ["completed", "completed", "running", "queued", "failed"]
    for i, (prompt, output, state) in enumerate(zip(prompts, outputs, states)):
        done = state == "completed"
        coord.put_job(JobRow(
            job_id=h(f"job-{i}")[:32], client=OPERATOR, model="smollm2", prompt=prompt,
            params={"max_tokens": 64, "seed": 0, "temperature_milli": 0, "top_p_milli": 1000}, max_price=UNIT,
            status=state, miner=MINER if state != "queued" else None, output=output,
            prompt_tokens=12 + i if state != "queued" else None, completion_tokens=(9 + 3 * i) if done else None,
            price=(21 + 3 * i) * 1000 // 1000 * 1000 if done else None, receipt_id=h(f"receipt-{i}") if done else None,
            settled_height=1_230 + i if done else None,
            error="miner failed: out of memory" if state == "failed" else None,
            created_ms=T0 - (10 - i) * 60_000, updated_ms=T0 - (10 - i) * 60_000 + 4_500))
    miner = store.miner
    miner.address, miner.phase, miner.ready, miner.compute_enabled = MINER, "serving", True, True
    miner.capacity, miner.free_slots, miner.price_per_1k_tokens = 2, 1, 1000
    miner.models = [LocalModel(name="smollm2", backend="vllm", loaded=True, served=True)]
    miner.gpu_ok, miner.driver_version = True, "550.54.15"
    miner.gpus = [
        GpuView(index=0, name="NVIDIA H100 80GB HBM3", utilization_percent=87.0, memory_used_bytes=61 * 2**30,
                memory_total_bytes=80 * 2**30, temperature_celsius=64.0, power_watts=512.0, power_limit_watts=700.0),
        GpuView(index=1, name="NVIDIA H100 80GB HBM3", utilization_percent=12.0, memory_used_bytes=9 * 2**30,
                memory_total_bytes=80 * 2**30, temperature_celsius=41.0, power_watts=131.0, power_limit_watts=700.0),
    ]
    miner.host = HostView(cpu_count=16, cpu_percent=23.5, ram_used_bytes=41 * 2**30, ram_total_bytes=128 * 2**30,
                          load_avg_1m=3.2)
    miner.telemetry_ms = T0
    for k in range(60):
        wave = (k * 37) % 23
        miner.record("gpu0.util", 60 + wave)
        miner.record("gpu0.mem", 70 + (k % 5))
        miner.record("gpu0.temp", 55 + (k % 10))
        miner.record("gpu0.power", 380 + wave * 6)
        miner.record("gpu1.util", (k * 13) % 30)
        miner.record("gpu1.mem", 11)
        miner.record("gpu1.temp", 38 + (k % 4))
        miner.record("gpu1.power", 100 + (k * 7) % 50)
        miner.record("host.cpu", 15 + (k * 11) % 20)
        miner.record("host.ram", 31 + (k % 3))
    miner.tasks = [
        MinerTask(task_id=h("job-2")[:32], kind="run", job_id=h("job-2")[:32], model="smollm2", state="running",
                  received_ms=T0 - 5_000, started_ms=T0 - 4_800),
        MinerTask(task_id=h("job-1")[:32], kind="run", job_id=h("job-1")[:32], model="smollm2", state="done",
                  received_ms=T0 - 60_000, started_ms=T0 - 59_900, finished_ms=T0 - 56_000, outcome="delivered"),
    ]
    miner.counters = {"runs_completed": 41, "failed": 2, "verifies_accepted": 5, "verifies_rejected": 0,
                      "prompt_tokens": 612, "completion_tokens": 1_830}
    miner.balance, miner.bond, miner.bond_target, miner.bond_status = 2_041_500_000, 10_000 * UNIT, 10_000 * UNIT, "bonded"
    miner.slashed, miner.jobs_settled, miner.registered, miner.coordinator = 0, 41, True, "coordinator.sock"
    miner.uptime_s = 7_384.0
    events = [
        ("node", "info", "connected to node"), ("wallet", "info", "connected to wallet"),
        ("coordinator", "info", "job 7d1bd6c0e0c7 completed (smollm2), 0.000021 AIT"),
        ("node", "info", "transfer 5e3c0a7bf1… from 0x8a1f2b…91c0 in block 1231"),
        ("miner", "info", "run 2e4a0b93d1c8 received"),
        ("coordinator", "warning", "job 0b9f3a5c2d11 failed (smollm2): miner failed: out of memory"),
    ]
    for i, (source, level, text) in enumerate(events):
        store.events.add(EventLine(time_ms=T0 - (len(events) - i) * 7_000, source=source, level=level, text=text))
    for block in reversed(node.blocks[:8]):
        store.events.add_block(block.height, block.time_ms, block.num_txs)
    return store


def write_logs(logs_dir: Path) -> None:
    """Fixed JSON-line logs for the Logs screen."""
    logs_dir.mkdir(parents=True, exist_ok=True)
    node, wallet = [], []
    for i in range(30):
        ts = f"2026-11-18T10:{i // 6:02d}:{(i % 6) * 10 + i % 7:02d}.{i * 31 % 1000:03d}+00:00"
        node.append({"ts": ts, "level": "info", "service": "node", "logger": "aitbc.node", "module": "daemon",
                     "function": "_produce_forever", "line": 90, "msg": "block committed", "height": 1_200 + i})
        if i % 6 == 0:
            wallet.append({"ts": ts, "level": "warning" if i % 12 == 0 else "info", "service": "wallet",
                           "logger": "aitbc.wallet", "module": "core", "function": "unlock", "line": 120,
                           "msg": "wrong password; waiting before the next attempt" if i % 12 == 0 else "wallet unlocked",
                           "wallet": "operator"})
    node.append({"ts": "2026-11-18T10:05:59.000+00:00", "level": "error", "service": "node", "logger": "aitbc.node",
                 "module": "daemon", "function": "_produce_forever", "line": 95,
                 "msg": "block production failed; retrying next interval"})
    (logs_dir / "node.log").write_text("".join(json.dumps(r) + "\n" for r in node))
    (logs_dir / "wallet.log").write_text("".join(json.dumps(r) + "\n" for r in wallet))
