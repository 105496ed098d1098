"""Capture from the OpenAI Agents SDK: its spans become harness spans of the running task.

The SDK calls trace processors synchronously, in the context of the code that opened the span,
so the task's :class:`~harness.core.trace.TraceRecorder` is found through ``contextvars`` with no
plumbing. Installing :class:`HarnessTraceProcessor` with ``set_trace_processors`` *replaces* the
SDK's default exporter — which would otherwise send traces to the network from a background
thread (landing in cassettes and failing on replay) — while keeping tracing itself on.

Turning SDK tracing off (``agents.set_tracing_disabled(True)``, ``RunConfig(tracing_disabled=True)``,
``OPENAI_AGENTS_DISABLE_TRACING``) is common in user code, to stop the export to OpenAI. Under
the harness nothing is exported, and without spans a run would silently lose its agent, handoff
and tool spans (every handoff grader failing with no word why). So :class:`HarnessTraceProvider`
keeps tracing on for the harness's own capture, and says once, naming the call, that it did.

A guardrail span says only ``triggered`` in the SDK; the harness also records why: the
``output_info`` its function returned, as ``reason``, and for an output guardrail that tripped,
the output it kept from the user, as ``blocked_output``. The SDK hands that result to no
processor, so :func:`record_guardrail_reasons` wraps ``InputGuardrail.run``/``OutputGuardrail.run``, which return it
while the guardrail's span is still the current one. Both are stored as JSON data cut to
:data:`GUARDRAIL_TEXT_LIMIT` characters (the row's secret scrubber goes over them as over every span).

Generation and response spans are not copied: the transport's ``model`` span is that call,
so an SDK model call is one span, not two. Their ids are mapped to their parent's, so model
spans hang under the agent that made them.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from agents import InputGuardrail, OutputGuardrail
from agents.tracing import TracingProcessor, get_current_span, set_trace_processors, set_trace_provider
from agents.tracing.provider import DefaultTraceProvider
from agents.tracing.span_data import (
    AgentSpanData,
    CustomSpanData,
    FunctionSpanData,
    GuardrailSpanData,
    HandoffSpanData,
)
from pydantic import BaseModel

from harness.core.trace import Span, TraceRecorder, current_recorder

__all__ = ["HarnessTraceProcessor", "HarnessTraceProvider", "install", "current_sdk_parent", "GUARDRAIL_TEXT_LIMIT",
           "record_guardrail_reasons"]

log = logging.getLogger(__name__)

_MAP_ATTR = "_sdk_span_map"

#: The most characters of a guardrail's reason (or blocked output) kept on its span: a guardrail may
#: return a whole classifier reply as its output_info; the row keeps the why, not a payload.
GUARDRAIL_TEXT_LIMIT = 4000


_Entry = tuple[str | None, Span | None, str | None]


def _span_map(recorder: TraceRecorder) -> dict[str, _Entry]:
    """SDK span id -> (harness id its children hang under, its harness span or None, SDK parent id)."""
    mapping = getattr(recorder, _MAP_ATTR, None)
    if mapping is None:
        mapping = {}
        setattr(recorder, _MAP_ATTR, mapping)
    return mapping


def _parse(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _agent_of(mapping: dict[str, _Entry], sdk_parent: str | None) -> str | None:
    """The nearest enclosing agent, walking up through spans the harness does not copy."""
    while sdk_parent is not None and sdk_parent in mapping:
        _, found, sdk_parent = mapping[sdk_parent]
        if found is not None and found.kind == "agent":
            return found.name
    return None


class HarnessTraceProcessor(TracingProcessor):
    """Turns agent, handoff, function, guardrail and custom SDK spans into harness spans."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def on_trace_start(self, trace: Any) -> None:
        return None

    def on_trace_end(self, trace: Any) -> None:
        return None

    def on_span_start(self, span: Any) -> None:
        recorder = current_recorder()
        if recorder is None:
            return
        with self._lock:
            mapping = _span_map(recorder)
            if span.span_id in mapping:
                return  # a second harness processor on the same recorder (a run's beside production capture's)
            parent_id = mapping[span.parent_id][0] if span.parent_id in mapping else None
            started = self._start(recorder, span.span_data, parent_id, mapping, span.parent_id)
            own_id = started.id if started is not None else parent_id
            mapping[span.span_id] = (own_id, started, span.parent_id)

    def _start(self, recorder: TraceRecorder, data: Any, parent_id: str | None,
               mapping: dict[str, _Entry], sdk_parent: str | None) -> Span | None:
        if isinstance(data, AgentSpanData):
            return recorder.start("agent", data.name, parent_id=parent_id, tools=data.tools or [],
                                  handoffs=data.handoffs or [], output_type=data.output_type)
        if isinstance(data, HandoffSpanData):
            return recorder.start("handoff", "handoff", parent_id=parent_id, from_agent=data.from_agent,
                                  to_agent=data.to_agent)
        if isinstance(data, FunctionSpanData):
            return recorder.start("tool", data.name, parent_id=parent_id, arguments=_parse(data.input),
                                  agent=_agent_of(mapping, sdk_parent))
        if isinstance(data, GuardrailSpanData):
            return recorder.start("guardrail", data.name, parent_id=parent_id)
        if isinstance(data, CustomSpanData):
            return recorder.start("custom", data.name, parent_id=parent_id, **dict(data.data or {}))
        return None

    def on_span_end(self, span: Any) -> None:
        recorder = current_recorder()
        if recorder is None:
            return
        with self._lock:
            _, ours, _ = _span_map(recorder).get(span.span_id, (None, None, None))
        if ours is None:
            return
        data = span.span_data
        error = span.error
        message = None if not error else f"{error.get('message')}: {error.get('data')}" if isinstance(error, dict) else str(error)
        extra: dict[str, Any] = {}
        if isinstance(data, FunctionSpanData):
            extra["arguments"] = _parse(data.input)
            extra["result"] = None if data.output is None else str(data.output)
        elif isinstance(data, HandoffSpanData):
            extra["from_agent"], extra["to_agent"] = data.from_agent, data.to_agent
            ours.name = f"{data.from_agent} -> {data.to_agent}"
        elif isinstance(data, GuardrailSpanData):
            extra["triggered"] = data.triggered
        elif isinstance(data, AgentSpanData):
            # The SDK opens an agent's span before it has resolved the agent's tools (and may
            # fill in handoffs late too): read them again now that the turn is done.
            extra.update(tools=list(data.tools or []), handoffs=list(data.handoffs or []),
                         output_type=data.output_type)
        recorder.end(ours, error=message, **extra)

    def shutdown(self) -> None:
        return None

    def force_flush(self) -> None:
        return None


