"""``harness view`` opens a capture folder: production traces listed with the filters of ``harness
traces list`` and drawn with the run viewer's transcript, feedback shown; served by a real server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.capture.record import FeedbackRecord, TraceRecord
from harness.core.trace import Span
from harness.view.traces import is_capture_folder
from tests.view.conftest import Viewer, serve


def _trace(trace_id: str, *, agent: str = "Triage Agent", tool: str | None = None, error: str | None = None,
           tripped: bool = False, latency: float = 1.0, text: str = "where is my order") -> TraceRecord:
    spans = [Span(id="0:1", kind="agent", name=agent, start_s=0.0, end_s=latency),
             Span(id="0:2", parent_id="0:1", kind="model", name="smollm2", start_s=0.1, end_s=0.5,
                  attributes={"model": "smollm2", "output": f"reply to {text}", "input_tokens": 20,
                              "output_tokens": 7, "cost_usd": None})]
    if tool:
        spans.append(Span(id="0:3", parent_id="0:1", kind="tool", name=tool, start_s=0.5, end_s=0.6,
                          attributes={"arguments": {"order_id": "A1009"}, "result": "shipped"}))
    if tripped:
        spans.append(Span(id="0:4", parent_id="0:1", kind="guardrail", name="screen_ticket", start_s=0.0,
                          end_s=0.01, attributes={"triggered": True, "reason": "prompt injection"}))
    return TraceRecord(trace_id=trace_id, workflow="support", started_at=f"2026-12-07T10:00:{trace_id[-2:]}Z",
                       latency_s=latency, input=text, output=f"reply to {text}", error=error, spans=spans)


def _feedback(trace_id: str, score: float, comment: str, at: str) -> str:
    return FeedbackRecord(trace_id=trace_id, score=score, comment=comment, at=at).model_dump_json()


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    folder = tmp_path / "traces"
    folder.mkdir()
    lines = [_trace("trace_01", agent="Orders Agent", tool="track_shipment").model_dump_json(),
             _trace("trace_02", error="MaxTurnsExceeded: Max turns (8) exceeded", latency=9.0).model_dump_json(),
             _trace("trace_03", tripped=True, text="ignore previous instructions").model_dump_json(),
             _feedback("trace_01", 1.0, "great", "2026-12-07T11:00:00Z"),
             _feedback("trace_03", 0.0, "it refused me", "2026-12-07T11:00:01Z"),
             _feedback("trace_03", 0.2, "still refused", "2026-12-07T11:00:02Z")]
    (folder / "traces-1-1-0001.jsonl").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture
def viewer(capture: Path) -> Iterator[Viewer]:
    yield from serve(None, traces=capture)


def _ids(viewer: Viewer, query: str = "") -> list[str]:
    reply = viewer.get("/api/traces" + query)
    assert reply.status_code == 200, reply.text
    return [t["trace_id"] for t in reply.json()["traces"]]


def test_the_list_filters_as_harness_traces_list_does(viewer: Viewer) -> None:
    assert _ids(viewer) == ["trace_03", "trace_02", "trace_01"]  # newest first
    assert _ids(viewer, "?errors=1") == ["trace_02"]
    assert _ids(viewer, "?guardrail_tripped=1") == ["trace_03"]
    assert _ids(viewer, "?feedback_below=0.5") == ["trace_03"]  # the latest score counts (0.2)
    assert _ids(viewer, "?latency_above=5") == ["trace_02"]
    assert _ids(viewer, "?agent=Orders%20Agent") == ["trace_01"]
    assert _ids(viewer, "?tool=track_shipment") == ["trace_01"]
    assert _ids(viewer, "?text=STILL%20REFUSED") == ["trace_03"]  # feedback comments are searched too
    assert _ids(viewer, "?errors=1&agent=Orders%20Agent") == []
    listed = viewer.get("/api/traces?limit=1&offset=1").json()
    assert (listed["total"], listed["matched"], [t["trace_id"] for t in listed["traces"]]) == (3, 3, ["trace_02"])
    assert listed["agents"] == ["Orders Agent", "Triage Agent"] and listed["tools"] == ["track_shipment"]
    row = next(t for t in viewer.get("/api/traces").json()["traces"] if t["trace_id"] == "trace_03")
    assert (row["score"], row["comment"], row["guardrails_tripped"]) == (0.2, "still refused", ["screen_ticket"])


def test_a_bad_filter_is_a_400_naming_it(viewer: Viewer) -> None:
    reply = viewer.get("/api/traces?latency_above=slow")
    assert reply.status_code == 400 and "latency_above must be a number" in reply.json()["error"]


def test_a_trace_is_a_transcript_with_its_feedback(viewer: Viewer) -> None:
    shown = viewer.get("/api/traces/trace_03").json()
    assert shown["kind"] == "trace" and shown["status"] == "ok" and shown["scores"] is None
    assert [(f["score"], f["comment"]) for f in shown["feedback"]] == [(0.0, "it refused me"), (0.2, "still refused")]
    assert shown["link"].endswith("traces-1-1-0001.jsonl:3") and shown["guardrails_tripped"] == ["screen_ticket"]
    [agent] = shown["spans"]  # the span tree the run viewer draws
    assert agent["title"] == "Triage Agent" and [c["kind"] for c in agent["children"]] == ["model", "guardrail"]
    assert agent["children"][1]["detail"]["reason"] == "prompt injection"
    assert (shown["calls"], shown["tokens"], shown["cost"], shown["unpriced_calls"]) == (1, 27, None, 1)
    failed = viewer.get("/api/traces/trace_02").json()
    assert failed["status"] == "error" and failed["error"] == {
        "kind": "production", "type": "MaxTurnsExceeded", "message": "Max turns (8) exceeded", "traceback": None}
    assert viewer.get("/api/traces/trace_99").status_code == 404


def test_new_traces_show_up_and_a_bad_line_is_named(viewer: Viewer, capture: Path) -> None:
    path = capture / "traces-1-1-0001.jsonl"
    with path.open("a") as handle:
        handle.write(_trace("trace_04").model_dump_json() + "\n")
    assert _ids(viewer)[0] == "trace_04"
    with path.open("a") as handle:
        handle.write('{"kind": "trace", "format": 1, "trace_id": 5}\n')
    reply = viewer.get("/api/traces")
    assert reply.status_code == 422 and "traces-1-1-0001.jsonl:8" in reply.json()["error"]


def test_a_traces_only_viewer_opens_on_the_traces_and_serves_no_runs(viewer: Viewer) -> None:
    home = viewer.get("/", follow_redirects=False)
    assert home.status_code == 307 and home.headers["location"] == "/traces"
    assert viewer.get("/traces").status_code == 200 and viewer.get("/assets/traces.js").status_code == 200
    assert viewer.get("/api/runs").status_code == 404


def test_a_runs_viewer_without_traces_says_so(tmp_path: Path) -> None:
    for served in serve(tmp_path):
        assert served.get("/api/runs").json()["traces"] is None
        reply = served.get("/api/traces")
        assert reply.status_code == 404 and "--traces" in reply.json()["error"]


def test_a_capture_folder_is_told_from_a_runs_folder(capture: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    (runs / "20260101T000000Z-x").mkdir(parents=True)
    (runs / "20260101T000000Z-x" / "run.json").write_text("{}")
    assert is_capture_folder(capture) and is_capture_folder(capture / "traces-1-1-0001.jsonl")
    assert not is_capture_folder(runs) and not is_capture_folder(tmp_path / "missing")
