"""An OpenAI-compatible stub model server for tests and benchmarks.

Tests need a model endpoint that is fast, free, deterministic, and scriptable: one that replies the
same way to the same request (so cassettes and snapshots are stable), can be told to call a tool or
hand off to another agent (so Agents-SDK loops can be driven without a real model), can misbehave on
demand (429s, 500s, hangs, broken JSON, dropped connections) to exercise retry and error paths,
and can report what reached it (so network-guard tests can prove that *nothing* did).

It speaks enough of the Chat Completions API for the real ``openai`` client to parse every reply,
including streaming (SSE), ``chat.completions.parse()`` structured output, and tool calls.

Two ways to run it:

* :class:`StubServer` — in a background thread with its own event loop, for unit tests::

      weather = Rule(contains="weather", tool_calls=[ToolCallSpec(name="get_weather")])
      with StubServer(rules=[weather]) as stub:
          client = openai.OpenAI(base_url=stub.base_url, api_key="test")
          ...
          assert stub.stats().hits == 2

* :class:`StubProcess` — in its own process (``python -m harness.testing.stub_server``), for
  benchmarks, so the server's CPU time is not charged to the client being measured.

Both handles expose the same observability API (``stats()``, ``requests``, ``configure()``,
``reset()``); the process variant goes through the HTTP control endpoints under ``/_stub/``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import hashlib
import json
import logging
import math
import os
import queue
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

try:
    from aiohttp import web
except ImportError as exc:  # the testing extra declares it; the product never imports this module
    raise ImportError("the stub server needs the testing extra: pip install 'orchestration-harness[testing]'") from exc
from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.engine import responses_api

__all__ = [
    "DEFAULT_MODEL",
    "FaultKind",
    "Rule",
    "RuleUsage",
    "StubConfig",
    "StubProcess",
    "StubServer",
    "StubStats",
    "ToolCallSpec",
    "build_app",
    "example_for_schema",
    "main",
    "start_stub",
]

log = logging.getLogger(__name__)

DEFAULT_MODEL = "stub"
_CONTROL_PREFIX = "/_stub/"
_REPLY_PREFIX = "stub reply to: "
_REPLY_QUOTE_CHARS = 200
_STREAM_PIECE_CHARS = 24
# Long enough to outlast any client timeout a test would set; the handler is cancelled as soon as
# the client gives up, so the value only matters if nobody ever disconnects.
_DEFAULT_HANG_SECONDS = 30.0
# How long shutdown waits for in-flight handlers (e.g. a hanging "timeout" fault) before cancelling
# them: tests should not pay seconds of teardown for a request nobody is waiting on.
_SHUTDOWN_TIMEOUT = 0.25
_MAX_SCHEMA_DEPTH = 12

FaultKind = Literal["rate_limit", "server_error", "timeout", "malformed", "drop"]
"""How a fault rule misbehaves.

* ``rate_limit`` — HTTP 429 with ``Retry-After`` / ``retry-after-ms`` when ``retry_after`` is set.
* ``server_error`` — HTTP 500 (or ``status``).
* ``timeout`` — sleep ``hang`` seconds before replying normally; meant to outlast the client timeout.
* ``malformed`` — HTTP 200 whose JSON (or SSE event) body is cut off mid-object.
* ``drop`` — close the connection without sending any response.
"""


# --------------------------------------------------------------------------------------------
# Configuration model
# --------------------------------------------------------------------------------------------


class ToolCallSpec(BaseModel):
    """One tool call the stub should emit.

    ``arguments`` may be a dict (serialised to JSON), a raw string (sent verbatim — handy for
    testing how a caller copes with invalid arguments), or ``None``: then the arguments are
    generated from the ``parameters`` schema of the same-named tool in the request, so strict
    function tools receive arguments that validate without the test spelling them out.
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    arguments: dict[str, Any] | str | None = None