def _as_data(value: Any) -> Any:
    """One value JSON cannot write as it is: a model dumped, a dataclass as a dict, anything else its text."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return str(value)


def _json_safe(value: Any, limit: int = GUARDRAIL_TEXT_LIMIT) -> Any:
    """``value`` as JSON data (see :func:`_as_data`), or, when its JSON is longer than ``limit``
    characters, that text cut there and said so. Never raises: it runs inside the user's guardrail call."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=_as_data)
    except (ValueError, TypeError, RecursionError):  # a circular structure, a model that cannot dump itself
        text = json.dumps(repr(value), ensure_ascii=False)
    if len(text) > limit:
        return f"{text[:limit]}… (cut: {len(text):,} characters)"
    return json.loads(text)


def _record_guardrail_result(result: Any) -> None:
    """Put a guardrail's output_info (and, if it tripped an output guardrail, the output it blocked)
    on the harness span of the SDK guardrail span now current."""
    recorder, sdk_span = current_recorder(), get_current_span()
    if recorder is None or sdk_span is None or not isinstance(sdk_span.span_data, GuardrailSpanData):
        return
    _, ours, _ = _span_map(recorder).get(sdk_span.span_id, (None, None, None))
    if ours is None:
        return
    outcome = result.output
    ours.attributes["reason"] = _json_safe(outcome.output_info)
    if outcome.tripwire_triggered and hasattr(result, "agent_output"):
        ours.attributes["blocked_output"] = _json_safe(result.agent_output)


