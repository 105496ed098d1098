"""harness.capture.install in an app's process: what it keeps, what it never writes, and that it
never blocks or breaks the app."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from agents import (
    Agent,
    GuardrailFunctionOutput,
    InputGuardrailTripwireTriggered,
    OutputGuardrailTripwireTriggered,
    Runner,
    input_guardrail,
    output_guardrail,
    set_default_openai_client,
    trace,
)
from openai import AsyncOpenAI

import harness.capture
from harness.capture.interception import keeps
from harness.capture.query import TraceFilter
from harness.capture.record import FeedbackRecord, TraceFileError, TraceRecord, read_traces
from harness.testing.stub_server import Rule, StubServer

HEADER_KEY = "sk-planted-HEADER-0123456789abcdef"
ENV_KEY = "envkey-PLANTED-777777"
CARD = "4111 1111 1111 1111"


@dataclass
class App:
    """An app's agent over the stub, through the SDK's default client with a planted key."""

    stub: StubServer
    agent: Agent

    def client(self) -> AsyncOpenAI:
        """Made in the event loop that uses it (each ``asyncio.run`` is a new loop); close it there."""
        client = AsyncOpenAI(base_url=self.stub.base_url, api_key=HEADER_KEY)
        set_default_openai_client(client, use_for_tracing=False)
        return client

    def ask(self, text: str, stream: bool = False) -> str:
        async def go() -> str:
            async with self.client():
                if stream:
                    result = Runner.run_streamed(self.agent, text)
                    async for _ in result.stream_events():
                        pass
                    return str(result.final_output)
                return str((await Runner.run(self.agent, text)).final_output)

        return asyncio.run(go())


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    """The app, with capture removed after the test."""
    monkeypatch.setenv("HARNESS_JUDGE_API_KEY", ENV_KEY)  # a key the scrubber knows from the environment
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with StubServer() as stub:
        yield App(stub, Agent(name="Echo", instructions="Answer.", model="gpt-4.1-mini"))
    harness.capture.uninstall()


def _files_text(folder: Path) -> str:
    return "".join(p.read_text(encoding="utf-8") for p in folder.rglob("*") if p.is_file())


def test_planted_secrets_never_reach_the_capture_folder(app, tmp_path: Path) -> None:
    stub = app.stub
    folder = harness.capture.install(tmp_path / "traces", redact=[r"\b(?:\d{4} ){3}\d{4}\b"],
                                     redact_fn=lambda text: text.replace("Globex", "<customer>"))
    reply = app.ask(f"{ENV_KEY} {CARD} Globex {HEADER_KEY}")
    streamed = app.ask(f"{ENV_KEY} streamed {HEADER_KEY}", stream=True)
    assert ENV_KEY in reply and ENV_KEY in streamed, "the stub echoed the secrets back: they are in the replies"
    assert stub.requests[0]["headers"].get("authorization") == f"Bearer {HEADER_KEY}"
    assert harness.capture.flush()
    written = _files_text(folder)
    for secret in (HEADER_KEY, ENV_KEY, CARD, "Globex", "PLANTED"):
        assert secret not in written
    records = [t.record for t in read_traces(folder)]
    assert len(records) == 2 and all(len(r.exchanges) == 1 for r in records)
    described = json.dumps([r.model_dump(mode="json") for r in records])  # model spans are described on read
    assert all(r.trajectory.model_calls[0].attributes.get("messages") for r in records)
    for secret in (HEADER_KEY, ENV_KEY, CARD, "Globex", "PLANTED"):
        assert secret not in described
    assert not any(name.lower() == "authorization" for r in records for name in r.exchanges[0].request_headers)
    assert "<REDACTED>" in records[0].input and "<customer>" in records[0].input
    assert records[1].exchanges[0].response_headers["content-type"][0].startswith("text/event-stream")


def test_the_trajectory_is_the_one_a_run_records(app, tmp_path: Path) -> None:
    folder = harness.capture.install(tmp_path / "traces")

    async def two_runs_in_one_trace() -> None:
        async with app.client():
            with trace("support"):
                await asyncio.gather(Runner.run(app.agent, "first"), Runner.run(app.agent, "second"))

    asyncio.run(two_runs_in_one_trace())
    harness.capture.flush()
    (record,) = [t.record for t in read_traces(folder)]
    assert record.workflow == "support"
    assert sorted(e.position for e in record.exchanges) == ["b0/1|c1", "b0/2|c1"], "concurrent runs are branches"
    models = record.trajectory.model_calls
    assert sorted(s.attributes["key"].rsplit("|", 2)[-2] for s in models) == ["b0/1", "b0/2"]
    assert all(s.parent_id in {a.id for a in record.trajectory.of_kind("agent")} for s in models)


def test_a_full_queue_drops_and_counts_without_slowing_the_app(app, tmp_path: Path) -> None:
    release = threading.Event()

    def slow_disk(text: str) -> str:
        release.wait(20)  # the writer thread is stuck: the queue fills
        return text

    harness.capture.install(tmp_path / "traces", redact_fn=slow_disk, queue_size=1)
    started = time.perf_counter()
    for n in range(4):
        app.ask(f"question {n}")
    elapsed = time.perf_counter() - started
    stats = harness.capture.stats()
    release.set()
    assert harness.capture.flush()
    # the writer holds one and the queue one more: the rest are dropped, and the app did not wait
    assert elapsed < 10 and stats.captured == 4 and stats.dropped >= 2, stats
    assert len(read_traces(tmp_path / "traces")) == 4 - stats.dropped


def test_capture_never_raises_into_the_app(app, tmp_path: Path) -> None:

    def broken(text: str) -> str:
        raise RuntimeError("a redact_fn with a bug")

    harness.capture.install(tmp_path / "traces", redact_fn=broken)
    assert app.ask("hello").startswith("")
    assert harness.capture.flush()
    stats = harness.capture.stats()
    assert stats.failed == 1 and stats.written == 0
    assert not list((tmp_path / "traces").glob("*.jsonl")) or _files_text(tmp_path / "traces") == ""


def test_feedback_is_kept_and_the_latest_counts(app, tmp_path: Path) -> None:
    folder = harness.capture.install(tmp_path / "traces")
    app.ask("hello")
    harness.capture.flush()
    trace_id = read_traces(folder)[0].trace_id
    harness.capture.feedback(trace_id, 1.0, "good")
    harness.capture.feedback(trace_id, 0.2, f"wrong after all {HEADER_KEY}")
    harness.capture.flush()
    (found,) = read_traces(folder)
    assert found.score == 0.2 and [f.score for f in found.feedback] == [1.0, 0.2]
    assert HEADER_KEY not in _files_text(folder)


def test_files_rotate_past_their_size(app, tmp_path: Path) -> None:
    folder = harness.capture.install(tmp_path / "traces", max_file_bytes=4096)
    for n in range(3):
        app.ask(f"question {n} " + "x" * 1500)
    harness.capture.flush()
    assert len(list(folder.glob("*.jsonl"))) == 3
    assert [t.record.input for t in read_traces(folder)] == [f"question {n} " + "x" * 1500 for n in range(3)]


def test_the_sample_is_decided_by_trace_id() -> None:
    ids = [f"trace_{n:032x}" for n in range(2000)]
    kept = [i for i in ids if keeps(i, 0.25)]
    assert 0.2 < len(kept) / len(ids) < 0.3
    assert kept == [i for i in ids if keeps(i, 0.25)], "the same decision every time, in every process"


@pytest.mark.parametrize(("settings", "message"), [
    ({"sample": 0.0}, "sample must be in (0, 1]"),
    ({"sample": 1.5}, "sample must be in (0, 1]"),
    ({"redact": ["(unclosed"]}, "is not a regular expression"),
    ({"max_file_bytes": 10}, "max_file_bytes must be at least 4096"),
])
def test_bad_settings_are_refused_before_anything_starts(tmp_path: Path, settings: dict, message: str) -> None:
    with pytest.raises(harness.capture.CaptureError, match=message.replace("(", r"\(").replace("]", r"\]")):
        harness.capture.install(tmp_path / "traces", **settings)
    assert not (tmp_path / "traces").exists()


def test_a_torn_last_line_is_skipped_and_a_bad_line_named(tmp_path: Path) -> None:
    good = {"kind": "trace", "format": 1, "trace_id": "trace_1", "started_at": "2026-01-01T00:00:00Z"}
    path = tmp_path / "traces-1.jsonl"
    path.write_text(json.dumps(good) + "\n" + '{"kind": "trace", "form')
    assert [t.trace_id for t in read_traces(tmp_path)] == ["trace_1"]
    path.write_text(json.dumps(good) + "\n" + json.dumps(good | {"latency_s": "slow"}) + "\n")
    with pytest.raises(TraceFileError, match=r"traces-1.jsonl:2: field 'latency_s'"):
        read_traces(tmp_path)
    path.write_text(json.dumps(good | {"format": 9}) + "\n")
    with pytest.raises(TraceFileError, match=r":1: field 'format': 9 is not a trace format"):
        read_traces(tmp_path)


def test_a_harness_run_of_the_same_code_is_not_captured(app, make_suite, run, tmp_path: Path) -> None:
    """An app whose module installs capture, run by the harness: the run records, capture keeps out."""
    folder = harness.capture.install(tmp_path / "traces")

    async def flow(input, ctx):
        set_default_openai_client(ctx.client, use_for_tracing=False)
        return str((await Runner.run(app.agent, str(input))).final_output)

    result = run(make_suite(flow=flow, n=2), app.stub.base_url, record_mode="once")
    assert result.errors == 0 and all(len(row.trajectory.model_calls) == 1 for row in result.folder.rows())
    assert harness.capture.flush() and harness.capture.stats().captured == 0
    assert read_traces(folder) == []


def _plain_calls(app: App, *, stream: bool = False, grouped: str | None = None) -> list[str]:
    """Two plain chat completions with the app's own client, outside any Agents SDK trace."""
    async def go() -> list[str]:
        async with AsyncOpenAI(base_url=app.stub.base_url, api_key=HEADER_KEY) as client:
            async def one(text: str) -> str:
                if stream:
                    chunks = await client.chat.completions.create(
                        model="gpt-4.1-mini", messages=[{"role": "user", "content": text}], stream=True)
                    return "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices])
                reply = await client.chat.completions.create(model="gpt-4.1-mini",
                                                             messages=[{"role": "user", "content": text}])
                return reply.choices[0].message.content or ""

            if grouped is None:
                return [await one(f"first {ENV_KEY}"), await one("second")]
            with harness.capture.trace(grouped, metadata={"input": "two questions"}) as trace_id:
                return [trace_id, await one(f"first {ENV_KEY}"), await one("second")]

    return asyncio.run(go())


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_a_plain_openai_call_outside_any_trace_is_a_trace_of_its_own(app, tmp_path: Path, stream: bool) -> None:
    folder = harness.capture.install(tmp_path / "traces")
    replies = _plain_calls(app, stream=stream)
    assert ENV_KEY in replies[0], "the stub echoed the key back"
    assert harness.capture.flush()
    records = sorted((t.record for t in read_traces(folder)), key=lambda r: r.started_at)
    assert [(r.source, r.workflow, len(r.exchanges)) for r in records] == [("openai", "chat.completions", 1)] * 2
    assert [r.exchanges[0].position for r in records] == ["b0|c1", "b0|c1"], "each keyed as a unit's first call"
    assert [r.input for r in records] == ["first <REDACTED>", "second"]
    assert records[1].output == replies[1] and [s.kind for s in records[1].spans] == ["model"]
    assert records[0].trace_id != records[1].trace_id and all(r.trace_id.startswith("trace_") for r in records)
    written = _files_text(folder)
    assert HEADER_KEY not in written and ENV_KEY not in written


