"""Pattern 2 — one generalist agent with every tool and no handoffs.

The baseline the multi-agent patterns must beat on the same tickets: one prompt, one context,
no routing step that can go wrong, but a long tool list a small model must choose from.
"""

from __future__ import annotations

from typing import Any

from agents import Agent

from harness.engine.flow import FlowContext, flow
from shopdesk.domain import ShopState
from shopdesk.flows._common import as_agent_input, publishing, require_prompt, run_agent
from shopdesk.tools import ALL_TOOLS

__all__ = ["GENERALIST_AGENT", "build_agents", "generalist"]

GENERALIST_AGENT = "Support Agent"


def build_agents(prompt: Any, model: Any, settings: Any) -> Agent[Any]:
    return Agent(
        name=GENERALIST_AGENT,
        instructions=prompt["support"],
        tools=list(ALL_TOOLS),
        model=model,
        model_settings=settings,
    )


@flow(name="generalist")
async def generalist(input: Any, ctx: FlowContext) -> str:
    """Answer one support ticket with the single all-tools agent."""
    agent = build_agents(require_prompt(ctx, "generalist"), ctx.sdk_model(), ctx.sdk_settings())
    with publishing(ctx, ShopState.fresh()) as state:
        result = await run_agent(agent, as_agent_input(input), state, ctx)
        ctx.state.update(final_agent=result.last_agent.name)
        return str(result.final_output)
