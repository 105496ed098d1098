"""Flow wiring with a scripted model (no server, no model): routing, loops, votes, retries, state.

These check what each flow's *code* does with given model answers; how well a real model
answers is the evals' job.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from agents import MaxTurnsExceeded
from shopdesk_scripted import Call, Say, Script, scripted_context

from harness.core.trace import TraceRecorder, Trajectory, recording
from shopdesk import flows
from shopdesk.prompt_library import PATTERN_PARTS

TICKET = "From: priya.n@example.com\nSubject: Speaker\n\nMy speaker from A1003 stopped charging."


def run(name: str, script: Script, task_input: Any = TICKET, **params: Any) -> tuple[Any, Any, Trajectory]:
    ctx = scripted_context(name, PATTERN_PARTS[name], script, params, task_input=task_input)
    recorder = TraceRecorder()
    with recording(recorder):
        output = asyncio.run(flows.FLOWS[name](task_input, ctx))
    assert not script.leftover, f"unplayed steps: {script.leftover}"
    return output, ctx, recorder.trajectory()


def as_text(model_input: Any) -> str:
    """A model call's input as text, whether the SDK passed a string or message items."""
    if isinstance(model_input, str):
        return model_input
    return "\n".join(str(item.get("content", "")) for item in model_input if isinstance(item, dict))


def inputs_of(ctx: Any, instructions: str) -> list[str]:
    """The inputs, as text, of every model call made by the agent with these instructions."""
    return [as_text(c.input) for c in ctx.scripted.calls if c.system_instructions == instructions]


def refund_a1003() -> list[Call | Say]:
    refund = Call("issue_refund", {"order_id": "A1003", "reason": "defective", "amount": None})
    return [refund, Say("Refunded $59.99.")]


def test_triage_hands_off_and_publishes_state() -> None:
    script = Script(triage=[Call("transfer_to_refunds_agent", {})], refunds=refund_a1003())
    output, ctx, trajectory = run("triage", script)
    assert output == "Refunded $59.99."
    assert ctx.state["final_agent"] == "Refunds Agent" and ctx.state["route"] == "refunds"
    assert ctx.state["refunds"][0]["order_id"] == "A1003"
    assert [s.attributes["category"] for s in trajectory.custom("route")] == ["refunds"]


def test_generalist_publishes_state_even_when_it_fails() -> None:
    script = Script(support=[*refund_a1003()[:1], *[Call("lookup_order", {"order_id": "A1003"})] * 3])
    ctx = scripted_context("generalist", PATTERN_PARTS["generalist"], script, {"max_turns": 3})
    with pytest.raises(MaxTurnsExceeded):
        asyncio.run(flows.FLOWS["generalist"](TICKET, ctx))
    assert ctx.state["refund_issued"] is True


def test_manager_keeps_control_and_records_specialists() -> None:
    script = Script(
        manager=[
            Call("ask_refunds_specialist", {"input": "Refund A1003, defective"}),
            Say("All done: $59.99 refunded."),
        ],
        refunds=refund_a1003(),
    )
    output, ctx, trajectory = run("manager", script)
    assert output == "All done: $59.99 refunded." and ctx.state["final_agent"] == "Support Manager"
    assert ctx.state["specialists"] == ["refunds"] and ctx.state["refund_total"] == 59.99
    assert [s.attributes["category"] for s in trajectory.custom("route")] == ["refunds"]


def test_manager_surfaces_a_specialist_failure() -> None:
    script = Script(manager=[Call("ask_orders_specialist", {"input": "track A1003"})],
                    orders=[Call("track_shipment", {"order_id": "A1003"})] * 2)
    ctx = scripted_context("manager", PATTERN_PARTS["manager"], script, {"max_turns": 2})
    with pytest.raises(MaxTurnsExceeded):
        asyncio.run(flows.FLOWS["manager"](TICKET, ctx))


def test_router_routes_by_typed_decision() -> None:
    decision = {"reason": "Wants money back", "category": "refunds", "confidence": 1.7}
    script = Script(classifier=[Say(json.dumps(decision))], refunds=refund_a1003())
    output, ctx, trajectory = run("router", script)
    assert output == "Refunded $59.99." and ctx.state["route"] == "refunds"
    assert ctx.state["route_confidence"] == 1.0  # clamped
    (route,) = trajectory.custom("route")
    assert route.attributes["category"] == "refunds" and route.attributes["reason"] == "Wants money back"


def test_router_without_the_answer_step_makes_one_call() -> None:
    decision = {"reason": "Wants money back", "category": "refunds", "confidence": 0.9}
    script = Script(classifier=[Say(json.dumps(decision))])
    output, ctx, _ = run("router", script, answer=False)
    assert output == "route: refunds (confidence 0.90): Wants money back"
    assert script.seen == ["classifier"] and ctx.state["route"] == "refunds"


def test_chain_runs_five_steps_in_order() -> None:
    script = Script(
        research=[
            Call("search_kb", {"query": "returns"}),
            Call("get_article", {"article_id": "returns-policy"}),
            Say("- 30 days [returns-policy]"),
        ],
        outline=[Say("outline")],
        write=[Say("draft")],
        critique=[Say("fix x")],
        improve=[Say("# Returns\nFinal")],
    )
    output, ctx, trajectory = run("chain", script, task_input="Write an article about returns.")
    assert output == "# Returns\nFinal"
    assert [s.attributes["step"] for s in trajectory.custom("step")] == list(PATTERN_PARTS["chain"])
    assert ctx.state["kb_articles_read"] == ["returns-policy"] and ctx.state["steps"]["critique"] == "fix x"


def verdict(passed: bool) -> Say:
    return Say(json.dumps({
        "issues": [] if passed else ["says 60 days"],
        "verdict": "pass" if passed else "fail",
        "feedback": "" if passed else "The window is 30 days.",
    }))