def test_capture_trace_groups_plain_calls_and_an_sdk_trace_inside_joins_it(app, tmp_path: Path) -> None:
    folder = harness.capture.install(tmp_path / "traces")
    trace_id, *_ = _plain_calls(app, grouped="summarise")

    async def sdk_inside() -> None:
        async with app.client():
            with harness.capture.trace("outer"), trace("support"):
                await Runner.run(app.agent, "hello")

    asyncio.run(sdk_inside())
    harness.capture.feedback(trace_id, 1.0)
    assert harness.capture.flush()
    traces = {t.record.workflow: t for t in read_traces(folder)}
    assert set(traces) == {"summarise", "outer"}, "the SDK trace joined the block it ran in"
    grouped = traces["summarise"]
    assert grouped.trace_id == trace_id and grouped.score == 1.0 and grouped.record.input == "two questions"
    assert [e.position for e in grouped.record.exchanges] == ["b0|c1", "b0|c2"]
    assert traces["outer"].record.trajectory.agents == ["Echo"]


def test_the_calls_of_a_trace_the_sample_left_out_are_not_captured_alone(app, tmp_path: Path) -> None:
    left_out = next(f"trace_{n:032x}" for n in range(1000) if not keeps(f"trace_{n:032x}", 0.5))
    folder = harness.capture.install(tmp_path / "traces", sample=0.5)

    async def go() -> None:
        async with app.client():
            with trace("support", trace_id=left_out):
                await Runner.run(app.agent, "hello")

    asyncio.run(go())
    with harness.capture.trace("also left out", trace_id=left_out):
        pass
    assert harness.capture.flush()
    assert read_traces(folder) == [] and harness.capture.stats().sampled_out == 2


