"""The miner daemon's parts without a model or a network: settings from ``[mining]``, the key
and API key files, the task journal across "restarts", and the proofs and verdicts a task
produces (checked with the coordinator's own proof rules)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from chain import crypto
from chain.receipt import MinerProof, ProofBody, sign_proof
from chain.receipt_verify import params_hash, proof_mismatch, text_hash
from chain.verdict import SignedVerdict, evidence_problem
from daemons.common.home import Home
from daemons.common.settings import SettingsError
from daemons.miner import tasks as t
from daemons.miner.inference import GenerationParams, GenerationResult, VerificationResult
from daemons.miner.init import init_miner, read_api_key, unlock_miner_key, write_api_key
from daemons.miner.journal import JournalEntry, TaskJournal
from daemons.miner.settings import load_miner_settings
from daemons.common.daemon_key import InitError

MODEL_ID = "ab" * 32
COORDINATOR = crypto.address_from_pubkey(crypto.pubkey_from_seed(b"c" * 32))
PARAMS = {"max_tokens": 16, "temperature_milli": 0, "top_p_milli": 1000, "seed": 0}


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_init_writes_the_seed_mining_table_and_a_private_key(tmp_path: Path) -> None:
    from daemons.common.logging import configure_audit

    home = Home(root=tmp_path / "h")
    result = init_miner(home, scrypt_n=1024, config={"capacity": 2, "price_per_1k_tokens": 5})
    text = home.config_file.read_text()
    assert "[mining]" in text and "stake_amount = 10000" in text and "compute_enabled = true" in text
    settings = load_miner_settings(home)
    assert (settings.stake_amount, settings.compute_enabled, settings.gpu_devices) == (10_000, True, [0])
    assert (settings.capacity, settings.price_per_1k_tokens, settings.key) == (2, 5, result.address)
    assert settings.stake_units == 10_000 * 10**6
    assert settings.coordinator_target == str(home.socket("coordinator"))
    assert _mode(result.password_file) == 0o600 and _mode(home.keys_dir) == 0o700
    assert result.password_file.read_text() not in text
    configure_audit("miner", home)
    address, seed = unlock_miner_key(settings)
    assert address == result.address == crypto.address_from_pubkey(crypto.pubkey_from_seed(seed))
    with pytest.raises(InitError, match="already has a miner key"):
        init_miner(home, scrypt_n=1024)


def test_bad_mining_values_are_refused_naming_field_and_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = Home(root=tmp_path / "h")
    with pytest.raises(Exception, match="gpu_devices"):
        init_miner(home, config={"gpu_devices": [0, 0]})
    assert not home.config_file.exists() and not (home.keys_dir / "miner.password").exists()
    home.ensure()
    home.config_file.write_text("[mining]\nstake_amount = -5\n")
    with pytest.raises(SettingsError, match=r"\[mining\]\.stake_amount"):
        load_miner_settings(home)
    home.config_file.write_text("[mining]\nmodels = ['SmolLM2']\n")
    with pytest.raises(SettingsError, match="invalid model name"):
        load_miner_settings(home)
    home.config_file.write_text("[mining]\ncapacity = 3\n")
    monkeypatch.setenv("AITBC_CAPACITY", "4")
    assert load_miner_settings(home).capacity == 4  # environment beats the file


def test_api_key_file_is_private_and_read_back(tmp_path: Path) -> None:
    home = Home(root=tmp_path / "h")
    path = write_api_key(home, "  aitbc_0123456789ab_" + "x" * 43 + "\n")
    assert _mode(path) == 0o600
    settings = load_miner_settings(home)
    assert read_api_key(settings) == "aitbc_0123456789ab_" + "x" * 43
    with pytest.raises(InitError, match="one word"):
        write_api_key(home, "two words")
    missing = load_miner_settings(home, coordinator_api_key_file=str(tmp_path / "nope"))
    with pytest.raises(InitError, match="does not exist"):
        read_api_key(missing)


def _task(task_id: str = "job1", kind: str = "run", **extra: object) -> dict[str, object]:
    return {"task_id": task_id, "kind": kind, "job_id": task_id.split(":")[0], "model": "smollm2",
            "prompt": "What is the capital of France?", "params": dict(PARAMS), "deadline_ms": 10**13, **extra}


def test_journal_survives_restarts_and_requeues_interrupted_work(tmp_path: Path) -> None:
    path = tmp_path / "data" / "miner-tasks.json"
    journal = TaskJournal(path)
    assert journal.load() == []
    journal.put(JournalEntry(task=_task("a"), received_ms=1))
    journal.put(JournalEntry(task=_task("b"), received_ms=2, state="running", started_ms=3))
    journal.put(JournalEntry(task=_task("c"), received_ms=3, state="done", result={"error": "x"}, outcome="failed"))
    assert _mode(path) == 0o600

    again = TaskJournal(path)
    restored = {e.task_id: e for e in again.load()}
    assert restored["a"].state == "queued"
    assert restored["b"].state == "queued" and restored["b"].started_ms is None  # to be run again
    assert restored["c"].state == "done" and restored["c"].result == {"error": "x"}  # to be delivered
    assert all(e.restarts == 1 for e in restored.values())
    assert [e.task_id for e in again.in_state("queued")] == ["a", "b"]
    again.remove("a")
    assert [e["task"]["task_id"] for e in json.loads(path.read_text())["entries"]] == ["b", "c"]


def test_unreadable_journal_is_moved_aside_not_deleted(tmp_path: Path) -> None:
    path = tmp_path / "miner-tasks.json"
    path.write_text("{not json")
    assert TaskJournal(path).load() == []
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("miner-tasks.json.corrupt-")]
    assert len(aside) == 1 and aside[0].read_text() == "{not json"


def test_job_parameters_become_decoding_parameters() -> None:
    gp = t.generation_params({"max_tokens": 64, "temperature_milli": 700, "top_p_milli": 900, "seed": 42})
    assert (gp.max_tokens, gp.temperature, gp.top_p, gp.seed, gp.chat) == (64, 0.7, 0.9, 42, True)
    assert t.generation_params(PARAMS).greedy
    with pytest.raises(t.TaskRefused, match="unknown job parameter"):
        t.generation_params({**PARAMS, "top_k": 5})
    with pytest.raises(t.TaskRefused, match="temperature"):
        t.generation_params({**PARAMS, "temperature_milli": 5})  # 0.005: neither greedy nor a usable temperature
    assert t.generation_params({**PARAMS, "stop": ["\n", "END"]}).stop == ("\n", "END")
    assert t.generation_params(PARAMS).stop == ()
    for bad, why in (("END", "list of strings"), (["x" * 65], "at most 64"), ([""], "at least 1"), (["a"] * 5, "at most 4")):
        with pytest.raises(t.TaskRefused, match=why):
            t.generation_params({**PARAMS, "stop": bad})


def _generation(text: str = "The capital of France is Paris.") -> GenerationResult:
    return GenerationResult(model_id="sha256:" + MODEL_ID, text=text, output_token_ids=[1, 2, 3, 2],
                            prompt_text="<prompt>", prompt_token_ids=[7] * 37, prompt_tokens=37, completion_tokens=4,
                            finish_reason="stop", params=GenerationParams(max_tokens=16))


def test_run_result_carries_a_proof_the_coordinator_accepts() -> None:
    seed = crypto.generate_seed()
    miner = crypto.address_from_pubkey(crypto.pubkey_from_seed(seed))
    task = _task()
    body = t.run_result(task, _generation(), chain_id="aitbc-dev", coordinator=COORDINATOR, miner=miner, seed=seed)
    proof = MinerProof.model_validate(body["proof"])
    assert proof.is_valid()
    assert proof.body.model_id == MODEL_ID  # bare hex, as the chain's Hash type wants
    assert proof.body.params_hash == params_hash(PARAMS) and proof.body.output_hash == text_hash(body["output"])
    assert (body["prompt_tokens"], body["completion_tokens"]) == (37, 4)
    assert proof.body.coordinator == COORDINATOR
    assert proof_mismatch(proof, chain_id="aitbc-dev", job_id="job1", coordinator=COORDINATOR, miner=miner,
                          model="smollm2", params=PARAMS, prompt=str(task["prompt"]), output=body["output"],
                          prompt_tokens=37, completion_tokens=4, model_id=MODEL_ID) is None


def _verify_task(output: str, **proof_fields: object) -> tuple[dict[str, object], bytes]:
    seed = crypto.generate_seed()
    miner = crypto.address_from_pubkey(crypto.pubkey_from_seed(seed))
    fields = {"chain_id": "aitbc-dev", "job_id": "job1", "coordinator": COORDINATOR, "miner": miner,
              "model": "smollm2", "model_id": MODEL_ID,
              "params_hash": params_hash(PARAMS), "prompt_hash": text_hash("What is the capital of France?"),
              "output_hash": text_hash(output), "prompt_tokens": 37, "completion_tokens": 8}
    fields.update(proof_fields)
    proof = sign_proof(ProofBody(**fields), seed)  # type: ignore[arg-type]
    return _task("job1:verify", "verify", claimed_output=output, claimed_proof=proof.model_dump()), seed


def test_claimed_proof_that_does_not_bind_the_output_is_refuted_before_scoring() -> None:
    honest, _ = _verify_task("The capital of France is Paris.")
    here = {"chain_id": "aitbc-dev", "coordinator": COORDINATOR}
    assert t.claim_problem(honest, **here, model_id="sha256:" + MODEL_ID) is None
    swapped = {**honest, "claimed_output": "The capital of France is Lyon."}
    assert "output_hash" in (t.claim_problem(swapped, **here, model_id=MODEL_ID) or "")
    forged = json.loads(json.dumps(honest))
    forged["claimed_proof"]["body"]["completion_tokens"] = 9
    assert "signature" in (t.claim_problem(forged, **here, model_id=MODEL_ID) or "")
    # A claim made for another coordinator is not this coordinator's to have re-checked.
    elsewhere, _ = _verify_task("The capital of France is Paris.", coordinator="0x" + "11" * 20)
    assert "coordinator" in (t.claim_problem(elsewhere, **here, model_id=MODEL_ID) or "")
    assert t.claimed_model_id(honest) == MODEL_ID
    assert t.committed_tokens(honest) == 8  # what a text re-check counts against max_tokens


def _verification(accepted: bool, checked: int = 8, first: int | None = None) -> VerificationResult:
    return VerificationResult(accepted=accepted, mode="greedy", model_id="sha256:" + MODEL_ID, prompt_tokens=37,
                              checked_tokens=checked, mismatch_count=0 if accepted else 1, mismatches=[],
                              first_mismatch=first, reason=None if accepted else "not the greedy choice",
                              logit_margin=0.25)


def test_verdict_checks_the_claimed_token_counts_too() -> None:
    task, _ = _verify_task("The capital of France is Paris.")
    assert t.verify_result(task, _verification(True))["accepted"] is True
    rejected = t.verify_result(task, _verification(False, first=5))
    assert rejected == {"accepted": False, "first_mismatch": 5, "reason": "not the greedy choice"}
    inflated, _ = _verify_task("The capital of France is Paris.", completion_tokens=40)
    assert "completion tokens" in t.verify_result(inflated, _verification(True))["reason"]
    wrong_prompt, _ = _verify_task("The capital of France is Paris.", prompt_tokens=99)
    assert "prompt tokens" in t.verify_result(wrong_prompt, _verification(True))["reason"]
    assert t.failure("  lots\n of   space ") == {"error": "lots of space"}


def test_a_recheck_answer_carries_a_verdict_signed_about_the_exact_claim() -> None:
    task, _ = _verify_task("The capital of France is Paris.")
    seed = crypto.generate_seed()
    verifier = crypto.address_from_pubkey(crypto.pubkey_from_seed(seed))
    proof = MinerProof.model_validate(task["claimed_proof"])
    refuted = t.with_verdict(task, t.verify_result(task, _verification(False, first=5)), verifier=verifier, seed=seed)
    verdict = SignedVerdict.model_validate(refuted["verdict"])
    assert verdict.is_valid() and verdict.body.verifier == verifier
    assert (verdict.body.verdict, verdict.body.first_mismatch, verdict.body.reason) == ("wrong", 5, "not the greedy choice")
    assert (verdict.body.job_id, verdict.body.coordinator, verdict.body.miner) == ("job1", COORDINATOR, proof.body.miner)
    # Exactly what the coordinator and the chain check before slashing with it.
    assert evidence_problem(proof, verdict) is None
    passed = t.with_verdict(task, t.verify_result(task, _verification(True)), verifier=verifier, seed=seed)
    assert passed["accepted"] is True and passed["verdict"]["body"]["verdict"] == "correct"
    assert "only a 'wrong' verdict" in (evidence_problem(proof, SignedVerdict.model_validate(passed["verdict"])) or "")
