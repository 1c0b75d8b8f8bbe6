"""The wallet daemon's core: the keystore, the vault of unlocked keys, signing and the node.

No server code here: the API (:mod:`daemons.wallet.api`) turns requests into calls of
:class:`WalletCore` and its :class:`WalletError` / key / node failures into HTTP answers.

Secrets: passwords, recovery phrases and private keys arrive as ``SecretStr`` and are revealed
only at the call into ``keys``; decrypted key pairs live only in the :class:`Vault` (or, for a
one-shot signature with a locked wallet, for the duration of one transaction) and are wiped when
done. Nothing secret is passed to a logger or put into an error message or audit record.

Nonces: a wallet's transactions are built, signed and admitted one at a time (a lock per
address), reading the next nonce from the node's ``pending_nonce`` each time, so concurrent
sends never reuse a nonce; waiting for finality happens after the lock is released, so one slow
commit does not hold up the wallet's next send.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any

from pydantic import SecretStr

from chain.errors import MessageError
from chain.tx import Transaction, parse_transaction, signing_bytes
from daemons.common.background import stop_tasks
from daemons.common.backoff import Backoff
from daemons.common.errors import DaemonError
from daemons.common.logging import audit
from daemons.node.client import AsyncNodeClient, NodeRpcError, node_target
from daemons.node.models import NOT_FOUND as NODE_NOT_FOUND
from daemons.wallet.guard import Refused, UnlockGuard
from daemons.wallet.models import (
    Balance,
    CreateRequest,
    CreateResponse,
    DeleteResponse,
    Escrow,
    ExportResponse,
    History,
    HistoryEntry,
    ImportBackupRequest,
    ImportRequest,
    MinerBond,
    Rewards,
    Stake,
    TxOptions,
    TxResult,
    Unbonding,
    Validators,
    WalletInfo,
    WalletStatus,
)
from daemons.wallet.settings import WalletSettings
from daemons.wallet.vault import Vault
from keys import (
    DEFAULT_PATH,
    InvalidMnemonic,
    KeyInfo,
    KeyPair,
    KeyWiped,
    Keystore,
    generate_mnemonic,
    parse_keyfile,
)

log = logging.getLogger("aitbc.wallet")
REAP_PERIOD_S = 0.25
# A commit takes a block or two: ask often at first, then every quarter second.
_COMMIT_POLL_FIRST_S = 0.02
_COMMIT_POLL_MAX_S = 0.25
_QUOTED_WORD = re.compile(r" \('[^']*'\)")
_AUDIT_EVENTS = {
    "transfer": "sent", "stake": "staked", "unstake": "unbonded", "claim_rewards": "rewards_claimed",
    "escrow_deposit": "escrow", "escrow_withdraw": "escrow", "miner_bond": "miner_bonded",
    "miner_unbond": "miner_unbonded", "gov_propose": "gov_proposed", "gov_deposit": "gov_deposited",
    "gov_vote": "gov_voted", "validator_update": "gov_enacted",
}


class WalletError(MessageError):
    """A refusal of the wallet itself; ``status``/``code`` become the HTTP answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def _reveal(secret: SecretStr | None) -> str:
    return "" if secret is None else secret.get_secret_value()


def _safe_mnemonic_error(exc: InvalidMnemonic) -> InvalidMnemonic:
    """The key layer names an unknown word to help find a typo; a typo of a real word is nearly
    the secret itself, so the daemon keeps only its position."""
    return InvalidMnemonic(_QUOTED_WORD.sub("", exc.message))


def sign_tx(keypair: KeyPair, chain_id: str, tx_type: str, nonce: int, fee: int,
            payload: dict[str, Any]) -> Transaction:
    """Build and sign a transaction with a vault key (``chain.tx.make_tx`` without a raw seed
    copy: the seed stays inside the wipeable ``KeyPair``)."""
    fields = {"chain_id": chain_id, "type": tx_type, "sender": keypair.address, "nonce": nonce,
              "fee": fee, "payload": payload, "pubkey": keypair.pubkey.hex()}
    signature = keypair.sign(signing_bytes(fields)).hex()
    return parse_transaction({**fields, "signature": signature})


