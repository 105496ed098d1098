"""Backend profiles: what an endpoint can do, and how requests are adapted to it.

Real OpenAI-compatible servers deviate from the protocol in known ways (llama.cpp's server has
no ``json_schema`` response format, ignores tools unless ``tool_choice`` is set, rejects
``content: null``…). Rather than special cases inside flows, a profile declares the endpoint's
capabilities and rewrites the request body under the ``openai`` client, in the transport. The
cassette records what was actually sent, and the run manifest records which profile was used.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BackendProfile",
    "get_profile",
    "register_profile",
    "PROFILES",
    "BackendError",
    "BACKEND_ENV",
    "default_backend",
    "LLAMA_CPP",
    "LLAMA_CPP_ADAPTATIONS",
    "LLAMA_CPP_CAPABILITIES",
    "LLAMA_CPP_DEFAULT_MAX_TOKENS",
]

Adaptation = Callable[[dict[str, Any]], dict[str, Any]]


class BackendError(LookupError):
    pass


@dataclass(frozen=True)
class BackendProfile:
    """An endpoint kind: declared capabilities and the request adaptations they imply."""

    name: str
    description: str = ""
    capabilities: dict[str, bool] = field(default_factory=dict)
    adaptations: tuple[tuple[str, Adaptation], ...] = ()

    @property
    def rewrites(self) -> bool:
        return bool(self.adaptations)

    @property
    def translates_responses(self) -> bool:
        """No Responses API: ``POST /v1/responses`` goes over Chat Completions (see :mod:`harness.engine.responses_api`)."""
        return self.capabilities.get("responses_api", True) is False

    def adapt(self, body: dict[str, Any]) -> dict[str, Any]:
        """Apply every adaptation in order to a chat-completions request body."""
        for _, adaptation in self.adaptations:
            body = adaptation(body)
        return body

    def describe(self) -> dict[str, Any]:
        """What goes in the run manifest."""
        return {
            "name": self.name,
            "capabilities": dict(self.capabilities),
            "adaptations": [name for name, _ in self.adaptations],
            "responses_via_chat_completions": self.translates_responses,
        }


PROFILES: dict[str, BackendProfile] = {}


def register_profile(profile: BackendProfile, aliases: Iterable[str] = ()) -> BackendProfile:
    """Register a profile under its name (and any aliases, which resolve to the same profile:
    the manifest always records the canonical ``profile.name``)."""
    PROFILES[profile.name] = profile
    for alias in aliases:
        PROFILES[alias] = profile
    return profile


def get_profile(name: str) -> BackendProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise BackendError(f"unknown backend profile '{name}' (known: {', '.join(sorted(PROFILES))})") from None


#: Environment variable naming the backend profile when none is given explicitly.
BACKEND_ENV = "HARNESS_BACKEND"


def default_backend(explicit: str | None = None) -> str:
    """The profile name to use: ``explicit`` if given, else ``$HARNESS_BACKEND``, else ``"openai"``.

    Validated here, so a typo fails before any model call (raises :class:`BackendError`).
    """
    name = explicit or os.environ.get(BACKEND_ENV) or "openai"
    get_profile(name)
    return name


register_profile(
    BackendProfile(
        name="openai",
        description="The OpenAI API, or a server that implements Chat Completions faithfully.",
        capabilities={"json_schema": True, "tools": True, "tool_choice_required": True, "tool_role": True},
    )
)


# -- llama.cpp ----------------------------------------------------------------------------------
#
# ``python -m llama_cpp.server --chat_format chatml-function-calling`` (llama-cpp-python 0.3.x).
# Every adaptation below is a pure function ``body -> body``: it never mutates its argument,
# returns the argument itself when it has nothing to do, and is deterministic (same input, same
# output, key order included), because the cassette layer matches requests on the adapted body.
# Each one is also idempotent, so adapting an already adapted body changes nothing.

#: The cap :func:`default_max_tokens` applies when a request sets none.
LLAMA_CPP_DEFAULT_MAX_TOKENS = 256

#: What the endpoint can do (False: an adaptation works around it, or it is silently ignored).
LLAMA_CPP_CAPABILITIES: dict[str, bool] = {
    "chat_completions": True,
    "responses_api": False,            # no /v1/responses: translated to Chat Completions on the wire
    "json_schema": False,              # response_format json_schema -> HTTP 500
    "json_object_schema": True,        # {"type": "json_object", "schema": ...} constrains decoding
    "tools": True,
    "tools_without_tool_choice": False,  # tools are ignored unless tool_choice is set
    "tool_choice_auto_text": False,    # under "auto" a text reply always comes back empty
    "tool_choice_required": False,     # "required" -> HTTP 500
    "tool_choice_named": True,
    "tool_role": False,                # role "tool" messages are dropped by the chat template
    "developer_role": False,           # role "developer" -> HTTP 500
    "null_content": False,             # assistant content null -> HTTP 500
    "content_parts": False,            # list content is rendered as its Python repr
    "max_completion_tokens": False,    # ignored: generation runs to the context limit
    "seed": False,                     # ignored: only temperature 0 repeats
    "streaming": True,
}


def _messages(body: dict[str, Any]) -> list[Any]:
    messages = body.get("messages")
    return messages if isinstance(messages, list) else []


def _is_chat(body: dict[str, Any]) -> bool:
    """A Chat Completions request (the transport adapts every POST body, embeddings included)."""
    return isinstance(body.get("messages"), list)


def _function_tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    tools = body.get("tools")
    if not isinstance(tools, list):
        return []
    return [t for t in tools if isinstance(t, dict) and isinstance(t.get("function"), dict)]


def developer_role_as_system(body: dict[str, Any]) -> dict[str, Any]:
    """``role: "developer"`` (rejected with HTTP 500) becomes ``role: "system"``."""
    if not any(isinstance(m, dict) and m.get("role") == "developer" for m in _messages(body)):
        return body
    out = copy.deepcopy(body)
    for message in _messages(out):
        if isinstance(message, dict) and message.get("role") == "developer":
            message["role"] = "system"
    return out


def _text_only_parts(content: Any) -> bool:
    return isinstance(content, list) and all(
        isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str) for p in content
    )


def content_parts_as_text(body: dict[str, Any]) -> dict[str, Any]:
    """A content list made only of text parts becomes one string (parts joined by newlines).

    The chat template renders ``message.content`` as is, so a list would reach the model as its
    Python repr (``[{'type': 'text', ...}]``). Lists with non-text parts (images) are left alone:
    the model cannot read them either way.
    """
    if not any(isinstance(m, dict) and _text_only_parts(m.get("content")) for m in _messages(body)):
        return body
    out = copy.deepcopy(body)
    for message in _messages(out):
        if isinstance(message, dict) and _text_only_parts(message.get("content")):
            message["content"] = "\n".join(p["text"] for p in message["content"])
    return out


def _null_assistant(message: Any) -> bool:
    return isinstance(message, dict) and message.get("role") == "assistant" and message.get("content") is None


def null_content_as_empty(body: dict[str, Any]) -> dict[str, Any]:
    """An assistant message with ``content: null`` (or none), as sent with tool calls, gets ``""``."""
    if not any(_null_assistant(m) for m in _messages(body)):
        return body
    out = copy.deepcopy(body)
    for message in _messages(out):
        if _null_assistant(message):
            message["content"] = ""
    return out


def json_schema_as_json_object(body: dict[str, Any]) -> dict[str, Any]:
    """``response_format: json_schema`` (HTTP 500) becomes ``{"type": "json_object", "schema": S}``.

    llama.cpp compiles that schema to a grammar, so decoding is still constrained to it.
    """
    response_format = body.get("response_format")
    if not isinstance(response_format, dict) or response_format.get("type") != "json_schema":
        return body
    spec = response_format.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    out = copy.deepcopy(body)
    out["response_format"] = {"type": "json_object"}
    if isinstance(schema, dict):
        out["response_format"]["schema"] = copy.deepcopy(schema)
    return out


def max_completion_tokens_as_max_tokens(body: dict[str, Any]) -> dict[str, Any]:
    """``max_completion_tokens`` (ignored by the server) becomes ``max_tokens``.

    When both are set, ``max_tokens`` is kept and ``max_completion_tokens`` dropped.
    """
    if "max_completion_tokens" not in body or not _is_chat(body):
        return body
    out = copy.deepcopy(body)
    value = out.pop("max_completion_tokens")
    if out.get("max_tokens") is None and value is not None:
        out["max_tokens"] = value
    return out


def default_max_tokens(body: dict[str, Any]) -> dict[str, Any]:
    """A request with no ``max_tokens`` gets :data:`LLAMA_CPP_DEFAULT_MAX_TOKENS`.

    Without a cap, a small model (or constrained argument decoding) can generate until the
    context is full: minutes on a CPU. Only chat requests (other POSTs, embeddings say, are
    left alone).
    """
    if body.get("max_tokens") is not None or not _is_chat(body):
        return body
    out = copy.deepcopy(body)
    out["max_tokens"] = LLAMA_CPP_DEFAULT_MAX_TOKENS
    return out


def _last_is_tool_result(body: dict[str, Any]) -> bool:
    messages = [m for m in _messages(body) if isinstance(m, dict)]
    return bool(messages) and messages[-1].get("role") in ("tool", "function")


def tool_choice_auto_until_result(body: dict[str, Any]) -> dict[str, Any]:
    """Tools with no ``tool_choice`` (or ``"auto"``): ``"auto"``, or ``"none"`` right after a tool result.

    The server ignores tools unless ``tool_choice`` is set, so ``"auto"`` is made explicit. But
    under ``"auto"`` llama-cpp-python 0.3.x can only produce tool calls: when the model chooses
    to answer in text, the reply comes back empty. So when the conversation ends with a tool
    result (the model's turn to answer it), ``"none"`` lets the model write its answer. The
    price: one tool round per user turn (no chained calls without a user message between).
    """
    if not _function_tools(body) or body.get("tool_choice", "auto") != "auto":
        return body
    choice = "none" if _last_is_tool_result(body) else "auto"
    if body.get("tool_choice") == choice:
        return body
    out = copy.deepcopy(body)
    out["tool_choice"] = choice
    return out


#: Bounds put on tool argument schemas (see :func:`bounded_tool_arguments`).
LLAMA_CPP_MAX_ARGUMENT_CHARS = 64
LLAMA_CPP_MAX_ARGUMENT_ITEMS = 8
_FREE_STRING_KEYS = ("maxLength", "enum", "const", "pattern", "format")


def _bounded(schema: Any) -> Any:
    """A copy of a JSON schema whose free strings and arrays have a maximum size."""
    if isinstance(schema, list):
        return [_bounded(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _bounded(value) for key, value in schema.items()}
    kind = out.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if "string" in kinds and not any(key in out for key in _FREE_STRING_KEYS):
        out["maxLength"] = LLAMA_CPP_MAX_ARGUMENT_CHARS
    if "array" in kinds and "maxItems" not in out:
        out["maxItems"] = LLAMA_CPP_MAX_ARGUMENT_ITEMS
    return out


def bounded_tool_arguments(body: dict[str, Any]) -> dict[str, Any]:
    """Free strings and arrays in tool parameter schemas get a maximum size.

    Under ``tool_choice: "auto"`` llama-cpp-python 0.3.x decodes tool arguments with a grammar
    built from the parameter schema but **no** ``max_tokens``: a small model that opens a string
    may never close it, and generation runs until the context is full (minutes on a CPU, then a
    truncated call). ``maxLength``/``maxItems`` make the grammar itself end the argument.
    """
    tools = _function_tools(body)
    if not tools:
        return body
    out = copy.deepcopy(body)
    for tool in _function_tools(out):
        function = tool["function"]
        if isinstance(function.get("parameters"), dict):
            function["parameters"] = _bounded(function["parameters"])
    return out


def tool_choice_required_as_named(body: dict[str, Any]) -> dict[str, Any]:
    """``tool_choice: "required"`` (HTTP 500) names the tool when there is exactly one, else ``"auto"``."""
    if body.get("tool_choice") != "required":
        return body
    tools = _function_tools(body)
    out = copy.deepcopy(body)
    if len(tools) == 1:
        out["tool_choice"] = {"type": "function", "function": {"name": tools[0]["function"].get("name")}}
    else:
        out["tool_choice"] = "auto"
    return out


def system_message_for_tools(body: dict[str, Any]) -> dict[str, Any]:
    """When tools are in use and there is no system message, an empty one is put first.

    The chat template lists the tools (names and parameter schemas) inside the system message
    only, so without one the model chooses among tools it has never been shown.
    """
    choice = body.get("tool_choice")
    if not _function_tools(body) or choice is None or choice == "none":
        return body
    messages = _messages(body)
    if any(isinstance(m, dict) and m.get("role") == "system" for m in messages):
        return body
    out = copy.deepcopy(body)
    out["messages"] = [{"role": "system", "content": ""}, *copy.deepcopy(messages)]
    return out


def _calls_by_id(messages: list[Any]) -> dict[str, tuple[str, int, int]]:
    """``tool_call id -> (function name, 1-based position, number of calls in that message)``."""
    calls: dict[str, tuple[str, int, int]] = {}
    for message in messages:
        if not isinstance(message, dict) or message.get("role") != "assistant":
            continue
        tool_calls = [c for c in message.get("tool_calls") or [] if isinstance(c, dict)]
        for position, call in enumerate(tool_calls, start=1):
            name = str((call.get("function") or {}).get("name") or "")
            if isinstance(call.get("id"), str):
                calls[call["id"]] = (name, position, len(tool_calls))
    return calls


def _result_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    if _text_only_parts(content):
        return "\n".join(p["text"] for p in content)
    return json.dumps(content, sort_keys=True, ensure_ascii=False)


def tool_result_text(name: str, content: Any, position: int = 1, count: int = 1) -> str:
    """How a tool result is shown to the model: ``Tool result for get_weather: 18C, sunny``.

    The call id is left out on purpose: llama.cpp makes ids from a random completion id, and
    putting it in the prompt would make every live run's prompt (and answer) different. When one
    assistant turn made several calls, the position disambiguates (``(call 2 of 3)``).
    """
    label = f"Tool result for {name}" if name else "Tool result"
    if count > 1:
        label += f" (call {position} of {count})"
    return f"{label}: {_result_text(content)}"


def tool_results_as_user(body: dict[str, Any]) -> dict[str, Any]:
    """``role: "tool"`` (and legacy ``role: "function"``) messages become user messages.

    The ``chatml-function-calling`` template renders nothing for those roles, so the model would
    never see a tool's result. The assistant message's ``tool_calls`` are kept: the template
    renders them as ``functions.<name>:\\n<arguments>``, so the model sees its call, then
    ``Tool result for <name>: <content>`` as the next user turn.
    """
    messages = _messages(body)
    if not any(isinstance(m, dict) and m.get("role") in ("tool", "function") for m in messages):
        return body
    calls = _calls_by_id(messages)
    rewritten: list[Any] = []
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in ("tool", "function"):
            rewritten.append(copy.deepcopy(message))
            continue
        if message["role"] == "tool":
            name, position, count = calls.get(str(message.get("tool_call_id")), (None, 1, 1))
            name = name or str(message.get("name") or "")
        else:
            name, position, count = str(message.get("name") or ""), 1, 1
        rewritten.append({"role": "user", "content": tool_result_text(name, message.get("content"),
                                                                      position, count)})
    out = copy.deepcopy(body)
    out["messages"] = rewritten
    return out


#: In order: message shape first, then parameters, then tool choice (which looks at ``role:
#: "tool"``), then the rewrite of tool messages.
LLAMA_CPP_ADAPTATIONS: tuple[tuple[str, Adaptation], ...] = (
    ("developer_role_as_system", developer_role_as_system),
    ("content_parts_as_text", content_parts_as_text),
    ("null_content_as_empty", null_content_as_empty),
    ("json_schema_as_json_object", json_schema_as_json_object),
    ("max_completion_tokens_as_max_tokens", max_completion_tokens_as_max_tokens),
    ("default_max_tokens", default_max_tokens),
    ("tool_choice_auto_until_result", tool_choice_auto_until_result),
    ("tool_choice_required_as_named", tool_choice_required_as_named),
    ("bounded_tool_arguments", bounded_tool_arguments),
    ("system_message_for_tools", system_message_for_tools),
    ("tool_results_as_user", tool_results_as_user),
)

LLAMA_CPP = register_profile(
    BackendProfile(
        name="llama-cpp",
        description="llama-cpp-python's OpenAI-compatible server (python -m llama_cpp.server) "
                    "with --chat_format chatml-function-calling, e.g. the local SmolLM2 model.",
        capabilities=dict(LLAMA_CPP_CAPABILITIES),
        adaptations=LLAMA_CPP_ADAPTATIONS,
    ),
    aliases=("local",),
)
