"""Pilot test of the Governance screen against a real node and wallet daemon (subprocesses).

A delegator (not a validator) proposes from the screen with less than the minimum deposit,
tops the deposit up from the screen, which opens the vote, and votes from the screen; the vote
is then read back from the node with ``get_proposal``, the screen's tally and the Dashboard's
"to vote on" line follow it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from test_tui_flows import CLIENT, click, confirm_with_password, import_client, painted_dialog
from testkit import temp_root
from tuikit import UNIT, NodeAndWallet, drive, node_and_wallet, screen_text, signed_tx, wait_for, wait_notified

from chain.crypto import address_from_pubkey
from daemons.common.home import Home
from daemons.node.client import NodeClient

from aitbc_tui.app import AitbcApp
from aitbc_tui.models import GovModel, ProposalRow, TallyView
from aitbc_tui.screens.dialogs import PickDialog
from aitbc_tui.gov_actions import ActionError, build_action, parse_changes, split_list
from aitbc_tui.screens.gov_dialogs import DepositDialog, ProposeDialog
from aitbc_tui.screens.governance import tally_strip

SIZE = (120, 36)
MIN_DEPOSIT = 100 * UNIT


@pytest.fixture(scope="module")
def gov_net() -> Iterator[NodeAndWallet]:
    with temp_root("ag-") as root:
        params = {"min_deposit": MIN_DEPOSIT, "voting_period": 100_000, "deposit_period": 100_000}
        with node_and_wallet(root / "h", {CLIENT.address: 10_000 * UNIT}, params=params) as net:
            with NodeClient(net.node.socket, timeout=30) as rpc:
                validator = rpc.status()["validator_address"]
            signed_tx(net.node.socket, CLIENT, "stake", {"validator": validator, "amount": 1_000 * UNIT})
            yield net


def on_chain(net: NodeAndWallet, proposal_id: int) -> dict:  # type: ignore[type-arg]
    with NodeClient(net.node.socket, timeout=30) as rpc:
        return rpc.get_proposal(proposal_id)


async def press_action(pilot, app: AitbcApp, key: str, action: str,  # type: ignore[no-untyped-def]
                       status: str | None = None) -> None:
    """Press ``key`` once its action is enabled (a signing action is disabled while the wallet
    source reconnects) and, with ``status``, once the screen highlights a proposal in that
    status (the store is repainted onto the screen a moment after it changes)."""
    def ready() -> bool:
        selected = app.screen.selected_proposal()
        return app.screen.check_action(action, ()) is True and (
            status is None or (selected is not None and selected.status == status))

    await wait_for(pilot, ready, f"{action} enabled")
    await pilot.press(key)


async def open_governance(pilot, app: AitbcApp) -> None:  # type: ignore[no-untyped-def]
    """The funded client imported (once per module), then the Governance screen with its data."""
    await import_client(pilot, app)
    await pilot.press("8")
    await wait_for(pilot, lambda: app.current_mode == "governance" and app.store.node.gov.loaded,
                   "the governance data")


def test_propose_deposit_and_vote_from_the_screen(gov_net: NodeAndWallet) -> None:
    async def scenario(app: AitbcApp, pilot: Pilot[Any]) -> None:
        await open_governance(pilot, app)
        await wait_for(pilot, lambda: "no proposals yet" in screen_text(app), "the empty list")
        # propose: a param-change with a malformed change is refused in the dialog
        await press_action(pilot, app, "p", "propose")
        await painted_dialog(pilot, app, ProposeDialog, "the propose dialog")
        dialog = app.screen
        dialog.query_one("#kind").value = "param_change"
        dialog.query_one("#title").value = "Raise the minimum fee"
        dialog.query_one("#description").value = "Spam is too cheap."
        dialog.query_one("#changes").value = "min_fee=twenty"
        dialog.query_one("#deposit").value = "40"
        await click(pilot, "#ok")
        await wait_for(pilot, lambda: "NAME=INTEGER, not 'min_fee=twenty'" in screen_text(app), "the refusal")
        dialog.query_one("#changes").value = "min_fee=20"
        await click(pilot, "#ok")
        shown = await confirm_with_password(pilot, app)
        assert "Raise the minimum fee" in shown and "40.000000 AIT" in shown and "'min_fee': 20" in shown
        await wait_notified(pilot, "proposal 'Raise the minimum fee' submitted: block")
        await wait_for(pilot, lambda: [p.status for p in app.store.node.gov.proposals] == ["deposit"],
                       "the proposal collecting deposits")
        proposal_id = app.store.node.gov.proposals[0].id
        assert on_chain(gov_net, proposal_id)["total_deposit"] == 40 * UNIT
        # deposit the rest from the screen: the dialog offers what is missing; voting opens
        await press_action(pilot, app, "d", "deposit", "deposit")
        await painted_dialog(pilot, app, DepositDialog, "the deposit dialog")
        assert app.screen.query_one("#amount").value == "60.000000"
        await click(pilot, "#ok")
        shown = await confirm_with_password(pilot, app)
        assert "60.000000 AIT" in shown
        await wait_notified(pilot, f"deposited 60.000000 AIT on #{proposal_id}")
        await wait_for(pilot, lambda: app.store.node.gov.proposals[0].status == "voting", "the voting period")
        # the Dashboard says the wallet has not voted yet
        await pilot.press("1")
        await wait_for(pilot, lambda: "1 open proposal to vote on" in screen_text(app), "the dashboard line")
        # vote from the screen
        await pilot.press("8")
        await wait_for(pilot, lambda: app.current_mode == "governance", "the governance screen")
        await press_action(pilot, app, "v", "vote", "voting")
        await painted_dialog(pilot, app, PickDialog, "the vote options")
        app.screen.query_one("#choice").value = "yes"
        await click(pilot, "#ok")
        shown = await confirm_with_password(pilot, app)
        assert "Raise the minimum fee" in shown and "yes" in shown and "1,000.000000 AIT bonded" in shown
        await wait_notified(pilot, f"voted yes on #{proposal_id}: block")
        chain = on_chain(gov_net, proposal_id)
        assert [(v["voter"], v["option"]) for v in chain["votes"]] == [(CLIENT.address, "yes")]
        assert chain["tally_so_far"]["yes"] == 1_000 * UNIT
        await wait_for(pilot, lambda: (app.store.node.gov.proposals[0].tally is not None
                                       and app.store.node.gov.proposals[0].tally.yes == 1_000 * UNIT),
                       "the tally on the screen")
        # Enter: the detail with the description and the delegator's vote
        app.screen.query_one("#proposals").focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: "Spam is too cheap." in screen_text(app), "the detail")
        assert "Other voters" in screen_text(app)
        await pilot.press("escape")
        await pilot.press("1")
        await wait_for(pilot, lambda: app.current_mode == "dashboard"
                       and "open proposal" not in screen_text(app), "the dashboard line gone")

    drive(gov_net.home, scenario, SIZE)


COORDINATOR = "0x" + "c0" * 20
NEW_VALIDATOR = {"address": address_from_pubkey(bytes.fromhex("ab" * 32)), "pubkey": "ab" * 32,
                 "commission_bps": 700, "name": "newcomer"}
FORMS = [
    # (action, a bad fill: its input and the refusal, the good fill, the action on chain)
    ("coordinator_update", {"coord-add": "0xnothex"}, "a coordinator to add must be 0x followed by 40",
     {"coord-add": COORDINATOR}, {"kind": "coordinator_update", "add": [COORDINATOR], "remove": []}),
    ("validator_update", {"val-add": f"{NEW_VALIDATOR['address']}:abc:700:newcomer"}, "public key is 64 lower-case hex",
     {"val-add": "{address}:{pubkey}:{commission_bps}:{name}".format(**NEW_VALIDATOR)},
     {"kind": "validator_update", "add": [NEW_VALIDATOR], "remove": []}),
    ("software_upgrade", {"upgrade-name": "v9", "upgrade-version": "nine", "upgrade-height": "500000"},
     "the version is dotted integers such as 0.2.0, not 'nine'",
     {"upgrade-name": "v9", "upgrade-version": "9.0.0", "upgrade-height": "500000"},
     {"kind": "software_upgrade", "name": "v9", "version": "9.0.0", "height": 500_000, "protocol_version": None}),
]


def test_propose_forms_of_the_other_actions(gov_net: NodeAndWallet) -> None:
    """coordinator-update, validator-update and software-upgrade from the dialog: a typo is
    refused on the error line with the field focused, the fixed form is confirmed, signed, and
    the chain holds the action ``aitbc gov propose`` would have built."""
    async def scenario(app: AitbcApp, pilot: Pilot[Any]) -> None:
        await open_governance(pilot, app)
        for kind, bad, refusal, good, action in FORMS:
            title = f"a {kind} from the dialog"
            await press_action(pilot, app, "p", "propose")
            await painted_dialog(pilot, app, ProposeDialog, "the propose dialog")
            dialog = app.screen
            dialog.query_one("#kind").value = kind
            await wait_for(pilot, lambda: dialog.query_one(f"#fields-{kind}").display
                           and not dialog.query_one("#fields-param_change").display, f"the {kind} fields")
            dialog.query_one("#title").value = title
            dialog.query_one("#deposit").value = "1"
            for input_id, text in bad.items():
                dialog.query_one(f"#{input_id}").value = text
            await click(pilot, "#ok")
            await wait_for(pilot, lambda: refusal in screen_text(app), f"the {kind} refusal")
            [bad_input] = [i for i in bad if i not in good or bad[i] != good[i]]
            assert dialog.focused is dialog.query_one(f"#{bad_input}")
            for input_id, text in good.items():
                dialog.query_one(f"#{input_id}").value = text
            await click(pilot, "#ok")
            shown = await confirm_with_password(pilot, app)
            assert title in shown and kind.replace("_", "-") in shown
            await wait_notified(pilot, f"proposal {title!r} submitted: block")
            await wait_for(pilot, lambda: any(p.title == title for p in app.store.node.gov.proposals),
                           f"the {kind} proposal listed")
            [row] = [p for p in app.store.node.gov.proposals if p.title == title]
            chain = on_chain(gov_net, row.id)
            assert chain["action"] == action and chain["total_deposit"] == UNIT and chain["proposer"] == CLIENT.address

    drive(gov_net.home, scenario, SIZE)


# -- pure parts -------------------------------------------------------------------------------------


def test_parse_changes() -> None:
    assert parse_changes(split_list("min_fee=20, quorum_bps = 4000\n")) == {"min_fee": 20, "quorum_bps": 4000}
    for bad in ("", "min_fee", "min_fee=1.5", "=3", "min_fee=20,oops"):
        with pytest.raises(ValueError):
            parse_changes(split_list(bad))


def test_a_new_validator_whose_address_is_not_its_keys_is_refused_before_signing() -> None:
    """The chain would only refuse it at enactment, after the whole vote."""
    good = "{address}:{pubkey}:{commission_bps}:{name}".format(**NEW_VALIDATOR)
    assert build_action("validator_update", {"add_validator": [good]})["add"] == [NEW_VALIDATOR]
    stranger = "0x" + "5a" * 20
    with pytest.raises(ActionError, match=f"the address {stranger} is not the one of public key {'ab' * 32} "
                                          rf"\({NEW_VALIDATOR['address']}\)"):
        build_action("validator_update", {"add_validator": [good.replace(NEW_VALIDATOR["address"], stranger)]})


def test_tally_strip_marks_the_quorum() -> None:
    tally = TallyView(yes=50, no=25, bonded=100, quorum_reached=True)
    strip = tally_strip(tally, quorum_bps=5000, width=8)
    assert strip.plain == "████┃█░░"  # 4 cells yes, 2 no (one under the mark), 2 not voted
    assert strip.spans[4].style == "bold green"
    assert tally_strip(TallyView(bonded=100), 5000, 8).spans[4].style == "bold yellow"
    assert tally_strip(None, 5000).plain == "-"


def test_awaiting_vote_lists_only_voting_proposals_missing_a_wallet() -> None:
    voting = ProposalRow(id=2, title="b", status="voting", votes={"0xa": "yes"})
    gov = GovModel(proposals=[voting, ProposalRow(id=1, title="a", status="deposit")])
    assert [(p.id, missing) for p, missing in gov.awaiting_vote(["0xa", "0xb"])] == [(2, ["0xb"])]
    assert gov.awaiting_vote(["0xa"]) == []


def test_screen_says_why_when_the_node_has_no_governance(tmp_path: Path) -> None:
    from snapshot_data import fixed_store

    from aitbc_tui.config import TuiConfig

    store = fixed_store()
    store.node.gov = GovModel(error="method not found: get_gov")

    async def scenario(app: AitbcApp, pilot: Pilot[Any]) -> None:
        await pilot.press("8")
        await wait_for(pilot, lambda: "governance not available from this node: method not found: get_gov"
                       in screen_text(app), "the reason")
        assert "open proposal" not in screen_text(app)

    drive(lambda: AitbcApp(Home(root=tmp_path / "h"), store=store, live=False, config=TuiConfig(), save_settings=False),
          scenario, SIZE)
