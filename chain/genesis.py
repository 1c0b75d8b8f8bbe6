"""Genesis: the chain's first state, from a JSON document every node must hold identically.

The genesis hash (of its canonical JSON) identifies the network together with ``chain_id``;
nodes refuse to sync with peers whose genesis differs.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError, model_validator

from chain import crypto
from chain.encoding import canonical_json, from_wire, hash_value
from chain.errors import InvalidGenesis
from chain.execution import TREASURY
from chain.params import MAX_AMOUNT, ChainParams
from chain.protocol import PROTOCOL_VERSION
from chain.staking import NEW_VALIDATOR
from chain.state import State
from chain.types import Address, Amount, Bps, ChainId, Height, NonNegAmount, PubKey

_STRICT = ConfigDict(frozen=True, extra="forbid", strict=True)


class GenesisAccount(BaseModel):
    model_config = _STRICT
    address: Address
    balance: NonNegAmount
    name: StrictStr = Field(default="", max_length=64)


class GenesisValidator(BaseModel):
    model_config = _STRICT
    address: Address
    pubkey: PubKey
    stake: Amount
    """Self-bond minted at genesis: an authority's initial voting power."""
    commission_bps: Bps = 1000
    name: StrictStr = Field(default="", max_length=64)


class Genesis(BaseModel):
    model_config = _STRICT

    chain_id: ChainId
    genesis_time_ms: Height
    params: ChainParams = Field(default_factory=ChainParams)
    accounts: list[GenesisAccount] = Field(default_factory=list)
    validators: list[GenesisValidator] = Field(min_length=1)
    coordinators: list[Address] = Field(default_factory=list)
    treasury_balance: NonNegAmount = 0

    @model_validator(mode="after")
    def _consistent(self) -> "Genesis":
        seen: set[str] = set()
        for account in self.accounts:
            if account.address in seen:
                raise ValueError(f"account {account.address} is listed twice")
            seen.add(account.address)
        vals: set[str] = set()
        for validator in self.validators:
            if validator.address in vals:
                raise ValueError(f"validator {validator.address} is listed twice")
            vals.add(validator.address)
            if crypto.address_from_pubkey(bytes.fromhex(validator.pubkey)) != validator.address:
                raise ValueError(f"validator {validator.address} does not match its public key")
            if validator.commission_bps > self.params.max_commission_bps:
                raise ValueError(f"validator {validator.address} commission exceeds max_commission_bps")
        if self.params.protocol_version != PROTOCOL_VERSION:
            raise ValueError(f"params.protocol_version is {self.params.protocol_version}; this code runs "
                             f"protocol {PROTOCOL_VERSION} (older chains move to it with a software_upgrade)")
        if len(set(self.coordinators)) != len(self.coordinators):
            raise ValueError("a coordinator is listed twice")
        supply = sum(a.balance for a in self.accounts) + sum(v.stake for v in self.validators) + self.treasury_balance
        if supply > MAX_AMOUNT:
            raise ValueError("total genesis supply exceeds 2^63-1 units")
        return self

    @cached_property
    def hash(self) -> str:
        """Computed once: the document is frozen, and a node states its genesis hash in every
        ``status`` answer and handshake (re-hashing a genesis of thousands of accounts for each
        was a tenth of a catching-up node's time, answering its own progress polls)."""
        return hash_value(self.model_dump())

    def to_json(self) -> str:
        return canonical_json(self.model_dump()).decode("utf-8")


def load_genesis(data: bytes | str | dict[str, Any]) -> Genesis:
    """Parse and validate a genesis document; any problem is an ``InvalidGenesis`` naming it."""
    try:
        return from_wire(Genesis, data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "genesis"
        more = f" (and {len(exc.errors()) - 1} more problems)" if len(exc.errors()) > 1 else ""
        raise InvalidGenesis(f"invalid genesis: {where}: {first['msg']}{more}") from None


def genesis_state(genesis: Genesis) -> State:
    """The state at height 0."""
    entries: list[tuple[str, str, dict[str, Any]]] = []
    balances: dict[str, int] = {a.address: a.balance for a in genesis.accounts}
    if genesis.treasury_balance:
        balances[TREASURY] = balances.get(TREASURY, 0) + genesis.treasury_balance
    for address, balance in balances.items():
        entries.append(("account", address, {"balance": balance, "nonce": 0}))
    supply = sum(balances.values())
    for v in genesis.validators:
        entries.append(("validator", v.address, {
            **NEW_VALIDATOR, "pubkey": v.pubkey, "name": v.name, "commission_bps": v.commission_bps,
            "power": v.stake, "shares": v.stake, "self_bond": v.stake,
        }))
        entries.append(("delegation", f"{v.address}/{v.address}", {"shares": v.stake, "rewards": 0, "index": 0}))
        supply += v.stake
    entries += [
        ("meta", "chain", {"height": 0, "time_ms": genesis.genesis_time_ms}),
        ("meta", "params", genesis.params.model_dump()),
        ("meta", "supply", {"total": supply}),
        ("meta", "coordinators", {"list": sorted(genesis.coordinators)}),
        ("meta", "proposal_seq", {"next": 1}),
        ("meta", "genesis", {"hash": genesis.hash}),
    ]
    return State.from_entries(genesis.chain_id, entries)