class Rule(BaseModel):
    """A scripted reply: *when* a request matches, *what* to answer, and *how often*.

    Matching (all given conditions must hold; a rule with none matches every request):
        ``contains``: substring searched in the last user/tool message (``scope="last"``) or in
        the text of every message (``scope="any"``); ``model``: exact ``model`` of the request;
        ``has_tool``: the request offers a function tool of that name (keeps a handoff rule from
        firing inside the agent it hands off to).

    Action (at most one; none means "the default reply", useful with ``latency``):
        ``content`` (fixed text), ``tool_calls`` (``finish_reason="tool_calls"``), ``structured``
        (a JSON value sent as the message content), or ``fault`` (see :data:`FaultKind`).

    ``times`` makes a rule expire after N uses, so "the first two requests get 429, then normal"
    is ``Rule(fault="rate_limit", times=2)``. Rules are tried in order; the first live match wins.
    """

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    contains: str | None = None
    scope: Literal["last", "any"] = "last"
    model: str | None = None
    has_tool: str | None = None

    content: str | None = None
    tool_calls: list[ToolCallSpec] | None = None
    structured: dict[str, Any] | list[Any] | None = None
    fault: FaultKind | None = None

    retry_after: float | None = Field(default=None, ge=0)
    status: int | None = Field(default=None, ge=100, le=599)
    hang: float = Field(default=_DEFAULT_HANG_SECONDS, ge=0)
    message: str | None = None
    latency: float | None = Field(default=None, ge=0)
    times: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_action(self) -> Self:
        """Reject ambiguous rules early, at configuration time rather than mid-test."""
        actions = [self.content, self.tool_calls, self.structured, self.fault]
        if sum(action is not None for action in actions) > 1:
            raise ValueError("a rule takes at most one of content, tool_calls, structured, fault")
        if self.tool_calls is not None and not self.tool_calls:
            raise ValueError("tool_calls must name at least one call")
        return self


class StubConfig(BaseModel):
    """Everything that shapes the stub's replies; replaceable at runtime via ``configure``."""

    model_config = ConfigDict(extra="forbid")

    rules: list[Rule] = Field(default_factory=list)
    latency: float = Field(default=0.0, ge=0)
    nonce: bool = False
    stream_chunk_delay: float = Field(default=0.0, ge=0)
    record_limit: int = Field(default=10_000, ge=0)


class RuleUsage(BaseModel):
    """How often a configured rule has fired and how many uses it has left (``None``: unlimited)."""

    index: int
    name: str | None
    used: int
    remaining: int | None


class StubStats(BaseModel):
    """A snapshot of what reached the stub.

    ``hits`` counts every HTTP request outside ``/_stub/`` (any path, any method, faults included),
    so ``hits == 0`` proves that nothing reached the server.
    """

    hits: int
    in_flight: int
    max_in_flight: int
    paths: dict[str, int]
    recorded: int
    rules: list[RuleUsage]
    latency: float
    nonce: bool


# --------------------------------------------------------------------------------------------
# Shared state
# --------------------------------------------------------------------------------------------


class _StubState:
    """Counters, request log and live rules, shared by the server loop and the test thread.

    A plain lock (not loop-bound primitives) guards it, because the in-thread handle reads it from
    another thread — also after the server has stopped.
    """

    def __init__(self, config: StubConfig) -> None:
        self._lock = threading.Lock()
        self.config = config
        self._remaining: list[int | None] = []
        self._used: list[int] = []
        self._arm_rules()
        self.hits = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.paths: collections.Counter[str] = collections.Counter()
        self.records: collections.deque[dict[str, Any]] = collections.deque(maxlen=config.record_limit)

    def _arm_rules(self) -> None:
        self._remaining = [rule.times for rule in self.config.rules]
        self._used = [0] * len(self.config.rules)

    def configure(self, update: dict[str, Any]) -> StubConfig:
        """Merge ``update`` into the config; new ``rules`` start with fresh ``times`` budgets."""
        merged = StubConfig.model_validate({**self.config.model_dump(), **update})
        with self._lock:
            self.config = merged
            if "rules" in update:
                self._arm_rules()
            if merged.record_limit != self.records.maxlen:
                self.records = collections.deque(self.records, maxlen=merged.record_limit)
        return merged

    def reset(self) -> None:
        """Forget observations (hits, peaks, request log). Rules and their budgets are kept."""
        with self._lock:
            self.hits = 0
            self.max_in_flight = self.in_flight
            self.paths.clear()
            self.records.clear()
            self._used = [0] * len(self._used)

    def begin(self, record: dict[str, Any]) -> None:
        with self._lock:
            self.hits += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.paths[record["path"]] += 1
            self.records.append(record)

    def end(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def take_rule(self, view: _RequestView) -> Rule | None:
        """Return the first live rule matching ``view`` and spend one of its uses."""
        with self._lock:
            for index, rule in enumerate(self.config.rules):
                remaining = self._remaining[index]
                if remaining == 0 or not _rule_matches(rule, view):
                    continue
                if remaining is not None:
                    self._remaining[index] = remaining - 1
                self._used[index] += 1
                return rule
        return None

    def stats(self) -> StubStats:
        with self._lock:
            usage = [
                RuleUsage(index=i, name=rule.name, used=self._used[i], remaining=self._remaining[i])
                for i, rule in enumerate(self.config.rules)
            ]
            return StubStats(
                hits=self.hits, in_flight=self.in_flight, max_in_flight=self.max_in_flight,
                paths=dict(self.paths), recorded=len(self.records), rules=usage,
                latency=self.config.latency, nonce=self.config.nonce,
            )

    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.records)


