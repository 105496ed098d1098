"""A run folder with script planted in every field a run can carry, for the pages that show it.

Each planted value is ``<field><payload>``: the payload is markup that, if any page parsed it as
HTML, would leave an element marked ``data-xss`` in the page and (without the Content-Security-
Policy) run script that sets ``window.__xss``. A page passes when neither happens and the text
itself is on the page, shown as text.
"""

from __future__ import annotations

from pathlib import Path

from harness.core.results import (
    ErrorInfo,
    ResultRow,
    ResultWriter,
    RunFolder,
    RunManifest,
    ScoreRecord,
    Usage,
    VariantInfo,
)
from harness.core.trace import Span, Trajectory

#: No "/" (it is also a folder name), both quote kinds, an element, an event handler and a script.
PAYLOAD = "\"'><img src=x data-xss onerror=window.__xss=1><svg data-xss onload=window.__xss=2>"
#: The part of the payload a page shows as text when it escapes it.
SHOWN = "<img src=x data-xss"
SCRIPT = "<script data-xss>window.__xss=3</script>"


def planted(name: str) -> str:
    return f"{name}{PAYLOAD}"


RUN_ID = "20991231T000000Z-" + planted("run")
VARIANTS = (planted("a@v1"), planted("b@v2"))
TASKS = tuple(planted(f"task{i}") for i in range(3))


def _spans(variant: str) -> list[Span]:
    messages = [
        {"role": "system", "content": planted("system") + SCRIPT},
        {"role": "user", "content": [{"type": "input_text", "text": planted("user-part")}]},
        {"type": "function_call", "call_id": planted("call"), "name": planted("fn"), "arguments": '{"q": "' + planted("arg").replace('"', '\\"') + '"}'},
        {"type": "function_call_output", "call_id": planted("call"), "output": planted("fn-output")},
        {"role": planted("role"), "content": planted("odd-role")},
    ]
    return [
        Span(id="0:1", kind="agent", name=planted("agent"), start_s=0.0, end_s=1.0,
             attributes={"tools": [planted("tool")], "handoffs": [planted("other")], "output_type": planted("type")}),
        Span(id="0:2", parent_id="0:1", kind="model", name=planted("model"), start_s=0.1, end_s=0.4,
             attributes={"model": planted("gpt"), "messages": messages, "output": planted("model-output"),
                         "tool_calls": [{"name": planted("call-name"), "arguments": planted("call-args")}],
                         "tools": [planted("offered")], "finish_reason": planted("finish"), "temperature": 0.1,
                         "input_tokens": 10, "output_tokens": 5, "cost_usd": 0.0}),
        Span(id="0:3", parent_id="0:1", kind="tool", name=planted("tool"), start_s=0.4, end_s=0.5,
             attributes={"arguments": {planted("key"): planted("value")}, "result": planted("result"),
                         "agent": planted("agent")}, error=planted("tool-error")),
        Span(id="0:4", parent_id="0:1", kind="handoff", name="handoff", start_s=0.5, end_s=0.5,
             attributes={"from_agent": planted("from"), "to_agent": planted("to")}),
        Span(id="0:5", parent_id="0:1", kind="guardrail", name=planted("guard"), start_s=0.5, end_s=0.6,
             attributes={"triggered": True, "reason": planted("guard-reason"),
                         "blocked_output": planted("guard-blocked")}),
        Span(id="0:6", parent_id="0:1", kind="custom", name=planted("event"), branch="0.1", start_s=0.6, end_s=0.6,
             attributes={planted("attr"): planted("attr-value"), "variant": variant}),
    ]


def _row(variant: str, task: str, errored: bool) -> ResultRow:
    return ResultRow(
        run_id=RUN_ID, suite=planted("suite"), variant=variant, task_id=task, tags=[planted("tag")],
        input={"message": planted("input")}, expected=planted("expected"), output=planted("output") + SCRIPT,
        state={planted("state"): planted("state-value")},
        error=ErrorInfo(kind="task", type=planted("Error"), message=planted("task-error"),
                        traceback=planted("traceback")) if errored else None,
        scores=[] if errored else [
            ScoreRecord(grader=planted("grader"), name=planted("metric"), value=1.0 if variant == VARIANTS[0] else 0.0,
                        passed=variant == VARIANTS[0], reason=planted("reason"), metadata={planted("meta"): planted("m")}),
            ScoreRecord(grader=planted("judge"), name="judged", error=ErrorInfo(kind="grader", type="E",
                                                                            message=planted("grader-error"))),
        ],
        usage=Usage(model_calls=1, input_tokens=10, output_tokens=5, cost_usd=0.0), latency_s=0.5,
        trajectory=Trajectory(spans=_spans(variant)), cassette=planted("cassette"),
    )


def make_hostile_run(root: Path) -> Path:
    """The run folder (complete, two variants, three tasks, one task error) under ``root``."""
    manifest = RunManifest(
        run_id=RUN_ID, suite=planted("suite"), status="complete", created_at="2099-12-31T00:00:00Z",
        finished_at="2099-12-31T00:01:00Z", git_commit=planted("commit"), git_dirty=True, label=planted("label"),
        description=planted("notes"), record_mode=planted("mode"), baseline_variant=VARIANTS[0],
        variants=[VariantInfo(name=v, settings={"flow": planted("flow"), "prompt": {
            "name": planted("prompt"), "version": planted("version"), "sha256": planted("sha")}},
            settings_hash=planted("hash"), prompt_parts={planted("part"): planted(f"prompt text {i}")})
            for i, v in enumerate(VARIANTS)],
        totals={"expected_rows": len(VARIANTS) * len(TASKS)}, notes=[planted("note")],
    )
    folder = RunFolder.create(root, manifest)
    writer = ResultWriter(folder.results_path)
    for variant in VARIANTS:
        for i, task in enumerate(TASKS):
            writer.write(_row(variant, task, errored=variant == VARIANTS[1] and i == 2))
    writer.close()
    return folder.path


#: Trace ids of the hostile capture folder (markup in the id too: it is a path segment of the page).
TRACE_IDS = (planted("trace_ok"), planted("trace_err"))


def make_hostile_capture(folder: Path) -> Path:
    """A capture folder (harness.capture's format) with markup in every field a trace can carry:
    id, workflow, metadata, input, output, error, the spans of a row, and the feedback comment."""
    from harness.capture.record import FeedbackRecord, TraceRecord

    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, trace_id in enumerate(TRACE_IDS):
        lines.append(TraceRecord(
            trace_id=trace_id, workflow=planted("workflow"), group_id=planted("group"),
            metadata={planted("meta-key"): planted("meta-value")}, started_at=f"2099-12-31T00:00:0{i}Z",
            latency_s=1.5 + i, input=planted("trace-input") + SCRIPT, output=planted("trace-output") + SCRIPT,
            error=f"{planted('TraceError')}: {planted('trace-error')}" if i else None,
            spans=_spans(planted("variant"))).model_dump_json())
        lines.append(FeedbackRecord(trace_id=trace_id, score=0.0, comment=planted("feedback") + SCRIPT,
                                    at="2099-12-31T00:01:00Z").model_dump_json())
    path = folder / "traces-hostile.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
