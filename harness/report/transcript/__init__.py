"""A result row as a transcript a person reads: why did this task pass or fail?

:func:`row_transcript` turns one :class:`~harness.core.results.ResultRow` into plain JSON data that
the HTML report embeds and ``harness view`` serves: the input, output and task error, every
grader's verdict and reason (a judge's rationale), and the trajectory as a **tree** in the order
the trace has it (agent turns, handoffs, tool calls with arguments and results, model calls with
their request messages and output). :func:`transcript_pair` lines two attempts at the same task
up side by side (two variants, or two runs) with a text diff of their outputs.
:func:`trace_transcript` gives a captured production trace (:mod:`harness.capture`) the same
shape, so the viewer draws a trace with the very components it draws a row with.

Both pages draw the data with the same script, :data:`SCRIPT` (``transcript.js``), and style,
:data:`STYLE` (``transcript.css``), so the static report and the viewer cannot disagree.

Names are for people: a span reads ``Triage Agent · model call 2``, never the branch path it is
keyed by (the id stays available, on hover). Durations of a replayed row are the recorded ones:
the recorded span timeline when the cassette holds it, else a model call's recorded latency; a
container span whose time is unknown says so rather than showing the replay's 0.000 s.
"""

from __future__ import annotations

import difflib
import json
import math
from functools import cache
from importlib import resources
from typing import Any

from harness.analysis.attempt import row_status
from harness.capture.query import guardrails_tripped
from harness.capture.record import CapturedTrace
from harness.core.results import ResultRow
from harness.core.trace import Span

__all__ = ["row_transcript", "trace_transcript", "transcript_pair", "span_title", "output_diff", "SCRIPT", "STYLE", "row_verdict"]

#: One encoder for every value: json.dumps with options builds a new encoder per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)


def row_verdict(row: Any) -> str:
    """pass / fail / error for one attempt: the analysis layer's verdict, so every page agrees."""
    return row_status(row)


def _clip(value: Any, limit: int | None) -> Any:
    """A value as it is, unless its text is longer than ``limit`` characters (then cut, and said so)."""
    if limit is None or value is None or isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else _ENCODER.encode(value)
    if len(text) > limit:
        return f"{text[:limit]}… (truncated: {len(text):,} characters; full text in results.jsonl)"
    return value


def _finite(value: float | None) -> float | None:
    return None if value is None or (isinstance(value, float) and not math.isfinite(value)) else value


def span_title(span: Span, call_number: int | None = None) -> str:
    """What a person calls the span: the agent, the tool, the handoff, or the model call and its number."""
    attributes = span.attributes
    if span.kind == "agent":
        return span.name
    if span.kind == "handoff":
        return f"handoff {attributes.get('from_agent')} → {attributes.get('to_agent')}"
    if span.kind == "tool":
        return f"tool {span.name}"
    if span.kind == "model":
        number = f" {call_number}" if call_number is not None else ""
        return f"model call{number} · {attributes.get('model') or span.name}"
    if span.kind == "guardrail":
        return f"guardrail {span.name}"
    return span.name


def _messages(messages: list[Any], limit: int | None) -> list[Any]:
    """Each request message with its content cut to ``limit`` (roles and tool calls kept whole)."""
    if limit is None:
        return messages
    return [{**m, "content": _clip(m.get("content"), limit)} if isinstance(m, dict) else _clip(m, limit)
            for m in messages]


def _model_detail(span: Span, limit: int | None) -> dict[str, Any]:
    attributes = span.attributes
    messages = attributes.get("messages")
    model = str(attributes.get("model") or span.name)
    cost = attributes.get("cost_usd")  # the transport records null for a model with no known price
    return {
        "model": model,
        "messages": _messages(messages, limit) if isinstance(messages, list) else None,
        # Older rows kept only the count and the last message.
        "messages_count": len(messages) if isinstance(messages, list) else messages,
        "last_message": _clip(attributes.get("last_message"), limit),
        "output": _clip(attributes.get("output"), limit),
        "tool_calls": _clip(attributes.get("tool_calls"), limit),
        "tools": attributes.get("tools") or [],
        "settings": {k: attributes.get(k) for k in ("temperature", "max_tokens", "response_format", "stream")
                     if attributes.get(k) is not None},
        "finish_reason": attributes.get("finish_reason"),
        "input_tokens": attributes.get("input_tokens"),
        "output_tokens": attributes.get("output_tokens"),
        "cost_usd": float(cost) if cost is not None else None,
        "retries": attributes.get("retries") or 0,
    }


