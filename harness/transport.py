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
from typing import Any

import httpx2

from harness import pricing
from harness.backends import BackendProfile, get_profile
from harness.cassette.miss import AbandonedCall, CassetteMiss
from harness.context import next_request_key, scope_extras
from harness.trace import TraceRecorder, current_recorder, current_span_id

__all__ = ["HarnessAsyncTransport", "HarnessSyncTransport", "KEY_HEADER"]

log = logging.getLogger(__name__)

KEY_HEADER = "x-harness-key"
_RETRY_HEADER = "x-stainless-retry-count"
_RETRYABLE = {408, 409, 429}


def _is_retryable(status: int) -> bool:
    return status in _RETRYABLE or status >= 500


def _stamp(request: httpx2.Request, profile: BackendProfile) -> httpx2.Request:
    retry = request.headers.get(_RETRY_HEADER, "0") not in ("0", "")
    key = next_request_key(retry=retry)
    if key is not None:
        request.headers[KEY_HEADER] = key
    if not profile.rewrites or request.method != "POST":
        return request
    body = _json_or_none(request.content)
    if not isinstance(body, dict):
        return request
    adapted = profile.adapt(body)
    headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() != "content-length"]
    return httpx2.Request(
        request.method, request.url, headers=headers, content=json.dumps(adapted).encode(),
        extensions=request.extensions,
    )


