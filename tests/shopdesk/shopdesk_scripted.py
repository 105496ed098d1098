"""A scripted stand-in for the model, so flow wiring is tested with no server and no model.

Each agent's instructions are a unique marker (``PromptVersion.inline`` with ``part -> "<part>"``);
the responder looks the marker up and plays that agent's next scripted step. This tests what
the flows' code does (routing, loops, votes, state), not what a model would say.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from typing import Any

import openai
from agents.testing import ModelStep, ScriptedModel, assistant_message, function_call

from harness.core.dataset import Task
from harness.core.prompts import PromptVersion
from harness.engine.flow import FlowContext
from harness.engine.suite import ModelSettings

__all__ = ["Say", "Call", "Script", "ScriptedContext", "marker_prompt", "scripted_context"]

_ids = itertools.count(1)
#: More model calls than any scripted test makes; each is answered by the script.
_MAX_CALLS = 100


@dataclass(frozen=True)
class Say:
    """The agent answers with text (or JSON text for agents with an output type)."""

    text: str


@dataclass(frozen=True)
class Call:
    """The agent calls one tool (or handoff) with these arguments."""

    name: str
    arguments: dict[str, Any]


class Script:
    """Steps per prompt part; ``Script(triage=[Call(...)], refunds=[Call(...), Say(...)])``."""

    def __init__(self, **steps: list[Say | Call]) -> None:
        self.steps: dict[str, list[Say | Call]] = {part: list(queue) for part, queue in steps.items()}
        self.seen: list[str] = []

    def respond(self, call: Any) -> list[Any]:
        part = str(call.system_instructions).strip().strip("<>")
        self.seen.append(part)
        queue = self.steps.get(part)
        if not queue:
            raise AssertionError(f"no scripted step left for agent part '{part}' (seen: {self.seen})")
        step = queue.pop(0)
        if isinstance(step, Say):
            return [assistant_message(step.text)]
        return [function_call(step.name, step.arguments, call_id=f"call_{next(_ids)}")]

    def model(self) -> ScriptedModel:
        """A ScriptedModel whose every call is answered by :meth:`respond` (public SDK API only)."""
        return ScriptedModel([ModelStep.respond(self.respond) for _ in range(_MAX_CALLS)])

    @property
    def leftover(self) -> dict[str, int]:
        return {part: len(queue) for part, queue in self.steps.items() if queue}


@dataclass
class ScriptedContext(FlowContext):
    """A FlowContext whose ``sdk_model()`` is the scripted model."""

    scripted: Any = None

    def sdk_model(self, api: str = "chat_completions") -> Any:
        return self.scripted


def marker_prompt(pattern: str, parts: tuple[str, ...]) -> PromptVersion:
    # Template parts keep their placeholder so a test can see what was filled in.
    texts = {part: f"<{part}> {{error}}" if part == "retry" else f"<{part}>" for part in parts}
    return PromptVersion.inline(pattern, "test", texts)


def scripted_context(
    pattern: str,
    parts: tuple[str, ...],
    script: Script,
    params: dict[str, Any] | None = None,
    task_input: Any = "x",
) -> ScriptedContext:
    return ScriptedContext(
        task=Task(id="t1", input=task_input),
        variant=f"{pattern}@test",
        client=openai.AsyncOpenAI(api_key="x", base_url="http://127.0.0.1:9/v1"),
        sync_client=openai.OpenAI(api_key="x", base_url="http://127.0.0.1:9/v1"),
        settings=ModelSettings(model="scripted", max_tokens=256),
        prompt=marker_prompt(pattern, parts),
        rng=random.Random(0),
        params=params or {},
        scripted=script.model(),
    )
