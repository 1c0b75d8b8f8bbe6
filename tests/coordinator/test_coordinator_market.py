"""The market's rules as pure functions, without a database: who gets which task and in what
order, when work is taken back and with what reason, what a job costs.

The store applies these answers under its locks (``test_coordinator_store`` checks that on
SQLite and PostgreSQL); here each rule is pinned down on plain values.
"""

from __future__ import annotations

import pytest

from daemons.coordinator.market import (
    LATE, LOST, Assignment, Candidate, QueuedCheck, QueuedJob, job_price, may_run, may_verify, open_slots, overdue,
    plan, rank, ranked, rejected, reputation, retry, served,
)
from daemons.coordinator.models import ACTIVE, BUSY, FINAL, JobStatus

MID = "ab" * 32
OTHER_MID = "cd" * 32


def miner(address: str, *, price: int = 10, free: int = 1, models: dict[str, str] | None = None, mem: int = 0,
          completed: int = 0, failed: int = 0, slashed: int = 0) -> Candidate:
    return Candidate(address=address, price_per_1k=price, free_gpu_mem_mb=mem, completed=completed, failed=failed,
                     slashed=slashed, models={"m1": MID} if models is None else models, free=free)


def job(job_id: str, model: str = "m1", excluded: tuple[str, ...] = ()) -> QueuedJob:
    return QueuedJob(job_id=job_id, model=model, excluded=frozenset(excluded))


def check(job_id: str, runner: str, model_id: str = MID, excluded: tuple[str, ...] = ()) -> QueuedCheck:
    return QueuedCheck(job_id=job_id, model="m1", model_id=model_id, runner=runner, excluded=frozenset(excluded))


def test_the_life_cycle_sets() -> None:
    assert list(JobStatus) == ["queued", "assigned", "running", "completed", "failed", "cancelled"]
    assert ACTIVE == {"queued", "assigned", "running"} and BUSY == {"assigned", "running"}
    assert FINAL == {"completed", "failed", "cancelled"} and not ACTIVE & FINAL


# -- order ------------------------------------------------------------------------------------------


def test_cheapest_first_then_free_memory_then_reputation_then_address() -> None:
    cheap = miner("0xc", price=5)
    roomy = miner("0xr", price=10, mem=80_000)
    trusted = miner("0xt", price=10, completed=50)
    plain_b = miner("0xb", price=10)
    plain_a = miner("0xa", price=10)
    assert [c.address for c in sorted([plain_b, trusted, roomy, plain_a, cheap], key=rank)] == [
        "0xc", "0xr", "0xt", "0xa", "0xb"]


def test_one_proven_wrong_result_weighs_as_ten_failures() -> None:
    assert reputation(completed=20, failed=0, slashed=1) == reputation(completed=20, failed=10, slashed=0) == 10
    assert rank(miner("0xa", completed=20, slashed=1)) > rank(miner("0xb", completed=20, failed=9))


def test_jobs_go_in_the_given_queue_order_to_the_best_miner_with_room() -> None:
    best, second = miner("0xbest", price=1, free=2), miner("0xsecond", price=2, free=1)
    done = plan([second, best], [], [job("j1"), job("j2"), job("j3"), job("j4")])
    assert done == [Assignment("run", "j1", "0xbest"), Assignment("run", "j2", "0xbest"),
                    Assignment("run", "j3", "0xsecond")]


def test_rechecks_are_served_before_jobs() -> None:
    runner, verifier = miner("0xrunner", price=1), miner("0xverifier", price=2)
    done = plan([runner, verifier], [check("done-job", runner="0xrunner")], [job("j1"), job("j2")])
    assert done == [Assignment("verify", "done-job", "0xverifier"), Assignment("run", "j1", "0xrunner")]


def test_a_job_goes_only_to_a_miner_serving_its_model() -> None:
    other = miner("0xother", price=1, models={"m2": MID})
    serving = miner("0xserving", price=9)
    assert plan([other, serving], [], [job("j1")]) == [Assignment("run", "j1", "0xserving")]
    assert plan([other], [], [job("j1")]) == []
    assert served([other, serving]) == ["m1", "m2"]


def test_excluded_miners_do_not_get_the_job_again() -> None:
    lost, fresh = miner("0xlost", price=1), miner("0xfresh", price=5)
    assert plan([lost, fresh], [], [job("j1", excluded=("0xlost",))]) == [Assignment("run", "j1", "0xfresh")]
    assert plan([lost], [], [job("j1", excluded=("0xlost",)), job("j2")]) == [Assignment("run", "j2", "0xlost")]
    assert not may_run(lost, job("j1", excluded=("0xlost",)))


