"""The block reward split: who earns the minted units and the fees of a block.

The pool (block reward plus transaction fees) goes in three parts: ``treasury_share_bps`` to
the treasury, ``miner_share_bps`` to miners, the rest to validators and their delegators.

* **Miners earn by receipt fees actually paid, capped at those fees.** A coordinator that
  settles a job from an escrow it funded for a miner it controls gets the price back; the only
  real cost is the receipt fee (to the treasury) and the transaction fee. So a miner's share is
  weighted by the receipt fees its jobs paid in this block and never exceeds them: a wash trade
  earns back at most what it paid, and pays the transaction fee on top. What the cap leaves of
  the miners' share goes to the treasury. Each receipt pays at least one unit (``receipt_fee``),
  so no job is free to settle.
* **Validators earn only for signing.** The stakers' part goes to the validators whose
  signature is in the block's ``last_commit`` (by their voting power), each keeping its
  commission and giving the rest to its delegators through ``chain.staking.allocate``. A
  validator that did not sign gets nothing; its share stays with the treasury.
"""

from __future__ import annotations

from collections.abc import Mapping

from chain import staking
from chain.ledger import Ledger
from chain.params import BPS, ChainParams
from chain.validators import Signers


def receipt_fee(price: int, params: ChainParams) -> int:
    """The treasury's cut of a job price: ``receipt_fee_bps`` of it, at least one unit (never
    more than the price), so that rounding never makes a receipt free."""
    if params.receipt_fee_bps == 0:
        return 0
    return min(price, max(1, price * params.receipt_fee_bps // BPS))


def miner_shares(miner_cut: int, miner_fees: Mapping[str, int]) -> dict[str, int]:
    """Each miner's part of ``miner_cut``: weighted by the receipt fees it paid, never above them."""
    total = sum(miner_fees.values())
    return {miner: min(fee, miner_cut * fee // total) for miner, fee in miner_fees.items()} if total else {}


def distribute(ledger: Ledger, fees: int, miner_fees: Mapping[str, int], voters: Signers,
               signed: frozenset[str] | None) -> int:
    """Mint the block reward and pay miners and signers; returns what goes to the treasury.

    ``voters`` voted on the previous block and ``signed`` are those whose signature its commit
    carries (``None`` when there is no previous block: all of ``voters`` count as signers).
    """
    params = ledger.params
    ledger.adjust_supply(params.block_reward)
    pool = params.block_reward + fees
    treasury = pool * params.treasury_share_bps // BPS
    miner_cut = pool * params.miner_share_bps // BPS
    staker_cut = pool - treasury - miner_cut

    shares = miner_shares(miner_cut, miner_fees)
    for miner in sorted(shares):
        ledger.credit(miner, shares[miner])
    treasury += miner_cut - sum(shares.values())

    present = {a: s for a, s in voters.items() if signed is None or a in signed}
    power = sum(int(s["power"]) for s in present.values())
    paid = 0
    for address, signer in sorted(present.items()):
        share = staker_cut * int(signer["power"]) // power
        validator = ledger.get("validator", address)
        if validator is None:
            continue
        commission = share * validator["commission_bps"] // BPS
        ledger.credit(address, commission)
        paid += commission + staking.allocate(ledger, address, share - commission)
    return treasury + staker_cut - paid
