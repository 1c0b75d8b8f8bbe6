"""A passed ``software_upgrade`` on a real node: at or above the version it goes on; older, it
stops before the upgrade height with a message naming the proposal and the version to install,
and refuses to start again (Cosmos x/upgrade's halt)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nodekit import UNIT, account, init_home
from testkit import NodeDaemon

from chain import crypto
from chain.genesis import genesis_state
from daemons.node.init import make_genesis
from daemons.common.version import software_version
from daemons.node.upgrade import halt_reason, version_key

STAKE = 60_000 * UNIT
"""Enough for the delegator alone to reach the 33.4% quorum against the validator's 100,000 AIT."""


def _pass_upgrade(node: NodeDaemon, voter: Any, nonce: int, pid: int, version: str, height: int) -> int:
    """Propose (with the deposit) and vote yes; returns the next nonce."""
    action = {"kind": "software_upgrade", "name": f"upgrade-{pid}", "version": version, "height": height}
    with node.client() as client:
        client.broadcast_tx(voter.tx(nonce, "gov_propose", {"title": f"upgrade to {version}", "action": action,
                                                            "deposit": UNIT}), mode="commit")
        client.broadcast_tx(voter.tx(nonce + 1, "gov_vote", {"proposal_id": pid, "option": "yes"}), mode="commit")
    return nonce + 2


def test_version_order() -> None:
    assert version_key("0.1.0") == version_key("0.1") < version_key("0.1.1") < version_key("0.10.0")
    assert version_key("0.2.0.dev1") == version_key("0.2.0")
    assert version_key(software_version()) >= (0, 1)


def test_old_node_stops_at_the_upgrade_height_and_refuses_to_start(tmp_path: Path) -> None:
    home = tmp_path / "home"
    delegator = account(0, "aitbc-upgrade-test")
    init_home(home, {delegator.address: 200_000 * UNIT})
    genesis_file = home / "genesis.json"
    genesis = json.loads(genesis_file.read_text())
    genesis["params"] = {**genesis["params"], "voting_period": 5, "min_deposit": UNIT}
    genesis_file.write_text(json.dumps(genesis))
    validator = genesis["validators"][0]["address"]
    node = NodeDaemon(home=home).start()
    try:
        with node.client() as client:
            client.broadcast_tx(delegator.tx(0, "stake", {"validator": validator, "amount": STAKE}), mode="commit")
            current = int(client.status()["height"])
        # An upgrade to the version this node runs: it goes on past the height.
        same = current + 5 + 8  # past the 5-block vote
        nonce = _pass_upgrade(node, delegator, 1, 1, software_version(), same)
        node.wait_height(same + 2)
        assert node.running
        # An upgrade to a version it does not run: it stops right before the height.
        with node.client() as client:
            later = int(client.status()["height"]) + 12
        _pass_upgrade(node, delegator, nonce, 2, "99.0.0", later)
        assert node.wait_exit(90) == 0  # a clean shutdown, after the last block it may apply
        output = node.output()
        assert "proposal 2" in output and "Install aitbc 99.0.0" in output and f"height {later}" in output
        # Started again with the same software, it refuses, with the same message.
        node.start(wait=False)
        assert node.wait_exit(90) == 1
        assert node.output().count("Install aitbc 99.0.0") >= 2
    finally:
        node.stop()


def test_halt_reason_reads_the_plan() -> None:
    seed = b"\x01" * 32
    pub = crypto.pubkey_from_seed(seed)
    state = genesis_state(make_genesis("aitbc-dev", [(crypto.address_from_pubkey(pub), pub.hex())]))
    assert halt_reason(state, "0.0.1") is None
    plan = {"name": "u", "version": "1.0.0", "height": 2, "protocol_version": None, "proposal_id": 7}
    planned = state.apply_writes({("meta", "upgrade"): plan})
    assert planned.height + 1 < plan["height"] and halt_reason(planned, "0.9.9") is None  # not yet
    later = planned.apply_writes({("meta", "upgrade"): {**plan, "height": 1}})
    reason = halt_reason(later, "0.9.9")
    assert reason is not None and "proposal 7" in reason and "aitbc 1.0.0" in reason
    assert halt_reason(later, "1.0.0") is None and halt_reason(later, "1.2") is None
