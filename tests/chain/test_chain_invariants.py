"""Chain invariants under random use (hypothesis), and the bounds that keep amounts in range.

Random sequences of every transaction type run over several blocks through the public rules
only: ``check_tx`` picks each sender's next nonce, ``build_block`` assembles (skipping what
fails), ``apply_block`` re-checks the block with its commit, as a node does. After every block:

* the supply is the genesis supply plus the rewards minted minus the burns (slashes);
* every unit of it is held somewhere (``accounted_supply``): nothing is created or lost;
* no balance, stake, bond, escrow or pending amount is negative or past ``MAX_AMOUNT``;
* the block's writes give the same state root in any order.

The examples are few and short (bounded ``max_examples``, a handful of blocks) so the run stays
modest; the transactions are built from plain actions at run time, so they follow the state.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import pytest
from chainkit import (
    ALICE, BOB, CAROL, CLIENT, COORD, COORD2, FEE, MINER, MINER2, MINER_BOND, OUTSIDER, UNIT, VALIDATORS,
    Chain, Key, accounted_supply, fake_hash, make_genesis, make_proof, make_receipt, make_verdict, make_vote,
    supply_total, wrong_result,
)
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from chain.errors import ChainError, InvalidGenesis, InvalidPayload, TxRejected
from chain.execution import check_tx
from chain.ledger import Ledger
from chain.params import BPS, MAX_AMOUNT, MAX_BLOCK_REWARD, ChainParams
from chain.state import State
from chain.tx import Transaction

DEPOSIT = ChainParams().min_deposit
"""Enough deposit for a proposal to go straight to voting (chain.governance)."""

V0, V1, V2, V3 = VALIDATORS
USERS = [ALICE, BOB, CAROL, CLIENT, MINER, MINER2, COORD, COORD2, *VALIDATORS]
COORDINATORS = [COORD, COORD2]
MINERS = [MINER, MINER2]
NEWCOMER = CAROL
"""The key a ``validator_update`` proposal may add (the driver holds it, to sign commits)."""

VALUE_NAMESPACES = ("account", "delegation", "validator", "miner", "escrow", "pending")
"""Where amounts live: every integer in these entries must stay within [0, MAX_AMOUNT]."""


@lru_cache(maxsize=1)
def base_chain() -> Chain:
    """Four validators, two coordinators, both miners bonded, escrow with each coordinator, and
    two passed validator_update proposals (add NEWCOMER, remove V3) that anyone may enact."""
    chain = Chain(make_genesis(4, coordinators=(COORD.address, COORD2.address)), keys=[*VALIDATORS, NEWCOMER])
    chain.step([
        chain.tx(MINER, "miner_bond", {"amount": MINER_BOND}),
        chain.tx(MINER2, "miner_bond", {"amount": MINER_BOND}),
        *chain.txs(CLIENT, [("escrow_deposit", {"coordinator": c.address, "amount": 1_000 * UNIT})
                            for c in COORDINATORS]),
    ])
    changes = [{"kind": "validator_update", "remove": [], "add": [{
        "address": NEWCOMER.address, "pubkey": NEWCOMER.pub.hex(), "commission_bps": 500, "name": "newcomer"}]},
        {"kind": "validator_update", "add": [], "remove": [V3.address]}]
    chain.step(chain.txs(V0, [("gov_propose", {"title": "set change", "action": change, "deposit": DEPOSIT})
                              for change in changes]))
    chain.step([chain.tx(v, "gov_vote", {"proposal_id": pid, "option": "yes"}, offset=pid - 1)
                for v in VALIDATORS for pid in (1, 2)])
    while any(p["status"] == "voting" for _, p in chain.state.items("proposal")):
        chain.step()
    assert {key: p["status"] for key, p in chain.state.items("proposal")} == {"1": "passed", "2": "passed"}
    return chain


def fresh_chain() -> Chain:
    """A driver starting at the base chain's state (states are immutable, so this is a copy)."""
    base = base_chain()
    chain = Chain(base.genesis, keys=base.keys.values())
    chain.state, chain.last_commit, chain.blocks = base.state, base.last_commit, list(base.blocks)
    return chain


# -- actions: plain data drawn by hypothesis, turned into transactions against the current state --

