"""The stored form of a captured trace: one JSON line per trace, versioned.

A capture folder holds size-rotated ``traces-<pid>-<n>.jsonl`` files. Each line is one
:class:`TraceRecord` (``"kind": "trace"``) or one :class:`FeedbackRecord` (``"kind":
"feedback"``, a user's verdict on a trace, written whenever it arrives). Both carry ``format``:
readers refuse a format they do not know rather than guess, and migrate older ones here.

The record is the harness's own data, never a third-party library's objects: the trajectory is
the harness's :class:`~harness.core.trace.Span` list (the same spans a run's rows hold, so a
replayed row can be compared with the trace it came from), and each model exchange is the HTTP
request and response as the wire carried them (scrubbed), from which the importer writes
cassettes.

Formats: 2 (written now) stores each model span as the app's request path placed it and names
it from its exchange (``span_id``); :func:`read_traces` describes it from the exchange's bodies
(:mod:`harness.capture.describe`). 1 stored model spans described; it is read as written, except
that the trace's ``error`` is derived again by today's rule (a guardrail that tripped is not an
error). Neither depends on a third-party library's objects.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from harness.capture.describe import describe_spans, trace_error, trace_input, trace_output
from harness.core.trace import Span, Trajectory

__all__ = ["TRACE_FORMAT", "READABLE_FORMATS", "Exchange", "TraceRecord", "FeedbackRecord", "CapturedTrace", "TraceFileError",
           "read_traces", "trace_files"]

#: 1: the first format (a trajectory of harness spans, exchanges keyed by branch and call).
#: 2: model spans stored as placed (id, parent, timing, key, retries), each named by its exchange's
#: ``span_id`` and described from the exchange's bodies when read (harness.capture.describe).
TRACE_FORMAT = 2
#: The formats this harness reads (1 as it was written: its model spans are already described).
READABLE_FORMATS = (1, 2)


class Exchange(BaseModel):
    """One model call as it went over the wire (headers and bodies scrubbed before writing)."""

    #: Where the call sits in the trace: ``b<branch path>|c<call number>`` (as cassette keys end).
    position: str
    method: str = "POST"
    url: str
    request_headers: dict[str, str] = Field(default_factory=dict)
    request_body: str = ""
    status: int | None = None
    response_headers: dict[str, list[str]] = Field(default_factory=dict)
    response_body: str = ""
    latency_s: float = 0.0
    #: The call reached no answer (a connection error): it cannot be replayed.
    error: str | None = None
    #: Format 2: the id of the model span this call made, described from these bodies when read.
    span_id: str | None = None


class TraceRecord(BaseModel):
    """One captured trace: what the app was asked, what its agents did, and every model exchange."""

    kind: Literal["trace"] = "trace"
    format: int = TRACE_FORMAT
    trace_id: str
    #: ``agents-sdk`` (harness.capture.install, an SDK trace), ``openai`` (harness.capture.install, a
    #: plain ``openai`` call or a ``harness.capture.trace`` block) or ``otlp`` (imported from OpenTelemetry JSON).
    source: str = "agents-sdk"
    workflow: str = ""
    group_id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    started_at: str
    latency_s: float = 0.0
    #: What the app passed to the agents (the first model request's user turn, unless the trace's
    #: metadata names an ``input``).
    input: Any = None
    output: Any = None
    error: str | None = None
    spans: list[Span] = Field(default_factory=list)
    exchanges: list[Exchange] = Field(default_factory=list)
    #: The share of traces the capture kept when this one was written (``install(sample=…)``).
    sample: float = 1.0

    @property
    def trajectory(self) -> Trajectory:
        return Trajectory(spans=self.spans)


class FeedbackRecord(BaseModel):
    """A user's verdict on a trace (``harness.capture.feedback``)."""

    kind: Literal["feedback"] = "feedback"
    format: int = TRACE_FORMAT
    trace_id: str
    score: float
    comment: str | None = None
    at: str


@dataclass
class CapturedTrace:
    """A trace as read back, with the feedback given on it and where it was found."""

    record: TraceRecord
    path: Path
    line: int
    feedback: list[FeedbackRecord]

    @property
    def trace_id(self) -> str:
        return self.record.trace_id

    @property
    def score(self) -> float | None:
        """The latest feedback score, if any."""
        return self.feedback[-1].score if self.feedback else None

    @property
    def link(self) -> str:
        return f"{self.path}:{self.line}"


class TraceFileError(ValueError):
    """A capture file with lines that are not trace or feedback records (file, line, field)."""


def trace_files(folder: Path) -> list[Path]:
    """The capture files of a folder, oldest first (a single ``.jsonl`` file is itself)."""
    folder = Path(folder)
    if folder.is_file():
        return [folder]
    if not folder.is_dir():
        raise TraceFileError(f"{folder}: no such capture folder or file")
    return sorted(folder.glob("*.jsonl"), key=lambda p: (p.stat().st_mtime, p.name))


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                yield number, line


def _parse(path: Path, number: int, line: str) -> TraceRecord | FeedbackRecord:
    import json

    try:
        raw = json.loads(line)
    except ValueError as exc:
        if not line.endswith("\n"):  # the last line of a file still being written, or cut by a crash
            raise _Torn from None
        raise TraceFileError(f"{path}:{number}: not JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise TraceFileError(f"{path}:{number}: expected a JSON object")
    version = raw.get("format")
    if version not in READABLE_FORMATS:
        readable = ", ".join(str(f) for f in READABLE_FORMATS)
        raise TraceFileError(f"{path}:{number}: field 'format': {version!r} is not a trace format this harness "
                             f"reads (it reads {readable}); upgrade orchestration-harness")
    model: type[TraceRecord | FeedbackRecord] = FeedbackRecord if raw.get("kind") == "feedback" else TraceRecord
    try:
        record = model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise TraceFileError(f"{path}:{number}: field '{field}': {first['msg']}") from None
    if isinstance(record, TraceRecord) and version >= 2:
        describe_spans(record.spans, record.exchanges)
        if record.input is None:
            record.input = trace_input(record.spans, record.metadata)
        if record.output is None:
            record.output = trace_output(record.spans)
    elif isinstance(record, TraceRecord) and record.source != "otlp":
        # Format 1 counted an agent whose guardrail tripped as the trace's error (for output
        # guardrails only); the rule now is one for both (harness.capture.describe.trace_error).
        record.error = trace_error(record.spans, [e.error for e in record.exchanges])
    return record


class _Torn(Exception):
    pass


def read_traces(folder: Path) -> list[CapturedTrace]:
    """Every trace of a capture folder with its feedback, in capture order.

    A torn last line (a writer killed mid-line) is skipped; any other bad line is an error naming
    file, line and field.
    """
    traces: dict[str, CapturedTrace] = {}
    feedback: dict[str, list[FeedbackRecord]] = {}
    for path in trace_files(folder):
        for number, line in _lines(path):
            try:
                record = _parse(path, number, line)
            except _Torn:
                continue
            if isinstance(record, FeedbackRecord):
                feedback.setdefault(record.trace_id, []).append(record)
            else:
                traces[record.trace_id] = CapturedTrace(record, path, number, [])
    for trace_id, given in feedback.items():
        if trace_id in traces:
            traces[trace_id].feedback = sorted(given, key=lambda f: f.at)
    return list(traces.values())