def _recording_result(run: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(run)
    async def recorded(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = await run(self, *args, **kwargs)
        _record_guardrail_result(result)
        return result

    return recorded


def current_sdk_parent() -> str | None:
    """The harness span id under which a model call made now belongs (its agent's span)."""
    recorder = current_recorder()
    mapping: dict[str, _Entry] | None = None if recorder is None else getattr(recorder, _MAP_ATTR, None)
    if not mapping:
        # No SDK span recorded in this unit, so none is the parent: the SDK's span lookup (four calls
        # into the SDK) skipped for a model call outside any agent or in a plain openai flow (see
        # harness.engine.transport._sdk_parent for the figure; issue 26).
        return None
    sdk_span = get_current_span()
    if sdk_span is None:
        return None
    parent_id, _, _ = mapping.get(sdk_span.span_id, (None, None, None))
    return parent_id


class HarnessTraceProvider(DefaultTraceProvider):
    """The SDK's trace provider, except that turning tracing off does not turn off the harness's
    capture (nothing is exported either way); each way of turning it off is reported once."""

    def __init__(self) -> None:
        super().__init__()
        super().set_disabled(False)  # also overrides OPENAI_AGENTS_DISABLE_TRACING
        self.noted: set[str] = set()

    def set_disabled(self, disabled: bool) -> None:
        if disabled:
            self._note("agents.set_tracing_disabled(True)")

    def create_trace(self, name: str, trace_id: str | None = None, group_id: str | None = None,
                     metadata: dict[str, Any] | None = None, disabled: bool = False, tracing: Any = None) -> Any:
        if disabled:
            self._note("RunConfig(tracing_disabled=True)")
        return super().create_trace(name, trace_id, group_id, metadata, disabled=False, tracing=tracing)

    def create_span(self, span_data: Any, span_id: str | None = None, parent: Any = None,
                    disabled: bool = False) -> Any:
        return super().create_span(span_data, span_id, parent, disabled=False)

    def _note(self, call: str) -> None:
        if call in self.noted:
            return
        self.noted.add(call)
        log.warning("%s (%s) turns Agents SDK tracing off; the harness keeps capturing agent, handoff and tool "
                    "spans for its graders (it exports nothing)", call, _caller())


def _caller() -> str:
    """Where user code made the call: the first frame outside the SDK and this module."""
    sdk = os.path.dirname(sys.modules["agents"].__file__ or "")
    frame = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(sdk) and filename != __file__:
            return f"{filename}:{frame.f_lineno}"
        frame = frame.f_back  # type: ignore[assignment]
    return "unknown caller"


_installed = False
_reasons_recorded = False


def record_guardrail_reasons() -> None:
    """Wrap ``InputGuardrail.run``/``OutputGuardrail.run`` so a guardrail span gets its reason (see the
    module doc): for runs (:func:`install`) and production capture alike (idempotent)."""
    global _reasons_recorded
    if not _reasons_recorded:
        for guardrail in (InputGuardrail, OutputGuardrail):
            guardrail.run = _recording_result(guardrail.run)  # type: ignore[method-assign, assignment]
        _reasons_recorded = True



def install() -> None:
    """Route the SDK's spans to the harness: its provider (tracing stays on for capture) and its
    processor, replacing the exporting ones (idempotent)."""
    global _installed
    if not _installed:
        if os.environ.get("OPENAI_AGENTS_DISABLE_TRACING", "").lower() in ("1", "true"):
            log.warning("OPENAI_AGENTS_DISABLE_TRACING is set; the harness keeps capturing agent, handoff and "
                        "tool spans for its graders (it exports nothing)")
        set_trace_provider(HarnessTraceProvider())
        set_trace_processors([HarnessTraceProcessor()])
        record_guardrail_reasons()
        _installed = True