user = st.integers(0, len(USERS) - 1)
existing = st.integers(0, 1_000)
"""Picks one of the entries of its kind that exist at that point (delegations, escrows, miners)."""
validator = st.integers(0, len(VALIDATORS) - 1)
share = st.integers(1, BPS)
"""A share in basis points of what the sender holds there: most draws are then valid."""
amount = st.one_of(st.integers(1, 10_000), st.integers(1, 2_000).map(lambda units: units * UNIT))
param_change = st.one_of(
    st.builds(lambda v: {"min_fee": v}, st.integers(0, FEE)),
    st.builds(lambda v: {"receipt_fee_bps": v}, st.integers(0, 2_000)),
    st.builds(lambda v: {"treasury_share_bps": v}, st.integers(0, 5_000)),
    st.builds(lambda v: {"miner_share_bps": v}, st.integers(0, 5_000)),
    st.builds(lambda v: {"unbonding_period": v}, st.integers(1, 4)),
    st.builds(lambda v: {"escrow_withdraw_delay": v}, st.integers(1, 4)),
    st.builds(lambda v: {"double_sign_slash_bps": v}, st.integers(0, BPS)),
    st.builds(lambda v: {"wrong_result_slash_bps": v}, st.integers(0, BPS)),
)
gov_action = st.one_of(
    st.builds(lambda changes: {"kind": "param_change", "changes": changes}, param_change),
    st.builds(lambda to, units: {"kind": "treasury_spend", "to": USERS[to].address, "amount": units},
              user, st.integers(1, 50 * UNIT)),
    st.builds(lambda commission: {"kind": "validator_update", "remove": [], "add": [{
        "address": NEWCOMER.address, "pubkey": NEWCOMER.pub.hex(), "commission_bps": commission, "name": "newcomer"}]},
        st.integers(0, 5_000)),
    st.builds(lambda index: {"kind": "validator_update", "add": [], "remove": [VALIDATORS[index].address]}, validator),
    st.builds(lambda index: {"kind": "coordinator_update", "add": [], "remove": [COORDINATORS[index].address]},
              st.integers(0, 1)),
    st.just({"kind": "text"}),
)
action = st.one_of(
    st.tuples(st.just("transfer"), user, user, amount),
    st.tuples(st.just("stake"), user, st.integers(0, len(VALIDATORS)), amount),  # the last index: the newcomer
    st.tuples(st.just("unstake"), existing, share),
    st.tuples(st.just("claim_rewards"), existing),
    st.tuples(st.just("escrow_deposit"), user, st.integers(0, 1), amount),
    st.tuples(st.just("escrow_withdraw"), existing, share),
    st.tuples(st.just("job_receipt"), st.integers(0, 1), st.integers(0, 1), st.integers(1, 30_000),
              st.integers(0, 5)),
    st.tuples(st.just("miner_bond"), user, amount),
    st.tuples(st.just("miner_unbond"), existing, share),
    st.tuples(st.just("double_sign"), user, validator, st.integers(0, 2)),
    st.tuples(st.just("wrong_result"), st.integers(0, 1), st.integers(0, 1), st.integers(0, 5)),
    st.tuples(st.just("gov_propose"), validator, gov_action),
    st.tuples(st.just("gov_vote"), st.lists(st.sampled_from(["yes", "yes", "yes", "no", "abstain", None]),
                                            min_size=4, max_size=4)),
    st.tuples(st.just("validator_update"), user, st.integers(0, 3)),
)
blocks = st.lists(st.lists(action, max_size=7), min_size=2, max_size=6)


def _validator_key(index: int) -> Key:
    return [*VALIDATORS, NEWCOMER][index]


