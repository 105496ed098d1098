"""Pattern 1 — triage with handoffs: an LLM front desk hands the conversation to one specialist.

The triage agent has no tools, only handoffs; control passes to the specialist, which answers
the customer. The specialist sees the conversation without earlier tool items
(``handoff_filters.remove_all_tools``): small local models otherwise copy tool-call text from the
history into their reply.

It runs on the Agents SDK's default model class, ``OpenAIResponsesModel`` (the Responses API),
with two guardrails (:mod:`shopdesk.guardrails`): the ticket is screened before any model call
(prompt injection, off-topic), and every specialist's reply is checked for another customer's
data before the customer sees it. A tripped guardrail is an outcome, not an error: the customer
gets a refusal, and the ``tripwire`` event says which guardrail fired and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agents import Agent, InputGuardrailTripwireTriggered, OutputGuardrailTripwireTriggered, handoff
from agents.extensions import handoff_filters

from harness.engine.flow import FlowContext, flow
from shopdesk.domain import ShopState
from shopdesk.flows._common import as_agent_input, as_text, publishing, require_prompt, run_agent
from shopdesk.flows.specialists import build_specialists, category_of
from shopdesk.guardrails import REFUSAL, WITHHELD, no_other_customer_data, screen_ticket

__all__ = ["TRIAGE_AGENT", "TriageAgents", "build_agents", "triage"]

TRIAGE_AGENT = "Triage Agent"


@dataclass(frozen=True)
class TriageAgents:
    triage: Agent[Any]
    specialists: dict[str, Agent[Any]]


def build_agents(prompt: Any, model: Any, settings: Any) -> TriageAgents:
    """The triage agent and its four specialists, with their guardrails; no request is made."""
    specialists = build_specialists(prompt, model, settings, output_guardrails=[no_other_customer_data])
    front = Agent(
        name=TRIAGE_AGENT,
        instructions=prompt["triage"],
        handoffs=[
            handoff(agent, input_filter=handoff_filters.remove_all_tools) for agent in specialists.values()
        ],
        input_guardrails=[screen_ticket],
        output_guardrails=[no_other_customer_data],  # when it answers without handing off
        model=model,
        model_settings=settings,
    )
    return TriageAgents(triage=front, specialists=specialists)


@flow(name="triage")
async def triage(input: Any, ctx: FlowContext) -> str:
    """Run one support ticket through the triage agent; the final agent's reply is the output."""
    built = build_agents(require_prompt(ctx, "triage"), ctx.sdk_model(api="responses"), ctx.sdk_settings())
    with publishing(ctx, ShopState.fresh()) as state:
        state.ticket_text = as_text(input)
        try:
            result = await run_agent(built.triage, as_agent_input(input), state, ctx)
        except InputGuardrailTripwireTriggered as tripped:
            reason = (tripped.guardrail_result.output.output_info or {}).get("reason")
            ctx.event("tripwire", guardrail=tripped.guardrail_result.guardrail.get_name(), reason=reason)
            ctx.state.update(tripwires=["input"], final_agent=None, route=None)
            return REFUSAL
        except OutputGuardrailTripwireTriggered as tripped:
            blocked = tripped.guardrail_result
            leaks = (blocked.output.output_info or {}).get("leaks")
            ctx.event("tripwire", guardrail=blocked.guardrail.get_name(), agent=blocked.agent.name, leaks=leaks)
            ctx.state.update(tripwires=["output"], unguarded_output=str(blocked.agent_output),
                             final_agent=blocked.agent.name, route=category_of(blocked.agent.name))
            return WITHHELD
        final_agent = result.last_agent.name
        category = category_of(final_agent)
        ctx.event("route", category=category, agent=final_agent)
        ctx.state.update(final_agent=final_agent, route=category, tripwires=[])
        return str(result.final_output)
