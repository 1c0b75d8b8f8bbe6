"""What the coordinator reads from and sends to the chain, through the node's RPC.

Chain parameters (minimum miner bond, receipts per transaction, minimum fee, transaction size)
come from the node's ``get_params`` (the values in force, so that governance changes are seen),
re-read every ``params_refresh`` seconds; when the node cannot answer, the last known values
stay in use. Genesis (HOME/genesis.json or ``genesis_file``) is only the start-up fallback for a
node that does not answer ``get_params`` yet, and guards against a node running another chain.
Escrow balances are cached briefly (``escrow_cache``): a cached balance can only be
too high by a withdrawal, which the chain delays (``escrow_withdraw_delay`` blocks) and which is
subtracted as soon as it is requested; settled receipts are accounted for by height (see
``CoordinatorStore.reserved``).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chain.genesis import Genesis, load_genesis
from chain.params import ChainParams
from chain.tx import Transaction
from daemons.common.errors import DaemonError
from daemons.common.home import Home
from daemons.node.client import NodeClient, node_target

log = logging.getLogger("aitbc.coordinator.chain")


class ChainUnavailable(Exception):
    """The node cannot be reached or does not answer as expected; the message says which."""


@dataclass(frozen=True)
class Escrow:
    """Spendable escrow of one client with this coordinator, read at ``height``."""

    balance: int
    withdrawing: int
    height: int

    @property
    def spendable(self) -> int:
        return max(0, self.balance - self.withdrawing)


def read_params(home: Home, genesis_file: str) -> tuple[ChainParams, Genesis | None]:
    """(params, the genesis read) from genesis, or the protocol defaults and None when there is none."""
    path = Path(genesis_file) if genesis_file else home.genesis_file
    if not path.is_file():
        if genesis_file:
            raise ChainUnavailable(f"genesis file {path} does not exist")
        return ChainParams(), None
    genesis: Genesis = load_genesis(path.read_bytes())
    return genesis.params, genesis


class ChainView:
    def __init__(self, home: Home, node: str, genesis_file: str = "", escrow_cache_s: float = 1.0,
                 timeout: float = 15.0) -> None:
        self.target = node_target(home, node or None)
        self.node = NodeClient(self.target, timeout=timeout)
        self.params, self._genesis = read_params(home, genesis_file)
        self.params_from = "genesis" if self._genesis is not None else "defaults"
        """Where ``params`` came from: ``node`` (height ``params_height``), ``genesis`` or ``defaults``."""
        self.params_height: int | None = None
        self.chain_id = ""
        self._escrow_cache_s = escrow_cache_s
        self._escrows: dict[tuple[str, str], tuple[float, Escrow]] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self.node.close()

    def connect(self, wait_s: float) -> dict[str, Any]:
        """Wait up to ``wait_s`` for the node and learn the chain id; refuses a node whose chain
        is not the genesis file's (parameters from one chain, receipts on another)."""
        deadline = time.monotonic() + wait_s
        while True:
            try:
                status = self.node.status()
                break
            except DaemonError as exc:
                if time.monotonic() >= deadline:
                    raise ChainUnavailable(f"node at {self.target} is not reachable: {exc.message}") from None
                time.sleep(0.2)
        chain_id = str(status["chain_id"])
        genesis = self._genesis
        if genesis is not None and (genesis.chain_id != chain_id or genesis.hash != status.get("genesis_hash")):
            raise ChainUnavailable(f"the node runs chain {chain_id!r} (genesis {str(status.get('genesis_hash'))[:16]}), "
                                   f"but the genesis file is chain {genesis.chain_id!r} ({genesis.hash[:16]})")
        self.chain_id = chain_id
        self.refresh_params()
        return status

    def refresh_params(self) -> bool:
        """Read the parameters in force from the node; on failure keep the last known ones
        (a node restarting for a moment must not stop matching or settlement). True if read."""
        try:
            reply = self.node.get_params()
            raw = reply["params"]
            # A newer node may know parameters this coordinator does not: use the ones it knows.
            params = ChainParams.model_validate({k: v for k, v in raw.items() if k in ChainParams.model_fields})
            height = int(reply.get("height", 0))
        except DaemonError as exc:
            log.warning("cannot read chain parameters from the node; keeping the last known",
                        extra={"error": exc.message, "params_from": self.params_from})
            return False
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            log.warning("the node's chain parameters are not usable; keeping the last known",
                        extra={"error": str(exc)[:300], "params_from": self.params_from})
            return False
        if params != self.params and self.params_from == "node":
            changed = {k: v for k, v in params.model_dump().items() if getattr(self.params, k) != v}
            log.info("chain parameters changed", extra={"height": height, "changed": changed})
        self.params, self.params_from, self.params_height = params, "node", height
        return True

    # -- reads -------------------------------------------------------------------------------------

    def escrow(self, client: str, coordinator: str, *, fresh: bool = False) -> Escrow:
        key = (client, coordinator)
        now = time.monotonic()
        if not fresh:
            with self._lock:
                cached = self._escrows.get(key)
            if cached is not None and now - cached[0] < self._escrow_cache_s:
                return cached[1]
        account = self.node.get_account(client)
        balance = sum(int(e["balance"]) for e in account.get("escrows", []) if e.get("coordinator") == coordinator)
        # Pending withdrawals do not name their coordinator in the account view: count them all,
        # which can only make the coordinator more careful.
        withdrawing = sum(int(u["amount"]) for u in account.get("unbonding", []) if u.get("kind") == "escrow_withdraw")
        escrow = Escrow(balance=balance, withdrawing=withdrawing, height=int(account.get("height", 0)))
        with self._lock:
            self._escrows[key] = (now, escrow)
        return escrow

    def forget_escrow(self, client: str, coordinator: str) -> None:
        with self._lock:
            self._escrows.pop((client, coordinator), None)

    def bond(self, miner: str) -> int:
        account = self.node.get_account(miner)
        info = account.get("miner") or {}
        return int(info.get("bond", 0))

    def pending_nonce(self, address: str) -> int:
        return int(self.node.get_account(address)["pending_nonce"])

    def get_tx(self, tx_hash: str) -> dict[str, Any]:
        return self.node.get_tx(tx_hash)

    def get_receipt(self, *, receipt_id: str | None = None, job_id: str | None = None,
                    coordinator: str | None = None) -> dict[str, Any]:
        return self.node.get_receipt(receipt_id=receipt_id, job_id=job_id, coordinator=coordinator)

    def height(self) -> int:
        return int(self.node.status()["height"])

    # -- writes ------------------------------------------------------------------------------------

    def broadcast_sync(self, tx: Transaction) -> dict[str, Any]:
        """Admit ``tx`` to the node's mempool (every rule checked against pending state)."""
        return self.node.broadcast_tx(tx, mode="sync")

    def broadcast_commit(self, tx: Transaction, timeout_s: float) -> dict[str, Any]:
        return self.node.broadcast_tx(tx, mode="commit", timeout_s=timeout_s)