def _detail(span: Span, limit: int | None) -> dict[str, Any]:
    attributes = span.attributes
    if span.kind == "model":
        return _model_detail(span, limit)
    if span.kind == "tool":
        return {"arguments": _clip(attributes.get("arguments"), limit), "result": _clip(attributes.get("result"), limit)}
    if span.kind == "handoff":
        return {"from_agent": attributes.get("from_agent"), "to_agent": attributes.get("to_agent")}
    if span.kind == "agent":
        return {"tools": attributes.get("tools") or [], "handoffs": attributes.get("handoffs") or [],
                "output_type": attributes.get("output_type")}
    if span.kind == "guardrail":
        shown = ("agent", "triggered", "reason", "output_info", "blocked_output")
        rest = {k: v for k, v in attributes.items() if k not in shown}
        return {"triggered": attributes.get("triggered"),
                "reason": _clip(attributes.get("reason", attributes.get("output_info")), limit),
                "blocked_output": _clip(attributes.get("blocked_output"), limit),
                "attributes": _clip(rest, limit)}
    return {"attributes": _clip({k: v for k, v in attributes.items() if k != "agent"}, limit)}


def _duration(span: Span, replayed: bool) -> tuple[float | None, str]:
    """Seconds and where they come from: ``measured``, ``recorded``, or ``unknown`` (replay, no timeline)."""
    recorded_timeline = bool(span.attributes.get("timeline") == "recorded")
    if not replayed or recorded_timeline:
        return _finite(span.duration_s), "recorded" if replayed else "measured"
    if span.kind == "model" and span.attributes.get("latency_s") is not None:
        return _finite(float(span.attributes["latency_s"])), "recorded"
    return None, "unknown"


def _agent_of(span: Span, by_id: dict[str, Span]) -> str | None:
    seen = 0
    current: Span | None = span
    while current is not None and seen < 100:
        if current.kind == "agent" and current is not span:
            return current.name
        current = by_id.get(current.parent_id or "")
        seen += 1
    return span.attributes.get("agent") if isinstance(span.attributes.get("agent"), str) else None


def _tree(spans: list[Span], replayed: bool, limit: int | None, max_spans: int | None) -> list[dict[str, Any]]:
    """The spans nested under their parents, each level in start order."""
    shown = spans if max_spans is None else spans[:max_spans]
    by_id = {s.id: s for s in spans}
    calls: dict[str | None, int] = {}
    nodes: dict[str, dict[str, Any]] = {}
    roots: list[dict[str, Any]] = []
    for span in shown:
        agent = _agent_of(span, by_id)
        number = None
        if span.kind == "model":  # numbered per agent and strand: three parallel runs each start at 1
            key = f"{agent}\0{span.branch}"
            number = calls[key] = calls.get(key, 0) + 1
        title = span_title(span, number)
        if span.kind in ("model", "tool") and agent:
            title = f"{agent} · {title}"
        duration, source = _duration(span, replayed)
        parent_span = by_id.get(span.parent_id or "")
        strand = span.branch if span.branch != (parent_span.branch if parent_span else "0") else None
        node: dict[str, Any] = {
            "id": span.id, "kind": span.kind, "name": span.name, "title": title, "agent": agent,
            "branch": span.branch, "strand": strand,
            "start": _finite(span.start_s), "dur": duration, "dur_source": source, "error": span.error,
            "detail": _detail(span, limit), "children": []}
        nodes[span.id] = node
        parent = nodes.get(span.parent_id or "")
        (parent["children"] if parent is not None else roots).append(node)
    for root in roots:
        _fill_durations(root)
    return roots


def _fill_durations(node: dict[str, Any]) -> float | None:
    """A container whose own time was not recorded takes a lower bound from its children's known
    times (``dur_source`` ``calls``): summed within a strand (one after another), the longest
    strand across strands (side by side). Returns the node's seconds, if any are known."""
    strands: dict[str, float] = {}
    for child in node["children"]:
        seconds = _fill_durations(child)
        if seconds is not None:
            strands[child["branch"]] = strands.get(child["branch"], 0.0) + seconds
    if node["dur_source"] == "unknown" and strands:
        node["dur"], node["dur_source"] = round(max(strands.values()), 4), "calls"
    return node["dur"]  # type: ignore[no-any-return]


