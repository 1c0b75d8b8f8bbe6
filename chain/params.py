"""Consensus parameters: every tunable number of the protocol, in one place.

They live in genesis and in state (governance can change them with a ``param_change``
proposal), never in code paths as literals, so that two nodes can only disagree about them by
disagreeing about genesis. Every bound is checked here, once, for genesis and for every change
governance proposes or enacts alike; a value that breaks one is refused with an error naming the
parameter.
"""

from __future__ import annotations

from typing import Any

from pydantic import (
    BaseModel, ConfigDict, Field, StrictInt, ValidationError, ValidatorFunctionWrapHandler, model_validator,
)

UNIT = 10**6
"""Smallest units per AIT. Amounts are always integers of units."""

MAX_AMOUNT = 2**63 - 1
"""Upper bound of any amount, so that every value fits a signed 64-bit database column."""

BPS = 10_000
"""Basis points in one whole: shares and fractions are expressed in bps to stay integral."""

MAX_BLOCK_REWARD = MAX_AMOUNT >> 32
"""Largest block reward governance may set (about 2147 AIT): 2^32 blocks of it (136 years at one
block a second) fit in ``MAX_AMOUNT``, so minting cannot run the supply past the bound that every
stored amount must respect."""


class ChainParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    block_time_ms: StrictInt = Field(1000, ge=10, le=600_000, description="target interval between blocks")
    block_reward: StrictInt = Field(2 * UNIT, ge=0, le=MAX_BLOCK_REWARD, description="units minted per block")
    treasury_share_bps: StrictInt = Field(1000, ge=0, le=BPS)
    miner_share_bps: StrictInt = Field(3000, ge=0, le=BPS)
    min_fee: StrictInt = Field(10, ge=0, le=MAX_AMOUNT, description="smallest fee a transaction may pay")
    max_tx_bytes: StrictInt = Field(64 * 1024, ge=256, le=4 * 1024 * 1024)
    max_block_txs: StrictInt = Field(5000, ge=1, le=100_000)
    unbonding_period: StrictInt = Field(
        100, ge=1, le=10_000_000,
        description="blocks before unstaked funds return; at least 1, so that stake stays slashable after an unstake")
    escrow_withdraw_delay: StrictInt = Field(
        100, ge=1, le=10_000_000,
        description="blocks a withdrawn escrow stays spendable by its coordinator, so it can settle jobs in flight")
    min_miner_bond: StrictInt = Field(1000 * UNIT, ge=0, le=MAX_AMOUNT)
    receipt_fee_bps: StrictInt = Field(500, ge=0, le=BPS, description="share of each job price paid to the treasury")
    double_sign_slash_bps: StrictInt = Field(500, ge=0, le=BPS)
    wrong_result_slash_bps: StrictInt = Field(1000, ge=0, le=BPS)
    voting_period: StrictInt = Field(100, ge=1, le=10_000_000, description="blocks a governance proposal is open")
    max_receipts_per_tx: StrictInt = Field(256, ge=1, le=10_000)
    max_commission_bps: StrictInt = Field(5000, ge=0, le=BPS)
    # -- protocol v2 (issue 22): versioned rules, slashing reach, downtime, minimum entries ---------
    protocol_version: StrictInt = Field(2, ge=1, le=1_000_000, description="state machine rules this chain runs (chain.protocol)")
    evidence_max_age: StrictInt = Field(50, ge=0, le=10_000_000, description="blocks after an infraction its evidence is still accepted; capped below unbonding_period")
    signed_blocks_window: StrictInt = Field(100, ge=1, le=100_000, description="blocks over which a validator's missed commits are counted")
    min_signed_per_window_bps: StrictInt = Field(5000, ge=0, le=BPS, description="share of the window a validator must sign to stay unjailed")
    downtime_jail_blocks: StrictInt = Field(100, ge=0, le=10_000_000, description="blocks a validator jailed for downtime waits before it may unjail")
    enactment_period: StrictInt = Field(100, ge=1, le=10_000_000, description="blocks a passed validator_update proposal stays enactable")
    min_stake: StrictInt = Field(UNIT, ge=1, le=MAX_AMOUNT, description="smallest stake entry (a whole remaining delegation may always be unstaked)")
    min_unbond: StrictInt = Field(UNIT, ge=1, le=MAX_AMOUNT, description="smallest unstake/miner_unbond entry, unless it empties the position")
    min_escrow_withdraw: StrictInt = Field(UNIT, ge=1, le=MAX_AMOUNT, description="smallest escrow withdrawal entry, unless it empties the escrow")
    # -- governance by token holders (issue 17, chain.governance) ------------------------------------
    min_deposit: StrictInt = Field(100 * UNIT, ge=1, le=MAX_AMOUNT, description="deposit a proposal needs before voting opens")
    deposit_period: StrictInt = Field(100, ge=1, le=10_000_000, description="blocks a proposal may gather its deposit")
    quorum_bps: StrictInt = Field(3340, ge=1, le=BPS, description="share of bonded stake that must vote for a tally to count")
    threshold_bps: StrictInt = Field(5000, ge=1, le=BPS - 1, description="yes share of non-abstain votes a proposal must exceed")
    veto_threshold_bps: StrictInt = Field(3340, ge=1, le=BPS, description="veto share of all votes above which a proposal is vetoed")

    @model_validator(mode="wrap")
    @classmethod
    def _name_the_parameter(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> "ChainParams":
        """Pydantic's message for a broken bound ("Input should be greater than or equal to 1")
        does not say which parameter; governance reports only the message, so it is put in."""
        try:
            return handler(data)
        except ValidationError as exc:
            problems = [f"{'.'.join(str(part) for part in error['loc']) or 'params'}: {error['msg']}"
                        for error in exc.errors()]
            raise ValueError("; ".join(problems)) from None

    @model_validator(mode="after")
    def _shares_fit(self) -> "ChainParams":
        if self.treasury_share_bps + self.miner_share_bps > BPS:
            raise ValueError("treasury_share_bps + miner_share_bps must not exceed 10000")
        return self


GOVERNABLE_PARAMS = frozenset(ChainParams.model_fields) - {"max_tx_bytes", "protocol_version"}
"""Parameters a ``param_change`` proposal may change (the tx size bound is fixed at genesis
because mempools of old and new nodes must agree on it without reading state; the protocol
version changes only with a software upgrade, which also migrates the state to the new rules)."""