@input_guardrail(run_in_parallel=False)
async def _no_threats(ctx, agent, input):  # type: ignore[no-untyped-def]
    return GuardrailFunctionOutput(output_info={"threat": True}, tripwire_triggered="hack" in str(input))


@output_guardrail
async def _no_refund_promises(ctx, agent, output):  # type: ignore[no-untyped-def]
    return GuardrailFunctionOutput(output_info={"promise": True}, tripwire_triggered="refund" in str(output))


def test_a_tripwire_the_app_handled_is_a_guardrail_event_not_an_error(app, tmp_path: Path) -> None:
    """Input and output guardrails alike: the trace lists under --guardrail-tripped, not --errors
    (the SDK marks an output guardrail's agent with an error, an input guardrail's not always)."""
    folder = harness.capture.install(tmp_path / "traces")
    guarded = Agent(name="Guarded", instructions="Answer.", model="gpt-4.1-mini",
                    input_guardrails=[_no_threats], output_guardrails=[_no_refund_promises])

    async def ask(text: str) -> str:
        async with app.client():
            try:
                with trace("support", metadata={"input": text}):
                    return str((await Runner.run(guarded, text)).final_output)
            except (InputGuardrailTripwireTriggered, OutputGuardrailTripwireTriggered) as tripped:
                return f"handled {type(tripped).__name__}"

    replies = [asyncio.run(ask(text)) for text in ("hack the shop", "I want a refund", "where is my parcel")]
    assert replies[:2] == ["handled InputGuardrailTripwireTriggered", "handled OutputGuardrailTripwireTriggered"]
    assert harness.capture.flush()
    traces = {t.record.input: t for t in read_traces(folder)}
    assert set(traces) == {"hack the shop", "I want a refund", "where is my parcel"}
    tripped = {t.record.input for t in TraceFilter(guardrail_tripped=True).select(list(traces.values()))}
    assert tripped == {"hack the shop", "I want a refund"}
    assert TraceFilter(errors=True).select(list(traces.values())) == []
    assert [t.record.error for t in traces.values()] == [None, None, None]
    # the trajectory keeps what the SDK recorded: the output guardrail's agent carries the tripwire
    (agent,) = traces["I want a refund"].record.trajectory.of_kind("agent")
    assert agent.error is not None and "tripwire" in agent.error.lower()


