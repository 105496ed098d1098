"""Trajectory graders on trajectories captured from real runs against the stub model server.

Two flows run through the real runtime (transport, trace recorder, SDK trace processor):

* a plain ``openai`` flow — a tool call it executes itself, a route decision, two
  evaluator–optimizer rounds and three parallel drafts;
* an Agents SDK flow — a triage agent with a function tool (nested arguments) that hands off to a
  refunds agent, which calls a tool of its own.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import agents
import pytest
from pydantic import BaseModel

from harness.core.context import RequestContext, branch
from harness.core.dataset import Task
from harness.core.trace import Trajectory, event, span
from harness.engine.runtime import Runtime, RuntimeConfig
from harness.graders import (
    Attempt,
    Regex,
    Score,
    branch_count,
    end_state,
    final_agent,
    handoff_path,
    max_model_calls,
    max_tokens,
    max_turns,
    rounds,
    route,
    tool_called,
    tool_not_called,
    tool_order,
)
from harness.testing.stub_server import Rule, StubServer, ToolCallSpec

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "units": {"type": "object", "properties": {"temp": {"type": "string"}}},
            },
            "required": ["city"],
        },
    },
}


async def plain_flow(client: Any) -> str:
    """Route, one executed tool call, two improvement rounds, three parallel drafts."""
    event("route", category="weather")
    question = {"role": "user", "content": "what is the weather in Paris?"}
    first = await client.chat.completions.create(model="stub", messages=[question], tools=[WEATHER_TOOL])
    call = first.choices[0].message.tool_calls[0]
    tool_reply = {"role": "tool", "tool_call_id": call.id, "content": "sunny, 24C"}
    assistant = {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]}
    answer = await client.chat.completions.create(model="stub", messages=[question, assistant, tool_reply],
                                                  tools=[WEATHER_TOOL])
    for number in (1, 2):
        with span("round", round=number):
            await client.chat.completions.create(model="stub", messages=[{"role": "user", "content": f"improve {number}"}])

    async def draft(k: int) -> Any:
        with branch("draft"):  # what ctx.branch("draft") does in a flow
            return await client.chat.completions.create(model="stub", messages=[{"role": "user", "content": f"draft {k}"}])

    await asyncio.gather(draft(1), draft(2), draft(3))
    return str(answer.choices[0].message.content)


PLAIN_RULES = [
    Rule(has_tool="get_weather", contains="weather in",
         tool_calls=[ToolCallSpec(name="get_weather", arguments={"city": "Paris", "units": {"temp": "C"}})]),
]


class LookupOptions(BaseModel):
    verbose: bool
    fields: list[str]


def sdk_agents(client: Any, ledger: dict[str, Any]) -> agents.Agent:
    model = agents.OpenAIChatCompletionsModel(model="stub", openai_client=client)

    @agents.function_tool
    def lookup_order(order_id: str, options: LookupOptions) -> str:
        """Look up an order."""
        return f"order {order_id} delivered"

    @agents.function_tool
    def issue_refund(order_id: str, amount: float) -> str:
        """Refund an order."""
        ledger.setdefault("refunds", {})[order_id] = {"amount": amount, "id": "R-1001"}
        return "refunded"

    refunds = agents.Agent(name="Refunds Agent", instructions="Refund orders.", model=model, tools=[issue_refund])
    return agents.Agent(name="Triage Agent", instructions="Route.", model=model, tools=[lookup_order],
                        handoffs=[refunds])


SDK_RULES = [
    Rule(has_tool="lookup_order", contains="refund",
         tool_calls=[ToolCallSpec(name="lookup_order",
                                  arguments={"order_id": "A1", "options": {"verbose": True, "fields": ["status"]}})],
         times=1),
    Rule(has_tool="transfer_to_refunds_agent", tool_calls=[ToolCallSpec(name="transfer_to_refunds_agent", arguments={})],
         times=1),
    Rule(has_tool="issue_refund", tool_calls=[ToolCallSpec(name="issue_refund", arguments={"order_id": "A1", "amount": 25.0})],
         times=1),
    Rule(content="Your refund of 25.00 is on its way."),
]


async def capture(rules: list[Rule], flow: Any) -> tuple[Any, Trajectory]:
    with StubServer(rules=rules) as stub:
        async with Runtime(RuntimeConfig(base_url=stub.base_url, record_mode="off", max_retries=0)) as rt:
            async with rt.unit(RequestContext("s", "v", "t")) as unit:
                output = await flow(rt)
            return output, unit.trajectory


@pytest.fixture(scope="module")
def plain() -> Attempt:
    output, trajectory = asyncio.run(capture(PLAIN_RULES, lambda rt: plain_flow(rt.client)))
    return Attempt(task=Task(id="weather", input="weather?", expected={"route": "weather"}), output=output,
                   trajectory=trajectory)


@pytest.fixture(scope="module")
def sdk() -> Attempt:
    ledger: dict[str, Any] = {}

    async def flow(rt: Runtime) -> str:
        with span("route", category="refunds"):
            result = await agents.Runner.run(sdk_agents(rt.client, ledger), "please refund order A1")
        return str(result.final_output)

    output, trajectory = asyncio.run(capture(SDK_RULES, flow))
    expected = {
        "handoffs": ["Triage Agent", "Refunds Agent"],
        "tools": [{"name": "lookup_order", "arguments": {"order_id": "A1", "options": {"fields": ["status"]}}},
                  {"name": "issue_refund", "arguments": {"amount": 25.0}}],
        "end_state": {"refunds": {"A1": {"amount": 25.0}}},
    }
    return Attempt(task=Task(id="refund-A1", input="please refund order A1", expected=expected), output=output,
                   trajectory=trajectory, state=json.loads(json.dumps(ledger)))


def grade(grader: Any, target: Attempt) -> Score:
    return asyncio.run(grader(target))


# -- plain openai flow ----------------------------------------------------------------------------

def test_plain_flow_was_captured(plain: Attempt) -> None:
    assert len(plain.trajectory.model_calls) == 7
    assert plain.trajectory.agents == []


def test_plain_flow_tool_calls_come_from_model_requests(plain: Attempt) -> None:
    assert grade(tool_called("get_weather", arguments={"units": {"temp": "C"}}), plain).passed
    assert grade(tool_called("get_weather", arguments={"city": Regex("^Par")}), plain).passed
    assert not grade(tool_called("get_weather", arguments={"city": "Rome"}), plain).passed
    assert grade(tool_order(["get_weather"]), plain).passed
    assert grade(tool_not_called("send_email"), plain).passed


def test_plain_flow_route_rounds_and_branches(plain: Attempt) -> None:
    assert grade(route(from_expected="route"), plain).passed
    assert grade(rounds(exact=2), plain).passed
    result = grade(branch_count(exact=3, name="draft"), plain)
    assert result.passed, result.reason
    assert grade(branch_count(exact=3), plain).passed


def test_plain_flow_budgets_and_missing_agents(plain: Attempt) -> None:
    assert grade(max_model_calls(7), plain).passed
    assert not grade(max_model_calls(6), plain).passed
    tokens = plain.trajectory.input_tokens + plain.trajectory.output_tokens
    assert tokens > 0
    assert grade(max_tokens(tokens), plain).passed
    assert not grade(max_tokens(tokens - 1), plain).passed
    no_agents = grade(handoff_path(["Triage Agent"]), plain)
    assert not no_agents.passed and "no agent spans" in no_agents.reason


# -- Agents SDK flow ------------------------------------------------------------------------------

def test_sdk_flow_was_captured(sdk: Attempt) -> None:
    assert sdk.output == "Your refund of 25.00 is on its way."
    assert sdk.trajectory.handoff_path == ["Triage Agent", "Refunds Agent"]


def test_sdk_flow_handoffs_and_final_agent(sdk: Attempt) -> None:
    assert grade(handoff_path(from_expected="handoffs"), sdk).passed
    assert grade(handoff_path(["Refunds Agent"], mode="in_order"), sdk).passed
    wrong = grade(handoff_path(["Triage Agent", "Orders Agent"]), sdk)
    assert wrong.reason == "expected handoff path Triage Agent → Orders Agent, got Triage Agent → Refunds Agent"
    assert grade(final_agent("Refunds Agent"), sdk).passed


def test_sdk_flow_tool_calls_with_nested_arguments(sdk: Attempt) -> None:
    assert grade(tool_called(from_expected="tools"), sdk).passed
    nested = {"options": {"verbose": True, "fields": ["status"]}}
    assert grade(tool_called("lookup_order", arguments=nested, agent="Triage Agent"), sdk).passed
    assert grade(tool_called("issue_refund", agent="Refunds Agent"), sdk).passed
    assert not grade(tool_called("issue_refund", agent="Triage Agent"), sdk).passed
    mismatch = grade(tool_called("lookup_order", arguments={"options": {"fields": ["eta"]}}), sdk)
    assert "arguments.options.fields[0]: expected 'eta', got 'status'" in mismatch.reason
    assert grade(tool_order(["lookup_order", "issue_refund"]), sdk).passed
    # The handoff is a transfer_to_* tool call on the wire, but not a tool the agent executed.
    assert grade(tool_not_called("transfer_to_refunds_agent"), sdk).passed


def test_sdk_flow_route_budgets_and_end_state(sdk: Attempt) -> None:
    assert grade(route("refunds"), sdk).passed
    assert grade(max_model_calls(4), sdk).passed
    assert grade(max_turns(2, per_agent=True), sdk).passed
    assert not grade(max_turns(1, agent="Triage Agent"), sdk).passed
    assert grade(end_state(from_expected="end_state"), sdk).passed
    assert grade(end_state({"refunds": {"A1": {"id": Regex(r"^R-\d+$")}}}), sdk).passed