# --------------------------------------------------------------------------------------------
# Reading requests
# --------------------------------------------------------------------------------------------


def _message_text(message: Any) -> str:
    """The text of one chat message, whether ``content`` is a string or a list of parts."""
    if not isinstance(message, dict):
        return ""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


@dataclass(frozen=True)
class _RequestView:
    """The parts of a chat request that rules and replies look at, extracted once per request."""

    body: dict[str, Any]
    raw: bytes
    model: str
    messages: list[Any]
    tools: dict[str, dict[str, Any]]
    last_user: str
    last_user_or_tool: str
    all_text: str
    text_chars: int

    @classmethod
    def parse(cls, body: dict[str, Any], raw: bytes) -> _RequestView:
        messages = body.get("messages") or []
        texts = [_message_text(m) for m in messages]
        return cls(
            body=body, raw=raw, model=str(body.get("model") or DEFAULT_MODEL), messages=messages,
            tools=_function_tools(body.get("tools")),
            last_user=_last_text(messages, texts, ("user",)),
            last_user_or_tool=_last_text(messages, texts, ("user", "tool")),
            all_text="\n".join(texts), text_chars=sum(map(len, texts)),
        )

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    @property
    def include_usage(self) -> bool:
        options = self.body.get("stream_options")
        return isinstance(options, dict) and bool(options.get("include_usage"))

    @property
    def prompt_tokens(self) -> int:
        return self.text_chars // 4 + 1


def _last_text(messages: list[Any], texts: list[str], roles: tuple[str, ...]) -> str:
    for message, text in zip(reversed(messages), reversed(texts)):
        if isinstance(message, dict) and message.get("role") in roles:
            return text
    return ""


def _function_tools(tools: Any) -> dict[str, dict[str, Any]]:
    """Map tool name -> its ``function`` object, for ``has_tool`` and generated arguments."""
    found: dict[str, dict[str, Any]] = {}
    for tool in tools if isinstance(tools, list) else []:
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            found[function["name"]] = function
    return found


def _rule_matches(rule: Rule, view: _RequestView) -> bool:
    if rule.model is not None and rule.model != view.model:
        return False
    if rule.has_tool is not None and rule.has_tool not in view.tools:
        return False
    if rule.contains is not None:
        haystack = view.last_user_or_tool if rule.scope == "last" else view.all_text
        return rule.contains in haystack
    return True


# --------------------------------------------------------------------------------------------
# Example values from a JSON schema (structured output, generated tool arguments)
# --------------------------------------------------------------------------------------------


def example_for_schema(schema: dict[str, Any], *, suffix: str = "") -> Any:
    """Build a deterministic value that validates against ``schema``.

    Covers what pydantic and ``openai``'s strict schemas produce: ``$ref``/``$defs``, ``anyOf``
    (first non-null branch), ``allOf``, ``enum`` (first value), ``const``, objects (required
    properties, or all when ``required`` is absent), arrays (``max(minItems, 1)`` items), strings
    (``"stub <field>"`` plus ``suffix``, honouring common formats and length bounds), numbers
    within bounds, booleans. ``pattern`` is not honoured.
    """
    return _SchemaFiller(schema, suffix).value(schema, "value", 0)


