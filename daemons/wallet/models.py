"""Wire models of the wallet API, shared by the server and the typed client.

Light on purpose (pydantic and chain types only, no FastAPI) so that the CLI and TUI can decode
answers without importing server code. Secrets that travel *in* (passwords, recovery phrases,
private keys) are ``SecretStr``: their ``repr`` is masked, so a request model that ends up in a
log line or a traceback shows ``**********`` instead of the secret.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, StrictBool, StrictFloat, StrictInt, model_validator

from chain.tx import GovProposePayload
from chain.types import Address, Hash
from daemons.common.models import JSON_INT_MAX, WHOLE, WholeInt
from keys.errors import InvalidKeyName
from keys.keyfile import NAME_PATTERN, validate_name

Password = Annotated[SecretStr, Field(min_length=1, max_length=1024)]
WalletRef = Annotated[str, Field(min_length=1, max_length=64, description="wallet name or address")]


def _wallet_name(name: str) -> str:
    try:
        return validate_name(name)
    except InvalidKeyName as exc:
        raise ValueError(str(exc)) from None


WalletName = Annotated[str, AfterValidator(_wallet_name), Field(
    min_length=1, max_length=64, json_schema_extra={"pattern": NAME_PATTERN},
    description="a new wallet's name: 1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit, not 0x...")]
"""A name the keystore will take, said in the schema (so a client can know it) and checked by the
keystore's own rule (``keys.keyfile.validate_name``) with its message."""
Mode = Literal["sync", "commit"]
MNEMONIC_WARNING = (
    "Write these words down and keep them offline. They are shown only now; anyone who has them "
    "controls this wallet, and without them (or an export) a lost password cannot be recovered."
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- wallets ---------------------------------------------------------------------------------------


class WalletInfo(_Model):
    """A wallet's public face (no secret) and whether it can sign right now."""

    name: str
    address: str
    pubkey: str
    kind: Literal["seed", "mnemonic"]
    created: str
    unlocked: bool = False
    locks_in_s: float | None = Field(None, description="seconds until the idle lock; None: locked or no timeout")


class WalletList(_Model):
    wallets: list[WalletInfo]


class CreateRequest(_Model):
    name: WalletName | None = None
    password: Password
    words: Literal[12, 24] = 24


class CreateResponse(_Model):
    wallet: WalletInfo
    mnemonic: str = Field(description="the recovery phrase; returned once, never stored in clear or logged")
    warning: str = MNEMONIC_WARNING


class ImportRequest(_Model):
    """Restore from a recovery phrase (optionally with its BIP-39 passphrase and path) or from a
    raw Ed25519 private key (the 32-byte seed as 64 hex digits)."""

    name: WalletName | None = None
    password: Password
    mnemonic: SecretStr | None = Field(None, max_length=1000)
    bip39_passphrase: SecretStr | None = Field(None, max_length=1000)
    path: str | None = Field(None, max_length=200, description="SLIP-0010 path (default m/44'/..'/0'/0'/0')")
    private_key: SecretStr | None = Field(None, max_length=200)

    @model_validator(mode="after")
    def _one_source(self) -> ImportRequest:
        if (self.mnemonic is None) == (self.private_key is None):
            raise ValueError("give exactly one of mnemonic or private_key")
        if self.private_key is not None and (self.bip39_passphrase is not None or self.path is not None):
            raise ValueError("bip39_passphrase and path apply only to a mnemonic")
        return self


class ImportBackupRequest(_Model):
    """An exported wallet file; ``password`` must open it, so a useless backup is refused."""

    backup: str = Field(min_length=2, max_length=64 * 1024, description="the exported file's JSON text")
    password: Password
    name: WalletName | None = Field(None, description="store under another name")


class ExportRequest(_Model):
    wallet: WalletRef | None = None


class ExportResponse(_Model):
    name: str
    address: str
    filename: str = Field(description="the file name the keystore uses (<address>.json)")
    backup: str = Field(description="the encrypted wallet file, byte for byte (safe to store; needs the password)")


class UnlockRequest(_Model):
    wallet: WalletRef | None = None
    password: Password
    timeout_s: StrictFloat | None = Field(None, ge=0, le=7 * 86400,
                                          description="idle seconds before it locks again; 0 never; default: daemon's")


class LockRequest(_Model):
    wallet: WalletRef | None = None
    all: StrictBool = False


class LockResponse(_Model):
    locked: list[str] = Field(description="addresses that were unlocked and are now locked")


class RenameRequest(_Model):
    wallet: WalletRef
    new_name: WalletName


class DeleteRequest(_Model):
    """Deleting is irreversible without a backup, so the caller repeats the wallet's name or
    address and proves the password."""

    wallet: WalletRef
    confirm: str = Field(max_length=64, description="the wallet's name or address, repeated")
    password: Password


class DeleteResponse(_Model):
    name: str
    address: str
    deleted: bool = True


# -- chain views -----------------------------------------------------------------------------------


class Stake(_Model):
    validator: str
    amount: int
    rewards: int


class Unbonding(_Model):
    """Funds on their way back: a stake (``unbond``), a miner bond (``miner_unbond``) or an escrow
    withdrawal (``escrow_withdraw``), each released at its height."""

    release: int = Field(description="height at which the funds return")
    kind: str = Field(description="unbond, miner_unbond or escrow_withdraw")
    amount: int
    validator: str | None = Field(None, description="the validator a stake leaves (kind unbond)")
    coordinator: str | None = Field(None, description="the coordinator an escrow leaves (kind escrow_withdraw)")


class Escrow(_Model):
    coordinator: str
    balance: int


class MinerBond(_Model):
    bond: int
    slashed: int = 0
    jobs: int = 0


class Balance(_Model):
    """Everything the node knows about the wallet's account, with the totals a person asks for."""

    name: str
    address: str
    balance: int
    staked: int
    rewards: int
    unbonding: int = Field(description="stake and miner bond on their way back")
    escrowed: int
    withdrawing: int = Field(0, description="escrow on its way back (escrow withdrawals not yet released)")
    nonce: int
    pending_nonce: int
    height: int
    stakes: list[Stake]
    unbonding_entries: list[Unbonding]
    escrows: list[Escrow]
    miner: MinerBond | None = None


class HistoryEntry(_Model):
    hash: str
    height: int
    index: int
    type: str
    sender: str
    direction: Literal["out", "in", "self"]
    counterparty: str | None = Field(None, description="recipient, validator or coordinator, where the type has one")
    amount: int | None = None
    fee: int
    nonce: int
    payload: dict[str, Any]


class History(_Model):
    name: str
    address: str
    txs: list[HistoryEntry]


class Rewards(_Model):
    name: str
    address: str
    total_staked: int
    total_rewards: int
    stakes: list[Stake]
    unbonding_entries: list[Unbonding]


class ValidatorInfo(_Model):
    model_config = ConfigDict(extra="allow")

    address: str
    name: str
    power: int
    self_bond: int
    commission_bps: int
    jailed: bool
    active: bool


class Validators(_Model):
    height: int
    total_power: int
    validators: list[ValidatorInfo]


# -- transactions ------------------------------------------------------------------------------------


WireAmount = Annotated[StrictInt, Field(gt=0, le=JSON_INT_MAX), WHOLE]
"""A positive amount of units in a request: ``chain.types.Amount`` within what JSON carries exactly."""


class TxOptions(_Model):
    """What every signing request shares. ``password`` signs once with a locked wallet (the key
    is decrypted for this transaction only and wiped right after); an unlocked wallet needs none."""

    wallet: WalletRef | None = None
    fee: Annotated[StrictInt, Field(ge=0, le=JSON_INT_MAX), WHOLE] | None = Field(
        None, description="units; default: the daemon's default_fee")
    mode: Mode = Field("sync", description="sync: answer once the node admitted it; commit: once final")
    timeout_s: StrictFloat | None = Field(None, gt=0, le=300, description="longest wait in commit mode")
    password: Password | None = None

    def payload(self) -> dict[str, Any]:
        """The transaction's payload: the request's own fields, the shared options left out (each
        request model is the payload of the transaction types it signs, so it is defined once)."""
        return self.model_dump(exclude=set(TxOptions.model_fields))


class SendRequest(TxOptions):
    to: Address
    amount: WireAmount


class StakeRequest(TxOptions):
    validator: Address
    amount: WireAmount


class ClaimRequest(TxOptions):
    validator: Address


class GovProposeRequest(TxOptions):
    """A governance proposal: the chain's own payload schema (``chain.tx.GovProposePayload``)."""

    proposal: GovProposePayload

    def payload(self) -> dict[str, Any]:
        """The proposal itself is the ``gov_propose`` payload."""
        return self.proposal.model_dump()


class GovDepositRequest(TxOptions):
    proposal_id: WholeInt = Field(ge=1)
    amount: WireAmount


class GovVoteRequest(TxOptions):
    proposal_id: WholeInt = Field(ge=1)
    option: Literal["yes", "no", "abstain", "veto"]


class GovEnactRequest(TxOptions):
    """Enact a passed ``validator_update`` proposal (its own transaction, as the chain requires,
    so that the new set takes effect at a height someone chose, within ``enactment_period``)."""

    proposal_id: WholeInt = Field(ge=1)


class EscrowRequest(TxOptions):
    coordinator: Address
    amount: WireAmount


class BondRequest(TxOptions):
    amount: WireAmount


class TxResult(_Model):
    hash: Hash
    type: str
    sender: str
    nonce: int
    fee: int
    payload: dict[str, Any]
    status: Literal["pending", "committed"]
    height: StrictInt | None = None


# -- daemon --------------------------------------------------------------------------------------------


class WalletStatus(_Model):
    service: Literal["wallet"] = "wallet"
    wallets: int
    unlocked: int
    keystore: str
    node: str
    node_reachable: bool
    chain_id: str | None = None
    height: int | None = None
    idle_lock_s: float
    scrypt_n: int
    default_fee: int
    tcp_enabled: bool
