"""Pattern 3 — manager with agents as tools: the manager keeps control and composes the reply.

Each specialist is exposed with ``Agent.as_tool``: the manager asks it a question, gets its
answer back as a tool result and may consult another before replying. Unlike triage, control
never leaves the manager, so one reply can combine two specialists' work (two requests in one
message). A specialist's own failure (``MaxTurnsExceeded``) is not turned into tool text
(``failure_error_function=None``): it fails the task, and the harness records it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agents import Agent, ToolCallItem

from harness.engine.flow import FlowContext, flow
from shopdesk.domain import ShopState
from shopdesk.flows._common import (
    DEFAULT_MAX_TURNS,
    as_agent_input,
    max_turns,
    publishing,
    require_prompt,
    run_agent,
)
from shopdesk.flows.specialists import DESCRIPTIONS, build_specialists

__all__ = ["MANAGER_AGENT", "TOOL_NAMES", "ManagerAgents", "build_agents", "manager"]

MANAGER_AGENT = "Support Manager"

#: Tool name of each specialist as the manager sees it.
TOOL_NAMES: dict[str, str] = {category: f"ask_{category}_specialist" for category in DESCRIPTIONS}


@dataclass(frozen=True)
class ManagerAgents:
    manager: Agent[Any]
    specialists: dict[str, Agent[Any]]


def build_agents(prompt: Any, model: Any, settings: Any, turns: int = DEFAULT_MAX_TURNS) -> ManagerAgents:
    """The manager with the four specialists as tools, each bounded to ``turns`` turns."""
    specialists = build_specialists(prompt, model, settings)
    tools = [
        agent.as_tool(
            tool_name=TOOL_NAMES[category],
            tool_description=(
                f"Ask the {category} specialist, who can look up and act on: {DESCRIPTIONS[category]} "
                "Pass the customer's request with every id and detail it needs."
            ),
            max_turns=turns,
            failure_error_function=None,
        )
        for category, agent in specialists.items()
    ]
    boss = Agent(
        name=MANAGER_AGENT, instructions=prompt["manager"], tools=tools, model=model, model_settings=settings
    )
    return ManagerAgents(manager=boss, specialists=specialists)


def consulted(items: list[Any]) -> list[str]:
    """Categories of the specialists the manager called, in call order."""
    by_tool = {name: category for category, name in TOOL_NAMES.items()}
    return [by_tool[i.tool_name] for i in items if isinstance(i, ToolCallItem) and i.tool_name in by_tool]


@flow(name="manager")
async def manager(input: Any, ctx: FlowContext) -> str:
    """Answer one support ticket through the manager, which consults specialists as tools."""
    built = build_agents(require_prompt(ctx, "manager"), ctx.sdk_model(), ctx.sdk_settings(), max_turns(ctx))
    with publishing(ctx, ShopState.fresh()) as state:
        result = await run_agent(built.manager, as_agent_input(input), state, ctx)
        used = consulted(list(result.new_items))
        for category in used:
            ctx.event("route", category=category, via="manager")
        route = used[0] if used else None
        ctx.state.update(final_agent=result.last_agent.name, specialists=used, route=route)
        return str(result.final_output)