def _conversation(tree: list[dict[str, Any]], row: ResultRow, limit: int | None) -> dict[str, Any] | None:
    """A conversation's turns as chat (``None`` for a task that was not one): each turn's customer
    message, the agent's reply, and the agent's steps of that turn (agents, handoffs, tool calls)."""
    turns = [node for node in tree if node["kind"] == "custom" and node["name"] == "turn"]
    if not turns:
        return None
    chat = []
    for node in turns:
        attributes = node["detail"].get("attributes") or {}
        chat.append({"n": attributes.get("n"), "user": attributes.get("user"), "reply": attributes.get("reply"),
                     "error": node["error"], "steps": node["children"]})
    output = row.output if isinstance(row.output, list) else []
    last = output[-1] if output and isinstance(output[-1], dict) else {}
    closing = last.get("content") if last.get("role") == "user" and len(output) > 2 * len(turns) else None
    ended = (row.state or {}).get("conversation", {}).get("ended") if isinstance(row.state, dict) else None
    return {"turns": chat, "closing": _clip(closing, limit), "ended": ended}


def _score(score: Any, limit: int | None) -> dict[str, Any]:
    error = None if score.error is None else f"{score.error.type}: {score.error.message}"
    verdict = "error" if error else "pass" if score.passed else "fail" if score.passed is not None else "n/a"
    metadata = dict(score.metadata or {})
    return {"name": score.name, "grader": score.grader, "value": _finite(score.value), "passed": score.passed,
            "verdict": verdict, "reason": _clip(score.reason, limit), "error": error,
            "judge": metadata.get("judge"), "metadata": _clip(metadata, limit) if metadata else None}


def _trajectory(spans: list[Span], replayed: bool, max_text: int | None, max_spans: int | None) -> dict[str, Any]:
    """The trajectory part every transcript has: the span tree and how much of it is shown."""
    return {"spans": _tree(spans, replayed, max_text, max_spans), "spans_total": len(spans),
            "spans_shown": len(spans) if max_spans is None else min(len(spans), max_spans)}


def row_transcript(row: ResultRow, *, max_text: int | None = None, max_spans: int | None = None) -> dict[str, Any]:
    """Everything a person needs to see why this attempt passed or failed, as JSON-ready data.

    ``max_text`` cuts long values (the static report keeps its file small); ``max_spans`` keeps
    the first spans of an enormous trajectory (the page says how many there were).
    """
    error = row.error
    unpriced = row.usage.unpriced_calls or row.trajectory.unpriced_calls
    drawn = _trajectory(row.trajectory.spans, row.replayed, max_text, max_spans)
    return {
        "run_id": row.run_id,
        "suite": row.suite,
        "variant": row.variant,
        "task": row.task_id,
        "epoch": row.epoch,
        "status": row_verdict(row),
        "tags": row.tags,
        "replayed": row.replayed,
        "latency": _finite(round(row.latency_s, 4)),
        "cost": None if unpriced else row.usage.cost_usd,
        "unpriced_calls": unpriced,
        "tokens": row.usage.total_tokens,
        "calls": row.usage.model_calls,
        "input": _clip(row.input, max_text),
        "expected": _clip(row.expected, max_text),
        "output": _clip(row.output, max_text),
        "state": _clip(row.state, max_text) if row.state else None,
        "error": None if error is None else {"kind": error.kind, "type": error.type,
                                             "message": _clip(error.message, max_text),
                                             "traceback": _clip(error.traceback, max_text)},
        "cassette": row.cassette,
        "scores": [_score(s, max_text) for s in row.scores],
        "agents": row.trajectory.handoff_path,
        **drawn,
        "conversation": _conversation(drawn["spans"], row, max_text),
    }


def _trace_error(error: str | None) -> dict[str, Any] | None:
    """A trace's error text (``"Type: message"`` as the capture writes it) as a transcript's error."""
    if error is None:
        return None
    kind, _, message = error.partition(": ")
    if not message or " " in kind:
        kind, message = "error", error
    return {"kind": "production", "type": kind, "message": message, "traceback": None}


