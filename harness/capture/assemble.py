"""A finished capture unit becomes a :class:`~harness.capture.record.TraceRecord`, scrubbed.

Runs in the writer thread. Every header, body, URL and span attribute goes through the
:class:`~harness.capture.writer.Redactor` — the cassette :class:`Scrubber` (secret headers
dropped on both sides, keys and ``sk-…`` shapes and user patterns replaced, streamed replies
scrubbed across their chunks), then the user's ``redact_fn`` — before the record exists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.capture.interception import DECODED_AWAY, OpenTrace, RawExchange
from harness.capture.record import Exchange, TraceRecord
from harness.capture.writer import Redactor
from harness.core.clock import utc_now
from harness.core.trace import Span

__all__ = ["assemble", "position_of", "trace_input", "trace_output", "trace_error"]


def position_of(key: str | None) -> str:
    """``suite|channel|variant|task|e1|b0/1|c2`` -> ``b0/1|c2`` (what stays when the unit is renamed)."""
    if not key or "|b" not in key:
        return "b?|c?"
    return "b" + key.rsplit("|b", 1)[1]


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _header_pairs(lines: bytes) -> list[tuple[str, str]]:
    """The ``name: value`` lines the request path kept, names in lower case (as httpx2 gives them)."""
    pairs = (line.partition(": ") for line in lines.decode("latin-1").split("\n"))
    return [(name.lower(), value) for name, _, value in pairs if name]


def _response_headers(lines: bytes) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    for name, value in _header_pairs(lines):
        if name.lower() not in DECODED_AWAY:  # the body is stored decoded
            headers.setdefault(name, []).append(value)
    return headers


@dataclass
class _Sent:
    """A request as the scrubber reads and edits it (what it needs of a vcrpy request, and no more:
    building vcrpy's header dict was most of the writer's cost per call)."""

    headers: dict[str, str]
    body: bytes
    uri: str


@dataclass
class _Scrubbed:
    """An exchange as stored, and its two bodies scrubbed (what its model span is described from)."""

    exchange: Exchange
    request_body: bytes
    response_body: bytes
    content_type: str


def scrubbed_exchange(raw: RawExchange, redactor: Redactor) -> _Scrubbed:
    """The exchange scrubbed as a cassette is (headers, URL, bodies, streams), then the user's redaction."""
    headers = dict(_header_pairs(raw.request_headers))
    request = redactor.scrubber.request(_Sent(headers, raw.request_body, raw.url))
    response = None if raw.status is None else redactor.scrubber.response(
        {"headers": _response_headers(raw.response_headers), "body": {"string": raw.body}})
    body = b"" if response is None else response["body"]["string"]
    body = body if isinstance(body, bytes) else body.encode("utf-8", "surrogateescape")
    response_headers: dict[str, list[str]] = {} if response is None else response["headers"]
    content_type = (response_headers.get("content-type") or [""])[0]
    extra = redactor.extra  # the scrubber already ran over all of these
    if redactor.redact_fn is not None:
        request.headers = {k: extra(str(v)) for k, v in request.headers.items()}
        response_headers = {k: [extra(v) for v in values] for k, values in response_headers.items()}
    exchange = Exchange(
        position=position_of(raw.key), method=raw.method, url=extra(request.uri),
        request_headers=request.headers, request_body=extra(_text(request.body or b"")), status=raw.status,
        response_headers=response_headers, response_body=extra(_text(body)),
        latency_s=round(raw.latency_s, 6), error=None if raw.error is None else redactor.text(raw.error),
    )
    return _Scrubbed(exchange, request.body or b"", body, content_type)


def trace_input(spans: list[Span], metadata: dict[str, Any]) -> Any:
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


def trace_output(spans: list[Span]) -> Any:
    """The last text a model answered in the trace."""
    for span in sorted((s for s in spans if s.kind == "model"), key=lambda s: s.start_s, reverse=True):
        if span.attributes.get("output"):
            return span.attributes["output"]
    return None


def trace_error(spans: list[Span], exchanges: list[Exchange]) -> str | None:
    """Why the trace failed: an agent's error (the run raised), else a call that got no answer."""
    for span in sorted(spans, key=lambda s: s.start_s):
        if span.kind == "agent" and span.error:
            return span.error
    return next((e.error for e in exchanges if e.error), None)


def _redacted(span: Span, text: Callable[[str], str] | None, redactor: Redactor) -> Span:
    """A span with every string it holds through ``text`` (its kind is the harness's own word);
    ``None``: nothing left to apply."""
    if text is None:
        return span
    return span.model_copy(update={
        "id": text(span.id), "parent_id": None if span.parent_id is None else text(span.parent_id),
        "name": text(span.name), "branch": text(span.branch), "error": None if span.error is None else text(span.error),
        "attributes": redactor.value(span.attributes, text)})


def assemble(opened: OpenTrace, redactor: Redactor, sample: float) -> TraceRecord:
    """The record of a finished trace, every string in it scrubbed once: the bodies as cassettes
    scrub them, model spans described from the scrubbed bodies (so only the user's ``redact_fn``
    is left to apply to them), every other span, the metadata and the names through the whole
    :class:`Redactor`."""
    with opened.lock:
        raws = list(opened.exchanges)
    scrubbed = [scrubbed_exchange(raw, redactor) for raw in raws]
    described: set[str] = set()
    for raw, done in zip(raws, scrubbed, strict=True):
        if raw.writer is not None and raw.span is not None and raw.status is not None:
            raw.writer.fill(raw.span, raw.status, done.content_type, done.response_body,
                            request_content=done.request_body)
            described.add(raw.span.id)
    extra = redactor.extra if redactor.redact_fn is not None else None  # all a described span still needs
    spans = [_redacted(s, extra if s.id in described else redactor.text, redactor)
             for s in opened.recorder.trajectory().spans]
    exchanges = [done.exchange for done in scrubbed]
    metadata = redactor.value(opened.metadata)
    return TraceRecord(
        trace_id=opened.trace_id, source=opened.source, workflow=redactor.text(opened.workflow),
        group_id=None if opened.group_id is None else redactor.text(opened.group_id),
        metadata=metadata, started_at=utc_now(opened.started_at), latency_s=round(opened.latency_s, 6),
        input=trace_input(spans, metadata), output=trace_output(spans), error=trace_error(spans, exchanges),
        spans=spans, exchanges=exchanges, sample=sample,
    )