def test_free_slots_bound_what_a_miner_gets() -> None:
    assert open_slots(capacity=4, usable=4, active=1) == 3
    assert open_slots(capacity=4, usable=0, active=0) == 0  # loading a model, or draining: no new work
    assert open_slots(capacity=2, usable=8, active=0) == 2  # never above the registered capacity
    full, loading = miner("0xfull", free=0), miner("0xloading", free=open_slots(2, 0, 0))
    assert ranked([full, loading]) == [] and plan([full, loading], [check("c", "0xr")], [job("j1")]) == []
    one = miner("0xone", free=1)
    assert plan([one], [], [job("j1"), job("j2")]) == [Assignment("run", "j1", "0xone")]


def test_a_miner_without_models_is_no_candidate() -> None:
    assert ranked([miner("0xbare", models={})]) == []


# -- re-checks --------------------------------------------------------------------------------------


def test_the_runner_never_rechecks_itself() -> None:
    runner = miner("0xrunner")
    assert plan([runner], [check("c1", runner="0xrunner")], []) == []
    assert not may_verify(runner, model="m1", model_id=MID, runner="0xrunner")


def test_a_slashed_miner_rechecks_nobody_but_may_still_run_jobs() -> None:
    slashed = miner("0xslashed", price=1, free=2, slashed=1)
    honest = miner("0xhonest", price=5)
    done = plan([slashed, honest], [check("c1", runner="0xrunner")], [job("j1")])
    assert done == [Assignment("verify", "c1", "0xhonest"), Assignment("run", "j1", "0xslashed")]
    assert plan([slashed], [check("c1", runner="0xrunner")], []) == []


def test_a_recheck_needs_the_same_model_id() -> None:
    other_weights = miner("0xother", price=1, models={"m1": OTHER_MID})
    same = miner("0xsame", price=5)
    assert plan([other_weights, same], [check("c1", runner="0xr")], []) == [Assignment("verify", "c1", "0xsame")]
    assert plan([other_weights], [check("c1", runner="0xr")], []) == []


def test_a_verifier_that_failed_the_recheck_does_not_get_it_again() -> None:
    failed, fresh = miner("0xfailed", price=1), miner("0xfresh", price=5)
    assert plan([failed, fresh], [check("c1", runner="0xr", excluded=("0xfailed",))], []) == [
        Assignment("verify", "c1", "0xfresh")]


def test_plan_is_a_pure_function_of_its_inputs() -> None:
    candidates, jobs = [miner("0xa", free=1)], [job("j1"), job("j2")]
    assert plan(candidates, [], jobs) == plan(candidates, [], jobs) == [Assignment("run", "j1", "0xa")]


# -- taking work back -------------------------------------------------------------------------------


def test_overdue_reasons() -> None:
    dead = {"0xdead"}
    assert overdue("0xdead", None, dead, now_ms=1000) == LOST == "miner stopped heart-beating"
    assert overdue("0xdead", 10, dead, now_ms=1000) == LOST  # lost wins over late: that is what happened
    assert overdue(None, None, dead, now_ms=1000) == LOST
    assert overdue("0xlive", 999, dead, now_ms=1000) == LATE == "miner missed the job deadline"
    assert overdue("0xlive", 1000, dead, now_ms=1000) is None  # the deadline itself is still in time
    assert overdue("0xlive", None, dead, now_ms=1000) is None


def test_retry_requeues_without_the_miner_until_attempts_run_out() -> None:
    again = retry(attempts=1, max_attempts=3, excluded=["0xb"], miner="0xa", error=LOST)
    assert (again.status, again.error, again.excluded) == (JobStatus.QUEUED, LOST, ["0xa", "0xb"])
    given_up = retry(attempts=3, max_attempts=3, excluded=[], miner="0xa", error=LATE)
    assert given_up.status == JobStatus.FAILED
    assert given_up.error == "miner missed the job deadline; gave up after 3 attempt(s)"
    assert retry(attempts=1, max_attempts=3, excluded=["0xa"], miner=None, error="x").excluded == ["0xa"]


def test_a_refuted_result_says_so() -> None:
    assert rejected("token 3 differs") == "result rejected by re-check: token 3 differs"


# -- prices -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("prompt", "completion", "rate", "max_price", "expected"), [
    (600, 400, 2000, 10**9, 2000),   # 1000 tokens at 2000 per 1k
    (1, 0, 2000, 10**9, 2),          # rounded up to a whole unit
    (1, 1, 0, 10**9, 1),             # never zero: the chain settles positive amounts
    (5000, 5000, 1000, 7000, 7000),  # never above the client's max price
])
def test_job_price(prompt: int, completion: int, rate: int, max_price: int, expected: int) -> None:
    assert job_price(prompt, completion, rate, max_price) == expected
