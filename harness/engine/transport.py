"""The HTTP transport under the ``openai`` client: request keys, backend adaptation, model spans.

Every model call of a flow — plain ``openai``, the Agents SDK, a judge — goes through this
transport, which wraps the real ``httpx2`` transport (the one vcrpy patches). For each request:

1. it stamps ``x-harness-key`` from the request context (a retry, which the openai client marks
   with ``x-stainless-retry-count``, keeps its first attempt's key), so the cassette layer
   matches on *who asked* and not only on *what was asked*;
2. it applies the backend profile's body adaptations, so the cassette holds what was sent;
3. it records one ``model`` span (request parameters, reply, tokens, latency, cost). Failed
   attempts that the client will retry are folded into the final span's ``retries`` count.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx2

from harness.core.context import RequestKeys, next_request_keys, scope_extras, transport_scope
from harness.core.json_bodies import loads_or_none
from harness.core.trace import Span, TraceRecorder, current_recorder, current_span_id
from harness.engine import call_attributes, pricing, responses_api
from harness.engine.backends import BackendProfile, get_profile
from harness.engine.cassette import streaming
from harness.engine.cassette.miss import AbandonedCall, CassetteMiss
from harness.engine.routing import OVERRIDDEN_HEADER

__all__ = ["HarnessAsyncTransport", "HarnessSyncTransport", "SpanWriter", "KEY_HEADER", "LEGACY_KEY_HEADER",
           "stamp_key", "request_keys"]

log = logging.getLogger(__name__)

KEY_HEADER = "x-harness-key"
#: Sent only while replaying a format-1 recording: the key that recording used (never stored).
LEGACY_KEY_HEADER = "x-harness-legacy-key"
_RETRY_HEADER = "x-stainless-retry-count"
_RETRYABLE = {408, 409, 429}


def _is_retryable(status: int) -> bool:
    return status in _RETRYABLE or status >= 500


def _stamp(request: httpx2.Request, profile: BackendProfile,
           retry: bool) -> tuple[httpx2.Request, dict[str, Any] | None, str | None]:
    """The request as it goes on the wire, the Responses body it stands for when translated, and its key.

    For a profile without the Responses API, ``POST .../responses`` is rewritten to ``POST
    .../chat/completions`` with the equivalent body (:mod:`harness.engine.responses_api`) *before* the
    cassette layer sees it: the cassette stores the Chat Completions exchange, and replay runs
    the same deterministic translation over it.
    """
    translate = (request.method == "POST" and profile.translates_responses
                 and responses_api.is_responses_path(request.url.path))
    if (not profile.rewrites and not translate) or request.method != "POST":
        return request, None, _stamp_key(request, retry)
    body = _json_or_none(request.content)
    if not isinstance(body, dict):
        return request, None, _stamp_key(request, retry)
    original = body if translate else None
    url = request.url
    if translate:
        body = responses_api.chat_request_from_responses(body)
        url = url.copy_with(path=url.path.rstrip("/")[: -len("responses")] + "chat/completions")
    adapted = profile.adapt(body)
    headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() != "content-length"]
    wired = httpx2.Request(
        request.method, url, headers=headers, content=json.dumps(adapted).encode(),
        extensions=request.extensions,
    )
    return wired, original, _stamp_key(wired, retry)


def request_keys(request: httpx2.Request) -> RequestKeys | None:
    """The keys of a request about to be sent, from what is really sent (the body as adapted); a
    retry (the openai client marks it) keeps its first attempt's. ``None`` outside a unit."""
    retry = request.headers.get(_RETRY_HEADER, "0") not in ("0", "")
    return next_request_keys(retry=retry, body=request.content)


def stamp_key(request: httpx2.Request) -> httpx2.Request:
    """Stamp the request's key (:func:`request_keys`) on it, as ``x-harness-key``."""
    _stamp_key(request, request.headers.get(_RETRY_HEADER, "0") not in ("0", ""))
    return request


def _stamp_key(request: httpx2.Request, retry: bool) -> str | None:
    """:func:`stamp_key` for a request whose headers were already read: the key it got, if any."""
    keys = next_request_keys(retry=retry, body=request.content)
    if keys is None:
        return None
    request.headers[KEY_HEADER] = keys.key
    if scope_extras().get("legacy_keys"):
        request.headers[LEGACY_KEY_HEADER] = keys.legacy
    return keys.key


#: Raw names of the request headers an exchange reads.
_RETRY_RAW = _RETRY_HEADER.encode()
_OVERRIDDEN_RAW = OVERRIDDEN_HEADER.encode()