class WalletCore:
    """Every wallet operation. Async because the node is asked over the network and the KDF runs
    in worker threads; all state (vault, guard, locks) is touched from the event loop only."""

    def __init__(self, settings: WalletSettings, node: AsyncNodeClient | None = None,
                 clock: Any = time.monotonic) -> None:
        self.settings = settings
        self.keystore = Keystore(settings.keystore_dir, scrypt_n=settings.scrypt_n)
        self.node_target = str(node_target(settings.home, settings.node_url or None))
        self.node = node or AsyncNodeClient(node_target(settings.home, settings.node_url or None))
        self.vault = Vault(clock)
        self.guard = UnlockGuard(settings.unlock_backoff_s, settings.unlock_backoff_max_s, self._refused, clock)
        self._send_locks: dict[str, asyncio.Lock] = {}
        self._chain_id: str | None = None
        self._reaper: asyncio.Task[None] | None = None

    # -- life cycle ------------------------------------------------------------------------------------

    async def start(self) -> None:
        self._reaper = asyncio.create_task(self._reap_forever(), name="wallet-idle-lock")
        log.info("wallet started", extra={"keystore": str(self.keystore.directory), "node": self.node_target,
                                          "wallets": len(self.keystore.list()), "idle_lock_s": self.settings.idle_lock_s,
                                          "scrypt_n": self.settings.scrypt_n})

    async def stop(self) -> None:
        """Wipe every unlocked key before the process goes (SIGTERM, Ctrl-C)."""
        await stop_tasks(self._reaper)
        for address in self.vault.lock_all():
            audit("locked", address=address, reason="shutdown")
        await self.node.aclose()
        log.info("wallet stopped")

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(REAP_PERIOD_S)
            self.reap()

    def reap(self) -> list[str]:
        """Lock wallets idle past their timeout (the reaper task calls this 4 times a second:
        an unlock may ask for a timeout far shorter than the daemon's default)."""
        expired = self.vault.expire()
        for address in expired:
            audit("locked", address=address, reason="idle")
        return expired

    # -- looking wallets up ------------------------------------------------------------------------------

    def resolve(self, ref: str | None) -> KeyInfo:
        """The wallet named by address or name; with no name, the only wallet there is."""
        if ref:
            return self.keystore.get(ref)
        wallets = self.keystore.list()
        if not wallets:
            raise WalletError(404, "no_wallet", "there is no wallet yet; create or import one")
        if len(wallets) > 1:
            names = ", ".join(w.name for w in wallets[:10])
            raise WalletError(409, "wallet_required", f"there are {len(wallets)} wallets ({names}); name one")
        return wallets[0]

    def info(self, key: KeyInfo) -> WalletInfo:
        unlocked = key.address in self.vault
        return WalletInfo(name=key.name, address=key.address, pubkey=key.pubkey, kind=key.kind,
                          created=key.created, unlocked=unlocked,
                          locks_in_s=self.vault.remaining(key.address) if unlocked else None)

    def list(self) -> list[WalletInfo]:
        return [self.info(key) for key in self.keystore.list()]

    # -- creating and importing --------------------------------------------------------------------------

    async def create(self, req: CreateRequest) -> CreateResponse:
        phrase = generate_mnemonic(req.words)
        key = await asyncio.to_thread(self.keystore.import_mnemonic, phrase, _reveal(req.password), req.name)
        audit("created", wallet=key.name, address=key.address, words=req.words)
        log.info("wallet created", extra={"wallet": key.name, "address": key.address})
        return CreateResponse(wallet=self.info(key), mnemonic=phrase)

    async def import_key(self, req: ImportRequest) -> WalletInfo:
        password = _reveal(req.password)
        if req.mnemonic is not None:
            try:
                key = await asyncio.to_thread(
                    self.keystore.import_mnemonic, _reveal(req.mnemonic), password, req.name,
                    passphrase=_reveal(req.bip39_passphrase), path=req.path or DEFAULT_PATH)
            except InvalidMnemonic as exc:
                raise _safe_mnemonic_error(exc) from None
            source = "mnemonic"
        else:
            keypair = KeyPair.from_hex(_reveal(req.private_key))
            try:
                key = await asyncio.to_thread(self.keystore.import_keypair, keypair, password, req.name)
            finally:
                keypair.wipe()
            source = "private_key"
        audit("imported", wallet=key.name, address=key.address, source=source)
        return self.info(key)

    async def import_backup(self, req: ImportBackupRequest) -> WalletInfo:
        data = req.backup.encode("utf-8")
        address = parse_keyfile(data).address
        # The password check of a backup counts against that wallet's guard like an unlock.
        key = await self.guard.attempt(address, lambda: asyncio.to_thread(
            self.keystore.import_file, data, name=req.name, password=_reveal(req.password)))
        audit("imported", wallet=key.name, address=key.address, source="backup")
        return self.info(key)

    # -- locking -------------------------------------------------------------------------------------------

    async def _decrypt(self, key: KeyInfo, password: str) -> KeyPair:
        """Open a wallet's key under the brute-force guard; the caller owns (and wipes) it."""
        async def check() -> KeyPair:
            unlocked = await asyncio.to_thread(self.keystore.load, key.address, password)
            return unlocked.keypair  # the recovery phrase is dropped here: signing never needs it
        return await self.guard.attempt(key.address, check)

    async def _refused(self, address: str, refused: Refused) -> None:
        audit("unlock_failed", address=address, failures=refused.failures, delay_s=refused.delay_s)
        log.warning("wrong wallet password", extra={"address": address, "failures": refused.failures,
                                                    "delay_s": refused.delay_s})

    async def unlock(self, ref: str | None, password: SecretStr, timeout_s: float | None) -> WalletInfo:
        key = self.resolve(ref)
        keypair = await self._decrypt(key, _reveal(password))
        timeout = self.settings.idle_lock_s if timeout_s is None else timeout_s
        self.vault.put(keypair, timeout)
        audit("unlocked", wallet=key.name, address=key.address, idle_lock_s=timeout)
        return self.info(key)

    def lock(self, ref: str | None, everything: bool) -> list[str]:
        if everything:
            addresses = self.vault.lock_all()
        else:
            key = self.resolve(ref)
            addresses = [key.address] if self.vault.lock(key.address) else []
        for address in addresses:
            audit("locked", address=address, reason="request")
        return addresses

    # -- managing ------------------------------------------------------------------------------------------

    async def export(self, ref: str | None) -> ExportResponse:
        key = self.resolve(ref)
        data = await asyncio.to_thread(self.keystore.export, key.address)
        audit("exported", wallet=key.name, address=key.address)
        return ExportResponse(name=key.name, address=key.address, filename=f"{key.address}.json",
                              backup=data.decode("utf-8"))

    async def rename(self, ref: str, new_name: str) -> WalletInfo:
        key = self.resolve(ref)
        renamed = await asyncio.to_thread(self.keystore.rename, key.address, new_name)
        audit("renamed", address=key.address, old_name=key.name, new_name=renamed.name)
        return self.info(renamed)

    async def delete(self, ref: str, confirm: str, password: SecretStr) -> DeleteResponse:
        key = self.resolve(ref)
        if confirm not in (key.name, key.address):
            raise WalletError(422, "not_confirmed",
                              f"to delete wallet {key.name}, repeat its name or address as confirmation")
        keypair = await self._decrypt(key, _reveal(password))
        keypair.wipe()
        if self.vault.lock(key.address):
            audit("locked", address=key.address, reason="deleted")
        await asyncio.to_thread(self.keystore.delete, key.address)
        audit("deleted", wallet=key.name, address=key.address)
        return DeleteResponse(name=key.name, address=key.address)

    # -- reading the chain -----------------------------------------------------------------------------------

    async def chain_id(self) -> str:
        if self._chain_id is None:
            self._chain_id = str((await self.node.status())["chain_id"])
        return self._chain_id

    async def balance(self, ref: str | None) -> Balance:
        key = self.resolve(ref)
        account = await self.node.get_account(key.address)
        stakes = [Stake(**s) for s in account.get("stakes", [])]
        unbonding = [Unbonding(**u) for u in account.get("unbonding", [])]
        escrows = [Escrow(**e) for e in account.get("escrows", [])]
        miner = account.get("miner")
        return Balance(
            name=key.name, address=key.address, balance=account["balance"], nonce=account["nonce"],
            pending_nonce=account["pending_nonce"], height=account.get("height", 0),
            staked=sum(s.amount for s in stakes), rewards=sum(s.rewards for s in stakes),
            unbonding=sum(u.amount for u in unbonding if u.kind != "escrow_withdraw"),
            withdrawing=sum(u.amount for u in unbonding if u.kind == "escrow_withdraw"),
            escrowed=sum(e.balance for e in escrows),
            stakes=stakes, unbonding_entries=unbonding, escrows=escrows,
            miner=MinerBond(**{k: v for k, v in miner.items() if k in MinerBond.model_fields}) if miner else None,
        )

    async def rewards(self, ref: str | None) -> Rewards:
        balance = await self.balance(ref)
        return Rewards(name=balance.name, address=balance.address, total_staked=balance.staked,
                       total_rewards=balance.rewards, stakes=balance.stakes,
                       unbonding_entries=[u for u in balance.unbonding_entries if u.kind == "unbond"])

    async def history(self, ref: str | None, limit: int, before_height: int | None) -> History:
        key = self.resolve(ref)
        found = await self.node.get_address_txs(key.address, limit=limit, before_height=before_height)
        entries = []
        for row in found.get("txs", []):
            tx = row["tx"]
            payload = tx.get("payload", {})
            counterparty = payload.get("to") or payload.get("validator") or payload.get("coordinator")
            if tx["sender"] != key.address:
                direction = "in"
            elif counterparty == key.address:
                direction = "self"
            else:
                direction = "out"
            amount = payload.get("amount")
            entries.append(HistoryEntry(
                hash=row["hash"], height=row["height"], index=row["index"], type=tx["type"], sender=tx["sender"],
                direction=direction, counterparty=counterparty if isinstance(counterparty, str) else None,
                amount=amount if isinstance(amount, int) else None, fee=tx["fee"], nonce=tx["nonce"],
                payload=payload))
        return History(name=key.name, address=key.address, txs=entries)

    async def validators(self) -> Validators:
        return Validators.model_validate(await self.node.validators())

    async def status(self) -> WalletStatus:
        reachable, height = True, None
        try:
            node_status = await self.node.status()
            self._chain_id = str(node_status["chain_id"])
            height = int(node_status["height"])
        except DaemonError:
            reachable = False
        return WalletStatus(
            wallets=len(self.keystore.list()), unlocked=len(self.vault), keystore=str(self.keystore.directory),
            node=self.node_target, node_reachable=reachable, chain_id=self._chain_id, height=height,
            idle_lock_s=self.settings.idle_lock_s, scrypt_n=self.settings.scrypt_n,
            default_fee=self.settings.default_fee, tcp_enabled=self.settings.tcp_enabled)

    # -- signing ---------------------------------------------------------------------------------------------

    def _send_lock(self, address: str) -> asyncio.Lock:
        return self._send_locks.setdefault(address, asyncio.Lock())

    async def submit(self, ref: str | None, tx_type: str, payload: dict[str, Any], opts: TxOptions,
                     *, password_required: bool = False) -> TxResult:
        """Sign ``payload`` as a ``tx_type`` transaction of the wallet and hand it to the node.

        ``password_required`` (the public door, for a key not scoped to this wallet): the password
        must be given and is checked even when the wallet is unlocked, so an unlocked wallet is
        not a wallet anyone with an API key can spend from.
        """
        key = self.resolve(ref)
        one_shot: KeyPair | None = None
        if password_required and opts.password is None:
            raise WalletError(403, "password_required",
                              f"sending from wallet {key.name} here needs its password "
                              "(or an API key scoped to this wallet: api_key_wallets)")
        keypair = None if password_required else self.vault.use(key.address)
        if keypair is None:
            if opts.password is None:
                raise WalletError(423, "locked", f"wallet {key.name} is locked: unlock it or give its password")
            keypair = one_shot = await self._decrypt(key, _reveal(opts.password))
        try:  # everything after the decryption, the node's answers included, ends in the wipe below
            fee = await self._default_fee() if opts.fee is None else opts.fee
            chain_id = await self.chain_id()
            async with self._send_lock(key.address):
                account = await self.node.get_account(key.address)
                try:
                    tx = sign_tx(keypair, chain_id, tx_type, int(account["pending_nonce"]), fee, payload)
                except KeyWiped:
                    raise WalletError(423, "locked", f"wallet {key.name} was locked while signing") from None
                try:
                    await self.node.broadcast_tx(tx, mode="sync")
                except NodeRpcError as exc:
                    log.info("node refused a transaction", extra={"address": key.address, "type": tx_type,
                                                                 "code": exc.code, "reason": exc.message})
                    raise
        finally:
            if one_shot is not None:
                one_shot.wipe()
        await asyncio.to_thread(self._audit_tx, key, tx, one_shot is not None)
        result = TxResult(hash=tx.hash, type=tx.type, sender=tx.sender, nonce=tx.nonce, fee=tx.fee,
                          payload=tx.payload, status="pending")
        if opts.mode == "commit":
            result.height = await self._wait_commit(tx.hash, opts.timeout_s or self.settings.commit_timeout_s)
            result.status = "committed"
        return result

    async def _default_fee(self) -> int:
        """The fee of a request that names none: ``default_fee``, or the chain's ``min_fee`` when
        governance has raised it above that (else every such send would be refused until the
        operator edits the config)."""
        params = (await self.node.call("get_params"))["params"]
        return max(self.settings.default_fee, int(params["min_fee"]))

    @staticmethod
    def _audit_tx(key: KeyInfo, tx: Transaction, one_shot: bool) -> None:
        fields: dict[str, Any] = {"wallet": key.name, "address": key.address, "type": tx.type, "hash": tx.hash,
                                  "nonce": tx.nonce, "fee": tx.fee, "signed_with": "password" if one_shot else "unlocked"}
        fields.update({k: v for k, v in tx.payload.items() if k in ("to", "amount", "validator", "coordinator")})
        if tx.type.startswith("escrow_"):
            fields["action"] = tx.type.removeprefix("escrow_")
        audit(_AUDIT_EVENTS.get(tx.type, "signed"), **fields)

    async def _wait_commit(self, tx_hash: str, timeout_s: float) -> int:
        """Poll the node until the transaction is in a final block (single-validator PoA: a
        committed block is final)."""
        deadline = time.monotonic() + timeout_s
        backoff = Backoff(_COMMIT_POLL_FIRST_S, _COMMIT_POLL_MAX_S)
        while True:
            try:
                found = await self.node.get_tx(tx_hash)
            except NodeRpcError as exc:
                if exc.code != NODE_NOT_FOUND:
                    raise
                raise WalletError(409, "dropped", f"transaction {tx_hash} was dropped by the node before it "
                                                  "was committed (see the node's log)") from None
            if found.get("status") == "committed":
                return int(found["height"])
            if time.monotonic() >= deadline:
                raise WalletError(504, "commit_timeout", f"transaction {tx_hash} was accepted but not committed "
                                                         f"within {timeout_s:g}s; it is still pending")
            await asyncio.sleep(backoff.next())
