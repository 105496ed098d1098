"""A capture folder in ``harness view``: the production traces, found and read as runs' rows are.

``harness view traces/`` (a folder ``harness.capture.install`` writes, or OTLP imported with
``harness traces otlp``) or ``harness view reports/runs --traces traces/`` adds:

``GET /api/traces``           the traces matching ``errors guardrail_tripped feedback_below latency_above
                              agent tool text`` (the filters of ``harness traces list``, one
                              :class:`~harness.capture.query.TraceFilter`), newest first, with ``offset
                              limit``; and the agents and tools seen, for the filter choices
``GET /api/traces/{trace}``   one trace as a transcript (:func:`~harness.report.transcript.trace_transcript`:
                              the run viewer's own components draw it), its feedback included

and the pages ``/traces`` and ``/traces/{trace}``. The folder is read again only when one of its
files changed (name, size, modification time); a trace id is looked up, never used as a path.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harness.capture.query import TraceFilter, guardrails_tripped
from harness.capture.record import CapturedTrace, TraceFileError, read_traces, trace_files
from harness.report.transcript import trace_transcript
from harness.view.routes import MAX_PAGE, api_int, json_response, page

__all__ = ["TraceCatalog", "TRACE_ROUTES", "is_capture_folder"]

#: The characters of an input or output a list row carries (the page clips them further).
PREVIEW_CHARS = 300


def is_capture_folder(path: Path) -> bool:
    """A capture file, or a folder of capture files with no run folders in it."""
    path = Path(path)
    if path.is_file():
        return path.suffix == ".jsonl"
    if not path.is_dir() or any((child / "run.json").is_file() for child in path.iterdir() if child.is_dir()):
        return False
    return any(path.glob("*.jsonl"))


def _preview(value: Any) -> str | None:
    if value is None:
        return None
    import json

    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"


@dataclass
class TraceCatalog:
    """The traces of one capture folder, re-read when its files change."""

    folder: Path

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._signature: tuple[Any, ...] | None = None
        self._traces: list[CapturedTrace] = []

    def _current_signature(self) -> tuple[Any, ...]:
        found = []
        for path in trace_files(self.folder):
            stat = path.stat()
            found.append((path.name, stat.st_size, stat.st_mtime_ns))
        return tuple(found)

    def traces(self) -> list[CapturedTrace]:
        """Every trace, newest first (a bad line is an error naming file, line and field)."""
        with self._lock:
            signature = self._current_signature()
            if signature != self._signature:
                traces = read_traces(self.folder)
                self._traces = sorted(traces, key=lambda t: t.record.started_at, reverse=True)
                self._signature = signature
            return self._traces

    def find(self, trace_id: str) -> CapturedTrace | None:
        return next((t for t in self.traces() if t.trace_id == trace_id), None)


def _summary(trace: CapturedTrace) -> dict[str, Any]:
    """A trace as one line of the list: enough to choose it, nothing a page would have to compute."""
    record = trace.record
    trajectory = record.trajectory
    latest = trace.feedback[-1] if trace.feedback else None
    return {"trace_id": record.trace_id, "workflow": record.workflow, "source": record.source,
            "started_at": record.started_at, "latency_s": record.latency_s, "agents": trajectory.handoff_path,
            "tools": [t.name for t in trajectory.tool_calls], "guardrails_tripped": guardrails_tripped(trace),
            "error": _preview(record.error), "score": trace.score,
            "comment": None if latest is None else _preview(latest.comment),
            "input": _preview(record.input), "output": _preview(record.output)}


def _number(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name, "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise HTTPException(400, f"{name} must be a number, got {raw!r}") from None


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "") in ("1", "true", "on")


def trace_filter(request: Request) -> TraceFilter:
    """The filters of ``harness traces list``, from the query string."""
    params = request.query_params
    return TraceFilter(errors=_flag(request, "errors"), guardrail_tripped=_flag(request, "guardrail_tripped"),
                       feedback_below=_number(request, "feedback_below"),
                       latency_above_s=_number(request, "latency_above"),
                       agent=params.get("agent") or None, tool=params.get("tool") or None,
                       text=params.get("text", "").strip() or None)


def _catalog(request: Request) -> TraceCatalog:
    catalog: TraceCatalog | None = getattr(request.app.state, "traces", None)
    if catalog is None:
        raise HTTPException(404, "this viewer serves no capture folder: harness view --traces FOLDER")
    return catalog


def _all(request: Request) -> list[CapturedTrace]:
    try:
        return _catalog(request).traces()
    except TraceFileError as exc:
        raise HTTPException(422, str(exc)) from None


def api_traces(request: Request) -> Response:
    traces = _all(request)
    chosen = trace_filter(request).select(traces)
    offset = api_int(request, "offset", 0, 0, 10**9)
    limit = api_int(request, "limit", 50, 1, MAX_PAGE)
    agents = sorted({a for t in traces for a in t.record.trajectory.agents})
    tools = sorted({c.name for t in traces for c in t.record.trajectory.tool_calls})
    return json_response({"folder": str(_catalog(request).folder), "total": len(traces), "matched": len(chosen),
                          "offset": offset, "traces": [_summary(t) for t in chosen[offset:offset + limit]],
                          "agents": agents, "tools": tools})


def api_trace(request: Request) -> Response:
    _all(request)
    trace_id = str(request.path_params["trace"])
    found = _catalog(request).find(trace_id)
    if found is None:
        raise HTTPException(404, f"no trace {trace_id!r} in {_catalog(request).folder}")
    return json_response(trace_transcript(found))


TRACE_ROUTES = [
    Route("/traces", page),
    Route("/traces/{trace}", page),
    Route("/api/traces", api_traces),
    Route("/api/traces/{trace}", api_trace),
]
