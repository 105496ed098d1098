"""The SDK tools: schemas, and how errors reach the model (scripted model, no server)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from agents import Agent, Runner, UserError
from shopdesk_scripted import Call, Say, Script

from shopdesk.domain import ShopState
from shopdesk.tools import ALL_TOOLS, KB_TOOLS, REFUND_READ_TOOLS, TOOLSETS

EXPECTED_TOOLS = {
    "lookup_order", "list_orders_for_customer", "lookup_customer", "track_shipment", "issue_refund",
    "change_address", "cancel_order", "search_kb", "get_article", "reset_password", "open_ticket",
}


def test_tool_names_and_strict_schemas() -> None:
    assert {tool.name for tool in ALL_TOOLS} == EXPECTED_TOOLS
    for tool in ALL_TOOLS:
        assert tool.strict_json_schema, tool.name
        assert tool.params_json_schema["additionalProperties"] is False
        assert tool.description, tool.name
    assert set(TOOLSETS) == {"orders", "refunds", "technical", "account"}
    for tools in (*TOOLSETS.values(), KB_TOOLS, REFUND_READ_TOOLS):
        assert {tool.name for tool in tools} <= EXPECTED_TOOLS


def test_read_only_toolsets_cannot_write() -> None:
    writers = {"issue_refund", "change_address", "cancel_order", "reset_password", "open_ticket"}
    assert not writers & {tool.name for tool in (*KB_TOOLS, *REFUND_READ_TOOLS)}
    assert "issue_refund" not in {tool.name for tool in TOOLSETS["orders"]}


def run_tools(steps: list[Call | Say], state: Any) -> tuple[str, list[dict[str, Any]], Script]:
    """Run one all-tools agent through scripted steps; return its output and the tool outputs it saw."""
    script = Script(main=steps)
    model = script.model()
    agent = Agent(name="Tester", instructions="<main>", tools=list(ALL_TOOLS), model=model)
    result = asyncio.run(Runner.run(agent, "hi", context=state, max_turns=6))
    last_input = model.calls[-1].input
    outputs = [i for i in last_input if isinstance(i, dict) and i.get("type") == "function_call_output"]
    return str(result.final_output), outputs, script


def test_tool_writes_reach_the_state() -> None:
    state = ShopState.fresh()
    refund = Call("issue_refund", {"order_id": "A1003", "reason": "defective", "amount": None})
    run_tools([refund, Say("done")], state)
    assert state.snapshot()["refunds"][0]["amount"] == 59.99


def test_validation_errors_are_returned_to_the_model() -> None:
    state = ShopState.fresh()
    too_much = Call("issue_refund", {"order_id": "A1003", "reason": "defective", "amount": 80})
    _, outputs, _ = run_tools([too_much, Say("sorry")], state)
    assert outputs[0]["output"].startswith("Error: A refund of 80.00 exceeds the refundable amount of 59.99")
    assert state.snapshot()["rejected_actions"] == [
        {"tool": "issue_refund", "error": outputs[0]["output"].removeprefix("Error: ")}
    ]
    assert state.snapshot()["refund_issued"] is False


def test_bad_arguments_are_returned_with_the_expected_fields() -> None:
    state = ShopState.fresh()
    _, outputs, _ = run_tools([Call("issue_refund", {"order_id": "A1003"}), Say("sorry")], state)
    text = outputs[0]["output"]
    assert text.startswith("Error: Invalid JSON input for tool issue_refund")
    assert "order_id (string)" in text and '"changed_mind"' in text


def test_kb_reads_are_journaled() -> None:
    state = ShopState.fresh()
    run_tools([Call("get_article", {"article_id": "warranty"}), Say("ok")], state)
    assert state.snapshot()["kb_articles_read"] == ["warranty"]


def test_a_bug_in_a_tool_fails_the_run() -> None:
    """A non-domain exception (here: no ShopState context) must not be hidden from the harness;
    the SDK re-raises it wrapped in ``UserError``."""
    with pytest.raises(UserError, match="lookup_order: ShopDesk tools need"):
        run_tools([Call("lookup_order", {"order_id": "A1003"}), Say("never")], None)
