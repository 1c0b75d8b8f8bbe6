"""Bond keeping: top the on-chain bond up to ``stake_amount`` and keep checking it.

The chain calls themselves are :mod:`daemons.miner.bonding` (blocking; run here in a thread).
This part loops: while the bond is short or cannot be read it retries every ``bond_retry``
seconds; once bonded it checks ten times less often, because slashing can lower the bond at
any time and the coordinator gives no work to a miner below the minimum.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from chain.errors import ChainError
from daemons.common.errors import DaemonError
from daemons.common.logging import audit
from daemons.miner.bonding import BondError, BondOutcome, chain_min_fee, ensure_bond, miner_record
from daemons.miner.models import Earnings
from daemons.miner.state import MinerState
from daemons.node.client import AsyncNodeClient, NodeClient

log = logging.getLogger("aitbc.miner")
_BONDED_RECHECK_FACTOR = 10
_EARNINGS_TIMEOUT_S = 3.0


class BondKeeper:
    """Keeps ``state.bond`` true to the chain and the bond at its target."""

    def __init__(self, state: MinerState, on_bonded: Callable[[], Awaitable[None]] | None = None) -> None:
        self._state = state
        self._on_bonded = on_bonded
        """Called once the bond is enough but the coordinator registered the miner before it was:
        registering again makes the coordinator read the bond now, rather than at its next bond
        refresh, so a miner that reports ready is one the coordinator gives work to."""

    async def run(self) -> None:
        state, s, bond = self._state, self._state.settings, self._state.bond
        if bond.status == "disabled":
            return
        fee = s.tx_fee or chain_min_fee(s.home)
        while not state.draining:
            bond.status = "bonding" if bond.status in ("unknown", "short") else bond.status
            try:
                outcome = await asyncio.to_thread(self._ensure_bond, fee)
            except BondError as exc:
                self._problem(str(exc))
            except (DaemonError, ChainError) as exc:
                self._problem(f"node: {getattr(exc, 'message', None) or exc}", known=False)
            else:
                bond.on_chain, bond.error = outcome.bond, None
                bond.status = "bonded" if outcome.bond >= bond.target else "short"
                if outcome.tx_hash is not None:
                    bond.last_tx = outcome.tx_hash
                    audit("miner_bond", address=state.address, bond=outcome.bond, target=bond.target,
                          tx=outcome.tx_hash)
                    log.info("miner bond topped up", extra={"bond": outcome.bond, "tx": outcome.tx_hash})
                state.check_chain(outcome.chain_id)
                if (bond.status == "bonded" and self._on_bonded is not None and state.registration.registered
                        and not state.registration.bonded and outcome.bond >= (state.registration.min_miner_bond or 0)):
                    await self._on_bonded()
            pause = s.bond_retry * (_BONDED_RECHECK_FACTOR if bond.status == "bonded" else 1)
            await asyncio.sleep(pause)

    def _ensure_bond(self, fee: int) -> BondOutcome:
        state, s = self._state, self._state.settings
        with NodeClient(s.node_target, timeout=s.commit_timeout + 10) as node:
            return ensure_bond(node, state.seed, state.address, state.bond.target, fee, s.commit_timeout)

    def _problem(self, why: str, known: bool = True) -> None:
        """``known``: the bond was read and is short; otherwise the node could not be asked."""
        bond = self._state.bond
        if bond.error != why:
            log.warning("cannot bond; will retry", extra={"reason": why, "retry_s": self._state.settings.bond_retry})
        bond.status, bond.error = ("short" if known else "unknown"), why

    async def earnings(self) -> Earnings:
        """Balance, bond, slashed amount and settled jobs of this miner, from the node."""
        address = self._state.address
        try:
            async with AsyncNodeClient(self._state.settings.node_target, timeout=_EARNINGS_TIMEOUT_S) as node:
                account = await node.get_account(address)
        except DaemonError as exc:
            return Earnings(address=address, error=exc.message)
        record = miner_record(account)
        return Earnings(address=address, balance=int(account["balance"]), bond=record["bond"],
                        slashed=record["slashed"], jobs_settled=record["jobs"], height=account.get("height"))
