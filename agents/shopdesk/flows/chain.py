"""Pattern 5 — prompt chaining: research → outline → write → critique → improve.

Each step is a small agent with one job, and code passes each step's output to the next as
plain text. Only the researcher has tools (the help-centre search), so every later step works
from the same notes: the article's facts can be traced to the articles the researcher read
(``kb_articles_read`` in the state). One ``step`` span per stage (attribute ``step``) lets reports
show where time
and tokens went and where a bad article went wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agents import Agent

from harness.engine.flow import FlowContext, flow
from shopdesk.domain import ShopState
from shopdesk.flows._common import as_text, publishing, require_prompt, run_agent
from shopdesk.tools import KB_TOOLS

__all__ = ["STEPS", "ChainAgents", "build_agents", "chain"]

#: Stage name → agent name, in order.
STEPS: dict[str, str] = {
    "research": "Researcher",
    "outline": "Outliner",
    "write": "Writer",
    "critique": "Critic",
    "improve": "Editor",
}


@dataclass(frozen=True)
class ChainAgents:
    steps: dict[str, Agent[Any]]


def build_agents(prompt: Any, model: Any, settings: Any) -> ChainAgents:
    steps = {
        stage: Agent(
            name=name,
            instructions=prompt[stage],
            tools=list(KB_TOOLS) if stage == "research" else [],
            model=model,
            model_settings=settings,
        )
        for stage, name in STEPS.items()
    }
    return ChainAgents(steps=steps)


def step_input(stage: str, request: str, done: dict[str, str]) -> str:
    """What each stage reads: the request plus the earlier outputs it needs, labelled."""
    needs = {
        "research": [],
        "outline": ["research"],
        "write": ["research", "outline"],
        "critique": ["research", "write"],
        "improve": ["research", "write", "critique"],
    }[stage]
    labels = {"research": "RESEARCH NOTES", "outline": "OUTLINE", "write": "DRAFT", "critique": "CRITIQUE"}
    blocks = [f"ARTICLE REQUEST:\n{request}"] + [f"{labels[n]}:\n{done[n]}" for n in needs]
    return "\n\n".join(blocks)


@flow(name="chain")
async def chain(input: Any, ctx: FlowContext) -> str:
    """Write a help-centre article for the request; the improved draft is the output."""
    built = build_agents(require_prompt(ctx, "chain"), ctx.sdk_model(), ctx.sdk_settings())
    request = as_text(input)
    done: dict[str, str] = {}
    with publishing(ctx, ShopState.fresh()) as state:
        for stage, agent in built.steps.items():
            # The attribute is "step", not "name": FlowContext.span(name, **attributes) takes the span's
            # own name as its first parameter, so a "name" attribute cannot be passed.
            with ctx.span("step", step=stage, agent=agent.name) as span:
                result = await run_agent(agent, step_input(stage, request, done), state, ctx)
                done[stage] = str(result.final_output).strip()
                if span is not None:
                    span.attributes["chars"] = len(done[stage])
        ctx.state["steps"] = done
        return done["improve"]