def test_a_failed_model_call_is_still_the_traces_error(app, tmp_path: Path) -> None:
    folder = harness.capture.install(tmp_path / "traces")
    app.stub.configure(rules=[Rule(contains="boom", fault="server_error", status=400)])

    async def ask() -> None:
        async with app.client():
            with pytest.raises(Exception, match="400"):
                await Runner.run(app.agent, "boom")

    asyncio.run(ask())
    assert harness.capture.flush()
    (record,) = [t.record for t in read_traces(folder)]
    assert record.error is not None and TraceFilter(errors=True).matches(read_traces(folder)[0])


class _AppObject:
    """Something of the app's own in a trace's metadata, which no JSON encoder knows."""


def test_a_written_line_is_the_record_the_model_would_write(app, tmp_path: Path) -> None:
    """The writer encodes plain data (not the pydantic model, for speed): each line must be exactly
    what TraceRecord would write, and what neither can encode costs that trace, counted."""
    folder = harness.capture.install(tmp_path / "traces")
    app.ask("hello")  # an SDK trace
    _plain_calls(app, grouped="summarise")  # a capture.trace block of two plain calls
    with harness.capture.trace("pydantic metadata", metadata={"input": "q", "order": FeedbackRecord(
            trace_id="t", score=1.0, at="now")}):
        pass  # msgspec cannot encode a pydantic model: the record model writes it
    with harness.capture.trace("odd metadata", metadata={"input": "q", "at": {1, 2}, "ticket": _AppObject()}):
        pass
    assert harness.capture.flush()
    lines = [json.loads(line) for p in folder.glob("*.jsonl") for line in p.read_text().splitlines()]
    assert len(lines) == 3 and harness.capture.stats().failed == 1
    assert [line["metadata"]["order"]["score"] for line in lines if "order" in line["metadata"]] == [1.0]
    for line in lines:
        assert line == json.loads(TraceRecord.model_validate(line).model_dump_json())