def _read_request_headers(request: httpx2.Request) -> tuple[bool, str | None]:
    """Whether the request is the client's retry of a call, and the model the app asked for when a
    route replaced it, in one pass over the raw headers: each ``Headers.get`` lowercases and scans
    the whole list (4-6 us a lookup, timeit), and an exchange made six of them."""
    retry, app_model = False, None
    for name, value in request.headers.raw:
        lower = name.lower()
        if lower == _RETRY_RAW:
            retry = retry or value not in (b"0", b"")
        elif lower == _OVERRIDDEN_RAW:
            app_model = request.headers.get(OVERRIDDEN_HEADER)
    return retry, app_model


def _translate_reply(response: httpx2.Response, content: bytes, original: dict[str, Any]) -> tuple[bytes, str]:
    """A Chat Completions reply (body or stream) as the Responses reply the client asked for."""
    if "text/event-stream" in response.headers.get("content-type", ""):
        chunks = responses_api.sse_events(content)
        events = responses_api.response_events_from_chat_stream(chunks, original)
        return b"".join(responses_api.encode_sse(e) for e in events), "text/event-stream"
    reply = _json_or_none(content)
    if not isinstance(reply, dict) or "choices" not in reply:
        return content, response.headers.get("content-type", "application/json")
    return json.dumps(responses_api.response_from_chat(reply, original)).encode(), "application/json"


_json_or_none = loads_or_none


#: harness.engine.sdk_tracing's ``current_sdk_parent``, once that module is loaded.
_sdk_parent_of: list[Callable[[], str | None]] = []


def _sdk_parent() -> str | None:
    """The harness span of the Agents SDK span in progress, when the SDK is in use.

    The lookup is kept once found, not imported again on every call (an ``import`` statement runs
    the import machinery's checks each time). With ``current_sdk_parent`` skipping the SDK's span
    lookup in a unit that recorded no SDK span: 0.95 -> 0.13 us a model call (timeit, thread time;
    production capture's request path and a plain ``openai`` flow's; issue 26)."""
    if not _sdk_parent_of:
        if "harness.engine.sdk_tracing" not in sys.modules:
            return None
        from harness.engine.sdk_tracing import current_sdk_parent

        _sdk_parent_of.append(current_sdk_parent)
    return _sdk_parent_of[0]()


class _Unread:
    """The key of a request not read yet (``None`` is a request without one)."""


_UNREAD = _Unread()


def _sent_content(request: httpx2.Request) -> bytes:
    """The request's body (a streamed upload, which a model call never is, reads as empty)."""
    try:
        return request.content
    except httpx2.RequestNotRead:
        return b""


