"""A finished capture unit becomes a :class:`~harness.capture.record.TraceRecord` line, scrubbed.

Runs in the writer thread. Every header, body, URL and span attribute goes through the
:class:`~harness.capture.writer.Redactor` — the cassette :class:`Scrubber` (secret headers
dropped on both sides, keys and ``sk-…`` shapes and user patterns replaced, streamed replies
scrubbed across their chunks), then the user's ``redact_fn`` — before the record exists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from harness.capture.describe import failed_agent
from harness.capture.interception import DECODED_AWAY, OpenTrace, RawExchange
from harness.capture.record import TRACE_FORMAT, TraceRecord
from harness.capture.writer import Redactor
from harness.core.clock import utc_now
from harness.core.trace import Span

__all__ = ["record_data", "record_line", "position_of", "scrubbed_exchange"]


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


def scrubbed_exchange(raw: RawExchange, redactor: Redactor) -> dict[str, Any]:
    """The exchange scrubbed as a cassette is (headers, URL, bodies, streams), then the user's
    redaction: the fields of an :class:`~harness.capture.record.Exchange`."""
    headers = dict(_header_pairs(raw.request_headers))
    request = redactor.scrubber.request(_Sent(headers, raw.request_body, raw.url))
    response = None if raw.status is None else redactor.scrubber.response(
        {"headers": _response_headers(raw.response_headers), "body": {"string": raw.body}})
    body = b"" if response is None else response["body"]["string"]
    body = body if isinstance(body, bytes) else body.encode("utf-8", "surrogateescape")
    response_headers: dict[str, list[str]] = {} if response is None else response["headers"]
    extra = redactor.extra  # the scrubber already ran over all of these
    if redactor.redact_fn is not None:
        request.headers = {k: extra(str(v)) for k, v in request.headers.items()}
        response_headers = {k: [extra(v) for v in values] for k, values in response_headers.items()}
    return {
        "position": position_of(raw.key), "method": raw.method, "url": extra(request.uri),
        "request_headers": request.headers, "request_body": extra(_text(request.body or b"")), "status": raw.status,
        "response_headers": response_headers, "response_body": extra(_text(body)),
        "latency_s": round(raw.latency_s, 6), "error": None if raw.error is None else redactor.text(raw.error),
        "span_id": None,
    }


#: The fields of a stored span (the record's ``spans`` hold them all, as ``Span.model_dump`` gives them).
_SPAN_FIELDS = tuple(Span.model_fields)


def _span_data(span: Span, text: Callable[[str], str] | None, redactor: Redactor) -> dict[str, Any]:
    """A span's fields, every string it holds through ``text`` (its kind is the harness's own word);
    ``None``: nothing left to apply."""
    data = {name: getattr(span, name) for name in _SPAN_FIELDS}
    if text is not None:
        for name in ("id", "parent_id", "name", "branch", "error"):
            if data[name] is not None:
                data[name] = text(data[name])
        data["attributes"] = redactor.value(span.attributes, text)
    return data


def record_data(opened: OpenTrace, redactor: Redactor, sample: float) -> dict[str, Any]:
    """The fields of the :class:`~harness.capture.record.TraceRecord` of a finished trace (format 2),
    every string in it scrubbed once: the bodies as cassettes scrub them, every span, the metadata
    and the names through the whole :class:`Redactor`.

    Model spans are stored as the request path placed them, each named by its exchange: the reader
    describes them from the exchange's bodies (:mod:`harness.capture.describe`; parsing both bodies
    here was the biggest part of the writer's cost per call, issue 26)."""
    with opened.lock:
        raws = list(opened.exchanges)
    # A placed model span holds the harness's own words (kind, ids, key, retries): only the user's
    # redact_fn is left to apply to it, as to the bodies it will be described from.
    extra = redactor.extra if redactor.redact_fn is not None else None
    placed = {raw.span.id for raw in raws if raw.span is not None}
    recorded = opened.recorder.trajectory().spans
    spans = [_span_data(s, extra if s.id in placed else redactor.text, redactor) for s in recorded]
    exchanges = [scrubbed_exchange(raw, redactor) for raw in raws]
    for raw, exchange in zip(raws, exchanges, strict=True):
        if raw.span is not None:
            exchange["span_id"] = raw.span.id if extra is None else extra(raw.span.id)
    metadata = redactor.value(opened.metadata)
    agent = failed_agent(recorded)  # an agent span is scrubbed whole, as its error is here
    error = redactor.text(str(agent.error)) if agent is not None else next(
        (e["error"] for e in exchanges if e["error"]), None)
    return {
        "kind": "trace", "format": TRACE_FORMAT, "trace_id": opened.trace_id, "source": opened.source,
        "workflow": redactor.text(opened.workflow),
        "group_id": None if opened.group_id is None else redactor.text(opened.group_id),
        "metadata": metadata, "started_at": utc_now(opened.started_at), "latency_s": round(opened.latency_s, 6),
        "input": metadata.get("input"), "output": None,
        "error": error,
        "spans": spans, "exchanges": exchanges, "sample": sample,
    }


_encoder = msgspec.json.Encoder()


def record_line(opened: OpenTrace, redactor: Redactor, sample: float) -> bytes:
    """The trace as one JSON line of its :class:`~harness.capture.record.TraceRecord`.

    Encoded from plain data with msgspec rather than built as the pydantic model and dumped:
    constructing the record and its exchanges and dumping them was about a third of the writer's
    instructions per call (callgrind, bench/capture_overhead.py; issue 26). What msgspec cannot
    encode (an app's own object in the trace metadata) goes through the model, which serialises it
    or refuses it as before. ``tests/capture/test_production.py`` checks that a written line is what
    the model would write."""
    data = record_data(opened, redactor, sample)
    try:
        return _encoder.encode(data) + b"\n"
    except TypeError:
        return TraceRecord.model_validate(data).model_dump_json().encode() + b"\n"
