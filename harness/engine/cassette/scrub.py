"""Scrubbing: nothing secret is ever written to a cassette.

vcrpy's ``filter_headers`` only touches request headers. Responses carry their own identifiers
(``openai-organization``, ``openai-project``, ``set-cookie``, request ids), and a key can leak
into a body (a prompt that quotes it, an error that echoes it). The :class:`Scrubber` removes
sensitive headers on both sides and replaces every known secret value — the API keys in the
environment and any user pattern — wherever it appears.

A streamed reply (server-sent events) is scrubbed as a stream: a model that echoes a key sends it
in pieces (``"sk-te"``, ``"st-PLANTED…"``), and no single event holds a whole secret. The pieces of
each streamed text — a choice's content, a tool call's arguments, a Responses API delta — are put
back together, secrets are found in the whole text, and removed from every event they span before
the events (and then the whole body, as text) are stored.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Scrubber", "REDACTED"]

REDACTED = "<REDACTED>"

REQUEST_HEADERS = frozenset({
    "authorization", "api-key", "x-api-key", "cookie", "proxy-authorization",
    "openai-organization", "openai-project", "x-goog-api-key",
})
RESPONSE_HEADERS = frozenset({
    "set-cookie", "openai-organization", "openai-project", "x-request-id", "request-id",
    "cf-ray", "x-openai-proxy-wasm", "cf-cache-status", "alt-svc", "strict-transport-security",
})
#: Environment variables whose values are secrets wherever they appear.
SECRET_ENV = ("OPENAI_API_KEY", "HARNESS_JUDGE_API_KEY", "AZURE_OPENAI_API_KEY", "ANTHROPIC_API_KEY")
_KEY_SHAPES = (r"sk-[A-Za-z0-9_\-]{16,}", r"sess-[A-Za-z0-9]{20,}")
#: What every match of :data:`_KEY_SHAPES` begins with.
_KEY_PREFIXES = ("sk-", "sess-")


@dataclass
class Scrubber:
    """Removes secrets from vcrpy requests and responses before they are stored."""

    secrets: list[str] = field(default_factory=list)
    patterns: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        env_values = [os.environ.get(name, "") for name in SECRET_ENV]
        self._values = sorted({v for v in [*self.secrets, *env_values] if len(v) >= 6}, key=len, reverse=True)
        compiled = [re.escape(v) for v in self._values] + list(_KEY_SHAPES) + list(self.patterns)
        self._regex = re.compile("|".join(f"(?:{p})" for p in compiled)) if compiled else None
        #: Without user patterns every match holds one of these: text holding none is left as it is,
        #: after a substring test instead of the regex's scan (an alternation scans position by
        #: position: ~5 ns a character, ~15 us of production capture's writer per call, issue 26).
        self._needles = None if self.patterns else (*_KEY_PREFIXES, *self._values)

    def add_secret(self, value: str | None) -> None:
        if value and len(value) >= 6 and value not in self._values:
            self.secrets.append(value)
            self.__post_init__()

    def text(self, value: str) -> str:
        if self._regex is None:
            return value
        if self._needles is not None:
            for needle in self._needles:
                if needle in value:
                    break
            else:
                return value
        return self._regex.sub(REDACTED, value)

    def may_hold_secret(self, value: str) -> bool:
        """False when :meth:`text` would leave ``value`` as it is for certain (nothing to replace, or
        no user pattern and none of what every match holds is in it): one test over many strings
        joined stands for a test of each (a needle found across two of them only costs a scrub)."""
        return self._regex is not None and (self._needles is None or any(n in value for n in self._needles))

    def body(self, body: Any) -> Any:
        """A request or response body with secrets replaced (bytes stay bytes)."""
        return self._bytes(body)

    def _bytes(self, body: Any) -> Any:
        if isinstance(body, bytes):
            decoded = body.decode("utf-8", "surrogateescape")
            return self.text(decoded).encode("utf-8", "surrogateescape")
        if isinstance(body, str):
            return self.text(body)
        return body

    def request(self, request: Any) -> Any:
        """vcrpy ``before_record_request`` hook (also applied before matching)."""
        for name in list(request.headers):
            if name.lower() in REQUEST_HEADERS:
                del request.headers[name]
            else:
                request.headers[name] = self.text(str(request.headers[name]))
        request.body = self._bytes(request.body)
        request.uri = self.text(request.uri)
        return request

    def response(self, response: dict[str, Any]) -> dict[str, Any]:
        """vcrpy ``before_record_response`` hook (which failed attempts to keep is the store's call)."""
        headers = response.get("headers") or {}
        response["headers"] = {
            name: [self.text(str(v)) for v in _as_list(values)]
            for name, values in headers.items()
            if name.lower() not in RESPONSE_HEADERS
        }
        body = response.get("body") or {}
        if "string" in body:
            body["string"] = self.response_body(response["headers"], body["string"])
        return response

    def response_body(self, headers: dict[str, Any], body: Any) -> Any:
        """A response body with secrets replaced; a streamed one (by its ``headers`` or its first
        bytes) across the events its texts were split over. Bytes stay bytes, text stays text."""
        if _is_event_stream(headers, body):
            body = self._stream_bytes(body)
        return self._bytes(body)

    def _stream_bytes(self, body: Any) -> Any:
        if isinstance(body, bytes):
            return self.stream(body.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")
        return self.stream(body) if isinstance(body, str) else body

    def stream(self, text: str) -> str:
        """An SSE body with every secret removed from the streamed texts it was split across."""
        if self._regex is None:
            return text
        lines = text.split("\n")
        events: dict[int, dict[str, Any]] = {}
        pieces: dict[tuple[Any, ...], list[_Piece]] = {}
        for number, line in enumerate(lines):
            event = _event(line)
            if event is None:
                continue
            events[number] = event
            for stream_id, holder, name in _streamed_fields(event):
                pieces.setdefault(stream_id, []).append(_Piece(number, holder, name))
        changed: set[int] = set()
        for parts in pieces.values():
            changed |= self._scrub_pieces(parts)
        for number in changed:
            ending = "\r" if lines[number].endswith("\r") else ""
            lines[number] = "data: " + json.dumps(events[number], ensure_ascii=False) + ending
        return "\n".join(lines)

    def _scrub_pieces(self, parts: list[_Piece]) -> set[int]:
        """Remove each secret found in the joined text from the pieces it spans; the lines changed."""
        whole = "".join(p.value for p in parts)
        found = [(m.start(), m.end()) for m in self._regex.finditer(whole)] if self._regex else []
        if not found:
            return set()
        changed = set()
        start = 0
        for part in parts:
            end = start + len(part.value)
            kept, position = [], start
            for first, last in found:
                if last <= start or first >= end:
                    continue
                kept.append(whole[position:max(first, start)])
                if start <= first < end:
                    kept.append(REDACTED)  # in the piece where the secret begins; the rest is dropped
                position = min(last, end)
            kept.append(whole[position:end])
            new = "".join(kept)
            if new != part.value:
                part.holder[part.name] = new
                changed.add(part.line)
            start = end
        return changed

    def dump(self, values: Iterable[str]) -> list[str]:
        return [self.text(v) for v in values]


@dataclass
class _Piece:
    """One streamed piece of text: the SSE line it is on, and the field that holds it."""

    line: int
    holder: dict[str, Any]
    name: str

    @property
    def value(self) -> str:
        return str(self.holder[self.name])


#: How an event stream's body begins, as bytes or text.
_STREAM_HEADS = (b"data: ", "data: ", b"event:", "event:")


def _is_event_stream(headers: dict[str, Any], body: Any) -> bool:
    # Loops rather than any() over a generator and _as_list's copy: asked of every reply a cassette
    # or production capture keeps (callgrind, bench/capture_overhead.py --arm writer; issue 26).
    for name, values in headers.items():
        if name.lower() == "content-type":
            for value in values if isinstance(values, list | tuple) else (values,):
                if "text/event-stream" in str(value):
                    return True
    return isinstance(body, bytes | str) and body[:6] in _STREAM_HEADS


def _event(line: str) -> dict[str, Any] | None:
    if not line.startswith("data:"):
        return None
    try:
        event = json.loads(line[5:].strip())
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


def _streamed_fields(event: dict[str, Any]) -> Iterator[tuple[tuple[Any, ...], dict[str, Any], str]]:
    """The streamed text fields of one event, each with the id of the text it is a piece of."""
    for choice in event.get("choices") or []:
        if not isinstance(choice, dict) or not isinstance(choice.get("delta"), dict):
            continue
        index, delta = choice.get("index", 0), choice["delta"]
        for name in ("content", "refusal", "reasoning_content"):
            if isinstance(delta.get(name), str):
                yield ("chat", index, name), delta, name
        for call in delta.get("tool_calls") or []:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                yield ("chat", index, "tool", call.get("index", 0)), function, "arguments"
    if isinstance(event.get("delta"), str):  # Responses API: response.output_text.delta, …arguments.delta
        kind = str(event.get("type", "")).rsplit(".", 1)[0]
        yield ("responses", kind, event.get("item_id"), event.get("output_index"), event.get("content_index")), \
            event, "delta"


def _as_list(values: Any) -> list[Any]:
    return list(values) if isinstance(values, list | tuple) else [values]
