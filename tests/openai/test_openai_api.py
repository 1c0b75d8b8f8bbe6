"""The OpenAI-compatible API with the real ``openai`` SDK, against a network started by ``aitbc up``.

One dev network for the module (``aitbc up --detach`` on a fresh temp home and free loopback
ports, the real SmolLM2 miner on CPU). Every request goes through the SDK exactly as an
application would send it (``base_url`` + ``api_key``), and every answer is checked against the
AITBC job behind it: the job's prompt is the canonical chat messages, the usage is the proof's
token counts, the receipt settles on chain and verifies from chain data. Streaming is checked by
time: the first chunk arrives before the coordinator signed the job's receipt. Max tokens stay
small: the model runs on a shared CPU. Time bounds only guard against hangs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Iterator

import httpx
import openai
import pytest

from daemons.common.chat import ChatMessage, encode_messages
from daemons.coordinator.settings import CoordinatorSettings
from daemons.common.home import Home
from e2ekit import aitbc, aitbc_json
from testkit import free_ports, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

JOB_WAIT_S = 600.0
MODEL = "smollm2"
SYSTEM = "You answer in one short sentence."
QUESTION = "What is the capital of France?"


@dataclass
class Net:
    home: Home
    url: str
    api_key: str

    def sdk(self, api_key: str | None = None) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.url}/v1", api_key=api_key or self.api_key, max_retries=0,
                             timeout=JOB_WAIT_S)

    def get(self, path: str) -> Any:
        answer = httpx.get(f"{self.url}{path}", headers={"Authorization": f"Bearer {self.api_key}"}, timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    root = tmp_path_factory.mktemp("openai") / "home"
    rpc, ws, coordinator, miner, explorer, market = free_ports(6)
    try:
        aitbc_json("up", "--home", str(root), "--detach", "--rpc-port", str(rpc), "--ws-port", str(ws),
                   "--coordinator-port", str(coordinator), "--miner-port", str(miner), "--explorer-port",
                   str(explorer), "--market-port", str(market), timeout=900)
        home = Home.resolve(root)
        key = (home.keys_dir / "client.apikey").read_text(encoding="utf-8").strip()
        yield Net(home, f"http://127.0.0.1:{coordinator}", key)
    finally:
        aitbc("down", "--home", str(root), timeout=120, check=False)


@pytest.fixture(scope="module")
def chat(net: Net) -> Any:
    """One chat completion, with its raw HTTP answer."""
    raw = net.sdk().chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}],
        max_tokens=8, temperature=0)
    return raw


def test_models_list_is_openai_shaped_with_aitbc_facts(net: Net) -> None:
    models = net.sdk().models.list()
    [entry] = [m for m in models.data if m.id == MODEL]
    assert entry.object == "model"
    facts = entry.model_extra["aitbc"]
    assert facts["live_miners"] == 1 and facts["min_price_per_1k_tokens"] > 0
    assert len(facts["model_ids"]) == 1 and len(facts["model_ids"][0]) == 64
    assert net.sdk().models.retrieve(MODEL).id == MODEL


def test_chat_completion_is_a_receipted_job_of_the_rendered_messages(net: Net, chat: Any) -> None:
    answer = chat.parse()
    job_id, receipt_id = chat.headers["X-AITBC-Job-Id"], chat.headers["X-AITBC-Receipt-Id"]
    assert answer.id == f"chatcmpl-{job_id}" and answer.object == "chat.completion"
    facts = answer.model_extra["aitbc"]
    assert facts["job_id"] == job_id and facts["receipt_id"] == receipt_id and facts["price"] > 0
    [choice] = answer.choices
    assert choice.message.role == "assistant" and choice.message.content.strip()
    job = net.get(f"/v1/jobs/{job_id}")
    # The job is the canonical messages, rendered by the miner with the model's chat template.
    assert job["prompt"] == encode_messages([ChatMessage(role="system", content=SYSTEM),
                                             ChatMessage(role="user", content=QUESTION)])
    assert job["params"]["prompt_format"] == "messages" and job["params"]["max_tokens"] == 8
    assert choice.message.content == job["output"]
    assert answer.usage.prompt_tokens == job["prompt_tokens"] > 20  # the template adds its own tokens
    assert answer.usage.completion_tokens == job["completion_tokens"] <= 8
    assert answer.usage.total_tokens == job["prompt_tokens"] + job["completion_tokens"]
    assert choice.finish_reason == ("length" if job["completion_tokens"] == 8 else "stop")


def test_receipt_of_a_chat_completion_settles_and_verifies_from_chain_data(net: Net, chat: Any) -> None:
    receipt_id = chat.headers["X-AITBC-Receipt-Id"]

    def settled() -> dict[str, Any] | None:
        info = net.get(f"/v1/receipts/{receipt_id}")
        assert info["status"] != "rejected", info
        return info if info["status"] == "settled" else None

    wait_for(settled, "the receipt to settle", timeout=180, interval=0.2)
    verdict = aitbc_json("receipts", "verify", receipt_id, "--home", str(net.home.root))
    assert verdict["valid"] is True and all(check["ok"] for check in verdict["checks"]), verdict


def test_completion_runs_the_raw_prompt(net: Net) -> None:
    answer = net.sdk().completions.create(model=MODEL, prompt="The capital of France is", max_tokens=6,
                                          temperature=0)
    [choice] = answer.choices
    job = net.get(f"/v1/jobs/{answer.model_extra['aitbc']['job_id']}")
    assert job["prompt"] == "The capital of France is" and job["params"]["prompt_format"] == "raw"
    assert choice.text == job["output"] and choice.text.strip()
    # No chat template: the prompt is a handful of tokens.
    assert answer.usage.prompt_tokens == job["prompt_tokens"] < 10
    assert answer.usage.completion_tokens == job["completion_tokens"] <= 6


def test_stop_ends_the_job_at_the_stop_string_and_bills_only_what_was_generated(net: Net) -> None:
    prompt, stop = "1, 2, 3, 4,", "7"  # greedy: " 5, 6, 7, 8, 9, ..." (one token per digit)
    answer = net.sdk().completions.create(model=MODEL, prompt=prompt, max_tokens=16, temperature=0, stop=[stop, "nine"])
    [choice] = answer.choices
    job = net.get(f"/v1/jobs/{answer.model_extra['aitbc']['job_id']}")
    assert job["params"]["stop"] == [stop, "nine"]
    # The miner stopped on the token that completed the stop string: the job's output ends there
    # and its count (what the client pays for) is the tokens generated, well under max_tokens.
    assert job["output"].rstrip().endswith(stop) and job["output"].count(stop) == 1
    assert answer.usage.completion_tokens == job["completion_tokens"] < 16
    # The client gets the text before the stop string, as OpenAI does, finished by "stop".
    assert choice.text == job["output"][:job["output"].index(stop)] and choice.finish_reason == "stop"
    stream = net.sdk().completions.create(model=MODEL, prompt=prompt, max_tokens=16, temperature=0, stop=[stop],
                                          stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert "".join(c.choices[0].text for c in chunks if c.choices) == choice.text
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == job["completion_tokens"]


def test_streamed_chat_sends_tokens_before_the_job_completes(net: Net) -> None:
    stream = net.sdk().chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Count from one to twenty in words."}],
        max_tokens=24, temperature=0, stream=True, stream_options={"include_usage": True})
    pieces: list[tuple[float, str]] = []
    chunks = []
    for chunk in stream:
        chunks.append(chunk)
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append((time.time(), chunk.choices[0].delta.content))
    final = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(final) == 1 and len(pieces) >= 2
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == [] and usage_chunk.usage is not None
    facts = usage_chunk.model_extra["aitbc"]
    job = net.get(f"/v1/jobs/{facts['job_id']}")
    receipt = net.get(f"/v1/receipts/{facts['receipt_id']}")
    assert "".join(text for _, text in pieces) == job["output"]
    assert usage_chunk.usage.completion_tokens == job["completion_tokens"]
    # Event timestamps: the first piece reached the client before the coordinator signed the
    # receipt (i.e. before the miner's result existed); the same machine's clock on both sides.
    assert pieces[0][0] * 1000 < receipt["created_ms"], (pieces[0][0], receipt["created_ms"])


def test_a_client_that_disconnects_cancels_the_job(net: Net) -> None:
    with httpx.Client(base_url=net.url, headers={"Authorization": f"Bearer {net.api_key}"}, timeout=JOB_WAIT_S) as http:
        with http.stream("POST", "/v1/chat/completions", json={
                "model": MODEL, "stream": True, "max_tokens": 200, "temperature": 0,
                "messages": [{"role": "user", "content": "Write a long story about a lighthouse keeper."}]}) as answer:
            assert answer.status_code == 200
            job_id = answer.headers["X-AITBC-Job-Id"]
            for line in answer.iter_lines():
                if line.startswith("data:") and '"content"' in line and '"content":""' not in line:
                    break  # the first token: the miner is generating; now hang up
    job = wait_for(lambda: (j := net.get(f"/v1/jobs/{job_id}"))["status"] in ("cancelled", "completed") and j,
                   "the abandoned job to end", timeout=JOB_WAIT_S, interval=0.5)
    assert job["status"] == "cancelled", job
    assert job["receipt_id"] is None and job["price"] is None  # the documented rule: nothing is paid


def test_cli_submit_stream_prints_the_output(net: Net) -> None:
    shown = aitbc("submit", QUESTION, "--model", MODEL, "--max-tokens", "8", "--stream", "--home",
                  str(net.home.root), timeout=JOB_WAIT_S)
    job = net.get("/v1/jobs")["jobs"][0]  # newest first: the job just submitted
    assert job["status"] == "completed" and job["output"].strip()
    assert shown.stdout == job["output"] + "\n"


def test_cli_submit_stop_ends_the_job_at_the_stop_string(net: Net) -> None:
    # a job's prompt is rendered as a chat turn: greedy, the model answers "1, 2, 3, 4, 5, 6"
    job = aitbc_json("submit", "1, 2, 3, 4,", "--model", MODEL, "--max-tokens", "16", "--stop", "5", "--stop", "nine",
                     "--wait", "--home", str(net.home.root), timeout=JOB_WAIT_S)
    assert job["status"] == "completed" and job["params"]["stop"] == ["5", "nine"]
    assert job["output"].rstrip().endswith("5") and job["output"].count("5") == 1, job["output"]
    assert job["completion_tokens"] < 16
    # five stop strings: refused with the reason, and no job is made
    refused = aitbc("submit", "x", "--model", MODEL, *[a for s in "abcde" for a in ("--stop", s)], "--home",
                    str(net.home.root), check=False)
    assert refused.returncode != 0 and "stop" in refused.stderr, refused
    assert net.get("/v1/jobs")["jobs"][0]["job_id"] == job["job_id"]


def test_a_bad_key_is_refused_in_openai_shape(net: Net) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        net.sdk(api_key="aitbc_000000000000_" + "x" * 43).models.list()
    assert caught.value.status_code == 401
    body = caught.value.body
    assert isinstance(body, dict) and body["type"] == "authentication_error" and body["code"] == "invalid_api_key"


def test_a_model_no_miner_serves_is_404(net: Net) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        net.sdk().chat.completions.create(model="llama-70b", messages=[{"role": "user", "content": "hi"}],
                                          max_tokens=4)
    assert caught.value.body["code"] == "model_not_found" and "smollm2" in caught.value.body["message"]


def test_bad_parameters_are_400_naming_the_parameter(net: Net) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        net.sdk().chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], n=2)
    assert caught.value.body["param"] == "n" and "1" in caught.value.body["message"]
    with pytest.raises(openai.BadRequestError) as caught:
        net.sdk().chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}],
                                          temperature=0.001)
    assert "temperature" in caught.value.body["message"]
    with pytest.raises(openai.BadRequestError) as caught:
        net.sdk().completions.create(model=MODEL, prompt="hi", stop=["x" * 65])
    assert "stop" in caught.value.body["message"]


def job_ids(net: Net) -> list[str]:
    """The client's jobs by id: an earlier job may settle meanwhile (its ``settled_height`` set),
    which is not what a refusal's check is about."""
    return [job["job_id"] for job in net.get("/v1/jobs")["jobs"]]


