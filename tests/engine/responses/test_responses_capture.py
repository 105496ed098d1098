"""The Responses API (the Agents SDK's default ``OpenAIResponsesModel``) is captured like Chat Completions.

Every test runs the real SDK and the real ``openai`` client against the stub server's
``/v1/responses`` on 127.0.0.1, records, and replays from the cassette with no server.
"""

from __future__ import annotations

from agents import Agent, Runner, function_tool, handoff
from pydantic import BaseModel

from harness.testing.stub_server import Rule, StubServer, ToolCallSpec

DEAD_URL = "http://127.0.0.1:9/v1"


@function_tool
def lookup_order(order_id: str) -> str:
    """Look up an order's status."""
    return f"order {order_id} is shipped"


class Route(BaseModel):
    category: str
    confidence: float


async def plain_flow(input, ctx):
    agent = Agent(name="Helper", instructions="Answer briefly.", model=ctx.sdk_model(api="responses"),
                  model_settings=ctx.sdk_settings())
    return (await Runner.run(agent, input)).final_output


async def tools_flow(input, ctx):
    model, settings = ctx.sdk_model(api="responses"), ctx.sdk_settings()
    orders = Agent(name="Orders Agent", instructions="Answer order questions.", tools=[lookup_order],
                   model=model, model_settings=settings)
    front = Agent(name="Triage Agent", instructions="Route the customer.", handoffs=[handoff(orders)],
                  model=model, model_settings=settings)
    return (await Runner.run(front, input, max_turns=6)).final_output


async def structured_flow(input, ctx):
    agent = Agent(name="Router", instructions="Classify.", output_type=Route, model=ctx.sdk_model(api="responses"),
                  model_settings=ctx.sdk_settings())
    return (await Runner.run(agent, input)).final_output.model_dump()


async def streamed_flow(input, ctx):
    agent = Agent(name="Helper", instructions="Answer briefly.", model=ctx.sdk_model(api="responses"),
                  model_settings=ctx.sdk_settings())
    result = Runner.run_streamed(agent, input)
    deltas = [event.data.delta async for event in result.stream_events()
              if event.type == "raw_response_event" and event.data.type == "response.output_text.delta"]
    return {"final": result.final_output, "deltas": len(deltas)}


TOOL_RULES = [
    Rule(has_tool="transfer_to_orders_agent", tool_calls=[ToolCallSpec(name="transfer_to_orders_agent", arguments={})]),
    Rule(has_tool="lookup_order", contains="is shipped", scope="any", content="Your order A1001 has shipped."),
    Rule(has_tool="lookup_order", tool_calls=[ToolCallSpec(name="lookup_order", arguments={"order_id": "A1001"})]),
]


def _snapshot(result):
    return {row.key: (row.output, row.trajectory.structure()) for row in result.folder.rows()}


def _record_then_replay(make_suite, run, flow, rules=(), backend="openai"):
    suite = make_suite(flow=flow, n=2, backend=backend)
    with StubServer(rules=list(rules)) as stub:
        recorded = run(suite, stub.base_url, record_mode="once")
        paths = {r["path"] for r in stub.requests}
    assert recorded.errors == 0, [r.error for r in recorded.folder.rows()]
    replay = run(suite, DEAD_URL, record_mode="none", concurrency=2, shuffle_seed=3)
    assert replay.errors == 0, [r.error for r in replay.folder.rows()]
    assert _snapshot(replay) == _snapshot(recorded)
    return next(recorded.folder.rows()), paths


def test_plain_text_reply_records_output_and_usage(make_suite, run):
    row, paths = _record_then_replay(make_suite, run, plain_flow)
    assert paths == {"/v1/responses"}
    [call] = row.trajectory.model_calls
    assert call.attributes["api"] == "responses"
    assert call.attributes["output"].startswith("stub reply to:")
    assert call.attributes["input_tokens"] > 0 and call.attributes["output_tokens"] > 0
    assert not call.attributes.get("usage_unknown")
    assert row.usage.input_tokens == call.attributes["input_tokens"]
    assert row.output == call.attributes["output"]


def test_tool_calls_and_handoffs_are_captured(make_suite, run):
    row, _ = _record_then_replay(make_suite, run, tools_flow, TOOL_RULES)
    trajectory = row.trajectory
    assert trajectory.handoff_path == ["Triage Agent", "Orders Agent"]
    assert [t.name for t in trajectory.tool_calls] == ["lookup_order"]
    calls = [c.attributes["tool_calls"] for c in trajectory.model_calls]
    assert calls[0] == [{"name": "transfer_to_orders_agent", "arguments": "{}"}]
    assert calls[1] == [{"name": "lookup_order", "arguments": '{"order_id": "A1001"}'}]
    assert trajectory.model_calls[0].attributes["tools"] == ["transfer_to_orders_agent"]
    assert all(c.attributes["output_tokens"] > 0 for c in trajectory.model_calls)
    assert row.output == "Your order A1001 has shipped."


def test_structured_output_through_text_format(make_suite, run):
    row, _ = _record_then_replay(make_suite, run, structured_flow)
    assert set(row.output) == {"category", "confidence"}
    assert row.trajectory.model_calls[0].attributes["response_format"] == "json_schema"


def test_streamed_events_are_captured_and_replayed(make_suite, run):
    row, _ = _record_then_replay(make_suite, run, streamed_flow)
    [call] = row.trajectory.model_calls
    assert call.attributes["stream"] is True
    assert call.attributes["output"] == row.output["final"]
    assert row.output["deltas"] >= 1
    assert call.attributes["input_tokens"] > 0 and call.attributes["output_tokens"] > 0


def test_translated_to_chat_completions_for_a_backend_without_responses(make_suite, run):
    """llama.cpp has no /v1/responses: the profile sends Chat Completions, the flow sees Responses."""
    row, paths = _record_then_replay(make_suite, run, tools_flow, TOOL_RULES, backend="llama-cpp")
    assert paths == {"/v1/chat/completions"}
    assert row.trajectory.handoff_path == ["Triage Agent", "Orders Agent"]
    assert row.output == "Your order A1001 has shipped."
    first = row.trajectory.model_calls[0].attributes
    assert first["api"] == "responses" and first["wire"] == "chat.completions"
    assert first["input_tokens"] > 0


def test_translated_stream(make_suite, run):
    row, _ = _record_then_replay(make_suite, run, streamed_flow, backend="llama-cpp")
    assert row.output["deltas"] >= 1 and row.output["final"].startswith("stub reply to:")


def test_translated_structured_output(make_suite, run):
    # llama.cpp gets {"type": "json_object", "schema": ...}; the stub does not decode by grammar.
    rules = [Rule(structured={"category": "orders", "confidence": 0.9})]
    row, _ = _record_then_replay(make_suite, run, structured_flow, rules, backend="llama-cpp")
    assert set(row.output) == {"category", "confidence"}