@dataclass
class _SchemaFiller:
    root: dict[str, Any]
    suffix: str

    def resolve(self, schema: Any) -> dict[str, Any]:
        seen = 0
        while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and seen < 32:
            schema = self._pointer(schema["$ref"])
            seen += 1
        return schema if isinstance(schema, dict) else {}

    def _pointer(self, ref: str) -> Any:
        if not ref.startswith("#"):
            return {}
        node: Any = self.root
        for token in ref[1:].split("/")[1:]:
            token = token.replace("~1", "/").replace("~0", "~")
            node = node.get(token, {}) if isinstance(node, dict) else {}
        return node

    def value(self, schema: Any, name: str, depth: int) -> Any:
        schema = self.resolve(schema)
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return schema["enum"][0]
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list) and schema[key]:
                return self.value(self._pick_branch(schema[key], depth), name, depth + 1)
        if isinstance(schema.get("allOf"), list):
            return self.value(self._merge(schema["allOf"]), name, depth + 1)
        kind = self._type(schema)
        builder = self._builders().get(kind, self._string)
        return builder(schema, name, depth)

    def _builders(self) -> dict[str, Callable[[dict[str, Any], str, int], Any]]:
        return {
            "object": self._object, "array": self._array, "string": self._string,
            "integer": lambda s, n, d: _number(s, integer=True), "number": lambda s, n, d: _number(s),
            "boolean": lambda s, n, d: True, "null": lambda s, n, d: None,
        }

    def _pick_branch(self, branches: list[Any], depth: int) -> Any:
        """First non-null branch; past the depth limit prefer null, so recursive models terminate."""
        resolved = [self.resolve(branch) for branch in branches]
        nulls = [b for b in resolved if b.get("type") == "null"]
        if depth >= _MAX_SCHEMA_DEPTH and nulls:
            return nulls[0]
        return next((b for b in resolved if b.get("type") != "null"), resolved[0])

    def _merge(self, parts: list[Any]) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for part in (self.resolve(p) for p in parts):
            properties = {**merged.get("properties", {}), **part.get("properties", {})}
            required = [*merged.get("required", []), *part.get("required", [])]
            merged.update(part)
            if properties:
                merged["properties"] = properties
            if required:
                merged["required"] = required
        return merged

    @staticmethod
    def _type(schema: dict[str, Any]) -> str:
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
        if isinstance(kind, str):
            return kind
        if "properties" in schema:
            return "object"
        return "array" if "items" in schema else "string"

    def _object(self, schema: dict[str, Any], name: str, depth: int) -> dict[str, Any]:
        properties = schema.get("properties") or {}
        required = schema.get("required")
        names = [k for k in properties if k in required] if isinstance(required, list) else list(properties)
        if depth >= _MAX_SCHEMA_DEPTH and not isinstance(required, list):
            names = []
        return {key: self.value(properties[key], key, depth + 1) for key in names}

    def _array(self, schema: dict[str, Any], name: str, depth: int) -> list[Any]:
        count = max(int(schema.get("minItems", 0)), 0 if depth >= _MAX_SCHEMA_DEPTH else 1)
        if "maxItems" in schema:
            count = min(count, int(schema["maxItems"]))
        prefix = schema.get("prefixItems")
        if isinstance(prefix, list) and prefix:
            return [self.value(item, name, depth + 1) for item in prefix]
        return [self.value(schema.get("items", {}), name, depth + 1) for _ in range(count)]

    def _string(self, schema: dict[str, Any], name: str, depth: int) -> str:
        formatted = _FORMATTED_STRINGS.get(str(schema.get("format")))
        text = formatted if formatted is not None else f"stub {name}{self.suffix}"
        min_length = int(schema.get("minLength", 0))
        if len(text) < min_length:
            text = text + "x" * (min_length - len(text))
        if "maxLength" in schema:
            text = text[: int(schema["maxLength"])]
        return text


_FORMATTED_STRINGS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00Z",
    "email": "stub@example.com",
    "uri": "https://example.com/stub",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "duration": "P1D",
}


def _number(schema: dict[str, Any], *, integer: bool = False) -> int | float:
    """1 if allowed, else the first bound-derived candidate that satisfies every bound."""
    lo, hi = schema.get("minimum"), schema.get("maximum")
    xlo, xhi = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    step = 1 if integer else 0.5
    candidates = [1, lo, hi, xlo + step if xlo is not None else None, xhi - step if xhi is not None else None]
    if lo is not None and hi is not None:
        candidates.append((lo + hi) / 2)

    def allowed(value: float) -> bool:
        return (
            (lo is None or value >= lo) and (hi is None or value <= hi)
            and (xlo is None or value > xlo) and (xhi is None or value < xhi)
        )

    for candidate in candidates:
        if candidate is None:
            continue
        value = math.ceil(candidate) if integer else candidate
        if allowed(value):
            return int(value) if integer else float(value)
    return int(lo or 0) if integer else float(lo or 0)


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
    response_format = view.body.get("response_format")
    kind = response_format.get("type") if isinstance(response_format, dict) else None
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