class SpanWriter:
    """Turns one HTTP exchange into a model span on the task's recorder.

    It keeps what it needs of the request (method, body, key), not the request: production capture
    holds writers until its thread describes them, and kept request objects survived into the
    garbage collector's older generations (bench/capture_overhead.py, issue 26).
    """

    def __init__(self, recorder: TraceRecorder | None, request: httpx2.Request,
                 original: dict[str, Any] | None = None, key: str | None | _Unread = _UNREAD) -> None:
        """``key``: the request's key when the caller stamped it (else read from its header)."""
        self.recorder = recorder
        self.method = request.method
        self.content = _sent_content(request)
        #: The call's key: ``key`` when the caller stamped it, else the header the transport stamped.
        self.key = request.headers.get(KEY_HEADER) if isinstance(key, _Unread) else key
        #: The Responses request body when the exchange was translated to Chat Completions.
        self.original = original
        self.start = recorder.now() if recorder else 0.0
        self.parent = (_sdk_parent() or current_span_id()) if recorder else None
        #: The model the app asked for, when a capture route replaced it (harness.engine.routing).
        self.app_model: str | None = None

    def _retries(self, key: str | None, add: int = 0) -> int:
        extras = scope_extras()
        if not add:  # most calls: no failed attempt waits to be counted (no dict made to find that)
            pending_now: dict[str, int] | None = extras.get("pending_retries")
            return pending_now.pop(key or "", 0) if pending_now else 0
        pending: dict[str, int] = extras.setdefault("pending_retries", {})
        pending[key or ""] = pending.get(key or "", 0) + add
        return 0

    def finish(self, response: httpx2.Response, content: bytes, content_type: str | None = None) -> None:
        """Trace an answered exchange (``content_type``: the reply's, when the caller already read it)."""
        span = self.place(response.status_code)
        if span is not None:
            if content_type is None:
                content_type = response.headers.get("content-type", "")
            self.fill(span, response.status_code, content_type, content)

    def place(self, status: int) -> Span | None:
        """The model span of an answered call, placed in the trace (its id, parent, timing, key,
        retries) but not yet described: :meth:`fill` adds what the request and reply say. None for
        a failed attempt the client retries (counted on the span of the call that follows).

        Split from :meth:`fill` so production capture (:mod:`harness.capture`) can place the span in
        the app's request path, where ids are decided, and describe it in its writer thread: parsing
        the two bodies is most of a span's cost (bench/capture_overhead.py)."""
        if self.recorder is None or self.method != "POST":
            return None
        key = self.key
        if _is_retryable(status) and status != 409:
            self._retries(key, add=1)
            return None
        error = None if status < 400 else f"HTTP {status}"
        return self.recorder.add("model", "model", start_s=self.start, parent_id=self.parent, error=error,
                                 retries=self._retries(key), key=key, latency_s=self.recorder.now() - self.start)

    def fill(self, span: Span, status: int, content_type: str, content: bytes,
             request_content: bytes | None = None) -> None:
        """Describe a placed span: the request's parameters, the reply, tokens and cost
        (``request_content``: the request body to read instead of the one sent, say scrubbed)."""
        sent = self.content if request_content is None else request_content
        body = self.original if self.original is not None else _json_or_none(sent)
        is_stream = "text/event-stream" in content_type
        reply = call_attributes.stream_reply(content) if is_stream else _json_or_none(content)
        attributes = call_attributes.request_attributes(body)
        if status < 400:
            attributes |= call_attributes.reply_attributes(reply, content)
        if self.original is not None:
            attributes["wire"] = "chat.completions"  # translated: see harness.engine.responses_api
            dropped = responses_api.dropped_parameters(self.original)
            if dropped:
                attributes["dropped_params"] = dropped  # what the endpoint never saw
        if self.app_model is not None:
            attributes["app_model"] = self.app_model  # the variant overrode the app's model choice
        model = str(attributes.get("model") or "")
        known = attributes.get("input_tokens") is not None and attributes.get("output_tokens") is not None
        attributes["cost_usd"] = (pricing.cost_usd(model, attributes["input_tokens"], attributes["output_tokens"])
                                  if known else None)
        span.name = model or "model"
        span.attributes = attributes | {"status": status} | span.attributes

    def fail(self, exc: BaseException) -> None:
        if self.recorder is None:
            return
        body = self.original if self.original is not None else _json_or_none(self.content)
        self.recorder.add("model", str((body or {}).get("model") or "model"), start_s=self.start,
                          parent_id=self.parent, error=f"{type(exc).__name__}: {exc}",
                          **call_attributes.request_attributes(body), key=self.key)


_DECODED_AWAY = {"content-encoding", "content-length", "transfer-encoding"}
_DECODED_AWAY_RAW = frozenset(name.encode() for name in _DECODED_AWAY)


def _miss_response(miss: CassetteMiss, request: httpx2.Request) -> httpx2.Response:
    """A cassette miss as an HTTP 400 the openai client will not retry.

    Raised as an exception, the miss would be wrapped and retried by the client; as a 400 it
    fails the call at once. The miss itself is kept for the runner, which reports its text.
    """
    scope_extras()["cassette_miss"] = miss
    body = {"error": {"message": str(miss), "type": "cassette_miss", "code": "cassette_miss"}}
    return httpx2.Response(400, json=body, request=request, headers={"x-harness-cassette-miss": "1"})


def _read_response_headers(response: httpx2.Response) -> tuple[str, list[str]]:
    """The reply's content type, and the headers that describe its wire form, in one pass over the
    raw headers (as :func:`_read_request_headers`: three lookups a call before)."""
    content_type, wire_form = "", []
    for name, value in response.headers.raw:
        lower = name.lower()
        if lower == b"content-type":
            content_type = value.decode("latin-1") if not content_type else f"{content_type}, {value.decode('latin-1')}"
        elif lower in _DECODED_AWAY_RAW:
            wire_form.append(lower.decode())
    return content_type, wire_form