def _json_or_none(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _sse_reply(raw: bytes) -> dict[str, Any] | None:
    """Fold a streamed chat completion back into one reply (content, tool calls, usage)."""
    content: list[str] = []
    tools: dict[int, dict[str, Any]] = {}
    usage: dict[str, Any] | None = None
    model = finish = None
    for line in raw.decode("utf-8", "replace").splitlines():
        if not line.startswith("data:") or line.strip() == "data: [DONE]":
            continue
        chunk = _json_or_none(line[5:].strip().encode())
        if not isinstance(chunk, dict):
            continue
        model = chunk.get("model", model)
        usage = chunk.get("usage") or usage
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            finish = choice.get("finish_reason") or finish
            if delta.get("content"):
                content.append(delta["content"])
            for call in delta.get("tool_calls") or []:
                slot = tools.setdefault(call.get("index", 0), {"name": "", "arguments": ""})
                function = call.get("function") or {}
                slot["name"] += function.get("name") or ""
                slot["arguments"] += function.get("arguments") or ""
    message = {"content": "".join(content) or None,
               "tool_calls": [{"function": t} for _, t in sorted(tools.items())]}
    return {"model": model, "usage": usage, "choices": [{"message": message, "finish_reason": finish}]}


def _request_attributes(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        return {}
    messages = body.get("messages") or []
    last = messages[-1] if messages else None
    return {
        "model": body.get("model"),
        "temperature": body.get("temperature"),
        "max_tokens": body.get("max_tokens") or body.get("max_completion_tokens"),
        "messages": len(messages),
        "last_message": last,
        "tools": [t.get("function", {}).get("name") for t in body.get("tools") or [] if isinstance(t, dict)],
        "response_format": (body.get("response_format") or {}).get("type"),
        "stream": bool(body.get("stream")),
    }


def _reply_attributes(reply: Any) -> dict[str, Any]:
    if not isinstance(reply, dict):
        return {}
    choices = reply.get("choices") or [{}]
    message = choices[0].get("message") or {}
    usage = reply.get("usage") or {}
    calls = [
        {"name": (c.get("function") or {}).get("name"), "arguments": (c.get("function") or {}).get("arguments")}
        for c in message.get("tool_calls") or []
    ]
    return {
        "output": message.get("content"),
        "tool_calls": calls,
        "finish_reason": choices[0].get("finish_reason"),
        "input_tokens": int(usage.get("prompt_tokens") or 0),
        "output_tokens": int(usage.get("completion_tokens") or 0),
    }


def _sdk_parent() -> str | None:
    """The harness span of the Agents SDK span in progress, when the SDK is in use."""
    if "harness.sdk_tracing" not in sys.modules:
        return None
    from harness.sdk_tracing import current_sdk_parent

    return current_sdk_parent()


class _SpanWriter:
    """Turns one HTTP exchange into a model span on the task's recorder."""

    def __init__(self, recorder: TraceRecorder | None, request: httpx2.Request) -> None:
        self.recorder = recorder
        self.request = request
        self.start = recorder.now() if recorder else 0.0
        self.parent = (_sdk_parent() or current_span_id()) if recorder else None

    def _retries(self, key: str | None, add: int = 0) -> int:
        pending: dict[str, int] = scope_extras().setdefault("pending_retries", {})
        if add:
            pending[key or ""] = pending.get(key or "", 0) + add
            return 0
        return pending.pop(key or "", 0)

    def finish(self, response: httpx2.Response, content: bytes) -> None:
        if self.recorder is None or self.request.method != "POST":
            return
        key = self.request.headers.get(KEY_HEADER)
        if _is_retryable(response.status_code) and response.status_code != 409:
            self._retries(key, add=1)
            return
        body = _json_or_none(self.request.content)
        is_stream = "text/event-stream" in response.headers.get("content-type", "")
        reply = _sse_reply(content) if is_stream else _json_or_none(content)
        attributes = _request_attributes(body) | _reply_attributes(reply)
        model = str(attributes.get("model") or "")
        attributes["cost_usd"] = pricing.cost_usd(model, attributes.get("input_tokens", 0),
                                                  attributes.get("output_tokens", 0))
        attributes["status"] = response.status_code
        attributes["retries"] = self._retries(key)
        attributes["key"] = key
        attributes["latency_s"] = self.recorder.now() - self.start
        error = None if response.status_code < 400 else f"HTTP {response.status_code}"
        self.recorder.add("model", model or "model", start_s=self.start, parent_id=self.parent,
                          error=error, **attributes)

    def fail(self, exc: BaseException) -> None:
        if self.recorder is None:
            return
        body = _json_or_none(self.request.content)
        self.recorder.add("model", str((body or {}).get("model") or "model"), start_s=self.start,
                          parent_id=self.parent, error=f"{type(exc).__name__}: {exc}",
                          **_request_attributes(body), key=self.request.headers.get(KEY_HEADER))


_DECODED_AWAY = {"content-encoding", "content-length", "transfer-encoding"}


def _miss_response(miss: CassetteMiss, request: httpx2.Request) -> httpx2.Response:
    """A cassette miss as an HTTP 400 the openai client will not retry.

    Raised as an exception, the miss would be wrapped and retried by the client; as a 400 it
    fails the call at once. The miss itself is kept for the runner, which reports its text.
    """
    scope_extras()["cassette_miss"] = miss
    body = {"error": {"message": str(miss), "type": "cassette_miss", "code": "cassette_miss"}}
    return httpx2.Response(400, json=body, request=request, headers={"x-harness-cassette-miss": "1"})


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
        self.request = _stamp(request, profile)
        self.writer = _SpanWriter(current_recorder(), self.request)

    def done(self, response: httpx2.Response, content: bytes) -> httpx2.Response:
        self.writer.finish(response, content)
        return _rebuild(response, content, self.request)

    def failed(self, exc: Exception) -> httpx2.Response:
        """A cassette miss becomes a 400 the client will not retry; anything else propagates."""
        self.writer.fail(exc)
        if isinstance(exc, CassetteMiss):
            return _miss_response(exc, self.request)
        raise exc


class HarnessAsyncTransport(httpx2.AsyncBaseTransport):
    """Wraps an ``httpx2.AsyncHTTPTransport`` (patched by vcrpy while a cassette is active)."""

    def __init__(self, inner: httpx2.AsyncBaseTransport | None = None,
                 profile: BackendProfile | str = "openai") -> None:
        self.inner = inner or httpx2.AsyncHTTPTransport()
        self.profile = get_profile(profile) if isinstance(profile, str) else profile

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        exchange = _Exchange(request, self.profile)
        try:
            response = await self.inner.handle_async_request(exchange.request)
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
        return exchange.done(response, content)

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
            response = self.inner.handle_request(exchange.request)
            try:
                content = response.read()
            finally:
                response.close()  # hands the connection back to the pool
        except Exception as exc:  # noqa: BLE001 - _Exchange.failed re-raises all but cassette misses
            return exchange.failed(exc)
        return exchange.done(response, content)

    def close(self) -> None:
        self.inner.close()
