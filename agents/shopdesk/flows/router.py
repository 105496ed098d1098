"""Pattern 4 — code routing: a classifier agent with a typed output, then code picks the specialist.

The decision is data (``RouteDecision``), so code can log it, threshold it and test it; the
LLM only classifies. ``reason`` comes first in the schema so a model writes its justification
before committing to a category.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from agents import Agent
from pydantic import BaseModel, Field

from harness.engine.flow import FlowContext, flow
from shopdesk.domain import ShopState
from shopdesk.flows._common import as_agent_input, publishing, require_prompt, run_agent
from shopdesk.flows.specialists import build_specialists

__all__ = ["ROUTER_AGENT", "RouteDecision", "RouterAgents", "build_agents", "router"]

ROUTER_AGENT = "Router"


class RouteDecision(BaseModel):
    """The classifier's decision: which team should handle the ticket, and how sure it is."""

    reason: str = Field(description="One sentence: what the customer mainly needs.")
    category: Literal["orders", "refunds", "technical", "account"]
    confidence: float = Field(description="0.0 to 1.0")


@dataclass(frozen=True)
class RouterAgents:
    classifier: Agent[Any]
    specialists: dict[str, Agent[Any]]


def build_agents(prompt: Any, model: Any, settings: Any) -> RouterAgents:
    classifier = Agent(
        name=ROUTER_AGENT,
        instructions=prompt["classifier"],
        output_type=RouteDecision,
        model=model,
        model_settings=settings,
    )
    return RouterAgents(classifier=classifier, specialists=build_specialists(prompt, model, settings))


@flow(name="router")
async def router(input: Any, ctx: FlowContext) -> str:
    """Classify the ticket, record the route, then let that specialist answer it.

    With the variant param ``answer=False`` the flow stops after routing and returns the
    decision as text: the classifier stage evaluated on its own (a component eval), one model
    call per ticket instead of three.
    """
    built = build_agents(require_prompt(ctx, "router"), ctx.sdk_model(api="responses"), ctx.sdk_settings())
    ticket = as_agent_input(input)
    with publishing(ctx, ShopState.fresh()) as state:
        decision = (await run_agent(built.classifier, ticket, state, ctx)).final_output_as(
            RouteDecision, raise_if_incorrect_type=True
        )
        confidence = min(1.0, max(0.0, decision.confidence))
        ctx.event("route", category=decision.category, confidence=confidence, reason=decision.reason)
        ctx.state.update(route=decision.category, route_confidence=confidence, route_reason=decision.reason)
        if not ctx.params.get("answer", True):
            return f"route: {decision.category} (confidence {confidence:.2f}): {decision.reason}"
        result = await run_agent(built.specialists[decision.category], ticket, state, ctx)
        ctx.state["final_agent"] = result.last_agent.name
        return str(result.final_output)
