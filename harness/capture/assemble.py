"""A finished capture unit becomes a :class:`~harness.capture.record.TraceRecord` line, scrubbed.

Runs in the writer thread. Every header, body, URL and span attribute goes through the
:class:`~harness.capture.writer.Redactor` — the cassette :class:`Scrubber` (secret headers
dropped on both sides, keys and ``sk-…`` shapes and user patterns replaced, streamed replies
scrubbed across their chunks), then the user's ``redact_fn`` — before the record exists.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from harness.capture.describe import failed_agent
from harness.capture.interception import DECODED_AWAY, OpenTrace, RawExchange
from harness.capture.record import TRACE_FORMAT, TraceRecord
from harness.capture.writer import Redactor
from harness.core.clock import utc_now
from harness.core.trace import Span
from harness.engine.cassette.scrub import REQUEST_HEADERS, RESPONSE_HEADERS, Scrubber

__all__ = ["record_data", "record_line", "position_of", "scrubbed_exchange"]


def position_of(key: str | None) -> str:
    """``suite|channel|variant|task|e1|b0/1|c2`` -> ``b0/1|c2`` (what stays when the unit is renamed)."""
    if not key or "|b" not in key:
        return "b?|c?"
    return "b" + key.rsplit("|b", 1)[1]


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


#: Response headers not stored: the secret ones, and those describing the wire form of a body kept decoded.
_RESPONSE_DROPPED = RESPONSE_HEADERS | DECODED_AWAY


#: Scrubbed header lines kept per kind at most; past it the memo starts again (a line with a date
#: or a length in it is new on many calls).
_MEMO_LINES = 4096


def _scrubbed_headers(lines: bytes, dropped: frozenset[str], scrubber: Scrubber,
                      memo: dict[str, tuple[str, str]]) -> list[tuple[str, str]]:
    """The ``name: value`` lines the request path kept, names in lower case (as httpx2 gives them),
    without the ``dropped`` ones, each value scrubbed: what the cassette scrubber keeps of headers
    (:meth:`Scrubber.request` and :meth:`Scrubber.response` drop the same secret headers and scrub
    each value with the same :meth:`Scrubber.text`). The user's ``redact_fn`` is not applied here.

    A line's result depends on the line and the scrubber only, and an app's clients send the same
    lines call after call (user agent, ``x-stainless-*``, host, accept, content type): ``memo``
    keeps each kept line's result, so a line seen before is one dict lookup instead of being split,
    its name lowered and tested and its value scrubbed (timeit, the bench's 17 request header
    lines: 5.0 -> 1.9 us; callgrind numbers in docs/capture.md; issue 26). Only lines with nothing
    to scrub are memoised: a secret header, or a value the scrubber changed, is done again each time
    and kept nowhere past its trace."""
    kept = []
    for line in lines.decode("latin-1").split("\n"):
        pair = memo.get(line)
        if pair is None:
            name, _, value = line.partition(": ")
            name = name.lower()
            if not name or name in dropped:
                continue
            pair = (name, scrubber.text(value))
            if pair[1] == value:  # nothing secret in it (a line that held one is not kept past its trace)
                if len(memo) >= _MEMO_LINES:
                    memo.clear()
                memo[line] = pair
        kept.append(pair)
    return kept


def _request_headers(lines: bytes, redactor: Redactor, extra: Callable[[str], str] | None) -> dict[str, str]:
    headers = dict(_scrubbed_headers(lines, REQUEST_HEADERS, redactor.scrubber, redactor.request_lines))
    return headers if extra is None else {name: extra(value) for name, value in headers.items()}


def scrubbed_exchange(raw: RawExchange, redactor: Redactor) -> dict[str, Any]:
    """The exchange scrubbed as a cassette is (secret headers dropped, every header value, the URL
    and both bodies scrubbed, a stream across its events), then the user's redaction: the fields of
    an :class:`~harness.capture.record.Exchange`. ``tests/capture/test_assemble.py`` holds it to
    the cassette hooks' result."""
    scrubber = redactor.scrubber
    extra = redactor.extra if redactor.redact_fn is not None else None
    response_headers: dict[str, list[str]] = {}
    body = ""
    if raw.status is not None:
        for name, value in _scrubbed_headers(raw.response_headers, _RESPONSE_DROPPED, scrubber,
                                             redactor.response_lines):
            response_headers.setdefault(name, []).append(value)
        body = scrubber.response_body(response_headers, _text(raw.body))
        if extra is not None:
            response_headers = {k: [extra(v) for v in values] for k, values in response_headers.items()}
    return {
        "position": position_of(raw.key), "method": raw.method, "url": redactor.text(raw.url),
        "request_headers": _request_headers(raw.request_headers, redactor, extra),
        "request_body": redactor.extra(scrubber.body(_text(raw.request_body))), "status": raw.status,
        "response_headers": response_headers, "response_body": redactor.extra(body),
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
    here was a sixth of the writer's instructions per trace, issue 26)."""
    with opened.lock:
        raws = list(opened.exchanges)
    # A placed model span holds the harness's own words (kind, ids, key, retries): only the user's
    # redact_fn is left to apply to it, as to the bodies it will be described from.
    extra = redactor.extra if redactor.redact_fn is not None else None
    placed = {raw.span.id for raw in raws if raw.span is not None}
    recorded = opened.recorder.spans()
    spans = [_span_data(s, extra if s.id in placed else redactor.text, redactor) for s in recorded]
    exchanges = [scrubbed_exchange(raw, redactor) for raw in raws]
    for raw, exchange in zip(raws, exchanges, strict=True):
        if raw.span is not None:
            exchange["span_id"] = raw.span.id if extra is None else extra(raw.span.id)
    metadata = redactor.value(opened.metadata) if opened.metadata else {}
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
    constructing the record and its exchanges and dumping them was a fifth of the writer's
    instructions per trace (callgrind: 0.45M -> 0.35M; issue 26). What msgspec cannot
    encode (an app's own object in the trace metadata) goes through the model, which serialises it
    or refuses it as before. ``tests/capture/test_production.py`` checks that a written line is what
    the model would write."""
    data = record_data(opened, redactor, sample)
    try:
        return _encoder.encode(data) + b"\n"
    except TypeError:
        return TraceRecord.model_validate(data).model_dump_json().encode() + b"\n"
