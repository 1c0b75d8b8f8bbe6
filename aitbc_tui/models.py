"""The TUI's data model: what the sources learned from the daemons, in one place.

Sources write here (on the app's event loop, so no locks are needed); screens only read. Every
field holds data a daemon reported; nothing is invented. A daemon whose client is not part of
this build has status ``absent`` and an empty model, and screens say so instead of showing
placeholders. Snapshot tests build a :class:`Store` from fixed values and hand it to the app, so
the same rendering code runs on deterministic data.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, Field

from daemons.coordinator.models import Job, JobStatus
from daemons.miner.models import ModelState, TaskView
from daemons.miner.telemetry.models import GpuSample, HostSample
from daemons.wallet.models import HistoryEntry, WalletInfo

SourceState = Literal["connecting", "up", "down", "absent"]
DAEMONS: tuple[str, ...] = ("node", "coordinator", "miner", "wallet")
"""Every daemon the console knows, in display order."""

MAX_BLOCKS = 100
MAX_TXS = 200


class SourceStatus(BaseModel):
    """Connection state of one daemon as the TUI sees it."""

    name: str
    state: SourceState = "connecting"
    message: str = ""
    """Why it is down or absent, in the daemon client's own words."""
    since_ms: int = 0


class EventLine(BaseModel):
    """One line of the recent-events feed."""

    time_ms: int
    source: str
    level: Literal["info", "warning", "error"] = "info"
    text: str
    key: str | None = None
    """Lines with the same key are merged (a run of empty blocks becomes one line)."""


class EventLog:
    """Bounded feed of recent events; runs of empty blocks collapse into one line.

    Without collapsing, a 0.1 s block time would push every interesting event (a transfer, a
    job, a daemon going down) out of view within seconds.
    """

    def __init__(self, maxlen: int = 200) -> None:
        self._lines: deque[EventLine] = deque(maxlen=maxlen)
        self._first_empty: int | None = None
        self.seq = 0
        """Bumped on every change, so widgets can skip re-rendering an unchanged feed."""

    def add(self, line: EventLine) -> None:
        self._lines.append(line)
        self._first_empty = None
        self.seq += 1

    def add_block(self, height: int, time_ms: int, num_txs: int, source: str = "node") -> None:
        if num_txs:
            self.add(EventLine(time_ms=time_ms, source=source,
                               text=f"block {height} committed with {num_txs} tx{'s' if num_txs != 1 else ''}"))
            return
        last = self._lines[-1] if self._lines else None
        if last is not None and last.key == "empty-blocks" and self._first_empty is not None:
            self._lines[-1] = EventLine(time_ms=time_ms, source=source, key="empty-blocks",
                                        text=f"blocks {self._first_empty}–{height} committed (no txs)")
        else:
            self._first_empty = height
            self._lines.append(EventLine(time_ms=time_ms, source=source, key="empty-blocks",
                                         text=f"block {height} committed (no txs)"))
        self.seq += 1

    def __iter__(self) -> Iterator[EventLine]:
        return iter(self._lines)

    def __len__(self) -> int:
        return len(self._lines)

    def tail(self, count: int) -> list[EventLine]:
        if count <= 0:
            return []
        return list(self._lines)[-count:]


# -- node ---------------------------------------------------------------------------------------


class BlockRow(BaseModel):
    height: int
    hash: str
    time_ms: int
    proposer: str
    num_txs: int
    tx_hashes: list[str] = []


class TxRow(BaseModel):
    hash: str
    height: int | None
    index: int | None = None
    type: str = ""
    sender: str = ""
    status: str = "committed"


class StakeRow(BaseModel):
    validator: str
    amount: int
    rewards: int = 0


class UnbondingRow(BaseModel):
    """Funds on their way back (unstake, miner unbond, escrow withdrawal)."""

    amount: int
    kind: str = ""
    release_height: int | None = None


class EscrowRow(BaseModel):
    coordinator: str
    balance: int


