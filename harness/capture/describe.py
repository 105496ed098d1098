"""Describing a stored trace's model spans from its exchanges, when it is read (trace format 2).

A model span says what the call asked and got: the request's parameters and messages, the reply,
tokens and cost. All of it is in the call's exchange (the request and response bodies, scrubbed
and redacted as they were written), so format 2 stores the span *placed* only — its id, parent,
timing, key and retries, decided in the app's request path — with the exchange naming it
(``Exchange.span_id``), and the reader describes it with the harness transport's own
:class:`~harness.engine.transport.SpanWriter`, exactly as a run describes a model span from the
bodies it records. Parsing both bodies in the capture's writer thread was a sixth of the
writer's instructions per trace (callgrind, one call a trace: 0.54M -> 0.45M; issue 26), and the
record held every message twice. Format 1 records carry their spans described and are read as
they are.

The trace's ``input`` (unless the trace metadata named it) and ``output`` come from the described
spans (:func:`trace_input`, :func:`trace_output`), so the reader fills them in too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import httpx2

from harness.core.trace import Span
from harness.engine.transport import SpanWriter

__all__ = ["StoredExchange", "describe_spans", "trace_input", "trace_output", "trace_error", "failed_agent"]


class StoredExchange(Protocol):
    """What describing a span reads of a stored exchange (:class:`harness.capture.record.Exchange`)."""

    @property
    def span_id(self) -> str | None: ...
    @property
    def method(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def request_body(self) -> str: ...
    @property
    def status(self) -> int | None: ...
    @property
    def response_headers(self) -> dict[str, list[str]]: ...
    @property
    def response_body(self) -> str: ...


def _body(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _describe(span: Span, exchange: StoredExchange) -> None:
    writer = SpanWriter(None, httpx2.Request(exchange.method, exchange.url, content=_body(exchange.request_body)))
    content_type = (exchange.response_headers.get("content-type") or [""])[0]
    writer.fill(span, exchange.status or 0, content_type, _body(exchange.response_body))


def describe_spans(spans: Sequence[Span], exchanges: Iterable[StoredExchange]) -> None:
    """Describe the placed model spans of a format-2 trace from the exchanges naming them (in place)."""
    by_id = {span.id: span for span in spans}
    for exchange in exchanges:
        span = by_id.get(exchange.span_id) if exchange.span_id is not None else None
        if span is not None and exchange.status is not None:
            _describe(span, exchange)


def trace_input(spans: Sequence[Span], metadata: dict[str, Any]) -> Any:
    """What the app asked its agents: the trace metadata's ``input``, else the first model call's
    user turn (one user message's text as a string, several as the message list)."""
    if "input" in metadata:
        return metadata["input"]
    calls = [s for s in spans if s.kind == "model"]
    if not calls:
        return None
    turn: list[dict[str, Any]] = []
    for message in calls[0].attributes.get("messages") or []:
        role = message.get("role") if isinstance(message, dict) else None
        if role == "assistant" or (role is None and turn):
            break
        if role == "user":
            turn.append(message)
    if len(turn) == 1 and isinstance(turn[0].get("content"), str):
        return turn[0]["content"]
    return turn or None


def trace_output(spans: Sequence[Span]) -> Any:
    """The last text a model answered in the trace."""
    for span in sorted((s for s in spans if s.kind == "model"), key=lambda s: s.start_s, reverse=True):
        if span.attributes.get("output"):
            return span.attributes["output"]
    return None


def failed_agent(spans: Sequence[Span]) -> Span | None:
    """The first agent that failed in the trace (raised), if any.

    A guardrail that tripped is a guardrail event, not a failure: the SDK marks the agent whose
    guardrail fired with an error (an output guardrail's agent always, an input guardrail's only
    sometimes), and the app decides what the tripwire means — most catch it and answer with a
    refusal. So an agent whose own guardrail tripped has not failed, for input and output
    guardrails alike; ``harness traces list --guardrail-tripped`` finds these traces.
    """
    failed = [s for s in spans if s.kind == "agent" and s.error]
    if not failed:  # most traces: one pass, no set and no sort (capture's writer asks it of every trace)
        return None
    tripped = {s.parent_id for s in spans if s.kind == "guardrail" and s.attributes.get("triggered")}
    return next((s for s in sorted(failed, key=lambda s: s.start_s) if s.id not in tripped), None)


def trace_error(spans: Sequence[Span], call_errors: Iterable[str | None]) -> str | None:
    """Why the trace failed: an agent's error (the run raised, :func:`failed_agent`), else a call
    that got no answer."""
    agent = failed_agent(spans)
    return agent.error if agent is not None else next((e for e in call_errors if e), None)