def _portion(held: int, bps: int) -> int:
    return max(1, held * bps // BPS)


def _pick(pending: Ledger, ns: str, index: int) -> tuple[str, dict[str, Any]]:
    """The ``index``-th (cyclically) live entry of ``ns``; one that does not exist if none does."""
    entries = sorted(pending.scan(ns).items())
    if not entries:
        return f"{OUTSIDER.address}/{OUTSIDER.address}", {}
    return entries[index % len(entries)]


def _key_of(address: str) -> Key:
    return next((k for k in [*USERS, NEWCOMER] if k.address == address), OUTSIDER)


def _payloads(chain: Chain, pending: Ledger, act: tuple[Any, ...]) -> list[tuple[Key, str, dict[str, Any]]]:
    """(sender, type, payload) for one action; several for a vote round."""
    kind = act[0]
    if kind == "transfer":
        return [(USERS[act[1]], "transfer", {"to": USERS[act[2]].address, "amount": act[3]})]
    if kind == "stake":
        return [(USERS[act[1]], "stake", {"validator": _validator_key(act[2]).address, "amount": act[3]})]
    if kind in ("unstake", "claim_rewards"):
        key, delegation = _pick(pending, "delegation", act[1])
        delegator, _, target = key.partition("/")
        if kind == "claim_rewards":
            return [(_key_of(delegator), "claim_rewards", {"validator": target})]
        amount_ = _portion(delegation.get("amount", 0), act[2])
        return [(_key_of(delegator), "unstake", {"validator": target, "amount": amount_})]
    if kind == "escrow_deposit":
        return [(USERS[act[1]], "escrow_deposit", {"coordinator": COORDINATORS[act[2]].address, "amount": act[3]})]
    if kind == "escrow_withdraw":
        key, escrow = _pick(pending, "escrow", act[1])
        client, _, coordinator = key.partition("/")
        amount_ = _portion(escrow.get("balance", 0), act[2])
        return [(_key_of(client), "escrow_withdraw", {"coordinator": coordinator, "amount": amount_})]
    if kind == "job_receipt":
        coordinator, miner, price, job = COORDINATORS[act[1]], MINERS[act[2]], act[3], act[4]
        receipt = make_receipt(f"job-{job}", price, miner=miner, coordinator=coordinator)
        return [(coordinator, "job_receipt", {"receipts": [receipt.to_dict()]})]
    if kind == "miner_bond":
        return [(USERS[act[1]], "miner_bond", {"amount": act[2]})]
    if kind == "miner_unbond":
        address, miner = _pick(pending, "miner", act[1])
        return [(_key_of(address), "miner_unbond", {"amount": _portion(miner.get("bond", 0), act[2])})]
    if kind == "double_sign":
        offender, height = VALIDATORS[act[2]], max(1, chain.state.height - act[3])
        votes = [make_vote(offender, height, fake_hash(f"{label}/{height}")).model_dump() for label in "ab"]
        return [(USERS[act[1]], "slash", {"evidence": {"kind": "double_sign", "vote_a": votes[0], "vote_b": votes[1]}})]
    if kind == "wrong_result":
        coordinator, miner, job = COORDINATORS[act[1]], MINERS[act[2]], act[3]
        return [(coordinator, "slash", _wrong_result(miner, f"job-{job}", coordinator))]
    if kind == "gov_propose":
        return [(VALIDATORS[act[1]], "gov_propose",
                 {"title": f"change {act[2]['kind']}", "action": act[2], "deposit": DEPOSIT})]
    if kind == "gov_vote":
        open_ids = sorted(int(key) for key, p in chain.state.items("proposal") if p["status"] == "voting")
        if not open_ids:
            return []
        return [(VALIDATORS[i], "gov_vote", {"proposal_id": open_ids[-1], "option": option})
                for i, option in enumerate(act[1]) if option is not None]
    assert kind == "validator_update"
    passed = sorted(int(key) for key, p in chain.state.items("proposal")
                    if p["status"] == "passed" and p["action"]["kind"] == "validator_update")
    return [(USERS[act[1]], "validator_update", {"proposal_id": passed[act[2] % len(passed)] if passed else 1})]


def _wrong_result(miner: Key, job_id: str, coordinator: Key) -> dict[str, Any]:
    """Wrong-result evidence against ``miner``'s proof for ``coordinator``'s job, refuted by the
    other miner's signed verdict (``chainkit.wrong_result`` is the one place that spells it)."""
    proof = make_proof(miner, job_id, coordinator=coordinator)
    return wrong_result(proof, make_verdict(proof, MINER2 if miner == MINER else MINER))


def _candidates(chain: Chain, actions: list[tuple[Any, ...]]) -> list[Transaction]:
    """Every action as a signed transaction, in order, each with its sender's next nonce after
    the earlier ones that ``check_tx`` admitted; refused ones are offered to the builder too."""
    pending = Ledger(chain.state)
    txs: list[Transaction] = []
    for act in actions:
        for sender, tx_type, payload in _payloads(chain, pending, act):
            tx = chain.tx(sender, tx_type, payload, nonce=pending.account(sender.address)["nonce"])
            try:
                check_tx(chain.state, tx, pending)
            except (ChainError, TxRejected):
                pass
            txs.append(tx)
    return txs


# -- the invariants -----------------------------------------------------------------------------------------------


def _burned(before: State, after: State) -> int:
    """Units burned by the offences recorded between two states (each evidence entry records its burn)."""
    return sum(int(e["burned"]) for key, e in after.items("evidence") if before.get("evidence", key) is None)


def _amounts(state: State) -> list[tuple[str, str, str, int]]:
    found = []
    for ns in VALUE_NAMESPACES:
        for key, entry in state.items(ns):
            for field, value in entry.items():
                if isinstance(value, int) and not isinstance(value, bool):
                    found.append((ns, key, field, value))
    return found


def _writes(before: State, after: State) -> list[tuple[tuple[str, str], dict[str, Any] | None]]:
    """The writes that turn ``before`` into ``after``: changed or new entries, and deletions."""
    old = {(ns, key): value for ns, key, value in before.entries()}
    new = {(ns, key): value for ns, key, value in after.entries()}
    changed = [(k, v) for k, v in new.items() if old.get(k) != v]
    return changed + [(k, None) for k in old if k not in new]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(plan=blocks, data=st.data())
def test_random_transactions_keep_every_invariant(plan: list[list[tuple[Any, ...]]], data: st.DataObject) -> None:
    chain = fresh_chain()
    rng = data.draw(st.randoms(use_true_random=False))  # orders of writes and entries, cheaply drawn
    reward = int(chain.params()["block_reward"])
    genesis_supply = supply_total(Chain(chain.genesis).state)
    minted = reward * chain.state.height
    burned = 0
    assert supply_total(chain.state) == genesis_supply + minted
    for actions in plan:
        before = chain.state
        built = chain.step(_candidates(chain, actions), allow_rejects=True)
        after = chain.state
        for tx in built.block.txs:  # shown by --hypothesis-show-statistics: what the run covered
            event(f"applied {tx.type}")
        assert after.height == before.height + 1 and after.root == built.block.header.state_root
        # Supply: genesis plus rewards minted minus burns, and every unit of it held somewhere.
        minted += reward
        burned += _burned(before, after)
        assert supply_total(after) == genesis_supply + minted - burned
        assert accounted_supply(after) == supply_total(after)
        # Amounts: never negative, never past the bound.
        for ns, key, field, value in _amounts(after):
            assert 0 <= value <= MAX_AMOUNT, (ns, key, field, value)
        # The same writes in any order, in one batch or two, give the same root.
        writes = _writes(before, after)
        rng.shuffle(writes)
        assert before.apply_writes(dict(writes)).root == after.root
        split = rng.randint(0, len(writes))
        halves = before.apply_writes(dict(writes[:split])).apply_writes(dict(writes[split:]))
        assert halves.root == after.root
        entries = list(after.entries())
        rng.shuffle(entries)
        assert State.from_entries(after.chain_id, entries).root == after.root


# -- the bounds ---------------------------------------------------------------------------------------------------


def test_credit_and_supply_refuse_to_pass_the_bound() -> None:
    chain = base_chain()
    ledger = Ledger(chain.state)
    room = MAX_AMOUNT - chain.balance(ALICE)
    with pytest.raises(InvalidPayload, match="2\\^63-1"):
        ledger.credit(ALICE.address, room + 1)
    with pytest.raises(InvalidPayload, match="2\\^63-1"):
        ledger.adjust_supply(MAX_AMOUNT - supply_total(chain.state) + 1)
    assert ledger.writes == {}  # a refused credit changes nothing
    ledger.credit(ALICE.address, room)
    assert ledger.balance(ALICE.address) == MAX_AMOUNT
    ledger.adjust_supply(MAX_AMOUNT - supply_total(chain.state))
    assert int(ledger.meta("supply")["total"]) == MAX_AMOUNT


@pytest.mark.parametrize(("changes", "named"), [
    ({"unbonding_period": 0}, "unbonding_period"),
    ({"escrow_withdraw_delay": 0}, "escrow_withdraw_delay"),
    ({"block_reward": MAX_BLOCK_REWARD + 1}, "block_reward"),
    ({"block_reward": MAX_AMOUNT}, "block_reward"),
    ({"treasury_share_bps": BPS + 1}, "treasury_share_bps"),
    ({"max_commission_bps": BPS + 1}, "max_commission_bps"),
    ({"double_sign_slash_bps": BPS + 1}, "double_sign_slash_bps"),
    ({"treasury_share_bps": 6_000, "miner_share_bps": 5_000}, "treasury_share_bps \\+ miner_share_bps"),
])
def test_param_change_breaking_a_bound_is_refused_naming_it(changes: dict[str, int], named: str) -> None:
    chain = fresh_chain()
    proposal = {"title": "break a bound", "action": {"kind": "param_change", "changes": changes}}
    chain.assert_rejected(chain.tx(V0, "gov_propose", proposal), InvalidPayload, named)
    with pytest.raises(InvalidGenesis, match=named):
        make_genesis(1, params=changes)


def test_param_change_at_the_bounds_is_accepted() -> None:
    chain = fresh_chain()
    changes = {"unbonding_period": 1, "escrow_withdraw_delay": 1, "block_reward": MAX_BLOCK_REWARD,
               "double_sign_slash_bps": BPS}
    pid = chain.state.get("meta", "proposal_seq")["next"]
    chain.run(chain.tx(V0, "gov_propose", {"title": "edges", "action": {"kind": "param_change", "changes": changes},
                                          "deposit": DEPOSIT}))
    assert chain.get("proposal", str(pid))["action"]["changes"] == changes
    assert make_genesis(1, params=changes).params.block_reward == MAX_BLOCK_REWARD