class AccountView(BaseModel):
    """``get_account`` for an address the operator cares about (validator, wallet keys)."""

    address: str
    label: str = ""
    balance: int = 0
    nonce: int = 0
    pending_nonce: int = 0
    stakes: list[StakeRow] = []
    unbonding: list[UnbondingRow] = []
    escrows: list[EscrowRow] = []
    is_validator: bool = False
    miner_bond: int | None = None

    @property
    def staked(self) -> int:
        return sum(s.amount for s in self.stakes)

    @property
    def rewards(self) -> int:
        return sum(s.rewards for s in self.stakes)

    @classmethod
    def from_rpc(cls, data: dict[str, Any], label: str = "") -> AccountView:
        unbonding = [UnbondingRow(amount=int(e.get("amount", 0)), kind=str(e.get("kind", "")),
                                  release_height=e.get("release")) for e in data.get("unbonding") or []]
        miner = data.get("miner")
        return cls(
            address=data["address"], label=label, balance=int(data.get("balance", 0)),
            nonce=int(data.get("nonce", 0)), pending_nonce=int(data.get("pending_nonce", 0)),
            stakes=[StakeRow(validator=s["validator"], amount=int(s["amount"]), rewards=int(s.get("rewards", 0)))
                    for s in data.get("stakes") or []],
            unbonding=unbonding,
            escrows=[EscrowRow(coordinator=e["coordinator"], balance=int(e["balance"])) for e in data.get("escrows") or []],
            is_validator=data.get("validator") is not None,
            miner_bond=int(miner["bond"]) if isinstance(miner, dict) and "bond" in miner else None)


class ValidatorRow(BaseModel):
    address: str
    name: str = ""
    power: int = 0
    self_bond: int = 0
    commission_bps: int = 0
    jailed: bool = False
    removed: bool = False
    active: bool = False


class TallyView(BaseModel):
    """Stake behind each option (units), the bonded stake it is measured against, and the
    chain's verdict (``would_be`` while voting is open, final otherwise)."""

    yes: int = 0
    no: int = 0
    abstain: int = 0
    veto: int = 0
    bonded: int = 0
    quorum_reached: bool = False
    result: str = ""

    @property
    def voted(self) -> int:
        return self.yes + self.no + self.abstain + self.veto

    @classmethod
    def from_rpc(cls, data: dict[str, Any] | None) -> TallyView | None:
        if not data or "bonded" not in data:
            return None  # (tallies from before stake-weighted voting have another shape)
        return cls(yes=int(data["yes"]), no=int(data["no"]), abstain=int(data["abstain"]), veto=int(data["veto"]),
                   bonded=int(data["bonded"]), quorum_reached=bool(data.get("quorum_reached")),
                   result=str(data.get("would_be", "")))


class ValidatorVoteRow(BaseModel):
    validator: str
    name: str = ""
    power: int = 0
    option: str | None = None


class ProposalRow(BaseModel):
    """One proposal as ``get_proposals`` lists it, with the votes and tally so far of
    ``get_proposal`` for the open ones (``detailed``)."""

    id: int
    title: str
    description: str = ""
    proposer: str = ""
    action: dict[str, Any] = Field(default_factory=dict)
    status: str
    submitted: int | None = None
    total_deposit: int = 0
    period_ends: int | None = None
    blocks_left: int = 0
    time_left_ms: int = 0
    tally: TallyView | None = None
    votes: dict[str, str] = Field(default_factory=dict)
    """Voter address -> option."""
    validator_votes: list[ValidatorVoteRow] = Field(default_factory=list)
    deposits: dict[str, int] = Field(default_factory=dict)
    detailed: bool = False

    @property
    def kind(self) -> str:
        return str(self.action.get("kind", ""))

    @property
    def is_open(self) -> bool:
        return self.status in ("deposit", "voting")

    @classmethod
    def from_rpc(cls, data: dict[str, Any]) -> ProposalRow:
        """From ``get_proposals``' summary or ``get_proposal``'s detail (``votes`` present)."""
        detailed = "votes" in data
        return cls(
            id=int(data["id"]), title=str(data.get("title", "")), description=str(data.get("description", "")),
            proposer=str(data.get("proposer", "")), action=dict(data.get("action") or {}),
            status=str(data["status"]), submitted=data.get("submitted"),
            total_deposit=int(data.get("total_deposit", 0)), period_ends=data.get("period_ends"),
            blocks_left=int(data.get("blocks_left", 0)), time_left_ms=int(data.get("time_left_ms", 0)),
            tally=TallyView.from_rpc(data.get("tally_so_far") or data.get("tally")),
            votes={v["voter"]: v["option"] for v in data.get("votes", [])},
            validator_votes=[ValidatorVoteRow(validator=v["validator"], name=v.get("name", ""),
                                              power=int(v.get("power", 0)), option=v.get("option"))
                             for v in data.get("validator_votes", [])],
            deposits={d["depositor"]: int(d["amount"]) for d in data.get("deposits", [])}, detailed=detailed)


class SpendRow(BaseModel):
    proposal_id: int
    to: str
    amount: int
    title: str = ""
    height: int | None = None


