"""The stored trace record: the formats a harness reads, and what reading them gives."""

from __future__ import annotations

import json
from pathlib import Path

from harness.capture.assemble import position_of
from harness.capture.query import TraceFilter
from harness.capture.record import READABLE_FORMATS, TRACE_FORMAT, read_traces

#: The demo's production capture, written in format 1 (scripts/production_demo.sh).
DEMO_CAPTURE = Path(__file__).parents[2] / "traces" / "shopdesk"
#: What the request path places on a model span; the rest is described from the exchange.
PLACED = ("retries", "key", "latency_s")


def _demo_lines() -> list[dict]:
    (path,) = DEMO_CAPTURE.glob("*.jsonl")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_the_harness_writes_format_2_and_reads_1_and_2() -> None:
    assert TRACE_FORMAT == 2 and READABLE_FORMATS == (1, 2)


def test_a_format_1_capture_reads_as_it_was_written() -> None:
    raw = {r["trace_id"]: r for r in _demo_lines() if r["kind"] == "trace"}
    assert {r["format"] for r in raw.values()} == {1}
    traces = read_traces(DEMO_CAPTURE)
    assert len(traces) == len(raw) == 36
    for trace in traces:
        stored = raw[trace.trace_id]
        assert [s.model_dump(mode="json") for s in trace.record.spans] == stored["spans"]
        assert (trace.record.input, trace.record.output) == (stored["input"], stored["output"])


def test_a_format_1_guardrail_trip_reads_as_a_guardrail_event_not_an_error() -> None:
    """Format 1 stored an output guardrail's tripwire as the trace's error (an input guardrail's not):
    read today, both are guardrail events."""
    stored_errors = [r for r in _demo_lines() if r["kind"] == "trace" and r["error"]]
    assert len(stored_errors) == 2 and all("tripwire" in r["error"].lower() for r in stored_errors)
    traces = read_traces(DEMO_CAPTURE)
    assert TraceFilter(errors=True).select(traces) == []
    tripped = {t.trace_id for t in TraceFilter(guardrail_tripped=True).select(traces)}
    assert {r["trace_id"] for r in stored_errors} < tripped and len(tripped) == 4


def _as_format_2(record: dict) -> dict:
    """A format-1 record as format 2 stores it: model spans as placed, named by their exchanges."""
    spans = []
    exchanges = [dict(e) for e in record["exchanges"]]
    for span in record["spans"]:
        if span["kind"] == "model":
            exchange = next(e for e in exchanges if e["position"] == position_of(span["attributes"]["key"]))
            exchange["span_id"] = span["id"]
            span = span | {"name": "model", "attributes": {k: span["attributes"][k] for k in PLACED}}
        spans.append(span)
    return record | {"format": 2, "spans": spans, "exchanges": exchanges, "input": None, "output": None}


def test_format_2_model_spans_are_described_on_read_as_format_1_stored_them(tmp_path: Path) -> None:
    """The demo's 36 traces, their model spans stripped to what the request path places: read back,
    every span (a model span's messages, reply, tools, tokens, cost), the input and the output equal
    what format 1 stored, described at capture time."""
    lines = [line for line in _demo_lines() if line["kind"] == "trace"]
    folder = tmp_path / "traces"
    folder.mkdir()
    (folder / "traces-2.jsonl").write_text("".join(json.dumps(_as_format_2(r)) + "\n" for r in lines))
    stored = json.dumps(lines)
    assert '"name": "model"' in (folder / "traces-2.jsonl").read_text() and '"name": "model"' not in stored
    old = {t.trace_id: t.record for t in read_traces(DEMO_CAPTURE)}
    new = {t.trace_id: t.record for t in read_traces(folder)}
    assert new.keys() == old.keys()
    for trace_id, record in new.items():
        assert record.spans == old[trace_id].spans, trace_id
        assert (record.input, record.output) == (old[trace_id].input, old[trace_id].output)