def test_evaluator_optimizer_stops_on_pass() -> None:
    script = Script(writer=[Say("draft 1"), Say("draft 2")], evaluator=[verdict(False), verdict(True)])
    request = "Write an article about the return window."
    output, ctx, trajectory = run("evaluator_optimizer", script, task_input=request)
    assert output == "draft 2" and ctx.state["rounds"] == 2 and ctx.state["passed"] is True
    rounds = [(s.attributes["n"], s.attributes["passed"]) for s in trajectory.custom("round")]
    assert rounds == [(1, False), (2, True)]


def test_evaluator_optimizer_gives_feedback_and_stops_at_max_rounds() -> None:
    script = Script(writer=[Say("draft 1"), Say("draft 2")], evaluator=[verdict(False), verdict(False)])
    parts = PATTERN_PARTS["evaluator_optimizer"]
    ctx = scripted_context("evaluator_optimizer", parts, script, {"max_rounds": 2})
    output = asyncio.run(flows.FLOWS["evaluator_optimizer"]("Write about returns.", ctx))
    assert output == "draft 2" and ctx.state["rounds"] == 2 and ctx.state["passed"] is False
    writer_inputs = inputs_of(ctx, "<writer>")
    assert "The window is 30 days." in writer_inputs[1] and "draft 1" in writer_inputs[1]
    evaluator_inputs = inputs_of(ctx, "<evaluator>")
    assert "[returns-policy]" in evaluator_inputs[0]  # the reference articles come from code, not the writer


def ballot(category: str) -> Say:
    return Say(json.dumps({"reason": "because", "category": category, "confidence": 0.8}))


def test_fanout_majority_vote() -> None:
    script = Script(
        classifier_a=[ballot("orders")], classifier_b=[ballot("refunds")], classifier_c=[ballot("orders")]
    )
    output, ctx, trajectory = run("fanout", script)
    assert output["category"] == "orders" and output["method"] == "majority"
    assert ctx.state["category"] == "orders"
    (vote,) = trajectory.custom("vote")
    votes = {"classifier_a": "orders", "classifier_b": "refunds", "classifier_c": "orders"}
    assert vote.attributes["votes"] == votes


def test_fanout_split_goes_to_the_selector() -> None:
    script = Script(
        classifier_a=[ballot("orders")],
        classifier_b=[ballot("refunds")],
        classifier_c=[ballot("account")],
        selector=[Say(json.dumps({"reason": "money back", "category": "refunds"}))],
    )
    output, _, trajectory = run("fanout", script)
    assert output["category"] == "refunds" and output["method"] == "selector"
    assert trajectory.custom("vote")[0].attributes["method"] == "selector"


def decision(**changes: Any) -> str:
    base = {"order_id": "A1003", "action": "approve", "amount": 59.99, "reason": "defective",
            "customer_message": "Refunded $59.99 to your card."}
    return json.dumps(base | changes)


def test_self_correct_retries_with_the_error_until_valid() -> None:
    """Prose fails the output type's schema, a wrong amount fails the refund check: both are fed back."""
    script = Script(decider=[Say("Sure! I will refund it."), Say(decision(amount=80.0)), Say(decision())])
    output, ctx, trajectory = run("self_correct", script)
    assert output["valid"] is True and output["attempts"] == 3 and output["decision"]["amount"] == 59.99
    assert [s.attributes["ok"] for s in trajectory.custom("attempt")] == [False, False, True]
    first_retry = ctx.scripted.calls[1].input
    assert first_retry[1] == {"role": "assistant", "content": "Sure! I will refund it."}
    assert "is not valid JSON (Expecting value at line 1, column 1)" in first_retry[2]["content"]
    retry = ctx.scripted.calls[2].input
    assert retry[1] == {"role": "assistant", "content": decision(amount=80.0)}
    assert "exceeds the refundable amount of 59.99" in retry[2]["content"]
    assert ctx.state["refunds"] == [output["applied"]]  # applied exactly once, after the check passed


def test_self_correct_names_the_missing_fields() -> None:
    script = Script(decider=[Say('{"order_id": "A1003"}'), Say(decision())])
    output, ctx, _ = run("self_correct", script)
    assert output["valid"] is True and output["attempts"] == 2
    assert "does not match the required fields" in ctx.state["attempts"][0]["error"]
    assert "action" in ctx.state["attempts"][0]["error"]


def test_self_correct_gives_up_without_acting() -> None:
    script = Script(
        decider=[Say(decision(action="approve", amount=10)), Say(decision(action="partial", amount=59.99))]
    )
    output, ctx, _ = run("self_correct", script, max_attempts=2)
    assert output["valid"] is False and output["attempts"] == 2 and "use 'approve'" in output["error"]
    assert ctx.state["refund_issued"] is False and ctx.state["attempt_count"] == 2


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (decision(order_id="A9999"), "No order with id"),
        (decision(action="deny", amount=5), "must be 0"),
        (decision(order_id="A1005"), "outside the 30-day return window"),
    ],
)
def test_self_correct_checker_messages(answer: str, error: str) -> None:
    from shopdesk.domain import ShopState
    from shopdesk.flows.self_correct import DecisionError, RefundDecision, check_decision

    with pytest.raises(DecisionError, match=error):
        check_decision(RefundDecision.model_validate_json(answer), ShopState.fresh())


def test_self_correct_escalation_opens_a_ticket() -> None:
    script = Script(decider=[Say(decision(action="escalate", amount=0, order_id=None))])
    output, ctx, _ = run("self_correct", script)
    assert output["applied"]["team"] == "refunds" and ctx.state["tickets"][0]["team"] == "refunds"