def test_an_escrow_too_small_for_the_max_price_is_402(net: Net) -> None:
    account = net.get("/v1/account")
    # More than the whole escrow, not ``available + 1``: an earlier job settling between this read
    # and the request frees its reservation, and ``available + 1`` then fits (seen once in a full run).
    too_much = account["escrow_balance"] + 1
    before = job_ids(net)
    with pytest.raises(openai.APIStatusError) as caught:
        net.sdk().chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=4,
                                          extra_headers={"X-AITBC-Max-Price": str(too_much)})
    assert caught.value.status_code == 402
    assert caught.value.body["type"] == "insufficient_quota" and caught.value.body["code"] == "insufficient_escrow"
    assert job_ids(net) == before  # refused: no job, so nothing reserved


def test_a_key_default_max_price_is_reserved_unless_the_header_names_one(net: Net, chat: Any) -> None:
    """The max price of an OpenAI request: the ``X-AITBC-Max-Price`` header, else the API key's
    default (``aitbc coordinator keys``), else the coordinator's."""
    coordinator_default = CoordinatorSettings.model_fields["default_max_price"].default
    spec = httpx.get(f"{net.url}/openapi.json", timeout=30).json()
    [header] = [p for p in spec["paths"]["/v1/chat/completions"]["post"]["parameters"] if p["name"] == "X-AITBC-Max-Price"]
    assert "default: the API key's default max price, else the coordinator's" in header["description"]
    module_job = net.get(f"/v1/jobs/{chat.headers['X-AITBC-Job-Id']}")
    assert module_job["max_price"] == coordinator_default  # the module's key has no default of its own

    account = net.get("/v1/account")
    too_much = account["escrow_balance"] + 1  # more than any reservation leaves available
    created = aitbc_json("coordinator", "keys", "create", "--role", "client", "--address", account["address"],
                         "--default-max-price", f"{too_much}u", "--home", str(net.home.root))
    assert created["default_max_price"] == too_much
    sdk = net.sdk(created["api_key"])
    before = job_ids(net)
    with pytest.raises(openai.APIStatusError) as caught:
        sdk.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=2)
    assert caught.value.status_code == 402
    body = caught.value.body
    assert body["type"] == "insufficient_quota" and body["code"] == "insufficient_escrow"
    assert f"max price is {too_much}" in body["message"]
    assert job_ids(net) == before  # refused: no job, so nothing reserved

    named = sdk.completions.create(model=MODEL, prompt="Paris is", max_tokens=2, temperature=0,
                                   extra_headers={"X-AITBC-Max-Price": "777"})
    assert net.get(f"/v1/jobs/{named.model_extra['aitbc']['job_id']}")["max_price"] == 777

    # A small default is what the job reserves, and the most it can cost.
    aitbc_json("coordinator", "keys", "set-max-price", created["key_id"], "3u", "--home", str(net.home.root))
    capped = sdk.completions.create(model=MODEL, prompt="Paris is", max_tokens=2, temperature=0)
    facts = capped.model_extra["aitbc"]
    assert net.get(f"/v1/jobs/{facts['job_id']}")["max_price"] == 3 and 1 <= facts["price"] <= 3