def _decoded_in_place(response: httpx2.Response, wire_form: list[str]) -> httpx2.Response:
    """A response already read (its body cached, decoded) without the headers that described the wire form.

    Rather than a new ``Response`` over the same bytes (:func:`_rebuild`, kept for translated
    replies): under cProfile of bench/runner_throughput.py (C=64, stub server), ``_rebuild`` was
    122 of the 317 us per call that finishing an exchange took.

    A reply sent as it is read (no ``content-encoding``, no ``transfer-encoding``: its
    ``content-length`` still counts the bytes the client gets) keeps its headers, as the bare
    client sees them: deleting ``content-length`` from httpx2's ``Headers`` cost 3.3 us a call with
    a real server's 13 headers (timeit; bench/live_overhead.py, issue 25).
    """
    if "content-encoding" not in wire_form and "transfer-encoding" not in wire_form:
        return response
    for name in dict.fromkeys(wire_form):
        del response.headers[name]
    return response


def _rebuild(response: httpx2.Response, content: bytes, request: httpx2.Request) -> httpx2.Response:
    """A response over the already-decoded body (the headers that described the wire form go)."""
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _DECODED_AWAY]
    return httpx2.Response(
        response.status_code, headers=headers, content=content, request=request,
        extensions=response.extensions,
    )


class _Exchange:
    """One request through the transport: stamped and adapted on the way out, traced on the way back."""

    def __init__(self, request: httpx2.Request, profile: BackendProfile) -> None:
        retry, app_model = _read_request_headers(request)
        if app_model is not None:
            del request.headers[OVERRIDDEN_HEADER]  # for the span only: never sent, never stored
        self.original_request = request
        self.request, self.translated, key = _stamp(request, profile, retry)
        self.writer = SpanWriter(current_recorder(), self.request, self.translated, key=key)
        self.writer.app_model = app_model

    def done(self, response: httpx2.Response, content: bytes, content_type: str,
             wire_form: list[str]) -> httpx2.Response:
        """The client's response to an answered exchange (its headers read by :func:`_read_response_headers`)."""
        if self.translated is None:
            self.writer.finish(response, content, content_type)
            return _decoded_in_place(response, wire_form)
        translated_type = None
        if response.status_code < 400:
            content, translated_type = _translate_reply(response, content, self.translated)
        self.writer.finish(response, content, content_type)
        rebuilt = _rebuild(response, content, self.original_request)
        if translated_type is not None:
            rebuilt.headers["content-type"] = translated_type
        return rebuilt

    def streaming(self, response: httpx2.Response,
                  pass_through: type[_AsyncPassThrough | _SyncPassThrough]) -> httpx2.Response:
        """The client's response over a stream (async or sync, as the client) that passes chunks on as they arrive."""
        headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _DECODED_AWAY]
        return httpx2.Response(
            response.status_code, headers=headers, stream=pass_through(response, self),
            request=self.original_request if self.translated is not None else self.request,
            extensions=response.extensions,
        )

    def failed(self, exc: Exception) -> httpx2.Response:
        """A cassette miss becomes a 400 the client will not retry; anything else propagates."""
        self.writer.fail(exc)
        if isinstance(exc, CassetteMiss):
            return _miss_response(exc, self.request)
        raise exc


class _StreamFold:
    """What both pass-through streams share: convert each chunk, keep what was passed, trace at the end.

    When the exchange was translated (Responses over Chat Completions) each complete Chat
    Completions event is converted to Responses events as it arrives, so the flow still gets
    text as the model writes it. The span sees the whole stream once it has been read. The async
    and sync streams below only read their source and hand each chunk to this fold.
    """

    def __init__(self, response: httpx2.Response, exchange: _Exchange) -> None:
        self.response = response
        self.exchange = exchange
        original = exchange.translated
        self.converter = responses_api.ChatStreamToResponseEvents(original) if original is not None else None
        self.buffer = b""
        self.passed: list[bytes] = []
        self.done = False

    def _convert(self, chunk: bytes, last: bool = False) -> bytes:
        assert self.converter is not None
        # sse-starlette (llama.cpp's server) ends lines with \r\n; an event ends at a blank line.
        self.buffer = (self.buffer + chunk).replace(b"\r\n", b"\n")
        *complete, self.buffer = self.buffer.split(b"\n\n")
        if last:
            complete, self.buffer = [*complete, self.buffer], b""
        events = [e for block in complete for event in responses_api.sse_events(block)
                  for e in self.converter.feed(event)]
        if last:
            events += self.converter.finish()
        return b"".join(responses_api.encode_sse(e) for e in events)

    def _out(self, chunk: bytes, last: bool = False) -> bytes:
        out = chunk if self.converter is None else self._convert(chunk, last)
        if out:
            self.passed.append(out)
        return out

    def _tail(self) -> bytes:
        """What the converter still holds once the source has ended (nothing when untranslated)."""
        return b"" if self.converter is None else self._out(b"", last=True)

    def _finish(self, exc: BaseException | None = None) -> None:
        if self.done:
            return
        self.done = True
        if exc is not None:
            self.exchange.writer.fail(exc)
        else:
            self.exchange.writer.finish(self.response, b"".join(self.passed))