def trace_transcript(trace: CapturedTrace, *, max_text: int | None = None,
                     max_spans: int | None = None) -> dict[str, Any]:
    """A captured production trace in :func:`row_transcript`'s shape, for the same script to draw.

    What a trace has and a row has not: the customers' ``feedback`` (oldest first), where it was
    found (``link``: file and line), its ``workflow``, ``source`` and ``metadata``, the guardrails
    that fired. What it has not: graders (``scores`` is ``None``: nothing judged it yet) and an
    expected answer. Its ``status`` is ``error`` when it ended in one, else ``ok``.
    """
    record = trace.record
    trajectory = record.trajectory
    models = trajectory.of_kind("model")
    costs = [s.attributes.get("cost_usd") for s in models]
    unpriced = sum(cost is None for cost in costs)
    tokens = sum(int(s.attributes.get("input_tokens") or 0) + int(s.attributes.get("output_tokens") or 0)
                 for s in models)
    return {
        "kind": "trace",
        "trace_id": record.trace_id,
        "task": record.trace_id,
        "variant": record.workflow,
        "workflow": record.workflow,
        "source": record.source,
        "started_at": record.started_at,
        "link": trace.link,
        "metadata": _clip(record.metadata, max_text),
        "epoch": 1,
        "status": "error" if record.error else "ok",
        "tags": [],
        "replayed": False,
        "latency": _finite(round(record.latency_s, 4)),
        "cost": None if unpriced else float(sum(float(c) for c in costs if c is not None)),
        "unpriced_calls": unpriced,
        "tokens": tokens,
        "calls": len(models),
        "exchanges": len(record.exchanges),
        "input": _clip(record.input, max_text),
        "expected": None,
        "output": _clip(record.output, max_text),
        "state": None,
        "error": _trace_error(record.error),
        "cassette": None,
        "scores": None,
        "feedback": [{"score": _finite(f.score), "comment": _clip(f.comment, max_text), "at": f.at}
                     for f in trace.feedback],
        "guardrails_tripped": guardrails_tripped(trace),
        "agents": trajectory.handoff_path,
        **_trajectory(record.spans, False, max_text, max_spans),
        "conversation": None,
    }


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list) and value and all(isinstance(m, dict) and "role" in m for m in value):
        # A transcript diffs line by line as chat, not as JSON brackets.
        return "\n".join(f"{m['role']}: {m.get('content')}" for m in value)
    return value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False, default=str)


def output_diff(a: Any, b: Any) -> list[list[str]]:
    """A line diff of two outputs as ``[op, text]`` pairs (op: ``=``, ``-``, ``+``), words kept whole."""
    left, right = _text(a).splitlines(), _text(b).splitlines()
    out: list[list[str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=left, b=right, autojunk=False).get_opcodes():
        if op == "equal":
            out.extend(["=", line] for line in left[i1:i2])
            continue
        out.extend(["-", line] for line in left[i1:i2])
        out.extend(["+", line] for line in right[j1:j2])
    return out


def _steps(transcript: dict[str, Any]) -> list[dict[str, Any]]:
    """The trajectory flattened to steps (depth first), for aligning two trajectories."""
    out: list[dict[str, Any]] = []

    def walk(nodes: list[dict[str, Any]], depth: int) -> None:
        for node in nodes:
            out.append({"key": f"{node['kind']}:{node['name']}", "title": node["title"], "kind": node["kind"],
                        "depth": depth, "id": node["id"], "error": node["error"]})
            walk(node["children"], depth + 1)

    walk(transcript["spans"], 0)
    return out


def _aligned(left: list[dict[str, Any]], right: list[dict[str, Any]]) -> list[list[dict[str, Any] | None]]:
    """Steps of two trajectories side by side: equal steps on one line, the rest opposite a gap."""
    matcher = difflib.SequenceMatcher(a=[s["key"] for s in left], b=[s["key"] for s in right], autojunk=False)
    rows: list[list[dict[str, Any] | None]] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            rows.extend([left[i1 + k], right[j1 + k]] for k in range(i2 - i1))
            continue
        a, b = left[i1:i2], right[j1:j2]
        for k in range(max(len(a), len(b))):
            rows.append([a[k] if k < len(a) else None, b[k] if k < len(b) else None])
    return rows


def transcript_pair(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Two transcripts of the same task side by side: output diff, graders next to each other, aligned steps."""
    names = [s["name"] for s in a["scores"]]
    names += [s["name"] for s in b["scores"] if s["name"] not in names]
    by_name_a = {s["name"]: s for s in a["scores"]}
    by_name_b = {s["name"]: s for s in b["scores"]}
    return {
        "a": a,
        "b": b,
        "diff": output_diff(a["output"], b["output"]),
        "graders": [{"name": n, "a": by_name_a.get(n), "b": by_name_b.get(n)} for n in names],
        "steps": _aligned(_steps(a), _steps(b)),
    }


@cache
def _asset(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


def __getattr__(name: str) -> str:
    """``SCRIPT`` and ``STYLE``: read from the package on first use (the CLI never needs them)."""
    if name == "SCRIPT":
        return _asset("transcript.js")
    if name == "STYLE":
        return _asset("transcript.css")
    raise AttributeError(name)
