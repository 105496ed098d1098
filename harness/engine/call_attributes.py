"""What a model call's request and reply say, as the attributes of its ``model`` span.

Chat Completions, the Responses API (plain or streamed) and embeddings are read; a reply of a
shape the harness does not know is reported on the span, never counted as 0 tokens. The HTTP
transport (:mod:`harness.engine.transport`) and production capture describe spans with these.
"""

from __future__ import annotations

import logging
from typing import Any

from harness.core.json_bodies import loads_or_none
from harness.engine import responses_api

__all__ = ["request_attributes", "reply_attributes", "stream_reply"]

log = logging.getLogger(__name__)


def _sse_reply(raw: bytes) -> dict[str, Any] | None:
    """Fold a streamed chat completion back into one reply (content, tool calls, usage)."""
    content: list[str] = []
    tools: dict[int, dict[str, Any]] = {}
    usage: dict[str, Any] | None = None
    model = finish = None
    for line in raw.decode("utf-8", "replace").splitlines():
        if not line.startswith("data:") or line.strip() == "data: [DONE]":
            continue
        chunk = loads_or_none(line[5:].strip().encode())
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


def request_attributes(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        return {}
    if "input" in body and "messages" not in body:
        return responses_api.request_attributes(body)
    messages = body.get("messages") or []
    return {
        "model": body.get("model"),
        "temperature": body.get("temperature"),
        "max_tokens": body.get("max_tokens") or body.get("max_completion_tokens"),
        # The whole request, so a transcript shows what the model was actually asked (the
        # secret scrubber runs over every row before it is written).
        "messages": messages,
        "tools": [t.get("function", {}).get("name") for t in body.get("tools") or [] if isinstance(t, dict)],
        "response_format": (body.get("response_format") or {}).get("type"),
        "stream": bool(body.get("stream")),
    }


def _tokens(usage: Any, name: str) -> int | None:
    """A usage count, or ``None`` when the reply does not say (unknown is not 0)."""
    if not isinstance(usage, dict) or usage.get(name) is None:
        return None
    return int(usage[name])


def _chat_reply_attributes(reply: dict[str, Any]) -> dict[str, Any]:
    choices = reply.get("choices") or [{}]
    message = choices[0].get("message") or {}
    usage = reply.get("usage")
    calls = [
        {"name": (c.get("function") or {}).get("name"), "arguments": (c.get("function") or {}).get("arguments")}
        for c in message.get("tool_calls") or []
    ]
    return {
        "output": message.get("content"),
        "tool_calls": calls,
        "finish_reason": choices[0].get("finish_reason"),
        "input_tokens": _tokens(usage, "prompt_tokens"),
        "output_tokens": _tokens(usage, "completion_tokens") if isinstance(usage, dict) else None,
    }


def reply_attributes(reply: Any, content: bytes) -> dict[str, Any]:
    """What a successful reply says: Chat Completions, Responses, embeddings — or that it is unknown.

    A reply of a shape the harness does not know is *reported* (``usage_unknown`` and
    ``capture_error`` on the span, a warning in the log), never counted as 0 tokens: budgets
    and cost gates read those counts.
    """
    if isinstance(reply, dict) and "choices" in reply:
        attributes = _chat_reply_attributes(reply)
    elif responses_api.is_response_body(reply):
        attributes = responses_api.response_attributes(reply)
    elif isinstance(reply, dict) and reply.get("object") == "list" and isinstance(reply.get("usage"), dict):
        attributes = {"output": None, "tool_calls": [], "finish_reason": None,
                      "input_tokens": _tokens(reply["usage"], "prompt_tokens"), "output_tokens": 0}
    else:
        what = f"keys {sorted(reply)[:8]}" if isinstance(reply, dict) else f"{len(content)} bytes, not a JSON object"
        problem = f"unrecognised reply shape ({what}): output and usage not captured"
        log.warning("model span: %s", problem)
        return {"output": None, "tool_calls": [], "input_tokens": None, "output_tokens": None,
                "usage_unknown": True, "capture_error": problem}
    if attributes["input_tokens"] is None or attributes["output_tokens"] is None:
        attributes["usage_unknown"] = True
    return attributes


def stream_reply(content: bytes) -> Any:
    """A streamed reply folded into one body: Chat Completions chunks, or Responses events."""
    events = list(responses_api.sse_events(content))
    if any(str(event.get("type", "")).startswith("response.") for event in events):
        return responses_api.response_from_events(events)  # None when the stream was torn
    return _sse_reply(content)