class _AsyncPassThrough(_StreamFold, httpx2.AsyncByteStream):
    """A live event stream handed to the async client chunk by chunk; the model span is written at its end."""

    def __init__(self, response: httpx2.Response, exchange: _Exchange) -> None:
        super().__init__(response, exchange)
        self.source = response.aiter_bytes()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.source:
                out = self._out(chunk)
                if out:
                    yield out
            tail = self._tail()
            if tail:
                yield tail
        except Exception as exc:
            self._finish(exc)
            raise
        self._finish()

    async def aclose(self) -> None:
        """Clients close at the protocol's last event: read what is left (the end), then trace."""
        if not self.done:
            try:
                await streaming.adrain(self.source, self._out)
                self._tail()
                self._finish()
            except Exception as exc:  # noqa: BLE001 - an abandoned stream is a failed call in the trace
                self._finish(exc)
        await self.response.aclose()


class _SyncPassThrough(_StreamFold, httpx2.SyncByteStream):
    """The same for the sync client: chunks handed on as they arrive, the span written at the end."""

    def __init__(self, response: httpx2.Response, exchange: _Exchange) -> None:
        super().__init__(response, exchange)
        self.source = response.iter_bytes()

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self.source:
                out = self._out(chunk)
                if out:
                    yield out
            tail = self._tail()
            if tail:
                yield tail
        except Exception as exc:
            self._finish(exc)
            raise
        self._finish()

    def close(self) -> None:
        """Clients close at the protocol's last event: read what is left (the end), then trace."""
        if not self.done:
            try:
                streaming.drain(self.source, self._out)
                self._tail()
                self._finish()
            except Exception as exc:  # noqa: BLE001 - an abandoned stream is a failed call in the trace
                self._finish(exc)
        self.response.close()


def _is_live_stream(response: httpx2.Response, content_type: str) -> bool:
    return response.status_code < 400 and "text/event-stream" in content_type


class HarnessAsyncTransport(httpx2.AsyncBaseTransport):
    """Wraps an ``httpx2.AsyncHTTPTransport`` (patched by vcrpy while a cassette is active)."""

    def __init__(self, inner: httpx2.AsyncBaseTransport | None = None,
                 profile: BackendProfile | str = "openai") -> None:
        self.inner = inner or httpx2.AsyncHTTPTransport()
        self.profile = get_profile(profile) if isinstance(profile, str) else profile

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        exchange = _Exchange(request, self.profile)
        try:
            with transport_scope():
                response = await self.inner.handle_async_request(exchange.request)
            content_type, wire_form = _read_response_headers(response)
            if _is_live_stream(response, content_type):
                return exchange.streaming(response, _AsyncPassThrough)
            try:
                content = await response.aread()
            finally:
                await response.aclose()  # hands the connection back to the pool
        except AbandonedCall as abandoned:
            # Answered as in the recording: not before the task ends (and cancels this branch).
            await asyncio.sleep(abandoned.wait_s)
            return exchange.failed(abandoned)
        except Exception as exc:  # noqa: BLE001 - _Exchange.failed re-raises all but cassette misses
            return exchange.failed(exc)
        return exchange.done(response, content, content_type, wire_form)

    async def aclose(self) -> None:
        await self.inner.aclose()


class HarnessSyncTransport(httpx2.BaseTransport):
    """The same for the sync ``openai.OpenAI`` client (flows that run sync code)."""

    def __init__(self, inner: httpx2.BaseTransport | None = None,
                 profile: BackendProfile | str = "openai") -> None:
        self.inner = inner or httpx2.HTTPTransport()
        self.profile = get_profile(profile) if isinstance(profile, str) else profile

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        exchange = _Exchange(request, self.profile)
        try:
            with transport_scope():
                response = self.inner.handle_request(exchange.request)
            content_type, wire_form = _read_response_headers(response)
            if _is_live_stream(response, content_type):
                return exchange.streaming(response, _SyncPassThrough)
            try:
                content = response.read()
            finally:
                response.close()  # hands the connection back to the pool
        except Exception as exc:  # noqa: BLE001 - _Exchange.failed re-raises all but cassette misses
            return exchange.failed(exc)
        return exchange.done(response, content, content_type, wire_form)

    def close(self) -> None:
        self.inner.close()
