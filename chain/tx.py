"""Transactions: the model, one payload schema per type, signing and stateless checks.

The stateless rules (schema, bounds, chain id, size, signature) are here; the rules that need
state (nonce, balance, authority) are in ``chain.execution``. A transaction's bytes on the wire
are its canonical JSON, its hash is SHA-256 of those bytes, and what the sender signs is the
same object without the ``signature`` field.
"""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, StrictInt, StrictStr, ValidationError, model_validator

from chain import crypto
from chain.encoding import canonical_json, from_wire, sha256
from chain.errors import EncodingError, InvalidPayload, InvalidSignature, InvalidTransaction, TxTooLarge, WrongChainId
from chain.params import ChainParams
from chain.receipt import MinerProof, Receipt
from chain.types import Address, Amount, Bps, ChainId, NonNegAmount, Nonce, PubKey, Signature
from chain.verdict import SignedVerdict
from chain.vote import Vote

class _Payload(BaseModel):
    """Base of every payload, evidence and proposal action: frozen, strict and closed to unknown
    fields, so that one payload has exactly one parse and one canonical encoding."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class _ValidatorAmount(_Payload):
    validator: Address
    amount: Amount


class _CoordinatorAmount(_Payload):
    coordinator: Address
    amount: Amount


class _AmountPayload(_Payload):
    amount: Amount


class TransferPayload(_Payload):
    to: Address
    amount: Amount


class StakePayload(_ValidatorAmount):
    """Delegate ``amount`` to ``validator`` (a validator's operator delegating to itself is its self-bond)."""


class UnstakePayload(_ValidatorAmount):
    """Take ``amount`` of one's delegation back from ``validator``; it is paid out after ``unbonding_period`` blocks."""


class ClaimRewardsPayload(_Payload):
    validator: Address


class EscrowDepositPayload(_CoordinatorAmount):
    """Put ``amount`` in escrow with ``coordinator``, which pays the sender's jobs from it."""


class EscrowWithdrawPayload(_CoordinatorAmount):
    """Ask for escrow back; it stays spendable by the coordinator for ``escrow_withdraw_delay``
    blocks so that jobs it already accepted can still settle."""


class JobReceiptPayload(_Payload):
    receipts: list[Receipt] = Field(min_length=1)


class MinerBondPayload(_AmountPayload):
    """Lock ``amount`` as the sender's miner bond, what a proven wrong result is slashed from."""


class MinerUnbondPayload(_AmountPayload):
    """Take ``amount`` of the miner bond back; it is paid out after ``unbonding_period`` blocks."""


class DoubleSignEvidence(_Payload):
    kind: Literal["double_sign"]
    vote_a: Vote
    vote_b: Vote


class WrongResultEvidence(_Payload):
    """A miner's signed result for a job and a bonded verifier's signed verdict that re-checking
    refuted it, submitted by the job's own coordinator (the rule and why: ``chain.verdict``)."""

    kind: Literal["wrong_result"]
    proof: MinerProof
    verdict: SignedVerdict


class SlashPayload(_Payload):
    evidence: Annotated[Union[DoubleSignEvidence, WrongResultEvidence], Field(discriminator="kind")]


class NewValidator(_Payload):
    address: Address
    pubkey: PubKey
    commission_bps: Bps
    name: StrictStr = Field(max_length=64)


class ParamChange(_Payload):
    kind: Literal["param_change"]
    changes: dict[StrictStr, StrictInt] = Field(min_length=1)


class TreasurySpend(_Payload):
    kind: Literal["treasury_spend"]
    to: Address
    amount: Amount


class ValidatorSetChange(_Payload):
    kind: Literal["validator_update"]
    add: list[NewValidator] = Field(default_factory=list, max_length=100)
    remove: list[Address] = Field(default_factory=list, max_length=100)


class CoordinatorSetChange(_Payload):
    kind: Literal["coordinator_update"]
    add: list[Address] = Field(default_factory=list, max_length=100)
    remove: list[Address] = Field(default_factory=list, max_length=100)


class TextProposal(_Payload):
    kind: Literal["text"]


class SoftwareUpgrade(_Payload):
    """A scheduled upgrade (Cosmos x/upgrade's plan): from ``height`` on, nodes whose software is
    older than ``version`` stop instead of applying blocks, and ``protocol_version`` (when set)
    becomes the chain's rule set at that height (``chain.protocol``)."""

    kind: Literal["software_upgrade"]
    name: StrictStr = Field(min_length=1, max_length=64)
    version: StrictStr = Field(pattern=r"^[0-9]{1,6}(\.[0-9]{1,6}){1,3}$", description="minimum software version, dotted integers")
    height: StrictInt = Field(ge=1, le=2**62)
    protocol_version: StrictInt | None = Field(default=None, ge=1, le=1_000_000)


ProposalAction = Annotated[
    Union[ParamChange, TreasurySpend, ValidatorSetChange, CoordinatorSetChange, TextProposal, SoftwareUpgrade],
    Field(discriminator="kind"),
]


class GovProposePayload(_Payload):
    title: StrictStr = Field(min_length=1, max_length=200)
    description: StrictStr = Field(default="", max_length=10_000)
    action: ProposalAction
    deposit: NonNegAmount = 0
    """Initial deposit taken from the proposer; voting opens once deposits reach ``min_deposit``."""


class GovDepositPayload(_Payload):
    """Add to a proposal's deposit (during its deposit or voting period)."""

    proposal_id: StrictInt = Field(ge=1)
    amount: Amount


VOTE_OPTIONS = ("yes", "no", "abstain", "veto")


class GovVotePayload(_Payload):
    proposal_id: StrictInt = Field(ge=1)
    option: Literal["yes", "no", "abstain", "veto"]


class ValidatorUpdatePayload(_Payload):
    """Enact a passed ``validator_update`` proposal: the authority set changes only this way."""

    proposal_id: StrictInt = Field(ge=1)


class UnjailPayload(_Payload):
    """A validator jailed for downtime asks to vote again, after ``downtime_jail_blocks``."""



PAYLOAD_MODELS: dict[str, type[BaseModel]] = {
    "transfer": TransferPayload,
    "stake": StakePayload,
    "unstake": UnstakePayload,
    "claim_rewards": ClaimRewardsPayload,
    "escrow_deposit": EscrowDepositPayload,
    "escrow_withdraw": EscrowWithdrawPayload,
    "job_receipt": JobReceiptPayload,
    "miner_bond": MinerBondPayload,
    "miner_unbond": MinerUnbondPayload,
    "slash": SlashPayload,
    "gov_propose": GovProposePayload,
    "gov_vote": GovVotePayload,
    "gov_deposit": GovDepositPayload,
    "validator_update": ValidatorUpdatePayload,
    "unjail": UnjailPayload,
}

TxType = Literal[
    "transfer", "stake", "unstake", "claim_rewards", "escrow_deposit", "escrow_withdraw", "job_receipt",
    "miner_bond", "miner_unbond", "slash", "gov_propose", "gov_vote", "validator_update", "unjail",
    "gov_deposit",
]
TX_TYPES: tuple[str, ...] = tuple(PAYLOAD_MODELS)

_UNSIGNED_FIELDS = ("chain_id", "type", "sender", "nonce", "fee", "payload", "pubkey")


class Transaction(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    chain_id: ChainId
    type: TxType
    sender: Address
    nonce: Nonce
    fee: NonNegAmount
    payload: dict[StrictStr, Any]
    pubkey: PubKey
    signature: Signature

    _parsed: BaseModel | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _check_payload(self) -> "Transaction":
        try:
            canonical_json(self.payload)
        except EncodingError as exc:
            raise ValueError(f"payload: {exc.message}") from None
        try:
            parsed = PAYLOAD_MODELS[self.type].model_validate(self.payload)
        except ValidationError as exc:
            raise ValueError(f"{self.type} payload: {_readable(exc)}") from None
        object.__setattr__(self, "_parsed", parsed)
        return self

    @property
    def body(self) -> Any:
        """The payload parsed into its type's model (e.g. ``TransferPayload``)."""
        return self._parsed

    def to_dict(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id, "type": self.type, "sender": self.sender, "nonce": self.nonce,
            "fee": self.fee, "payload": self.payload, "pubkey": self.pubkey, "signature": self.signature,
        }

    @cached_property
    def encoded(self) -> bytes:
        return canonical_json(self.to_dict())

    @cached_property
    def hash(self) -> str:
        return sha256(self.encoded).hex()

    def signing_bytes(self) -> bytes:
        return signing_bytes(self.to_dict())

    def signature_valid(self) -> bool:
        pub = bytes.fromhex(self.pubkey)
        return crypto.address_from_pubkey(pub) == self.sender and crypto.verify(
            pub, self.signing_bytes(), bytes.fromhex(self.signature)
        )


def signing_bytes(fields: dict[str, Any]) -> bytes:
    return canonical_json({"domain": "aitbc/tx/v1", **{key: fields[key] for key in _UNSIGNED_FIELDS}})


def _readable(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        where = ".".join(str(p) for p in error["loc"]) or "transaction"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def parse_transaction(data: bytes | str | dict[str, Any]) -> Transaction:
    """Parse wire data into a ``Transaction``; every failure is an ``InvalidTransaction``."""
    try:
        return from_wire(Transaction, data)
    except ValidationError as exc:
        message = _readable(exc)
        if any(e["loc"][:1] == ("payload",) or "payload" in str(e.get("msg", "")) for e in exc.errors()):
            message = message.replace("transaction: Value error, ", "")
            raise InvalidPayload(f"invalid transaction: {message}") from None
        raise InvalidTransaction(f"invalid transaction: {message}") from None


def check_stateless(tx: Transaction, chain_id: str, params: ChainParams, *, check_signature: bool = True) -> None:
    """Rules that need no state. Cheap ones first, the signature last."""
    if tx.chain_id != chain_id:
        raise WrongChainId(f"transaction is for chain {tx.chain_id!r}, this chain is {chain_id!r}")
    size = len(tx.encoded)
    if size > params.max_tx_bytes:
        raise TxTooLarge(f"transaction is {size} bytes, the limit is {params.max_tx_bytes}")
    if isinstance(tx.body, JobReceiptPayload) and len(tx.body.receipts) > params.max_receipts_per_tx:
        raise InvalidPayload(f"at most {params.max_receipts_per_tx} receipts per transaction")
    if check_signature and not tx.signature_valid():
        raise InvalidSignature("signature does not verify for this sender and public key")


def make_tx(seed: bytes, chain_id: str, tx_type: str, nonce: int, fee: int, payload: dict[str, Any]) -> Transaction:
    """Build and sign a transaction with a raw seed (wallets wrap this with their keystore)."""
    pub = crypto.pubkey_from_seed(seed)
    fields = {
        "chain_id": chain_id, "type": tx_type, "sender": crypto.address_from_pubkey(pub), "nonce": nonce,
        "fee": fee, "payload": payload, "pubkey": pub.hex(),
    }
    signature = crypto.sign(seed, signing_bytes(fields)).hex()
    return parse_transaction({**fields, "signature": signature})