class GovModel(BaseModel):
    """Governance as the node reports it (``get_gov``, ``get_proposals``, ``get_proposal``)."""

    loaded: bool = False
    error: str = ""
    """Why the node did not answer governance's calls (an older node), if it did not."""
    params: dict[str, int] = Field(default_factory=dict)
    treasury_address: str = ""
    treasury_balance: int = 0
    spends: list[SpendRow] = Field(default_factory=list)
    proposals: list[ProposalRow] = Field(default_factory=list)
    """Newest first."""

    def proposal(self, proposal_id: int) -> ProposalRow | None:
        return next((p for p in self.proposals if p.id == proposal_id), None)

    def awaiting_vote(self, addresses: list[str]) -> list[tuple[ProposalRow, list[str]]]:
        """Proposals in their voting period and which of ``addresses`` have not voted on them."""
        found = []
        for proposal in self.proposals:
            if proposal.status == "voting":
                missing = [a for a in addresses if a not in proposal.votes]
                if missing:
                    found.append((proposal, missing))
        return found


class NodeModel(BaseModel):
    """What the node told us, kept current from its ``new_block``/``tx:*`` events."""

    chain_id: str = ""
    height: int = 0
    latest_hash: str | None = None
    latest_time_ms: int | None = None
    target_block_ms: int | None = None
    validator_address: str | None = None
    is_proposer_next: bool = False
    mempool_size: int = 0
    n_peers: int = 0
    consensus_mode: str = ""
    catching_up: bool = False
    sync_target: int = 0
    sync_blocks_per_s: float = 0.0
    sync_eta_s: float | None = None
    """While catching up: the height the peers are at, how fast blocks arrive, when it will be done."""
    version: str = ""
    blocks: list[BlockRow] = Field(default_factory=list)
    """Newest first, at most ``MAX_BLOCKS``."""
    txs: list[TxRow] = Field(default_factory=list)
    """Newest first, at most ``MAX_TXS``."""
    validators: list[ValidatorRow] = Field(default_factory=list)
    total_power: int = 0
    accounts: dict[str, AccountView] = Field(default_factory=dict)
    gov: GovModel = Field(default_factory=GovModel)

    @property
    def block_intervals_s(self) -> list[float]:
        """Seconds between consecutive recent blocks, oldest first (for the sparkline)."""
        times = [b.time_ms for b in reversed(self.blocks)]
        return [max(0, b - a) / 1000 for a, b in zip(times, times[1:])]

    def avg_block_time_s(self, window: int = 20) -> float | None:
        recent = self.blocks[:window]
        if len(recent) < 2:
            return None
        return (recent[0].time_ms - recent[-1].time_ms) / 1000 / (len(recent) - 1)

    @property
    def own_validator(self) -> ValidatorRow | None:
        for v in self.validators:
            if v.address == self.validator_address:
                return v
        return None

    def add_block(self, block: BlockRow) -> bool:
        """Record a block; False when it was already known (events replayed after a resubscribe)."""
        if self.blocks and block.height <= self.blocks[0].height:
            return False
        self.blocks.insert(0, block)
        del self.blocks[MAX_BLOCKS:]
        if block.height >= self.height:
            self.height, self.latest_hash, self.latest_time_ms = block.height, block.hash, block.time_ms
        return True

    def add_tx(self, tx: TxRow) -> bool:
        for known in self.txs[:50]:
            if known.hash == tx.hash:
                return False
        self.txs.insert(0, tx)
        del self.txs[MAX_TXS:]
        return True


# -- wallet -------------------------------------------------------------------------------------


WalletRow = WalletInfo
"""A wallet in the wallet daemon's keystore (public data only): the wallet's own wire model."""
HistoryRow = HistoryEntry
"""One transaction of a wallet's history: the wallet's own wire model."""


class WalletModel(BaseModel):
    wallets: list[WalletRow] = Field(default_factory=list)
    default_fee: int = 10
    idle_lock_s: float = 0
    node_reachable: bool = True
    chain_id: str | None = None
    history: dict[str, list[HistoryRow]] = Field(default_factory=dict)
    """Recent transactions per wallet address, loaded when a wallet is looked at."""

    def by_address(self, address: str) -> WalletRow | None:
        for wallet in self.wallets:
            if wallet.address == address:
                return wallet
        return None


# -- coordinator --------------------------------------------------------------------------------

JOB_STATES: tuple[JobStatus, ...] = tuple(JobStatus)
"""Every job status, in life-cycle order (the coordinator's :class:`JobStatus`)."""
MAX_JOBS = 500
JobRow = Job
"""A job as the coordinator reports it (``GET /v1/jobs`` and ``job:<id>`` events): the
coordinator's own wire model, under the name the console's rows use."""


class ServedModel(BaseModel):
    name: str
    miners: int
    free_slots: int
    min_price_per_1k_tokens: int


class MinerRow(BaseModel):
    """A miner registered at the coordinator."""

    address: str
    models: list[str] = []
    capacity: int = 0
    active: int = 0
    live: bool = False
    bonded: bool = False
    completed: int = 0
    failed: int = 0
    slashed: int = 0
    reputation: int = 0
    price_per_1k_tokens: int = 0


