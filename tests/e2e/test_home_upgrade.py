"""A home written by an earlier release (``tests/fixtures/home-5c95266.tar.gz``) opened by this one.

Its databases are migrated in place (versions stamped, backups kept where a step changes
anything); its jobs, receipts, wallets and keys read back intact; its chain's blocks and state are
byte for byte what they were, and the node, which cannot apply protocol 1 blocks, refuses to start
on it in words instead of calling the chain damaged.
"""

from __future__ import annotations

import json
import sqlite3
import tarfile
from pathlib import Path

import pytest
from e2ekit import aitbc, aitbc_json

from keys import Keystore

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "home-5c95266.tar.gz"
JOB = "45c8ed8f92334fa1ab4e40dd73dc238d"
RECEIPT = "0683d8f398962416df03834d9c0885358d6e0fe56c378dc9f268e50cea6ab1d1"


@pytest.fixture()
def old_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    with tarfile.open(FIXTURE) as archive:
        archive.extractall(home, filter="data")
    return home


def _dump(path: Path, *tables: str) -> dict[str, list[tuple]]:  # type: ignore[type-arg]
    with sqlite3.connect(path) as db:
        return {t: db.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in tables}


CHAIN_TABLES = ("blocks", "transactions", "address_txs", "receipts", "state_entries", "chain_head")


def test_old_home_is_migrated_and_everything_reads_back(old_home: Path) -> None:
    node_db, coord_db = old_home / "data" / "node.db", old_home / "data" / "coordinator.db"
    chain_before = _dump(node_db, *CHAIN_TABLES)

    keys_before = _dump(coord_db, "coord_api_keys")["coord_api_keys"]

    outcomes = aitbc_json("home", "migrate", "--home", str(old_home))
    assert {(o["service"], o["component"], o["found"], o["version"]) for o in outcomes} == {
        ("node", "chain", 2, 2), ("coordinator", "coordinator", 1, 2)}
    # The coordinator's step (API keys gain a default max price) ran after a copy of the old file.
    coordinator = next(o for o in outcomes if o["service"] == "coordinator")
    assert coordinator["applied"] == ["API keys get a default max price (coord_api_keys.default_max_price)"]
    backup = Path(coordinator["backup"])
    assert backup.parent == old_home / "backups" and _dump(backup, "coord_api_keys")["coord_api_keys"] == keys_before
    again = aitbc("home", "migrate", "--home", str(old_home)).stdout
    assert "chain schema version 2, current" in again and "coordinator schema version 2, current" in again

    # Every database now names its version and the release that wrote it.
    for path, component, version in ((node_db, "chain", 2), (coord_db, "coordinator", 2)):
        with sqlite3.connect(path) as db:
            row = db.execute("SELECT version, written_by FROM aitbc_schema WHERE component = ?", (component,)).fetchone()
        assert row[0] == version and row[1].startswith("aitbc ")

    # The chain's blocks, transactions, receipts and state rows are untouched.
    assert _dump(node_db, *CHAIN_TABLES) == chain_before
    with sqlite3.connect(node_db) as db:
        assert db.execute("SELECT height FROM chain_head").fetchone() == (1029,)

    # Jobs and receipts, as the coordinator's store reads them.
    from daemons.coordinator.auth import hash_key
    from daemons.coordinator.store import CoordinatorStore
    from storage.database import open_database

    store = CoordinatorStore(open_database(None, coord_db))
    try:
        job = store.get_job(JOB)
        assert job is not None and job.status == "completed" and job.output == "The capital of France is Paris."
        receipt = store.receipt_for_job(JOB)
        assert receipt is not None and receipt.receipt_id == RECEIPT and receipt.status == "settled"
        # Its API keys authenticate as before, with no default max price of their own (the
        # coordinator's applies) until an operator gives them one.
        for name, role in (("client", "client"), ("miner", "miner")):
            api_key = (old_home / "keys" / f"{name}.apikey").read_text().strip()
            record = store.key_by_hash(hash_key(api_key))
            assert record is not None and record.role == role and record.revoked_ms is None
            assert record.default_max_price is None
    finally:
        store.close()

    # The receipt is on the chain, in the block the coordinator recorded.
    with sqlite3.connect(node_db) as db:
        assert db.execute("SELECT height FROM receipts WHERE receipt_id = ?", (RECEIPT,)).fetchone() is not None

    # Wallets and daemon keys open with their passwords.
    wallets = Keystore(old_home / "keys" / "wallets")
    assert sorted(info.name for info in wallets.list()) == ["alice", "client"]
    client_pw = (old_home / "keys" / "client.password").read_text().strip()
    assert wallets.load("client", client_pw).keypair.address == "0x22ac3d808a0e75a484da4260440b529b9a57971f"
    assert wallets.load("alice", "fixture-password-1").keypair.address == "0x811b9cb64b3084470ffbae1d320afdcc8173d5e2"
    daemon_keys = Keystore(old_home / "keys")
    for name in ("validator", "coordinator", "miner"):
        password = (old_home / "keys" / f"{name}.password").read_text().strip()
        assert daemon_keys.load(name, password).keypair.address
    assert json.loads((old_home / "genesis.json").read_text())["chain_id"] == "aitbc-dev"


