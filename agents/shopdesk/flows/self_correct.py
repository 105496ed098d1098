"""Pattern 8 — self-correction: code checks the agent's answer and sends the error back.

The agent decides a refund request and answers with a :class:`RefundDecision` — its
``output_type``, so the SDK asks the model for that JSON schema (a structured output; on llama.cpp
the schema becomes a decoding grammar) and parses the reply itself. Code — not another model —
checks it: it must parse into the model, and pass the same validation the refund tool applies (order exists, inside the return window, amount within what
is refundable). On failure the agent is re-run with its answer and the exact error appended, up
to ``max_attempts`` (variant param, default 3). Only a decision that passes is applied to the
shop, so a wrong amount can never reach the customer's card. The agent may only read (look up
orders, read policy); code applies the decision.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from agents import Agent, AgentOutputSchema, ModelBehaviorError, ModelSettings
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.engine.flow import FlowContext, flow
from shopdesk.domain import ShopError, ShopState
from shopdesk.flows._common import as_text, publishing, require_prompt, run_agent
from shopdesk.tools import REFUND_READ_TOOLS, RefundReason

__all__ = [
    "DECIDER_AGENT",
    "FIRST_TOOL",
    "RefundDecision",
    "DecisionError",
    "build_agents",
    "check_decision",
    "schema_error",
    "DecisionSchema",
    "apply_decision",
    "self_correct",
]

DECIDER_AGENT = "Refund Decider"
DEFAULT_MAX_ATTEMPTS = 3


class RefundDecision(BaseModel):
    """A refund decision as the agent must write it."""

    model_config = ConfigDict(extra="forbid")

    order_id: str | None
    action: Literal["approve", "partial", "deny", "escalate"]
    amount: float = Field(ge=0)
    reason: RefundReason
    customer_message: str = Field(min_length=1)


class DecisionError(ValueError):
    """Why an answer was rejected, worded for the agent to fix it."""


#: The decider's first step on every attempt: no refund is decided without the order in hand.
FIRST_TOOL = "lookup_order"


def build_agents(prompt: Any, model: Any, settings: Any) -> Agent[Any]:
    """The decider: read-only tools, a :class:`RefundDecision` as its output type.

    Its first turn must call :data:`FIRST_TOOL` (every request names an order; a wrong id comes
    back as the tool's error, which the decision must then handle). The SDK resets the tool
    choice after that call (``reset_tool_choice``), so the agent may look up more or answer.
    Left to choose freely on its first turn, a model may answer before it has read anything, and
    llama.cpp's server cannot return a free-text answer while tools are offered at all (under
    ``"auto"`` its reply comes back empty): every attempt then ran out of turns.
    """
    return Agent(
        name=DECIDER_AGENT,
        instructions=prompt["decider"],
        tools=list(REFUND_READ_TOOLS),
        output_type=DecisionSchema(),
        model=model,
        model_settings=settings.resolve(ModelSettings(tool_choice=FIRST_TOOL)),
        reset_tool_choice=True,
    )


def schema_error(reply: str) -> str:
    """Why ``reply`` is not a :class:`RefundDecision`, worded for the agent to fix it.

    The SDK has already refused the reply (and keeps the details out of its error unless model
    data logging is on), so the checker reads it again to say exactly what is wrong.
    """
    if not reply.strip():
        return "Your reply was empty. Reply with one JSON object."
    try:
        data = json.loads(reply)
    except json.JSONDecodeError as exc:
        return (f"Your reply is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}). "
                "Reply with one JSON object only, with no text before or after it.")
    if not isinstance(data, dict):
        return f"Your reply must be a JSON object, not a JSON {type(data).__name__}."
    try:
        RefundDecision.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{_location(e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
        return f"Your JSON does not match the required fields: {problems}."
    return "Your reply could not be read as the required JSON object. Reply with the JSON object only."


def _location(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "object"


class DecisionSchema(AgentOutputSchema):
    """:class:`RefundDecision` as the agent's output type, keeping the reply it last read.

    When the SDK rejects a reply (not JSON, or not the schema), the checker quotes that reply
    back to the agent with the reason, as a human reviewer would. One per agent (per task).
    """

    def __init__(self) -> None:
        super().__init__(RefundDecision)
        self.last_reply = ""

    def validate_json(self, json_str: str) -> Any:
        self.last_reply = json_str
        return super().validate_json(json_str)


def check_decision(decision: RefundDecision, state: ShopState) -> RefundDecision:
    """Every check a parsed decision must pass before it may be applied; raises :class:`DecisionError`."""
    try:
        if decision.order_id is not None:
            state.get_order(decision.order_id)
        if decision.action in {"approve", "partial"}:
            _check_refund(decision, state)
    except ShopError as exc:
        raise DecisionError(str(exc)) from None
    if decision.action in {"deny", "escalate"} and decision.amount != 0:
        raise DecisionError(f"For action '{decision.action}' the amount must be 0, got {decision.amount}.")
    return decision


def _check_refund(decision: RefundDecision, state: ShopState) -> None:
    if decision.order_id is None:
        raise DecisionError(
            f"Action '{decision.action}' needs an order_id; if you cannot find one, escalate."
        )
    state.check_refund(decision.order_id, decision.amount, decision.reason)
    full = state.refundable_amount(decision.order_id, decision.reason)
    if decision.action == "approve" and abs(decision.amount - full) > 0.005:
        raise DecisionError(
            f"'approve' means refunding the full refundable amount, {full:.2f} for reason "
            f"'{decision.reason}'. "
            f"Approve {full:.2f}, or use 'partial' for a smaller amount."
        )
    if decision.action == "partial" and decision.amount >= full - 0.005:
        raise DecisionError(
            f"{decision.amount:.2f} is the full refundable amount; use 'approve' instead of 'partial'."
        )


def apply_decision(decision: RefundDecision, state: ShopState) -> dict[str, Any] | None:
    """Carry out a checked decision: refund, or open a ticket for the refunds team."""
    if decision.action in {"approve", "partial"}:
        assert decision.order_id is not None  # guaranteed by check_decision
        return state.issue_refund(decision.order_id, decision.amount, decision.reason)
    if decision.action == "escalate":
        subject = f"Refund review for {decision.order_id}" if decision.order_id else "Refund review"
        summary = (
            f"Refund request escalated by the refund agent. Message to customer: {decision.customer_message}"
        )
        return state.open_ticket("refunds", subject, summary, "normal", order_id=decision.order_id)
    return None


def retry_input(prompt: Any, request: str, answer: str, error: str) -> list[dict[str, str]]:
    """The original request, the rejected answer, and the error: a fresh conversation per retry
    (no earlier tool items, which small models tend to copy)."""
    return [
        {"role": "user", "content": request},
        {"role": "assistant", "content": answer},
        {"role": "user", "content": prompt["retry"].replace("{error}", error)},
    ]


@flow(name="self_correct")
async def self_correct(input: Any, ctx: FlowContext) -> dict[str, Any]:
    """Decide a refund request, re-asking with the checker's error until the decision is valid."""
    prompt = require_prompt(ctx, "self_correct")
    agent = build_agents(prompt, ctx.sdk_model(), ctx.sdk_settings())
    limit = max(1, int(ctx.params.get("max_attempts", DEFAULT_MAX_ATTEMPTS)))
    request = as_text(input)
    conversation: str | list[dict[str, str]] = request
    attempts: list[dict[str, Any]] = []
    with publishing(ctx, ShopState.fresh()) as state:
        for n in range(1, limit + 1):
            try:
                result = await run_agent(agent, conversation, state, ctx)
                decision = check_decision(result.final_output_as(RefundDecision, raise_if_incorrect_type=True),
                                          state)
            except ModelBehaviorError as exc:
                if "Invalid JSON" not in str(exc):
                    raise  # not a reply the schema rejected (a call to an unknown tool, say): a task error
                answer = agent.output_type.last_reply if isinstance(agent.output_type, DecisionSchema) else ""
                error = schema_error(answer)
            except DecisionError as exc:
                answer, error = json.dumps(result.final_output.model_dump()), str(exc)
            else:
                attempts.append({"n": n, "ok": True, "action": decision.action})
                ctx.event("attempt", n=n, ok=True, action=decision.action)
                applied = apply_decision(decision, state)
                ctx.state.update(attempts=attempts, attempt_count=n, valid=True)
                return {"valid": True, "attempts": n, "decision": decision.model_dump(), "applied": applied}
            attempts.append({"n": n, "ok": False, "error": error})
            ctx.event("attempt", n=n, ok=False, error=error)
            conversation = retry_input(prompt, request, answer, error)
        ctx.state.update(attempts=attempts, attempt_count=limit, valid=False)
        return {"valid": False, "attempts": limit, "decision": None, "error": attempts[-1]["error"]}
