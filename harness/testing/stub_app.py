"""The stub's replies and its aiohttp application: chat completions, responses, faults, control endpoints."""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

try:
    from aiohttp import web
except ImportError as exc:  # the testing extra declares it; the product never imports this module
    raise ImportError("the stub server needs the testing extra: pip install 'orchestration-harness[testing]'") from exc

from harness.engine import responses_api
from harness.testing.stub_rules import (
    _CONTROL_PREFIX,
    _DEFAULT_HANG_SECONDS,
    _REPLY_PREFIX,
    _REPLY_QUOTE_CHARS,
    _SHUTDOWN_TIMEOUT,
    _STREAM_PIECE_CHARS,
    DEFAULT_MODEL,
    Rule,
    StubConfig,
    ToolCallSpec,
    _RequestView,
    _StubState,
)
from harness.testing.stub_schema import example_for_schema

# --------------------------------------------------------------------------------------------
# Building replies
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Reply:
    content: str | None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.tool_calls else "stop"

    @property
    def completion_tokens(self) -> int:
        calls = self.tool_calls
        text = self.content or "".join(c["function"]["name"] + c["function"]["arguments"] for c in calls)
        return len(text) // 4 + 1


def _nonce_suffix(config: StubConfig) -> str:
    return f" [nonce {secrets.token_hex(8)}]" if config.nonce else ""


def _stable_id(prefix: str, view: _RequestView, config: StubConfig, salt: str = "") -> str:
    """Ids derived from the request in deterministic mode, random in nonce mode."""
    if config.nonce:
        return prefix + secrets.token_hex(12)
    return prefix + hashlib.sha1(view.raw + salt.encode()).hexdigest()[:24]


def _build_reply(rule: Rule | None, view: _RequestView, config: StubConfig) -> _Reply:
    suffix = _nonce_suffix(config)
    if rule is not None and rule.content is not None:
        return _Reply(rule.content + suffix)
    if rule is not None and rule.structured is not None:
        return _Reply(json.dumps(rule.structured))
    if rule is not None and rule.tool_calls:
        return _Reply(None, [_tool_call(spec, i, view, config) for i, spec in enumerate(rule.tool_calls)])
    return _default_reply(view, suffix)


def _default_reply(view: _RequestView, suffix: str) -> _Reply:
    requested = view.body.get("response_format")
    response_format: dict[str, Any] = requested if isinstance(requested, dict) else {}
    kind = response_format.get("type")
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        schema = spec.get("schema") if isinstance(spec, dict) else None
        return _Reply(json.dumps(example_for_schema(schema or {}, suffix=suffix)))
    text = _REPLY_PREFIX + view.last_user[:_REPLY_QUOTE_CHARS] + suffix
    if kind == "json_object":
        return _Reply(json.dumps({"reply": text}))
    return _Reply(text)


def _tool_call(spec: ToolCallSpec, index: int, view: _RequestView, config: StubConfig) -> dict[str, Any]:
    arguments = spec.arguments
    if arguments is None:
        parameters = view.tools.get(spec.name, {}).get("parameters") or {}
        arguments = example_for_schema(parameters) if parameters else {}
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {
        "id": _stable_id("call_", view, config, salt=f"{index}:{spec.name}"),
        "type": "function",
        "function": {"name": spec.name, "arguments": text},
    }


def _usage(view: _RequestView, reply: _Reply) -> dict[str, int]:
    prompt, completion = view.prompt_tokens, reply.completion_tokens
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _completion_body(view: _RequestView, reply: _Reply, completion_id: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content, "refusal": None}
    if reply.tool_calls:
        message["tool_calls"] = reply.tool_calls
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": view.model,
        "system_fingerprint": "stub",
        "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason, "logprobs": None}],
        "usage": _usage(view, reply),
    }