def test_node_refuses_a_protocol_one_chain_in_words_and_changes_nothing(old_home: Path) -> None:
    node_db = old_home / "data" / "node.db"
    before = _dump(node_db, *CHAIN_TABLES)
    from testkit import free_ports

    rpc, ws = free_ports(2)  # the fixture's config names fixed ports, which another process may hold
    refused = aitbc("node", "start", "--home", str(old_home), "--rpc-port", str(rpc), "--ws-port", str(ws),
                    check=False, timeout=180)
    assert refused.returncode != 0
    message = refused.stderr + refused.stdout
    assert "runs protocol 1" in message and "this release runs protocol 2" in message and "height 1029" in message
    assert "damaged" not in message and "genesis.json is" not in message
    assert _dump(node_db, *CHAIN_TABLES) == before


def test_regenesis_carries_every_unit_into_a_new_chain_that_runs(old_home: Path) -> None:
    from testkit import NodeDaemon

    from chain.genesis import load_genesis

    node_db = old_home / "data" / "node.db"
    chain_before = _dump(node_db, *CHAIN_TABLES)
    with sqlite3.connect(node_db) as db:
        supply = json.loads(db.execute("SELECT value FROM state_entries WHERE namespace = 'meta' AND key = 'supply'")
                            .fetchone()[0])["total"]
        old_balances = {k: json.loads(v)["balance"] for k, v in
                        db.execute("SELECT key, value FROM state_entries WHERE namespace = 'account'")}

    new = aitbc_json("home", "migrate", "--regenesis", "--home", str(old_home))
    assert (new["old_chain_id"], new["old_height"], new["chain_id"]) == ("aitbc-dev", 1029, "aitbc-dev-p2")
    archived = Path(next(a for a in new["archived"] if "/node.db.protocol1." in a))
    assert _dump(archived, *CHAIN_TABLES) == chain_before  # the old chain, archived untouched
    assert not node_db.exists()

    genesis = load_genesis((old_home / "genesis.json").read_bytes())
    assert genesis.hash == new["genesis_hash"] and genesis.params.protocol_version == 2
    carried = sum(a.balance for a in genesis.accounts) + sum(v.stake for v in genesis.validators)
    assert carried + genesis.treasury_balance == supply  # nothing created, nothing lost
    balances = {a.address: a.balance for a in genesis.accounts}
    client = "0x22ac3d808a0e75a484da4260440b529b9a57971f"
    escrowed = 9_999_999_955  # the client's escrow at height 1029, paid back to it
    assert balances[client] == old_balances[client] + escrowed

    # The new chain runs under this release, and its first blocks carry the balances over.
    node = NodeDaemon(home=old_home)
    node.start()
    try:
        node.wait_height(2)
        with node.client() as rpc:
            assert rpc.call("get_balance", address=client)["balance"] == balances[client]
            assert rpc.status()["chain_id"] == "aitbc-dev-p2"
    finally:
        node.stop()

    again = aitbc("home", "migrate", "--regenesis", "--home", str(old_home), check=False)
    assert again.returncode == 1 and "runs protocol 2" in again.stderr
