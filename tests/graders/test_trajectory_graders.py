"""Trajectory graders on hand-built trajectories: paths, tools, routes, rounds, branches, budgets, state."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from harness.core.dataset import Task
from harness.core.trace import Span, Trajectory
from harness.graders import (
    ANY,
    Attempt,
    GraderConfigError,
    Predicate,
    Regex,
    Score,
    branch_count,
    end_state,
    final_agent,
    handoff_path,
    max_cost_usd,
    max_latency_s,
    max_model_calls,
    max_tokens,
    max_turns,
    rounds,
    route,
    tool_called,
    tool_not_called,
    tool_order,
)
from harness.graders.spans import tool_calls


def model(span_id: str, parent: str | None, start: float, end: float, tokens: tuple[int, int] = (100, 20),
          branch: str = "0", requested: list[dict[str, Any]] | None = None) -> Span:
    return Span(id=span_id, parent_id=parent, kind="model", name="gpt-4o-mini", branch=branch, start_s=start,
                end_s=end, attributes={"input_tokens": tokens[0], "output_tokens": tokens[1], "cost_usd": 0.001,
                                       "latency_s": end - start, "tool_calls": requested or []})


def sdk_trajectory() -> Trajectory:
    """Triage Agent looks up an order (nested arguments), hands off to Refunds Agent, which refunds."""
    return Trajectory(spans=[
        Span(id="0:1", kind="custom", name="route", start_s=0.0, end_s=0.0, attributes={"category": "refunds"}),
        Span(id="0:2", parent_id=None, kind="agent", name="Triage Agent", start_s=0.0, end_s=1.0),
        model("0:3", "0:2", 0.0, 0.4),
        Span(id="0:4", parent_id="0:2", kind="tool", name="lookup_order", start_s=0.4, end_s=0.5,
             attributes={"arguments": {"order_id": "A1", "options": {"verbose": True, "fields": ["status", "eta"]}},
                         "result": "delivered"}),
        model("0:5", "0:2", 0.5, 0.9),
        Span(id="0:6", parent_id="0:2", kind="handoff", name="Triage Agent -> Refunds Agent", start_s=0.9, end_s=0.9,
             attributes={"from_agent": "Triage Agent", "to_agent": "Refunds Agent"}),
        Span(id="0:7", parent_id=None, kind="agent", name="Refunds Agent", start_s=1.0, end_s=2.5),
        Span(id="0:8", parent_id="0:7", kind="tool", name="issue_refund", start_s=1.5, end_s=1.6,
             attributes={"arguments": {"order_id": "A1", "amount": 25.0}, "agent": "Refunds Agent"}),
        model("0:9", "0:7", 1.6, 2.5, tokens=(300, 50)),
    ])


def attempt(trajectory: Trajectory | None = None, expected: Any = None, state: dict[str, Any] | None = None) -> Attempt:
    return Attempt(task=Task(id="t1", input="refund my order A1", expected=expected), output="done",
                   trajectory=trajectory if trajectory is not None else sdk_trajectory(), state=state or {})


def run(grader: Any, target: Attempt | None = None) -> Score:
    return asyncio.run(grader(target or attempt()))


# -- agents and handoffs --------------------------------------------------------------------------

def test_handoff_path_modes() -> None:
    assert run(handoff_path(["Triage Agent", "Refunds Agent"])).passed
    assert not run(handoff_path(["Refunds Agent"])).passed
    assert run(handoff_path(["Refunds Agent"], mode="in_order")).passed
    assert not run(handoff_path(["Refunds Agent", "Triage Agent"], mode="in_order")).passed
    assert run(handoff_path(["Refunds Agent", "Triage Agent"], mode="set")).passed


def test_handoff_path_reason_is_readable() -> None:
    result = run(handoff_path(["Triage Agent", "Orders Agent"]))
    assert result.reason == "expected handoff path Triage Agent → Orders Agent, got Triage Agent → Refunds Agent"


def test_handoff_path_from_expected_and_config_errors() -> None:
    assert run(handoff_path(from_expected="handoffs"),
               attempt(expected={"handoffs": ["Triage Agent", "Refunds Agent"]})).passed
    with pytest.raises(GraderConfigError):
        handoff_path(["a"], mode="prefix")  # type: ignore[arg-type]
    with pytest.raises(GraderConfigError):
        handoff_path("Triage Agent")  # type: ignore[arg-type]


def test_final_agent() -> None:
    assert run(final_agent("Refunds Agent")).passed
    assert run(final_agent(["Orders Agent", "Refunds Agent"])).passed
    failed = run(final_agent("Orders Agent"))
    assert failed.reason == "expected final agent Orders Agent, got Refunds Agent"


def test_missing_trace_fails_trajectory_checks_with_a_reason() -> None:
    empty = attempt(Trajectory())
    result = run(handoff_path(["Triage Agent"]), empty)
    assert not result.passed and "no agent spans" in result.reason
    assert run(final_agent("x"), empty).reason == "expected final agent x, got (no agents)"
    assert "tools called: none" in run(tool_called("lookup_order"), empty).reason
    assert run(tool_not_called("lookup_order"), empty).passed
    assert not run(route("refunds"), empty).passed
    assert run(max_tokens(10), empty).passed  # nothing was spent
    with pytest.raises(ValueError, match="no timed spans"):
        run(max_latency_s(1.0), empty)


# -- tools ----------------------------------------------------------------------------------------

def test_tool_called_by_name_and_nested_argument_subset() -> None:
    assert run(tool_called("lookup_order")).passed
    assert run(tool_called("lookup_order", arguments={"options": {"verbose": True}})).passed
    assert run(tool_called("lookup_order", arguments={"options": {"fields": ["status", "eta"]}})).passed
    failed = run(tool_called("lookup_order", arguments={"options": {"verbose": False}}))
    assert not failed.passed
    assert "never with matching arguments: arguments.options.verbose: expected false, got true" in failed.reason


def test_tool_called_exact_arguments_forbid_extras_at_every_level() -> None:
    exact = {"order_id": "A1", "options": {"verbose": True, "fields": ["status", "eta"]}}
    assert run(tool_called("lookup_order", arguments=exact, match="exact")).passed
    fewer = {"order_id": "A1", "options": {"verbose": True}}
    result = run(tool_called("lookup_order", arguments=fewer, match="exact"))
    assert not result.passed and "arguments.options.fields: unexpected" in result.reason


def test_tool_argument_matchers() -> None:
    assert run(tool_called("lookup_order", arguments={"order_id": Regex(r"^A\d+$")})).passed
    assert run(tool_called("lookup_order", arguments={"order_id": re.compile("A")})).passed
    assert not run(tool_called("lookup_order", arguments={"order_id": Regex(r"^B")})).passed
    assert run(tool_called("issue_refund", arguments={"amount": Predicate(lambda v: 0 < v <= 50, "small")})).passed
    assert run(tool_called("issue_refund", arguments={"amount": lambda v: v == 25})).passed
    assert run(tool_called("issue_refund", arguments={"amount": float, "order_id": ANY})).passed
    assert not run(tool_called("issue_refund", arguments={"amount": int})).passed
    with pytest.raises(GraderConfigError):
        Regex("(")


def test_matchers_appear_stably_in_ids() -> None:
    grader = tool_called("issue_refund", arguments={"amount": Predicate(abs, "positive"), "id": Regex("^A")})
    assert grader.id == 'tool_called(name="issue_refund", arguments={"amount": "fn:positive", "id": "re:^A"})'


def test_tool_called_agent_times_and_lists() -> None:
    assert run(tool_called("issue_refund", agent="Refunds Agent")).passed
    assert run(tool_called("lookup_order", agent="Triage Agent")).passed  # agent found through parent spans
    assert not run(tool_called("issue_refund", agent="Triage Agent")).passed
    assert run(tool_called("lookup_order", times=1)).passed
    assert not run(tool_called("lookup_order", times=2)).passed
    both = run(tool_called(["lookup_order", {"name": "issue_refund", "arguments": {"amount": 30.0}}]))
    assert both.value == 0.5 and not both.passed


def test_tool_called_from_expected_list_of_specs() -> None:
    expected = {"tools": [{"name": "lookup_order", "arguments": {"order_id": "A1"}},
                          {"name": "issue_refund", "arguments": {"order_id": "A1", "amount": 25.0}}]}
    assert run(tool_called(from_expected="tools"), attempt(expected=expected)).passed
    assert run(tool_order(from_expected="tools"), attempt(expected=expected)).passed
    with pytest.raises(ValueError, match="tool spec"):
        run(tool_called(from_expected="tools"), attempt(expected={"tools": [{"arguments": {}}]}))


def test_tool_spec_config_errors() -> None:
    with pytest.raises(GraderConfigError):
        tool_called(arguments={"a": 1})
    with pytest.raises(GraderConfigError):
        tool_called(["a", "b"], arguments={"a": 1})
    with pytest.raises(GraderConfigError):
        tool_called("a", match="fuzzy")  # type: ignore[arg-type]
    with pytest.raises(GraderConfigError):
        tool_called([{"nom": "a"}])


def test_tool_not_called() -> None:
    assert run(tool_not_called("delete_account")).passed
    result = run(tool_not_called(["delete_account", "issue_refund"]))
    assert not result.passed and "issue_refund was called 1 time(s)" in result.reason
    assert run(tool_not_called("issue_refund", arguments={"amount": Predicate(lambda v: v > 100)})).passed
    assert not run(tool_not_called("issue_refund", arguments={"order_id": "A1"})).passed


@pytest.mark.parametrize(("expected", "mode", "ok"), [
    (["lookup_order", "issue_refund"], "strict", True),
    (["issue_refund", "lookup_order"], "strict", False),
    (["issue_refund", "lookup_order"], "unordered", True),
    (["lookup_order"], "superset", True),
    (["lookup_order"], "subset", False),
    (["lookup_order", "issue_refund", "send_email"], "subset", True),
    (["lookup_order", "issue_refund", "send_email"], "superset", False),
    (["issue_refund"], "in_order", True),
    (["issue_refund", "lookup_order"], "in_order", False),
])
def test_tool_order_modes(expected: list[str], mode: str, ok: bool) -> None:
    assert run(tool_order(expected, mode=mode)).passed is ok  # type: ignore[arg-type]


def test_tool_order_reason() -> None:
    result = run(tool_order(["issue_refund", "lookup_order"]))
    assert result.reason == ("expected tool calls (strict) issue_refund → lookup_order, "
                             "got lookup_order → issue_refund")


def test_plain_flows_use_the_tool_calls_models_requested() -> None:
    plain = Trajectory(spans=[
        model("0:1", None, 0.0, 0.2, requested=[{"name": "get_weather", "arguments": '{"city": "Paris"}'}]),
        model("0:2", None, 0.2, 0.4),
    ])
    assert [c.name for c in tool_calls(plain)] == ["get_weather"]
    assert run(tool_called("get_weather", arguments={"city": "Paris"}), attempt(plain)).passed
    # SDK handoffs are requested as transfer_to_* tool calls: control flow, not tools.
    handing = Trajectory(spans=[model("0:1", None, 0, 1, requested=[{"name": "transfer_to_refunds_agent",
                                                                       "arguments": "{}"}])])
    assert tool_calls(handing, "requested") == []
    assert [c.name for c in tool_calls(sdk_trajectory(), "requested")] == []


# -- routes, rounds, branches ---------------------------------------------------------------------

def test_route() -> None:
    assert run(route("refunds")).passed
    assert run(route(["orders", "refunds"])).passed
    assert run(route(from_expected="route"), attempt(expected={"route": "refunds"})).passed
    failed = run(route("orders"))
    assert failed.reason == "expected route orders, got refunds"
    missing = run(route("refunds", attribute="intent"))
    assert "no 'intent' attribute" in missing.reason


def optimizer_trajectory(n_rounds: int) -> Trajectory:
    spans = [Span(id=f"0:{i}", kind="custom", name="round", attributes={"round": i}) for i in range(1, n_rounds + 1)]
    return Trajectory(spans=spans)


def test_rounds() -> None:
    three = attempt(optimizer_trajectory(3))
    assert run(rounds(exact=3), three).passed
    assert run(rounds(min=2, max=4), three).passed
    failed = run(rounds(max=2), three)
    assert not failed.passed and failed.reason == "3 'round' span(s); expected at most 2"
    assert run(rounds(from_expected="rounds"), attempt(optimizer_trajectory(2), expected={"rounds": {"max": 2}})).passed
    assert run(rounds(from_expected="rounds"), attempt(optimizer_trajectory(2), expected={"rounds": 2})).passed
    for bad in ({}, {"exact": 1, "min": 1}, {"min": 3, "max": 1}, {"min": -1}):
        with pytest.raises(GraderConfigError):
            rounds(**bad)


def test_branch_count_from_model_branches_and_branch_spans() -> None:
    parallel = Trajectory(spans=[
        model("0:1", None, 0, 1),
        model("0/draft#1:1", None, 1, 2, branch="0/draft#1"),
        model("0/draft#2:1", None, 1, 2, branch="0/draft#2"),
        model("0/draft#3:1", None, 1, 2, branch="0/draft#3"),
        model("0/helper#1:1", None, 1, 2, branch="0/helper#1"),
    ])
    assert run(branch_count(exact=4), attempt(parallel)).passed
    assert run(branch_count(exact=3, name="draft"), attempt(parallel)).passed
    marked = Trajectory(spans=[Span(id=f"0:{i}", kind="custom", name="branch") for i in range(1, 3)])
    assert run(branch_count(exact=2), attempt(marked)).passed
    assert run(branch_count(exact=0, source="model"), attempt(marked)).passed


# -- budgets --------------------------------------------------------------------------------------

def test_turn_and_call_budgets() -> None:
    assert run(max_model_calls(3)).passed
    assert not run(max_model_calls(2)).passed
    assert run(max_turns(2, agent="Triage Agent")).passed
    assert not run(max_turns(1, agent="Triage Agent")).passed
    per_agent = run(max_turns(1, per_agent=True))
    assert not per_agent.passed and "by Triage Agent, the busiest agent" in per_agent.reason
    assert run(max_turns(3)).passed
    with pytest.raises(GraderConfigError):
        max_turns(1, agent="a", per_agent=True)


def test_token_cost_and_latency_budgets() -> None:
    result = run(max_tokens(600))  # 100+20 + 100+20 + 300+50 = 590
    assert result.passed and result.metadata["measured"] == 590
    assert not run(max_tokens(400, kind="input")).passed  # 500 input tokens
    assert run(max_tokens(90, kind="output")).passed
    assert run(max_cost_usd(0.003)).passed
    assert not run(max_cost_usd(0.002)).passed
    assert run(max_latency_s(2.5)).passed  # first start 0.0, last end 2.5
    assert not run(max_latency_s(2.0)).passed
    assert run(max_latency_s(1.8, source="model")).passed  # 0.4 + 0.4 + 0.9
    assert run(max_tokens(from_expected="budget.tokens"), attempt(expected={"budget": {"tokens": 1000}})).passed
    with pytest.raises(GraderConfigError):
        max_tokens(-1)
    with pytest.raises(ValueError, match="limit must be a number"):
        run(max_tokens(from_expected="budget"), attempt(expected={"budget": "lots"}))


# -- end state ------------------------------------------------------------------------------------

STATE = {"orders": {"A1": {"status": "refunded", "refund": {"amount": 25.0, "id": "R-77"}}}, "emails": 1}


def test_end_state_subset_and_partial_credit() -> None:
    with_state = attempt(state=STATE)
    assert run(end_state({"orders": {"A1": {"status": "refunded"}}}), with_state).passed
    matcher = {"orders": {"A1": {"refund": {"id": Regex(r"^R-\d+$"), "amount": float}}}}
    assert run(end_state(matcher), with_state).passed
    partial = run(end_state({"orders": {"A1": {"status": "open"}}, "emails": 1}), with_state)
    assert partial.value == 0.5 and not partial.passed
    assert "state.orders.A1.status: expected 'open', got 'refunded'" in partial.reason


def test_end_state_exact_and_from_expected() -> None:
    with_state = attempt(state=STATE, expected={"end_state": {"emails": 1}})
    assert run(end_state(from_expected="end_state"), with_state).passed
    assert not run(end_state({"emails": 1}, match="exact"), with_state).passed
    empty = run(end_state({"emails": 1}), attempt(state={}))
    assert not empty.passed and "recorded no state" in empty.reason
    with pytest.raises(GraderConfigError):
        end_state(["not", "a", "dict"])  # type: ignore[arg-type]
