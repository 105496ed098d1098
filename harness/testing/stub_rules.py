"""The stub server's rules and configuration, its request log, and how a request is matched to a rule."""

from __future__ import annotations

import collections
import logging
import threading
from dataclasses import dataclass
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

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


