"""What every ShopDesk flow shares: prompt lookup, input conversion, bounded runs, state publishing."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from agents import Agent, Runner, RunResult
from pydantic import BaseModel

from shopdesk.domain import ShopState

if TYPE_CHECKING:
    from harness.core.prompts import PromptVersion
    from harness.engine.flow import FlowContext

__all__ = [
    "DEFAULT_MAX_TURNS",
    "CATEGORIES",
    "max_turns",
    "require_prompt",
    "as_agent_input",
    "as_text",
    "publishing",
    "run_agent",
]

#: Enough for lookup → act → answer plus one correction; low enough that a looping model fails fast.
DEFAULT_MAX_TURNS = 8

#: The support categories: the route a router picks and the specialist a triage agent hands to.
CATEGORIES: tuple[str, ...] = ("orders", "refunds", "technical", "account")


def max_turns(ctx: FlowContext) -> int:
    return int(ctx.params.get("max_turns", DEFAULT_MAX_TURNS))


def require_prompt(ctx: FlowContext, pattern: str) -> PromptVersion:
    """The variant's prompt; a flow without one fails loudly rather than run unversioned text."""
    if ctx.prompt is None:
        raise ValueError(
            f"flow '{pattern}' needs a prompt version: Variant(prompt=shopdesk.prompt_library.load_prompt("
            f"'{pattern}', 'v1'))"
        )
    return ctx.prompt


def as_agent_input(value: Any) -> str | list[dict[str, Any]]:
    """A task input as the SDK takes it: text stays text, chat turns become message items."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return [_message(turn) for turn in value]
    if isinstance(value, Mapping):
        return as_text(value)
    raise TypeError(f"unsupported task input type {type(value).__name__}")


def _message(turn: Any) -> dict[str, Any]:
    data = turn.model_dump() if isinstance(turn, BaseModel) else dict(turn)
    return {"role": data["role"], "content": data["content"]}


def as_text(value: Any) -> str:
    """Any task input as one block of text, for agents that take a composed prompt."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        turns = [_message(turn) for turn in value]
        return "\n\n".join(f"{t['role']}: {t['content']}" for t in turns)
    if isinstance(value, Mapping):
        message = value.get("message") or value.get("request") or ""
        header = [f"{key}: {val}" for key, val in value.items() if key not in {"message", "request"} and val]
        return "\n".join(header) + ("\n\n" if header else "") + str(message)
    return str(value)


@contextmanager
def publishing(ctx: FlowContext, state: ShopState) -> Iterator[ShopState]:
    """Put the domain snapshot in ``ctx.state`` however the flow ends, so a failed task still
    shows graders and reports what it had already changed."""
    try:
        yield state
    finally:
        ctx.state.update(state.snapshot())


async def run_agent(
    agent: Agent[Any], input: str | list[Any], state: ShopState, ctx: FlowContext
) -> RunResult:
    """``Runner.run`` with the task's state as context and a bounded number of turns.

    ``MaxTurnsExceeded`` and model errors propagate: the harness records them as task errors.
    """
    return await Runner.run(agent, input, context=state, max_turns=max_turns(ctx))
