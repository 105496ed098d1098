"""Pattern 1 — triage with handoffs: an LLM front desk hands the conversation to one specialist.

The triage agent has no tools, only handoffs; control passes to the specialist, which answers
the customer. The specialist sees the conversation without earlier tool items
(``handoff_filters.remove_all_tools``): small local models otherwise copy tool-call text from the
history into their reply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agents import Agent, handoff
from agents.extensions import handoff_filters

from harness.engine.flow import FlowContext, flow
from shopdesk.domain import ShopState
from shopdesk.flows._common import as_agent_input, publishing, require_prompt, run_agent
from shopdesk.flows.specialists import build_specialists, category_of

__all__ = ["TRIAGE_AGENT", "TriageAgents", "build_agents", "triage"]

TRIAGE_AGENT = "Triage Agent"


@dataclass(frozen=True)
class TriageAgents:
    triage: Agent[Any]
    specialists: dict[str, Agent[Any]]


def build_agents(prompt: Any, model: Any, settings: Any) -> TriageAgents:
    """The triage agent and its four specialists; no request is made."""
    specialists = build_specialists(prompt, model, settings)
    front = Agent(
        name=TRIAGE_AGENT,
        instructions=prompt["triage"],
        handoffs=[
            handoff(agent, input_filter=handoff_filters.remove_all_tools) for agent in specialists.values()
        ],
        model=model,
        model_settings=settings,
    )
    return TriageAgents(triage=front, specialists=specialists)


@flow(name="triage")
async def triage(input: Any, ctx: FlowContext) -> str:
    """Run one support ticket through the triage agent; the final agent's reply is the output."""
    built = build_agents(require_prompt(ctx, "triage"), ctx.sdk_model(), ctx.sdk_settings())
    with publishing(ctx, ShopState.fresh()) as state:
        result = await run_agent(built.triage, as_agent_input(input), state, ctx)
        final_agent = result.last_agent.name
        category = category_of(final_agent)
        ctx.event("route", category=category, agent=final_agent)
        ctx.state.update(final_agent=final_agent, route=category)
        return str(result.final_output)
