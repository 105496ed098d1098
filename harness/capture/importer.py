"""Captured traces become tasks: dataset rows, and cassettes that replay the production exchanges.

``harness traces import FOLDER --suite evals/test_x.py`` appends one row per trace to the suite's
dataset (the trace id as task id, the input as the app received it, ``expected`` left for the
user, the trace link and its feedback in ``metadata``) and writes, through the cassette store's
own writer, the recording of each trace for the suite's ``<flow>@captured`` variant — the calls
keyed by branch and call number as they were in production. ``harness run --record-mode none
--variant <flow>@captured`` then replays production offline; :mod:`harness.capture.check` says
whether each row's trajectory still equals the captured one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

from vcr.request import Request

from harness.capture.record import CapturedTrace, Exchange
from harness.core.context import RequestContext
from harness.core.dataset import Task
from harness.engine.cassette.inventory import recording_meta
from harness.engine.cassette.store import KEY_HEADER, CassetteStore, RecordMode
from harness.engine.suite import Suite, SuiteError, Variant

__all__ = ["CAPTURED", "TraceImportError", "ImportResult", "captured_variant", "task_from_trace", "import_traces",
           "unit_key_prefix"]

#: The prompt-version part of a captured variant's name: ``<flow>@captured``.
CAPTURED = "captured"


NO_INPUT = "the trace holds no input (no model call, no 'input' in its metadata)"
NO_EXCHANGES = "an OTLP trace holds no HTTP bodies: it can be listed and shown, not replayed"


class TraceImportError(ValueError):
    """An import that cannot be done as asked (no captured variant, a dataset that is not JSONL)."""


@dataclass
class ImportResult:
    variant: str
    dataset: Path
    added: list[Task] = field(default_factory=list)
    cassettes: list[Path] = field(default_factory=list)
    #: (trace id, why it was not imported)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    #: (trace id, a note the user should read: a call production got no answer to...)
    notes: list[tuple[str, str]] = field(default_factory=list)


def captured_variant(suite: Suite, name: str | None = None) -> Variant:
    """The variant imported traces are recorded for: ``name``, else the suite's one ``…@captured``."""
    if name is not None:
        return suite.variant(name)
    found = [v for v in suite.variants if v.name.endswith("@" + CAPTURED)]
    if len(found) == 1:
        return found[0]
    flows = sorted({v.name.split("@", 1)[0] for v in suite.variants})
    example = f'Variant("{flows[0]}@{CAPTURED}", flow=<the flow that calls your app>)' if flows else ""
    if not found:
        raise TraceImportError(f"suite '{suite.name}' declares no '<flow>@{CAPTURED}' variant to replay captured traces "
                           f"with; add one, e.g. {example}, or name a variant with --variant")
    raise TraceImportError(f"suite '{suite.name}' declares several captured variants "
                       f"({', '.join(v.name for v in found)}); choose one with --variant")


def unit_key_prefix(suite: Suite, variant: Variant, task_id: str) -> str:
    return RequestContext(suite.name, variant.name, task_id).prefix


def task_from_trace(trace: CapturedTrace, tags: Sequence[str]) -> Task:
    record = trace.record
    feedback = [{"score": f.score, "comment": f.comment, "at": f.at} for f in trace.feedback]
    metadata: dict[str, Any] = {
        "trace": {"id": record.trace_id, "link": trace.link, "source": record.source, "workflow": record.workflow,
                  "started_at": record.started_at, "latency_s": record.latency_s, "error": record.error},
        "feedback": feedback[-1] if feedback else None,
        "captured_output": record.output,
    }
    if len(feedback) > 1:
        metadata["feedback_history"] = feedback
    return Task(id=record.trace_id, input=record.input, expected=None, tags=list(dict.fromkeys(tags)),
                metadata=metadata)


def _interaction(exchange: Exchange, key: str) -> tuple[Request, dict[str, Any]]:
    headers = dict(exchange.request_headers) | {KEY_HEADER: key}
    request = Request(exchange.method, exchange.url, exchange.request_body.encode("utf-8", "surrogateescape"),
                      headers)
    status = int(exchange.status or 0)
    try:
        message = HTTPStatus(status).phrase
    except ValueError:
        message = ""
    response = {"status": {"code": status, "message": message}, "headers": dict(exchange.response_headers),
                "body": {"string": exchange.response_body}}
    return request, response


def _recording(trace: CapturedTrace, prefix: str) -> tuple[list[tuple[Request, dict[str, Any]]], dict[str, Any],
                                                              list[str]]:
    """The trace's exchanges under the unit's keys, its timing, and the calls that cannot replay."""
    record = trace.record
    interactions, calls, unanswered = [], {}, []
    for exchange in record.exchanges:
        key = f"{prefix}|{exchange.position}"
        if exchange.status is None:
            unanswered.append(exchange.position)
            continue
        interactions.append(_interaction(exchange, key))
        calls[key] = exchange.latency_s
    spans = {s.id: [round(s.start_s, 4), None if s.end_s is None else round(s.end_s, 4)] for s in record.spans}
    timing = {"latency_s": record.latency_s, "calls": calls, "spans": spans}
    return interactions, timing, unanswered


def _dataset_path(suite: Suite) -> Path:
    path = suite.resolved_dataset().path
    if path.suffix.lower() != ".jsonl":
        raise TraceImportError(f"suite '{suite.name}': imported rows are appended to a JSONL dataset; {path} is not one")
    return path


def _existing_ids(path: Path) -> set[str]:
    from harness.core.dataset import iter_tasks

    return {task.id for task in iter_tasks(path)} if path.exists() and path.stat().st_size else set()


def _append(path: Path, tasks: list[Task]) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    lead = "" if not text or text.endswith("\n") else "\n"
    with path.open("a", encoding="utf-8") as handle:
        handle.write(lead + "".join(json.dumps(t.model_dump(mode="json"), ensure_ascii=False) + "\n" for t in tasks))


def import_traces(traces: Sequence[CapturedTrace], suite: Suite, variant: Variant, cassette_dir: Path,
                  tags: Sequence[str] = ("captured",)) -> ImportResult:
    """Append a row and write a recording per trace (a trace already in the dataset is skipped)."""
    dataset = _dataset_path(suite)
    result = ImportResult(variant=variant.name, dataset=dataset)
    known = _existing_ids(dataset)
    store = CassetteStore(cassette_dir, RecordMode.ONCE)
    for trace in traces:
        record = trace.record
        if record.trace_id in known:
            result.skipped.append((record.trace_id, "already in the dataset"))
            continue
        if record.input is None:
            result.skipped.append((record.trace_id, NO_INPUT))
            continue
        if record.source == "otlp":
            result.skipped.append((record.trace_id, NO_EXCHANGES))
            continue
        try:
            task = task_from_trace(trace, tags)
        except ValueError as exc:
            raise SuiteError(f"{trace.link}: the trace cannot be a task: {exc}") from None
        prefix = unit_key_prefix(suite, variant, task.id)
        interactions, timing, unanswered = _recording(trace, prefix)
        if unanswered:
            note = f"production got no answer to call(s) {', '.join(unanswered)}: the replay misses there"
            result.notes.append((task.id, note))
        meta = recording_meta(variant, task.input) | {
            "outcome": "error" if record.error else "ok", "timing": timing,
            "captured": {"trace_id": record.trace_id, "link": trace.link, "started_at": record.started_at},
        }
        request = RequestContext(suite.name, variant.name, task.id)
        result.cassettes.append(store.write_recording(request, interactions, meta))
        result.added.append(task)
        known.add(task.id)
    if result.added:
        _append(dataset, result.added)
    return result