def _stream_events(view: _RequestView, reply: _Reply, completion_id: str) -> list[bytes]:
    """The SSE events of a streamed reply: role, content pieces or tool calls, finish, usage, DONE."""
    created = int(time.time())

    def chunk(delta: dict[str, Any] | None, finish: str | None = None, usage: Any = None) -> bytes:
        choices = [] if delta is None else [
            {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        ]
        body = {
            "id": completion_id, "object": "chat.completion.chunk", "created": created,
            "model": view.model, "system_fingerprint": "stub", "choices": choices, "usage": usage,
        }
        return b"data: " + json.dumps(body).encode() + b"\n\n"

    events = [chunk({"role": "assistant", "content": "" if reply.content is not None else None})]
    for piece in _pieces(reply.content or ""):
        events.append(chunk({"content": piece}))
    for index, call in enumerate(reply.tool_calls):
        head = {"index": index, "id": call["id"], "type": "function",
                "function": {"name": call["function"]["name"], "arguments": ""}}
        events.append(chunk({"tool_calls": [head]}))
        for piece in _pieces(call["function"]["arguments"]):  # arguments stream in pieces, as OpenAI's do
            events.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
    events.append(chunk({}, finish=reply.finish_reason))
    if view.include_usage:
        events.append(chunk(None, usage=_usage(view, reply)))
    events.append(b"data: [DONE]\n\n")
    return events


def _pieces(text: str) -> Iterable[str]:
    return (text[i : i + _STREAM_PIECE_CHARS] for i in range(0, len(text), _STREAM_PIECE_CHARS))


def _error_body(message: str, kind: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


# --------------------------------------------------------------------------------------------
# HTTP handlers
# --------------------------------------------------------------------------------------------

_STATE_KEY = web.AppKey("stub_state", _StubState)
# aiohttp >= 3.13 wants typed request keys; older versions take plain strings.
_RequestKey: Any = getattr(web, "RequestKey", None)
_RAW_KEY: Any = _RequestKey("stub_raw", bytes) if _RequestKey else "stub_raw"
_BODY_KEY: Any = _RequestKey("stub_body", object) if _RequestKey else "stub_body"
_MALFORMED_JSON = b'{"id": "chatcmpl-malformed", "object": "chat.completion", "choices": [{"index": 0, "mess'


_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _observe(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """Count and record every non-control request *before* anything can fail or be dropped."""
    if request.path.startswith(_CONTROL_PREFIX):
        return await handler(request)
    state = request.app[_STATE_KEY]
    raw = await request.read() if request.can_read_body else b""
    request[_RAW_KEY] = raw
    record = {
        "method": request.method, "path": request.path,
        "headers": {name.lower(): value for name, value in request.headers.items()},
        "body": _decode_body(raw), "time": time.time(),
    }
    request[_BODY_KEY] = record["body"]
    state.begin(record)
    try:
        return await handler(request)
    finally:
        state.end()


def _decode_body(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


async def _take_rule(request: web.Request, view: _RequestView) -> tuple[Rule | None, web.StreamResponse | None]:
    """The rule this request takes, after its latency (the rule's, else the server's); and, for a
    fault rule, the faulted response to send instead of a reply. Chat Completions and Responses alike."""
    config = request.app[_STATE_KEY].config
    rule = request.app[_STATE_KEY].take_rule(view)
    delay = rule.latency if rule is not None and rule.latency is not None else config.latency
    if delay > 0:
        await asyncio.sleep(delay)
    if rule is not None and rule.fault is not None:
        return rule, await _serve_fault(request, rule, view, config)
    return rule, None


async def _chat_completions(request: web.Request) -> web.StreamResponse:
    state = request.app[_STATE_KEY]
    body = request[_BODY_KEY]
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        message = "body must be a JSON object with a 'messages' list"
        return web.json_response(_error_body(message, "invalid_request_error", None), status=400)
    view = _RequestView.parse(body, request[_RAW_KEY])
    config = state.config
    rule, fault = await _take_rule(request, view)
    if fault is not None:
        return fault
    return await _serve_reply(request, view, _build_reply(rule, view, config), config)


async def _responses(request: web.Request) -> web.StreamResponse:
    """``POST /v1/responses``: the same rules and replies as Chat Completions, in the Responses shape.

    The request is read as its Chat Completions equivalent (instructions, input items, function
    tools, ``text.format``), so every :class:`Rule` works unchanged; the reply is a Responses
    body (``output`` items, ``input_tokens``/``output_tokens``), or its event stream
    (``response.created`` … ``response.output_text.delta`` … ``response.completed``).
    """
    state = request.app[_STATE_KEY]
    body = request[_BODY_KEY]
    if not isinstance(body, dict) or "input" not in body:
        message = "body must be a JSON object with an 'input'"
        return web.json_response(_error_body(message, "invalid_request_error", None), status=400)
    try:
        chat = responses_api.chat_request_from_responses(body)
    except responses_api.ResponsesTranslationError as exc:
        return web.json_response(_error_body(str(exc), "invalid_request_error", None), status=400)
    view = _RequestView.parse(chat, request[_RAW_KEY])
    config = state.config
    rule, fault = await _take_rule(request, view)
    if fault is not None:
        return fault
    reply = _build_reply(rule, view, config)
    completion_id = _stable_id("chatcmpl-", view, config)
    if not view.stream:
        return web.json_response(responses_api.response_from_chat(_completion_body(view, reply, completion_id), body))
    chunks = responses_api.sse_events(b"".join(_stream_events(view, reply, completion_id)))
    events = responses_api.response_events_from_chat_stream(chunks, body)
    return await _write_sse(request, [responses_api.encode_sse(e) for e in events], config.stream_chunk_delay)


async def _serve_reply(
    request: web.Request, view: _RequestView, reply: _Reply, config: StubConfig
) -> web.StreamResponse:
    completion_id = _stable_id("chatcmpl-", view, config)
    if not view.stream:
        return web.json_response(_completion_body(view, reply, completion_id))
    events = _stream_events(view, reply, completion_id)
    return await _write_sse(request, events, config.stream_chunk_delay)


async def _write_sse(request: web.Request, events: Sequence[bytes], delay: float) -> web.StreamResponse:
    """Send SSE events; in one write unless a per-chunk delay asks for visible streaming."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    if delay <= 0:
        await response.write(b"".join(events))
    else:
        for event in events:
            await response.write(event)
            await asyncio.sleep(delay)
    await response.write_eof()
    return response


async def _serve_fault(
    request: web.Request, rule: Rule, view: _RequestView, config: StubConfig
) -> web.StreamResponse:
    fault = rule.fault
    if fault == "rate_limit":
        return _rate_limited(rule)
    if fault == "server_error":
        message = rule.message or "stub: injected server error"
        return web.json_response(_error_body(message, "server_error", None), status=rule.status or 500)
    if fault == "timeout":
        await asyncio.sleep(rule.hang)
        return await _serve_reply(request, view, _build_reply(None, view, config), config)
    if fault == "malformed":
        return await _malformed(request, view)
    return await _drop(request)


def _rate_limited(rule: Rule) -> web.Response:
    headers: dict[str, str] = {}
    if rule.retry_after is not None:
        headers["Retry-After"] = format(rule.retry_after, "g")
        headers["retry-after-ms"] = str(round(rule.retry_after * 1000))
    error = _error_body(rule.message or "stub: rate limited", "rate_limit_error", "rate_limit_exceeded")
    return web.json_response(error, status=rule.status or 429, headers=headers)


async def _malformed(request: web.Request, view: _RequestView) -> web.StreamResponse:
    if view.stream:
        return await _write_sse(request, [b"data: " + _MALFORMED_JSON + b"\n\n", b"data: [DONE]\n\n"], 0.0)
    return web.Response(body=_MALFORMED_JSON, status=200, content_type="application/json")


async def _drop(request: web.Request) -> web.StreamResponse:
    """Close the socket without a response; the client sees a disconnect, not an HTTP error."""
    transport = request.transport
    if transport is not None:
        transport.close()
    # Closing the transport cancels this handler (handler_cancellation=True); the wait is a fallback.
    await asyncio.sleep(_DEFAULT_HANG_SECONDS)
    raise web.HTTPServiceUnavailable()


async def _models(request: web.Request) -> web.Response:
    data = [{"id": DEFAULT_MODEL, "object": "model", "created": 0, "owned_by": "stub"}]
    return web.json_response({"object": "list", "data": data})


async def _model(request: web.Request) -> web.Response:
    model = request.match_info["model"]
    return web.json_response({"id": model, "object": "model", "created": 0, "owned_by": "stub"})


async def _control_stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[_STATE_KEY].stats().model_dump())


async def _control_requests(request: web.Request) -> web.Response:
    return web.json_response(request.app[_STATE_KEY].requests())


async def _control_reset(request: web.Request) -> web.Response:
    request.app[_STATE_KEY].reset()
    return web.json_response({"ok": True})


async def _control_config(request: web.Request) -> web.Response:
    state = request.app[_STATE_KEY]
    if request.method == "GET":
        return web.json_response(state.config.model_dump())
    try:
        update = await request.json()
        config = state.configure(update if isinstance(update, dict) else {})
    except ValueError as exc:  # JSON and pydantic validation errors alike
        return web.json_response({"ok": False, "error": str(exc)}, status=400)
    return web.json_response(config.model_dump())


def build_app(config: StubConfig | None = None) -> web.Application:
    """The aiohttp application; the state lives on the app so one process can host several stubs."""
    app = web.Application(middlewares=[_observe], client_max_size=64 * 1024 * 1024)
    app[_STATE_KEY] = _StubState(config or StubConfig())
    app.router.add_post("/v1/chat/completions", _chat_completions)
    app.router.add_post("/v1/responses", _responses)
    app.router.add_get("/v1/models", _models)
    app.router.add_get("/v1/models/{model}", _model)
    app.router.add_get("/_stub/stats", _control_stats)
    app.router.add_get("/_stub/requests", _control_requests)
    app.router.add_post("/_stub/reset", _control_reset)
    app.router.add_route("*", "/_stub/config", _control_config)
    return app


async def start_stub(
    app: web.Application, host: str = "127.0.0.1", port: int = 0
) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on the running loop; returns the runner (for ``cleanup()``) and the bound port.

    No access log (per-request logging would make the stub the bottleneck in benchmarks) and
    handler cancellation on disconnect, so a hung "timeout" request stops counting as in flight
    once its client gives up.
    """
    runner = web.AppRunner(
        app, access_log=None, handler_cancellation=True, shutdown_timeout=_SHUTDOWN_TIMEOUT
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    return runner, int(bound)


