"""Pattern 7 — parallel fan-out and vote: three classifiers run at once, then a majority decides.

Three agents with different instructions (reading the ticket for intent, for the objects it
mentions, and for the action it needs) classify the same ticket in parallel with
``asyncio.gather``. Two or three agreeing votes decide; a three-way split goes to a selector
agent that sees the ticket and the three reasoned votes. Independent readings fail
differently, which is what makes a vote better than one reading.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

from agents import Agent
from pydantic import BaseModel, Field

from harness.engine.flow import FlowContext, flow
from shopdesk.domain import ShopState
from shopdesk.flows._common import as_text, publishing, require_prompt, run_agent

__all__ = ["Classification", "Selection", "FanoutAgents", "VOTERS", "build_agents", "tally", "fanout"]

Category = Literal["orders", "refunds", "technical", "account"]

#: Prompt part → agent name of each voter.
VOTERS: dict[str, str] = {
    "classifier_a": "Intent Classifier",
    "classifier_b": "Entity Classifier",
    "classifier_c": "Action Classifier",
}


class Classification(BaseModel):
    reason: str = Field(description="One sentence explaining the choice.")
    category: Category
    confidence: float = Field(description="0.0 to 1.0")


class Selection(BaseModel):
    reason: str = Field(description="Why this category fits the ticket best.")
    category: Category


@dataclass(frozen=True)
class FanoutAgents:
    voters: dict[str, Agent[Any]]
    selector: Agent[Any]


def build_agents(prompt: Any, model: Any, settings: Any) -> FanoutAgents:
    voters = {
        part: Agent(name=name, instructions=prompt[part], output_type=Classification, model=model,
                    model_settings=settings)
        for part, name in VOTERS.items()
    }
    selector = Agent(name="Selector", instructions=prompt["selector"], output_type=Selection, model=model,
                     model_settings=settings)
    return FanoutAgents(voters=voters, selector=selector)


def tally(votes: dict[str, str]) -> str | None:
    """The category with at least two votes, or ``None`` on a three-way split."""
    category, count = Counter(votes.values()).most_common(1)[0]
    return category if count >= 2 else None


def selector_input(ticket: str, ballots: dict[str, Classification]) -> str:
    lines = [f"- {VOTERS[part]}: {b.category} (confidence {b.confidence:.2f}) because {b.reason}"
             for part, b in ballots.items()]
    return f"TICKET:\n{ticket}\n\nTHE THREE CLASSIFIERS DISAGREE:\n" + "\n".join(lines)


@flow(name="fanout")
async def fanout(input: Any, ctx: FlowContext) -> dict[str, Any]:
    """Classify one ticket by parallel vote; output ``{"category", "votes", "method"}``."""
    built = build_agents(require_prompt(ctx, "fanout"), ctx.sdk_model(), ctx.sdk_settings())
    ticket = as_text(input)
    with publishing(ctx, ShopState.fresh()) as state:
        runs = (run_agent(agent, ticket, state, ctx) for agent in built.voters.values())
        results = await asyncio.gather(*runs)
        ballots = {
            part: result.final_output_as(Classification, raise_if_incorrect_type=True)
            for part, result in zip(built.voters, results, strict=True)
        }
        votes = {part: ballot.category for part, ballot in ballots.items()}
        winner = tally(votes)
        method = "unanimous" if len(set(votes.values())) == 1 else "majority"
        if winner is None:
            picked = await run_agent(built.selector, selector_input(ticket, ballots), state, ctx)
            winner = picked.final_output_as(Selection, raise_if_incorrect_type=True).category
            method = "selector"
        ctx.event("vote", votes=votes, winner=winner, method=method)
        ctx.state.update(category=winner, votes=votes, vote_method=method)
        return {"category": winner, "votes": votes, "method": method}
