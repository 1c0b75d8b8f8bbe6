"""The pieces of streaming that need no network: live output bookkeeping, stop sequences, SSE
parsing and the OpenAI request translation. The network behaviour is in test_openai_api.py."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import ValidationError

from daemons.common.events import EventHub
from daemons.coordinator import models as m
from daemons.coordinator import openai_models as o
from daemons.coordinator.client import output_items, sse_events
from daemons.coordinator.live import JobFollower, LiveOutputs, StreamBroken
from daemons.coordinator.openai_api import StopFilter, job_request

MINER_A, MINER_B = "0x" + "a" * 40, "0x" + "b" * 40


def job(status: str = "running", miner: str = MINER_A, output: str | None = None, result_ms: int | None = None) -> m.JobRecord:
    return m.JobRecord(job_id="j1", client="0x" + "c" * 40, model="smollm2", prompt="p", params={"max_tokens": 8},
                       max_price=1, status=m.JobStatus(status), miner=miner, output=output, created_ms=1, updated_ms=1,
                       fair_key=0, attempts=1, excluded=[], assigned_ms=1, deadline_ms=None, result_ms=result_ms,
                       proof=None)


def delta(offset: int, text: str, tokens: int = 1) -> m.OutputDelta:
    return m.OutputDelta(offset=offset, text=text, tokens=tokens)


def test_live_outputs_take_pieces_in_order_from_the_miner_that_holds_the_job() -> None:
    live = LiveOutputs(max_chars=20)
    assert not live.confirm(job(miner=MINER_B), MINER_A)  # not its job: refused, told to stop
    assert not live.confirm(job(status="cancelled"), MINER_A)
    assert live.confirm(job(), MINER_A) and live.holds("j1", MINER_A) and not live.holds("j1", MINER_B)
    assert live.add("j1", MINER_A, delta(0, "Hello")) == {"job_id": "j1", "miner": MINER_A, "offset": 0,
                                                          "text": "Hello", "tokens": 1}
    assert live.add("j1", MINER_A, delta(0, "Hello")) is None  # a repeat adds nothing
    assert live.add("j1", MINER_A, delta(9, "gap")) is None  # a lost piece is not spliced over
    assert live.add("j1", MINER_A, delta(3, "lo, world", 3))["text"] == ", world"  # overlap: only the new part
    assert live.add("j1", MINER_A, delta(12, "x" * 9)) is None  # over max_chars
    assert live.snapshot("j1") == (MINER_A, "Hello, world")
    assert live.add("j1", MINER_B, delta(0, "other")) is None
    live.forget("j1")
    assert live.snapshot("j1") is None


def run_follower(events: list[dict[str, Any]], final: m.Job, live: LiveOutputs | None = None) -> list[str | m.Job]:
    """Feed ``events`` as ``output:j1`` events to a follower; the job reads as ``final`` once they are in."""

    async def scenario() -> list[str | m.Job]:
        hub = EventHub()
        follower = JobFollower(hub, live or LiveOutputs(1000), "j1",
                               lambda: final if not pending else job().client_view())
        pending = list(events)
        got: list[str | m.Job] = []

        async def feed() -> None:
            while pending:
                await asyncio.sleep(0.01)
                hub.publish("output:j1", pending.pop(0))
            hub.publish("job:j1", {})

        feeder = asyncio.create_task(feed())
        try:
            async for item in follower.events():
                got.append(item)
        finally:
            follower.close()
            await feeder
        return got

    return asyncio.run(scenario())


def test_a_follower_passes_on_a_rerun_only_where_it_extends_what_was_sent() -> None:
    done = job(status="completed", miner=MINER_B, output="Hello, world!").client_view()
    got = run_follower([{"miner": MINER_A, "offset": 0, "text": "Hello"},
                        {"miner": MINER_A, "offset": 5, "text": ", wo"},
                        {"miner": MINER_B, "offset": 0, "text": "Hel"},  # the job re-ran on B: catching up
                        {"miner": MINER_B, "offset": 3, "text": "lo, world"}], done)
    assert got[:-1] == ["Hello", ", wo", "rld", "!"] and got[-1] == done


def test_a_rerun_that_disagrees_with_what_was_sent_breaks_the_stream() -> None:
    done = job(status="completed", miner=MINER_B, output="Goodbye").client_view()
    with pytest.raises(StreamBroken):
        run_follower([{"miner": MINER_A, "offset": 0, "text": "Hello"},
                      {"miner": MINER_B, "offset": 0, "text": "Goodbye"}], done)


def test_stop_sequences_cut_the_text_even_across_pieces() -> None:
    stops = StopFilter(["\n\n", "END"])
    out = [stops.feed(piece) for piece in ["one E", "N", "D two"]]
    assert "".join(out) == "one " and stops.stopped and stops.feed("more") == "" and stops.end() == ""
    stops = StopFilter(["END"])
    assert stops.feed("the E") == "the " and stops.end() == "E" and not stops.stopped


def test_sse_parsing_of_a_job_output_stream() -> None:
    lines = ["event: output", 'data: {"text":"Hi"}', "", "event: output", 'data: {"text":" there"}', "",
             "event: job", "data: " + job(status="completed", output="Hi there").client_view().model_dump_json(), ""]
    items = list(output_items(sse_events(lines)))
    assert items[:2] == ["Hi", " there"] and isinstance(items[2], m.Job) and items[2].output == "Hi there"
    from daemons.common.errors import DaemonError

    with pytest.raises(DaemonError, match="broken"):
        list(output_items(sse_events(["event: error", 'data: {"error":{"code":"x","message":"broken"}}', ""])))


def test_openai_requests_become_jobs_with_integer_parameters() -> None:
    chat = o.ChatCompletionRequest.model_validate({
        "model": "smollm2", "temperature": 0.7, "top_p": 0.9, "seed": 5, "max_completion_tokens": 12,
        "messages": [{"role": "developer", "content": "Be brief."},
                     {"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "!"}]}]})
    request = job_request(chat, 1234)
    assert request.params.job_params() == {"max_tokens": 12, "temperature_milli": 700, "top_p_milli": 900, "seed": 5,
                                           "prompt_format": "messages"}
    assert request.prompt == '[{"content":"Be brief.","role":"system"},{"content":"Hi!","role":"user"}]'
    assert request.max_price == 1234
    completion = job_request(o.CompletionRequest(model="smollm2", prompt="Once", temperature=0), None)
    assert completion.params.job_params()["prompt_format"] == "raw" and completion.params.max_tokens == 128
    assert job_request(o.CompletionRequest(model="smollm2", prompt="Once", max_tokens=10**6), None,
                       max_tokens_limit=8192).params.max_tokens == 8192
    # Stop strings travel to the miner as a job parameter; without them the parameters (and so
    # every proof's params_hash) are what they were before stop strings existed.
    stopped = job_request(o.CompletionRequest(model="smollm2", prompt="Once", stop="\n"), None)
    assert stopped.params.job_params()["stop"] == ["\n"]
    assert "stop" not in completion.params.job_params()
    assert job_request(o.CompletionRequest(model="smollm2", prompt="Once", stop=[], temperature=0), None).params.job_params() == \
        completion.params.job_params()
    for bad in ({"n": 3}, {"temperature": 0.005}, {"stop": ["a", "b", "c", "d", "e"]}, {"stop": ""}, {"top_p": 0},
                {"stop": "x" * 65}):
        with pytest.raises(ValidationError):
            o.CompletionRequest.model_validate({"model": "smollm2", "prompt": "Once", **bad})
