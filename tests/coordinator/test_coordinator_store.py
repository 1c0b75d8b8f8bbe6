"""The coordinator tables on real databases: SQLite files, and PostgreSQL when
``AITBC_TEST_POSTGRES_URL`` is set (each test in its own schema).

These are the rules several coordinator processes rely on: reservations never exceed escrow,
queue order is fair across clients, a job is claimed by exactly one matcher, lost work is
re-queued and never given back to the miner that lost it, one settler at a time.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from pathlib import Path

import peewee
import pytest

from testkit import postgres_schema
from daemons.coordinator.store import Conflict, CoordinatorStore, InsufficientEscrow
from storage.database import open_database
from storage.errors import SchemaVersionMismatch

MODEL = "m1"
MID = "ab" * 32
Opener = Callable[..., CoordinatorStore]
"""Opens the test's database; ``backup_dir=`` allows migrating it (``storage.schema.open_schema``)."""


@pytest.fixture(params=["sqlite", "postgres"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens the same (initially empty) database as often as asked, like several processes."""
    stores: list[CoordinatorStore] = []
    with nullcontext(None) if request.param == "sqlite" else postgres_schema(tmp_path) as url:
        def open_store(backup_dir: Path | None = None) -> CoordinatorStore:
            stores.append(CoordinatorStore(open_database(url, tmp_path / "coordinator.db"), backup_dir=backup_dir))
            return stores[-1]

        try:
            yield open_store
        finally:
            for store in stores:
                store.close()


def addr(n: int) -> str:
    return "0x" + f"{n:040x}"


def submit(store: CoordinatorStore, client: str, now: int, *, escrow: int = 10**9, price: int = 10,
           job_id: str | None = None) -> str:
    job_id = job_id or uuid.uuid4().hex
    store.submit_job(job_id=job_id, client=client, model=MODEL, prompt="p", params={"max_tokens": 4},
                     max_price=price, escrow=escrow, escrow_height=0, now_ms=now)
    return job_id


def miner(store: CoordinatorStore, n: int, now: int, *, capacity: int = 1, price: int = 10, bond: int = 100) -> str:
    address = addr(1000 + n)
    store.register_miner(address, "cd" * 32, {MODEL: MID}, capacity, price, [], 0, now)
    store.set_bond(address, bond, now)
    return address


def assign(store: CoordinatorStore, now: int) -> list[tuple[str, str, str]]:
    done = store.assign(now_ms=now, live_since_ms=now - 10_000, min_bond=100, deadline_ms=now + 60_000)
    return [(a.kind, a.job_id, a.miner) for a in done]


def test_reservations_never_exceed_escrow_and_cancel_releases(opener: Opener) -> None:
    store = opener()
    client = addr(1)
    first = submit(store, client, 1, escrow=25, price=10)
    submit(store, client, 2, escrow=25, price=10)
    with pytest.raises(InsufficientEscrow) as refused:
        submit(store, client, 3, escrow=25, price=10)
    assert refused.value.available == 5
    assert store.reserved(client, 0) == 20
    assert len(store.list_jobs(client)) == 2, "a refused job leaves nothing behind"
    store.cancel_job(first, client, 4)
    assert store.reserved(client, 0) == 10
    submit(store, client, 5, escrow=25, price=10)
    with pytest.raises(Conflict):
        store.cancel_job(first, client, 6)
    with pytest.raises(KeyError):
        store.cancel_job(first, addr(2), 6)


def test_concurrent_submissions_never_over_reserve_a_small_escrow(opener: Opener) -> None:
    """Submissions racing for one client's escrow, from several connections (as several
    processes) and several threads on each (as one process's API workers): exactly as many
    succeed as the escrow affords, and what is reserved is exactly their max prices."""
    stores = [opener() for _ in range(3)]
    client, price, affordable = addr(7), 10, 7
    escrow = affordable * price + price - 1  # not quite enough for one more
    accepted: list[str] = []
    refused: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(len(stores) * 3)

    def work(store: CoordinatorStore) -> None:
        start.wait()
        try:
            for _ in range(4):
                try:
                    accepted.append(submit(store, client, 1, escrow=escrow, price=price))
                except InsufficientEscrow as exc:
                    refused.append(exc.available)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(store,)) for store in stores for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(accepted) == affordable and len(refused) == 4 * len(threads) - affordable
    assert set(refused) == {price - 1}, "each refusal saw every accepted job's reservation"
    assert stores[0].reserved(client, 0) == affordable * price
    assert sorted(j.job_id for j in stores[1].list_jobs(client)) == sorted(accepted)


def test_a_submission_answers_the_record_it_wrote(opener: Opener) -> None:
    """``submit_job`` builds its answer from the row it inserted instead of reading it back:
    that answer must be exactly what the database holds."""
    store = opener()
    client = addr(1)
    submit(store, client, 1, price=7)
    written = store.submit_job(job_id="j2", client=client, model=MODEL, prompt="p\u00e9 \u2603",
                               params={"max_tokens": 4, "temperature": 0.5}, max_price=9, escrow=10**9,
                               escrow_height=0, now_ms=3)
    assert written == store.get_job("j2")
    assert written.fair_key == 2 and written.status == "queued"


def test_settled_receipts_stay_reserved_until_the_escrow_read_sees_them(opener: Opener) -> None:
    store = opener()
    client = addr(1)
    m = miner(store, 1, 1)
    job = submit(store, client, 1, price=50)
    assert assign(store, 2) == [("run", job, m)]
    store.take_tasks(m, 1, 3)
    assert store.record_result(job, m, output="o", prompt_tokens=1, completion_tokens=1, proof={"x": 1}, now_ms=4)
    assert store.complete_job(job, m, receipt_id="r" * 64, receipt={"r": 1}, price=30, now_ms=5)
    assert store.reserved(client, 0) == 30, "completed: the receipt's price replaces the max price"
    store.begin_settlement("t" * 64, "receipts", 0, ["r" * 64], 6)
    store.settlement_committed("t" * 64, 12, 7)
    assert store.reserved(client, 11) == 30, "an escrow read before height 12 has not paid it yet"
    assert store.reserved(client, 12) == 0


def test_queue_is_round_robin_across_clients_oldest_first(opener: Opener) -> None:
    """A flood from one client does not starve another, and a newcomer joins the current round
    instead of the back of the queue. (Pure FIFO would give a0 a1 a2 a3 b0 b1 c0.)"""
    store = opener()
    for i in range(4):
        submit(store, addr(1), 10 + i, job_id=f"a{i}")
    for i in range(2):
        submit(store, addr(2), 20 + i, job_id=f"b{i}")
    m = miner(store, 1, 0, capacity=1)
    order: list[str] = []
    for step in range(7):
        now = 100 + step * 10
        ((_, job_id, _),) = assign(store, now)
        order.append(job_id)
        store.take_tasks(m, 1, now + 1)
        store.cancel_job(job_id, None, now + 2)  # done with it: the next one may come
        if step == 1:
            submit(store, addr(3), now + 5, job_id="c0")
    assert order == ["a0", "b0", "a1", "b1", "c0", "a2", "a3"]


def test_each_job_goes_to_one_matcher_among_many(opener: Opener) -> None:
    """Several matchers (own connections, as separate processes) race over one queue."""
    stores = [opener() for _ in range(4)]
    jobs = [submit(stores[0], addr(1 + i % 3), i) for i in range(60)]
    miners = [miner(stores[0], n, 0, capacity=5) for n in range(12)]
    results: list[list[tuple[str, str, str]]] = [[] for _ in stores]
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for round_ in range(30):
                results[i] += assign(stores[i], 1000 + round_)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assigned = [job for r in results for (_, job, _) in r]
    assert len(assigned) == len(set(assigned)), "a job was assigned twice"
    assert set(assigned) == set(jobs)
    per_miner: dict[str, int] = {}
    for r in results:
        for _, _, m in r:
            per_miner[m] = per_miner.get(m, 0) + 1
    assert set(per_miner) <= set(miners)
    assert max(per_miner.values()) <= 5, "a miner got more tasks than its capacity"


def test_lost_work_is_requeued_elsewhere_then_failed(opener: Opener) -> None:
    store = opener()
    job = submit(store, addr(1), 0)
    first = miner(store, 1, 0, price=1)
    second = miner(store, 2, 0, price=2)
    assert assign(store, 1) == [("run", job, first)], "the cheaper miner first"
    store.take_tasks(first, 1, 2)
    store.touch_miner(second, 9_000)
    expired = store.expire(now_ms=9_000, live_since_ms=5_000, max_attempts=2, queue_timeout_ms=10**9,
                           verify_wait_ms=10**9)
    assert expired.requeued == [job]
    assert store.get_job(job).excluded == [first]
    assert assign(store, 9_001) == [("run", job, second)], "never back to the miner that lost it"
    store.take_tasks(second, 1, 9_002)
    assert store.requeue_job(job, second, error="boom", max_attempts=2, now_ms=9_003) == "failed"
    failed = store.get_job(job)
    assert failed.status == "failed" and "boom" in (failed.error or "")
    assert store.reserved(addr(1), 0) == 0
    assert store.get_miner(second).failed == 1


def test_a_miner_reporting_no_free_slot_gets_no_work(opener: Opener) -> None:
    """A miner still loading its model (or draining) reports 0 free slots: matching respects it,
    on top of its capacity and the tasks it already holds."""
    store = opener()
    loading = miner(store, 1, 0, capacity=2)
    jobs = sorted([submit(store, addr(1), 1, job_id="a"), submit(store, addr(2), 1, job_id="b")])
    store.touch_miner(loading, 2, free_slots=0)
    assert assign(store, 3) == [], "no free slot reported: no task"
    store.touch_miner(loading, 4, free_slots=1)
    first = assign(store, 5)
    assert len(first) == 1 and first[0][2] == loading, "one free slot: one task, capacity notwithstanding"
    assert assign(store, 6) == []
    store.touch_miner(loading, 7, free_slots=2)  # one free besides the one it runs
    second = assign(store, 8)
    assert len(second) == 1 and sorted([first[0][1], second[0][1]]) == jobs
    assert store.get_miner(loading).open_slots == 0


def test_a_released_task_is_requeued_without_penalty(opener: Opener) -> None:
    """A graceful hand-back: back in the queue at once, no failure counted, the attempt not used
    up, the miner not excluded, and no new work for it until it reports free slots again."""
    store = opener()
    job = submit(store, addr(1), 0)
    leaving = miner(store, 1, 0, price=1)
    assert assign(store, 1) == [("run", job, leaving)]
    store.take_tasks(leaving, 1, 2)
    assert store.release_job(job, addr(999), 3) is False, "only the miner holding it may release it"
    assert store.release_job(job, leaving, 3) is True
    released = store.get_job(job)
    assert released.status == "queued" and released.miner is None and released.attempts == 0
    assert released.excluded == [] and released.error is None
    assert store.get_miner(leaving).failed == 0
    assert store.release_job(job, leaving, 4) is False, "released once"
    assert assign(store, 5) == [], "the leaving miner reported no room since"
    store.touch_miner(leaving, 6, free_slots=1)
    assert assign(store, 7) == [("run", job, leaving)], "a restarted miner may take it again"


def test_recheck_goes_to_a_different_clean_miner_and_rejection_slashes(opener: Opener) -> None:
    store = opener()
    job = submit(store, addr(1), 0)
    runner = miner(store, 1, 0, price=1)
    assert assign(store, 1) == [("run", job, runner)]
    store.take_tasks(runner, 1, 2)
    store.record_result(job, runner, output="o", prompt_tokens=1, completion_tokens=1, proof={"p": 1}, now_ms=3,
                        verify=(MODEL, MID))
    assert assign(store, 4) == [], "only the runner is live: nobody may re-check it"
    verifier = miner(store, 2, 4, price=5)
    assert assign(store, 5) == [("verify", job, verifier)]
    runs, checks = store.take_tasks(verifier, 4, 6)
    assert not runs and [c.job_id for c, _ in checks] == [job]
    status = store.reject_result(job, runner, verifier, evidence={"kind": "wrong_result"}, reason="bad",
                                 max_attempts=3, now_ms=7)
    assert status == "queued"
    assert store.get_miner(runner).slashed == 1
    assert [s.miner for s in store.pending_slashes()] == [runner]
    assert assign(store, 8) == [("run", job, verifier)]


def test_one_settler_at_a_time(opener: Opener) -> None:
    one, two = opener(), opener()
    assert one.hold_lease("settler", "a", 0, 1000)
    assert not two.hold_lease("settler", "b", 500, 1000)
    assert one.hold_lease("settler", "a", 900, 1000), "the holder renews"
    assert two.hold_lease("settler", "b", 2000, 1000), "a lapsed lease is taken over"
    assert not one.hold_lease("settler", "a", 2100, 1000)


def test_keys_are_found_by_hash_and_revoked_once(opener: Opener) -> None:
    store = opener()
    store.add_key("k1", "h" * 64, "client", addr(1), "label", 5)
    assert store.key_by_hash("h" * 64).address == addr(1)
    assert store.revoke_key("k1", 6)
    assert not store.revoke_key("k1", 7)
    assert store.key_by_hash("h" * 64).revoked_ms == 6
    with pytest.raises(peewee.IntegrityError):
        store.add_key("k2", "h" * 64, "client", addr(1), "", 8)


def test_a_version_one_database_gains_key_default_max_prices_and_keeps_its_keys(opener: Opener,
                                                                                tmp_path: Path) -> None:
    """Schema version 2 adds ``coord_api_keys.default_max_price``: a version 1 database (made here
    by taking the column away again) is refused until migration is allowed, then migrated: after
    a backup of the SQLite file, in one transaction on PostgreSQL; its keys keep working."""
    old = opener()
    old.add_key("k1", "h" * 64, "client", addr(1), "from v1", 5)
    old.database.execute_sql("ALTER TABLE coord_api_keys DROP COLUMN default_max_price")
    old.database.execute_sql("UPDATE aitbc_schema SET version = 1 WHERE component = 'coordinator'")
    old.close()
    with pytest.raises(SchemaVersionMismatch, match="version 1, this software reads version 2"):
        opener()
    store = opener(backup_dir=tmp_path / "backups")
    assert (store.schema.found, store.schema.version) == (1, 2)
    assert store.schema.applied == ("API keys get a default max price (coord_api_keys.default_max_price)",)
    sqlite = isinstance(store.database, peewee.SqliteDatabase)
    assert (store.schema.backup is not None) == sqlite
    key = store.key_by_hash("h" * 64)
    assert key is not None and (key.label, key.default_max_price) == ("from v1", None)
    assert store.set_key_max_price("k1", 7_000) and not store.set_key_max_price("nokey", 1)
    assert opener().get_key("k1") == key.model_copy(update={"default_max_price": 7_000})
    assert store.revoke_key("k1", 9) and not store.set_key_max_price("k1", None), "a revoked key stays as it was"
    assert store.get_key("k1").default_max_price == 7_000  # type: ignore[union-attr]