async def _chat_completions(request: web.Request) -> web.StreamResponse:
    state = request.app[_STATE_KEY]
    body = request[_BODY_KEY]
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        message = "body must be a JSON object with a 'messages' list"
        return web.json_response(_error_body(message, "invalid_request_error", None), status=400)
    view = _RequestView.parse(body, request[_RAW_KEY])
    config = state.config
    rule = state.take_rule(view)
    delay = rule.latency if rule is not None and rule.latency is not None else config.latency
    if delay > 0:
        await asyncio.sleep(delay)
    if rule is not None and rule.fault is not None:
        return await _serve_fault(request, rule, view, config)
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
    rule = state.take_rule(view)
    delay = rule.latency if rule is not None and rule.latency is not None else config.latency
    if delay > 0:
        await asyncio.sleep(delay)
    if rule is not None and rule.fault is not None:
        return await _serve_fault(request, rule, view, config)
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


# --------------------------------------------------------------------------------------------
# Handles
# --------------------------------------------------------------------------------------------


def _initial_config(
    config: StubConfig | None, latency: float | None, nonce: bool | None, rules: Sequence[Rule] | None
) -> StubConfig:
    base = config or StubConfig()
    update: dict[str, Any] = {}
    if latency is not None:
        update["latency"] = latency
    if nonce is not None:
        update["nonce"] = nonce
    if rules is not None:
        update["rules"] = list(rules)
    return StubConfig.model_validate({**base.model_dump(), **update}) if update else base


def _config_update(rules: Sequence[Rule] | None, latency: float | None, nonce: bool | None,
                   stream_chunk_delay: float | None) -> dict[str, Any]:
    update: dict[str, Any] = {}
    if rules is not None:
        update["rules"] = [rule.model_dump() for rule in rules]
    for key, value in (("latency", latency), ("nonce", nonce), ("stream_chunk_delay", stream_chunk_delay)):
        if value is not None:
            update[key] = value
    return update


