"""Responses <-> Chat Completions translation (the llama-cpp profile's), and unknown reply shapes."""

from __future__ import annotations

import json

import httpx2
import pytest

from harness.core.trace import TraceRecorder, recording
from harness.engine import responses_api as ra
from harness.engine.backends import get_profile
from harness.engine.transport import HarnessSyncTransport

REQUEST = {
    "model": "smollm2",
    "instructions": "You are the triage agent.",
    "input": [
        {"role": "user", "content": "Where is order A1002?"},
        {"type": "function_call", "call_id": "call_1", "name": "track_shipment", "arguments": '{"order_id": "A1002"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "shipped"},
    ],
    "tools": [{"type": "function", "name": "track_shipment", "description": "Track.", "strict": True,
               "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}}}],
    "tool_choice": "auto",
    "text": {"format": {"type": "json_schema", "name": "Route", "schema": {"type": "object"}, "strict": True}},
    "max_output_tokens": 96,
    "temperature": 0.0,
    "include": [],
    "store": False,
}


def test_request_becomes_the_equivalent_chat_request():
    chat = ra.chat_request_from_responses(REQUEST)
    assert chat["messages"] == [
        {"role": "system", "content": "You are the triage agent."},
        {"role": "user", "content": "Where is order A1002?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "track_shipment", "arguments": '{"order_id": "A1002"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "shipped"},
    ]
    assert chat["tools"][0]["function"]["name"] == "track_shipment"
    assert chat["response_format"]["json_schema"]["name"] == "Route"
    assert chat["max_tokens"] == 96 and chat["temperature"] == 0.0
    assert "store" not in chat and "include" not in chat
    assert ra.chat_request_from_responses(REQUEST) == chat, "deterministic: replay matches on it"


@pytest.mark.parametrize("change, message", [
    ({"previous_response_id": "resp_1"}, "previous_response_id"),
    ({"tools": [{"type": "web_search"}]}, "hosted tool 'web_search'"),
    ({"frobnicate": 1}, "frobnicate"),
])
def test_what_chat_completions_cannot_express_is_refused(change, message):
    with pytest.raises(ra.ResponsesTranslationError, match=message):
        ra.chat_request_from_responses(REQUEST | change)


def test_chat_reply_becomes_a_responses_body():
    chat = {"id": "chatcmpl-abc", "created": 5, "model": "smollm2",
            "choices": [{"message": {"content": "On its way.", "tool_calls": [
                {"id": "call_9", "function": {"name": "lookup_order", "arguments": "{}"}}]},
                "finish_reason": "length"}],
            "usage": {"prompt_tokens": 40, "completion_tokens": 7, "total_tokens": 47}}
    body = ra.response_from_chat(chat, REQUEST)
    assert [item["type"] for item in body["output"]] == ["message", "function_call"]
    assert body["output"][0]["content"][0]["text"] == "On its way."
    assert body["output"][1]["call_id"] == "call_9"
    assert body["status"] == "incomplete" and body["incomplete_details"] == {"reason": "max_output_tokens"}
    assert body["usage"]["input_tokens"] == 40 and body["usage"]["output_tokens"] == 7
    assert ra.response_attributes(body)["input_tokens"] == 40


def test_chat_stream_becomes_responses_events_in_order():
    chunks = [
        {"id": "chatcmpl-s", "model": "smollm2", "choices": [{"delta": {"role": "assistant", "content": "Hel"}}]},
        {"choices": [{"delta": {"content": "lo"}}]},
        {"choices": [{"delta": {}, "finish_reason": "stop"}]},
        {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}},
    ]
    converter = ra.ChatStreamToResponseEvents(REQUEST)
    first = converter.feed(chunks[0])
    assert [e["type"] for e in first][-1] == "response.output_text.delta", "text is passed on at once"
    events = first + [e for c in chunks[1:] for e in converter.feed(c)] + converter.finish()
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    final = ra.response_from_events(events)
    assert ra.response_attributes(final)["output"] == "Hello"
    assert final["usage"]["output_tokens"] == 2


def _through_transport(reply: httpx2.Response, url: str = "http://127.0.0.1:9/v1/chat/completions"):
    recorder = TraceRecorder()
    transport = HarnessSyncTransport(httpx2.MockTransport(lambda request: reply), get_profile("openai"))
    with recording(recorder):
        transport.handle_request(httpx2.Request("POST", url, json={"model": "m", "messages": []}))
    [span] = recorder.trajectory().model_calls
    return span, recorder.trajectory()


def test_an_unknown_reply_shape_is_reported_not_counted_as_zero():
    span, trajectory = _through_transport(httpx2.Response(200, json={"result": "hi", "tokens": 12}))
    assert span.attributes["usage_unknown"] is True
    assert "unrecognised reply shape" in span.attributes["capture_error"]
    assert span.attributes["input_tokens"] is None and span.attributes["cost_usd"] is None
    assert trajectory.usage_unknown_calls == [span]


def test_budget_graders_refuse_to_pass_on_unknown_usage():
    from harness.core.dataset import Task
    from harness.core.grading import Attempt
    from harness.graders import max_cost_usd, max_tokens

    _, trajectory = _through_transport(httpx2.Response(200, json={"choices": [{"message": {"content": "x"}}]}))
    attempt = Attempt(task=Task(id="t", input="q"), output="x", trajectory=trajectory)
    for budget in (max_tokens(1000), max_cost_usd(1.0)):
        with pytest.raises(ValueError, match="usage unknown"):
            budget.fn(attempt)


def test_known_shapes_are_read():
    chat = {"choices": [{"message": {"content": "x"}}], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}
    span, _ = _through_transport(httpx2.Response(200, json=chat))
    assert (span.attributes["input_tokens"], span.attributes["output_tokens"]) == (3, 1)
    assert not span.attributes.get("usage_unknown")
    body = json.loads(json.dumps(ra.response_from_chat(chat | {"id": "chatcmpl-1"}, REQUEST)))
    span, _ = _through_transport(httpx2.Response(200, json=body), "http://127.0.0.1:9/v1/responses")
    assert span.attributes["output"] == "x" and span.attributes["input_tokens"] == 3
