"""Receipts on a real node with job ids scoped to their coordinator: a rival coordinator that
settles the same job id first (it saw the honest receipt in the mempool) blocks nothing, and
``get_receipt`` plus ``chain.receipt_verify`` still prove each receipt from chain data alone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nodekit import CHAIN_ID, UNIT, account, init_home
from testkit import NodeDaemon, temp_root

from chain.encoding import sha256
from chain.receipt import ProofBody, Receipt, ReceiptBody, sign_proof, sign_receipt
from chain.receipt_verify import verify_settled_receipt
from daemons.node.client import NodeRpcError

COORD, RIVAL, CLIENT, RIVAL_CLIENT, MINER, RIVAL_MINER = (account(i, "aitbc-receipt-test") for i in range(6))
BOND = 1000 * UNIT


@pytest.fixture(scope="module")
def node() -> Iterator[NodeDaemon]:
    with temp_root("aitbc-rcpt-") as root:
        home = root / "h"
        funded = {a.address: 2 * BOND for a in (COORD, RIVAL, CLIENT, RIVAL_CLIENT, MINER, RIVAL_MINER)}
        init_home(home, funded, extra=("--coordinator", COORD.address, "--coordinator", RIVAL.address))
        running = NodeDaemon(home=home)
        running.start()
        try:
            yield running
        finally:
            running.stop()


def receipt(job_id: str, coordinator, client, miner, price: int) -> Receipt:
    label = f"{coordinator.address}/{job_id}".encode()
    proof = sign_proof(ProofBody(
        chain_id=CHAIN_ID, job_id=job_id, coordinator=coordinator.address, miner=miner.address, model="smollm2",
        model_id=sha256(b"weights").hex(), params_hash=sha256(b"params").hex(), prompt_hash=sha256(label).hex(),
        output_hash=sha256(b"out" + label).hex(), prompt_tokens=3, completion_tokens=5), miner.seed)
    return sign_receipt(ReceiptBody(proof=proof, client=client.address, coordinator=coordinator.address,
                                    price=price, created_ms=1), coordinator.seed)


def test_a_rivals_front_run_blocks_nothing_and_both_receipts_verify(node: NodeDaemon) -> None:
    with node.client() as c:
        for tx in (MINER.tx(0, "miner_bond", {"amount": BOND}), RIVAL_MINER.tx(0, "miner_bond", {"amount": BOND}),
                   CLIENT.tx(0, "escrow_deposit", {"coordinator": COORD.address, "amount": 10 * UNIT}),
                   RIVAL_CLIENT.tx(0, "escrow_deposit", {"coordinator": RIVAL.address, "amount": 10 * UNIT})):
            c.broadcast_tx(tx, mode="sync")
        honest = receipt("job-1", COORD, CLIENT, MINER, UNIT)
        rival = receipt("job-1", RIVAL, RIVAL_CLIENT, RIVAL_MINER, UNIT // 2)
        # The rival's receipt for the same job id reaches the mempool first.
        c.broadcast_tx(RIVAL.tx(0, "job_receipt", {"receipts": [rival.to_dict()]}), mode="commit", timeout_s=30)
        c.broadcast_tx(COORD.tx(0, "job_receipt", {"receipts": [honest.to_dict()]}), mode="commit", timeout_s=30)
        assert c.get_account(MINER.address)["miner"]["jobs"] == 1

        # A bare job id now names two jobs: the node says so instead of picking one.
        with pytest.raises(NodeRpcError) as ambiguous:
            c.get_receipt(job_id="job-1")
        assert ambiguous.value.code == -32602 and "give coordinator" in ambiguous.value.message
        for coordinator, expected in ((COORD, honest), (RIVAL, rival)):
            data = c.get_receipt(job_id="job-1", coordinator=coordinator.address)
            assert data["receipt_id"] == expected.receipt_id and data["final"]
            verified = verify_settled_receipt(data, job_id="job-1", coordinator=coordinator.address, chain_id=CHAIN_ID)
            assert verified.valid, verified.failures
            assert verify_settled_receipt(c.get_receipt(receipt_id=expected.receipt_id)).valid
        # Asking for the honest coordinator's job and being shown the rival's is caught.
        shown = c.get_receipt(job_id="job-1", coordinator=RIVAL.address)
        assert [f.name for f in verify_settled_receipt(shown, coordinator=COORD.address).failures] == ["coordinator"]
        with pytest.raises(NodeRpcError) as missing:
            c.get_receipt(job_id="job-2", coordinator=COORD.address)
        assert missing.value.code == -32004 and COORD.address in missing.value.message
        for bad in ({"id": honest.receipt_id, "coordinator": COORD.address}, {"job_id": "job-1", "coordinator": "0xABC"}):
            with pytest.raises(NodeRpcError) as refused:
                c.call("get_receipt", **bad)
            assert refused.value.code == -32602, bad