class CoordinatorModel(BaseModel):
    coordinator_address: str = ""
    chain_id: str = ""
    job_counts: dict[str, int] = Field(default_factory=dict)
    receipt_counts: dict[str, int] = Field(default_factory=dict)
    miners_total: int = 0
    miners_live: int = 0
    settler: bool = False
    jobs: list[JobRow] = Field(default_factory=list)
    """Newest first, at most ``MAX_JOBS``."""
    served: list[ServedModel] = Field(default_factory=list)
    miners: list[MinerRow] = Field(default_factory=list)
    throughput_per_min: float | None = None
    """Jobs completed per minute over the last few minutes, as observed by the console."""
    live_output: dict[str, str] = Field(default_factory=dict)
    """Running jobs' text so far, from the miners' pushes (``output:*`` events); dropped once the
    job has its result."""

    def add_output(self, job_id: str, offset: int, text: str) -> bool:
        """Apply one ``output:<job_id>`` event; False when it does not continue the known text
        (a second run restarts at offset 0)."""
        known = self.live_output.get(job_id, "")
        if offset == 0:
            known = ""
        elif offset != len(known):
            return False
        self.live_output[job_id] = known + text
        return True

    def job(self, job_id: str) -> JobRow | None:
        for job in self.jobs:
            if job.job_id == job_id:
                return job
        return None

    def put_job(self, job: JobRow) -> JobRow | None:
        """Insert or replace; returns the previous version (None for a new job)."""
        for index, known in enumerate(self.jobs):
            if known.job_id == job.job_id:
                self.jobs[index] = job
                return known
        self.jobs.insert(0, job)
        self.jobs.sort(key=lambda j: j.created_ms, reverse=True)
        del self.jobs[MAX_JOBS:]
        return None


# -- miner --------------------------------------------------------------------------------------

HISTORY = 120
"""Telemetry samples kept per series (one minute at 2 Hz) for the sparklines."""


GpuView = GpuSample
"""One GPU in the latest telemetry sample (None where the driver did not report a value): the
miner's own wire model, under the name the console's cards use."""
HostView = HostSample
"""The miner host's CPU and memory in the latest telemetry sample: the miner's own wire model."""


LocalModel = ModelState
"""A model in the miner's catalogue and whether it is loaded and served: the miner's own wire model."""
MinerTask = TaskView
"""A task the miner holds or recently finished: the miner's own wire model."""


class MinerModel(BaseModel):
    address: str = ""
    phase: str = ""
    ready: bool = False
    reasons: list[str] = Field(default_factory=list)
    compute_enabled: bool = True
    capacity: int = 0
    free_slots: int = 0
    price_per_1k_tokens: int = 0
    models: list[LocalModel] = Field(default_factory=list)
    gpu_ok: bool = False
    gpu_reason: str | None = None
    driver_version: str | None = None
    gpus: list[GpuView] = Field(default_factory=list)
    host: HostView | None = None
    telemetry_ms: int | None = None
    history: dict[str, list[float]] = Field(default_factory=dict)
    """Recent values per series (``gpu0.util``, ``gpu0.mem``, ``gpu0.temp``, ``gpu0.power``,
    ``host.cpu``, ``host.ram``), oldest first, at most ``HISTORY`` each."""
    tasks: list[MinerTask] = Field(default_factory=list)
    counters: dict[str, int] = Field(default_factory=dict)
    balance: int | None = None
    bond: int | None = None
    bond_target: int | None = None
    bond_status: str = ""
    slashed: int | None = None
    jobs_settled: int | None = None
    earnings_error: str | None = None
    registered: bool = False
    coordinator: str = ""
    registration_error: str | None = None
    uptime_s: float = 0.0
    last_error: str | None = None

    def record(self, series: str, value: float | None) -> None:
        if value is None:
            return
        values = self.history.setdefault(series, [])
        values.append(float(value))
        del values[:-HISTORY]


class Store:
    """Everything the screens render. One instance per app."""

    def __init__(self) -> None:
        self.status: dict[str, SourceStatus] = {name: SourceStatus(name=name) for name in DAEMONS}
        self.node = NodeModel()
        self.wallet = WalletModel()
        self.coordinator = CoordinatorModel()
        self.miner = MinerModel()
        self.events = EventLog()

    def up(self, name: str) -> bool:
        return self.status[name].state == "up"

    def down_daemons(self) -> list[SourceStatus]:
        """Daemons that should answer but do not (absent ones are not 'down': they do not exist)."""
        return [s for s in self.status.values() if s.state in ("down", "connecting") and s.message]
