"""Record once against a nonce-mode stub, replay forever: exact, whatever the scheduling order."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from harness.core.grading import Score, grader
from harness.engine.cassette.store import read_cassette
from harness.testing.stub_server import Rule, StubServer

DEAD_URL = "http://127.0.0.1:9/v1"


async def fan_out(input, ctx):
    """One call, then three *identical* calls in parallel: each must replay into its own branch."""
    messages = [{"role": "user", "content": input}]
    first = await ctx.client.chat.completions.create(messages=messages, **ctx.model_kwargs())

    async def branch():
        reply = await ctx.client.chat.completions.create(
            messages=[{"role": "user", "content": "same prompt"}], **ctx.model_kwargs())
        return reply.choices[0].message.content

    branches = await asyncio.gather(branch(), branch(), branch())
    return {"first": first.choices[0].message.content, "branches": branches}


@grader
def has_three_branches():
    def score(attempt):
        return Score.of(len(set(attempt.output["branches"])) == 3, reason="three different replies")
    return score


def _snapshot(result):
    return {
        row.key: (row.output, [(s.name, s.value) for s in row.scores], row.trajectory.structure())
        for row in result.folder.rows()
    }


def test_replay_is_exact_at_any_concurrency_order_and_number_of_processes(make_suite, run, nonce_stub):
    suite = make_suite(flow=fan_out, n=8, graders=[has_three_branches()])
    recorded = run(suite, nonce_stub.base_url, record_mode="once", concurrency=8, epochs=3)
    assert recorded.errors == 0 and recorded.rows == 24
    nonce_stub.stop()

    replays = [
        run(suite, DEAD_URL, record_mode="none", concurrency=1, epochs=3),
        run(suite, DEAD_URL, record_mode="none", concurrency=32, epochs=3, shuffle_seed=11),
        run(suite, DEAD_URL, record_mode="none", concurrency=32, epochs=3, shuffle_seed=12),
        run(suite, DEAD_URL, record_mode="none", concurrency=16, epochs=3, shuffle_seed=13, workers=2),
    ]
    expected = _snapshot(recorded)
    for replay in replays:
        assert replay.errors == 0
        assert _snapshot(replay) == expected
    outputs = [out for out, _, _ in expected.values()]
    assert len({json.dumps(o, sort_keys=True) for o in outputs}) == 24, "nonce mode: every reply is unique"


def test_a_recording_made_by_worker_processes_replays_exactly_in_one(make_suite, run, nonce_stub):
    suite = make_suite(flow=fan_out, n=6, graders=[has_three_branches()])
    recorded = run(suite, nonce_stub.base_url, record_mode="once", concurrency=6, epochs=2, workers=2)
    assert recorded.errors == 0 and recorded.rows == 12 and recorded.manifest.workers == 2
    nonce_stub.stop()
    replay = run(suite, DEAD_URL, record_mode="none", concurrency=4, epochs=2)
    assert replay.errors == 0, [r.error for r in replay.folder.rows()]
    assert _snapshot(replay) == _snapshot(recorded)


def test_epochs_get_their_own_cassettes(make_suite, run, nonce_stub, tmp_path: Path):
    run(make_suite(n=1), nonce_stub.base_url, record_mode="once", epochs=3)
    names = sorted(p.name for p in (tmp_path / "cassettes" / "demo" / "ask@v1").iterdir())
    assert names == ["t000.e2.json", "t000.e3.json", "t000.json"]


def test_cassettes_are_vcrpy_json_with_harness_metadata(make_suite, run, nonce_stub, tmp_path: Path):
    run(make_suite(n=1), nonce_stub.base_url, record_mode="once")
    requests, responses, meta = read_cassette(tmp_path / "cassettes" / "demo" / "ask@v1" / "t000.json")
    assert len(requests) == len(responses) == 1
    assert meta["complete"] is True and meta["model"] == "stub" and meta["task_id"] == "t000"
    assert meta["settings_hash"]
    body = json.loads(requests[0].body)
    assert body["messages"][0]["content"] == "question 0"


def test_once_replays_recorded_tasks_and_records_only_new_ones(make_suite, run, nonce_stub):
    run(make_suite(n=3), nonce_stub.base_url, record_mode="once")
    hits = nonce_stub.stats().hits
    run(make_suite(n=5), nonce_stub.base_url, record_mode="once")
    assert nonce_stub.stats().hits - hits == 2


def test_rewrite_records_everything_again(make_suite, run, nonce_stub):
    first = run(make_suite(n=2), nonce_stub.base_url, record_mode="once")
    second = run(make_suite(n=2), nonce_stub.base_url, record_mode="rewrite")
    replay = run(make_suite(n=2), DEAD_URL, record_mode="none")
    outs = lambda r: {row.task_id: row.output for row in r.folder.rows()}
    assert outs(first) != outs(second)
    assert outs(replay) == outs(second)


async def two_calls(input, ctx):
    await ctx.client.chat.completions.create(messages=[{"role": "user", "content": input}], **ctx.model_kwargs())
    second = await ctx.client.chat.completions.create(messages=[{"role": "user", "content": "second call"}],
                                                      **ctx.model_kwargs())
    if ctx.params.get("fail"):
        raise RuntimeError(f"the flow rejected: {second.choices[0].message.content}")
    return "done"


def test_a_model_error_leaves_no_partial_recording_and_once_records_the_task_whole(make_suite, run, tmp_path):
    suite = make_suite(flow=two_calls, n=1)
    with StubServer(nonce=True, rules=[Rule(contains="second call", fault="server_error", times=1)]) as stub:
        assert run(suite, stub.base_url, record_mode="once", max_retries=0).errors == 1
        assert not list((tmp_path / "cassettes").rglob("*.json")), "a partial recording is never kept"
        assert run(suite, stub.base_url, record_mode="once", max_retries=0).errors == 0
    (path,) = (tmp_path / "cassettes").rglob("*.json")
    assert len(read_cassette(path)[0]) == 2, "recorded again whole"


def test_a_flow_that_fails_on_its_own_replays_the_same_failure(make_suite, run, nonce_stub, tmp_path):
    from harness.engine.suite import ModelSettings, Suite, Variant

    suite = Suite(name="demo", dataset=make_suite(n=2).dataset, root=tmp_path,
                  variants=[Variant("ask@v1", flow=two_calls, model=ModelSettings(model="stub"), params={"fail": True})])
    recorded = run(suite, nonce_stub.base_url, record_mode="once")
    assert recorded.errors == 2
    (path, *_) = sorted((tmp_path / "cassettes").rglob("*.json"))
    assert read_cassette(path)[2]["outcome"] == "error"
    replay = run(suite, DEAD_URL, record_mode="none")
    assert [(r.task_id, r.error.kind, r.error.message) for r in sorted(replay.folder.rows(), key=lambda r: r.task_id)] == \
        [(r.task_id, r.error.kind, r.error.message) for r in sorted(recorded.folder.rows(), key=lambda r: r.task_id)]
    assert all("nonce" in r.error.message for r in replay.folder.rows()), "the recorded reply, replayed"


def test_failed_attempts_are_not_recorded_only_the_successful_retry(make_suite, run, tmp_path: Path):
    with StubServer(nonce=True, rules=[Rule(fault="rate_limit", retry_after=0.05, times=1),
                                       Rule(fault="server_error", times=1)]) as stub:
        result = run(make_suite(n=1), stub.base_url, record_mode="once", max_retries=3)
    assert result.errors == 0
    (path,) = (tmp_path / "cassettes").rglob("*.json")
    requests, responses, _ = read_cassette(path)
    assert len(requests) == 1 and responses[0]["status"]["code"] == 200
    replay = run(make_suite(n=1), DEAD_URL, record_mode="none")
    assert [r.output for r in replay.folder.rows()] == [r.output for r in result.folder.rows()]


class Ticket(BaseModel):
    category: str
    urgent: bool


async def many_shapes(input, ctx):
    """Streaming, structured output, tool calls and the sync client in one flow."""
    kwargs = ctx.model_kwargs()
    stream = await ctx.client.chat.completions.create(
        messages=[{"role": "user", "content": f"stream {input}"}], stream=True, **kwargs)
    streamed = "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices])
    parsed = await ctx.client.chat.completions.parse(
        messages=[{"role": "user", "content": f"classify {input}"}], response_format=Ticket, **kwargs)
    tools = [{"type": "function", "function": {"name": "lookup_order", "parameters": {
        "type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}}]
    called = await ctx.client.chat.completions.create(
        messages=[{"role": "user", "content": f"tool {input}"}], tools=tools, **kwargs)
    sync = await asyncio.to_thread(lambda: ctx.sync_client.chat.completions.create(
        messages=[{"role": "user", "content": f"sync {input}"}], **kwargs))
    return {
        "streamed": streamed,
        "parsed": parsed.choices[0].message.parsed.model_dump(),
        "tool": called.choices[0].message.tool_calls[0].function.arguments,
        "sync": sync.choices[0].message.content,
    }


def test_streaming_structured_tools_and_sync_clients_replay(make_suite, run):
    rules = [Rule(contains="tool", tool_calls=[{"name": "lookup_order"}])]
    suite = make_suite(flow=many_shapes, n=3)
    with StubServer(nonce=True, rules=rules) as stub:
        recorded = run(suite, stub.base_url, record_mode="once")
    assert recorded.errors == 0, [r.error for r in recorded.folder.rows()]
    replay = run(suite, DEAD_URL, record_mode="none", concurrency=3)
    assert replay.errors == 0, [r.error for r in replay.folder.rows()]
    assert _snapshot(replay) == _snapshot(recorded)
    row = next(recorded.folder.rows())
    assert "nonce" in row.output["streamed"]
    assert set(row.output["parsed"]) == {"category", "urgent"}
    stream_span = [s for s in row.trajectory.model_calls if s.attributes["stream"]]
    assert stream_span and "stub reply" in stream_span[0].attributes["output"]


@pytest.mark.parametrize("mode", ["none"])
def test_no_recording_fails_the_task_with_a_hint(make_suite, run, stub, mode):
    result = run(make_suite(n=2), stub.base_url, record_mode=mode)
    assert result.errors == 2 and stub.stats().hits == 0
    row = next(r for r in result.folder.rows() if r.task_id == "t000")  # rows come in finishing order
    assert row.error.kind == "cassette_miss"
    assert "suite 'demo', variant 'ask@v1', task 't000'" in row.error.message
    assert "--record-mode once" in row.error.message


def test_replay_reports_the_recorded_latencies_not_replay_speed(make_suite, run):
    suite = make_suite(n=2)
    with StubServer(latency=0.25) as stub:
        recorded = run(suite, stub.base_url, record_mode="once")
    replay = run(suite, DEAD_URL, record_mode="none")
    live = {r.task_id: r for r in recorded.folder.rows()}
    for row in replay.folder.rows():
        assert row.replayed and not live[row.task_id].replayed
        assert row.latency_s >= 0.25 and abs(row.latency_s - live[row.task_id].latency_s) < 0.05
        (span,) = row.trajectory.model_calls
        assert span.attributes["replayed"] is True
        assert span.attributes["latency_s"] == live[row.task_id].trajectory.model_calls[0].attributes["latency_s"]


async def one_branch_fails_fast(input, ctx):
    """Three parallel calls; the first returns quickly and its branch fails, the others are abandoned."""
    async def branch(name):
        reply = await ctx.client.chat.completions.create(
            messages=[{"role": "user", "content": f"{name} {input}"}], **ctx.model_kwargs())
        if name == "fast":
            raise ValueError(f"branch {name} rejected: {reply.choices[0].message.content}")
        return reply.choices[0].message.content

    return await asyncio.gather(branch("fast"), branch("slow"), branch("slower"))


def test_a_task_that_failed_mid_gather_replays_the_same_failure(make_suite, run):
    suite = make_suite(flow=one_branch_fails_fast, n=2)
    with StubServer(nonce=True, rules=[Rule(contains="slow", latency=0.5)]) as stub:
        recorded = run(suite, stub.base_url, record_mode="once")
    assert all(r.error.kind == "task" for r in recorded.folder.rows())
    replay = run(suite, DEAD_URL, record_mode="none")
    errors = {r.task_id: (r.error.kind, r.error.message) for r in replay.folder.rows()}
    assert errors == {r.task_id: (r.error.kind, r.error.message) for r in recorded.folder.rows()}