class _Started:
    """``with stub: ...`` starts the stub and stops it, for both the thread and the process form."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class StubServer(_Started):
    """The stub in a background thread with its own event loop — for unit tests.

    The thread keeps the server independent of whatever loop (or none) the test runs, so sync
    and async clients can both talk to it. State is readable after ``stop()``.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float | None = None,
        nonce: bool | None = None,
        rules: Sequence[Rule] | None = None,
        config: StubConfig | None = None,
    ) -> None:
        self.host = host
        self._requested_port = port
        self._app = build_app(_initial_config(config, latency, nonce, rules))
        self._state = self._app[_STATE_KEY]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._port: int | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> Self:
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._run, name="stub-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("stub server did not start")
        if self._startup_error is not None:
            raise RuntimeError("stub server failed to start") from self._startup_error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            started = start_stub(self._app, self.host, self._requested_port)
            runner, self._port = loop.run_until_complete(started)
        except BaseException as exc:  # noqa: BLE001 - reported to start(), which raises in the caller's thread
            self._startup_error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            _cancel_leftovers(loop)
            loop.close()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving; idempotent. Recorded state stays readable."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)


    # -- addresses ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("stub server is not started")
        return self._port

    @property
    def url(self) -> str:
        """Root URL, e.g. ``http://127.0.0.1:PORT`` (control endpoints live under ``/_stub/``)."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The ``base_url`` for an ``openai`` client: ``http://127.0.0.1:PORT/v1``."""
        return self.url + "/v1"

    # -- observability and control ---------------------------------------------------------

    def stats(self) -> StubStats:
        return self._state.stats()

    @property
    def hits(self) -> int:
        return self._state.hits

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Recorded requests, oldest first: ``method``, ``path``, ``headers`` (lower-cased names),
        ``body`` (parsed JSON, else text, else ``None``) and ``time`` (epoch seconds)."""
        return self._state.requests()

    @property
    def config(self) -> StubConfig:
        return self._state.config

    def configure(
        self,
        *,
        rules: Sequence[Rule] | None = None,
        latency: float | None = None,
        nonce: bool | None = None,
        stream_chunk_delay: float | None = None,
    ) -> StubConfig:
        """Replace the given settings only; replaced rules get fresh ``times`` budgets."""
        return self._state.configure(_config_update(rules, latency, nonce, stream_chunk_delay))

    def reset(self) -> None:
        self._state.reset()


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))


class StubProcess(_Started):
    """The stub in a child process (``python -m harness.testing.stub_server``) — for benchmarks.

    A separate process keeps the server's CPU time off the client under measurement. The handle
    mirrors :class:`StubServer`, talking to the ``/_stub/`` control endpoints over HTTP.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float | None = None,
        nonce: bool = False,
        rules: Sequence[Rule] | None = None,
        startup_timeout: float = 20.0,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.host = host
        self._args = [
            sys.executable, "-m", "harness.testing.stub_server", "--host", host, "--port", str(port),
            *(["--latency", str(latency)] if latency is not None else []),
            *(["--nonce"] if nonce else []), *extra_args,
        ]
        self._rules = list(rules) if rules is not None else None
        self._startup_timeout = startup_timeout
        self._proc: subprocess.Popen[str] | None = None
        self._url: str | None = None
        self.returncode: int | None = None
        """The child's exit status once stopped (0 after a clean SIGTERM shutdown)."""
        # Proxy variables must never divert calls to a local server.
        self._http = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def start(self) -> Self:
        if self._proc is not None:
            return self
        env = {**os.environ, "PYTHONPATH": _pythonpath_with_package()}
        self._proc = subprocess.Popen(self._args, stdout=subprocess.PIPE, text=True, env=env)
        base_url = self._await_ready(self._proc)
        self._url = base_url.removesuffix("/v1")
        if self._rules is not None:
            self.configure(rules=self._rules)
        return self

    def _await_ready(self, proc: subprocess.Popen[str]) -> str:
        lines: queue.Queue[str] = queue.Queue()
        assert proc.stdout is not None
        stdout = proc.stdout
        threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
        try:
            line = lines.get(timeout=self._startup_timeout)
        except queue.Empty:
            self.stop()
            raise TimeoutError("stub process did not report READY") from None
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError(f"stub process failed to start (first line: {line!r})")
        return line.split(maxsplit=1)[1].strip()

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the child (SIGTERM, then SIGKILL); idempotent."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        self.returncode = proc.returncode
        if proc.stdout is not None:
            proc.stdout.close()


    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError("stub process is not running")
        return self._proc.pid

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("stub process is not started")
        return self._url

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with self._http.open(request, timeout=10) as response:
            return json.loads(response.read())

    def stats(self) -> StubStats:
        return StubStats.model_validate(self._call("GET", "/_stub/stats"))

    @property
    def hits(self) -> int:
        return self.stats().hits

    @property
    def requests(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/_stub/requests"))

    def configure(
        self,
        *,
        rules: Sequence[Rule] | None = None,
        latency: float | None = None,
        nonce: bool | None = None,
        stream_chunk_delay: float | None = None,
    ) -> StubConfig:
        update = _config_update(rules, latency, nonce, stream_chunk_delay)
        return StubConfig.model_validate(self._call("POST", "/_stub/config", update))

    def reset(self) -> None:
        self._call("POST", "/_stub/reset", {})


def _pythonpath_with_package() -> str:
    """Make ``harness`` importable in the child even when it is not installed."""
    root = str(Path(__file__).resolve().parents[2])
    existing = os.environ.get("PYTHONPATH")
    return root if not existing else os.pathsep.join([root, existing])


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m harness.testing.stub_server",
        description="OpenAI-compatible stub model server. Prints 'READY <base_url>' once listening.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=None, help="seconds to wait per request")
    parser.add_argument(
        "--nonce", action="store_true", default=None, help="add a random nonce to every reply"
    )
    parser.add_argument("--config", type=Path, help="JSON file holding a StubConfig (rules, latency, ...)")
    parser.add_argument("--log-level", default="WARNING")
    return parser.parse_args(argv)


async def _serve(config: StubConfig, host: str, port: int) -> None:
    runner, bound = await start_stub(build_app(config), host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"READY http://{host}:{bound}/v1", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGTERM/SIGINT. The READY line is the only stdout output (parents wait for it)."""
    args = _parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    base = StubConfig.model_validate_json(args.config.read_text(encoding="utf-8")) if args.config else None
    config = _initial_config(base, args.latency, args.nonce, None)
    asyncio.run(_serve(config, args.host, args.port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
