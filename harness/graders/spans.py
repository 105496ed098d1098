"""Views of a trajectory that trajectory graders need beyond :class:`~harness.core.trace.Trajectory`'s own.

* which agent a span ran under (walking ``parent_id`` to the nearest ``agent`` span, since SDK
  function spans do not always carry their agent);
* tool calls from either source: *executed* (SDK ``tool`` spans) or *requested* (the tool calls
  models asked for, recorded on ``model`` spans — the only record a plain ``openai`` flow has);
* wall-clock time of the whole trajectory.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, Literal

from harness.core.trace import Span, ToolCall, Trajectory

__all__ = ["ToolSource", "agent_of", "tool_calls", "model_calls_per_agent", "wall_time_s",
           "HANDOFF_TOOL_PREFIX"]

ToolSource = Literal["auto", "executed", "requested"]

#: The Agents SDK makes a handoff as a tool call named ``transfer_to_<agent>``.
HANDOFF_TOOL_PREFIX = "transfer_to_"


def agent_of(trajectory: Trajectory, span: Span) -> str | None:
    """The name of the agent ``span`` ran under, or ``None`` outside any agent."""
    by_id = {s.id: s for s in trajectory.spans}
    seen: set[str] = set()
    parent = span.parent_id
    while parent is not None and parent not in seen:
        seen.add(parent)
        node = by_id.get(parent)
        if node is None:
            return None
        if node.kind == "agent":
            return node.name
        parent = node.parent_id
    return None


def _is_sdk_trajectory(trajectory: Trajectory) -> bool:
    return any(s.kind in ("agent", "tool") for s in trajectory.spans)


def tool_calls(trajectory: Trajectory, source: ToolSource = "auto") -> list[ToolCall]:
    """Tool calls in start order, each with its agent.

    ``auto``: executed calls when the trajectory has SDK spans (agents or tools), else the calls
    models requested. Requested calls leave out SDK handoffs (``transfer_to_…``), which are
    control flow, not tools.
    """
    if source == "executed" or (source == "auto" and _is_sdk_trajectory(trajectory)):
        return _executed(trajectory)
    return _requested(trajectory)


def _executed(trajectory: Trajectory) -> list[ToolCall]:
    calls = []
    for span in trajectory.of_kind("tool"):
        agent = span.attributes.get("agent") or agent_of(trajectory, span)
        calls.append(ToolCall(name=span.name, arguments=span.attributes.get("arguments"),
                              result=span.attributes.get("result"), agent=agent, error=span.error))
    return calls


def _requested(trajectory: Trajectory) -> list[ToolCall]:
    calls = []
    for span in trajectory.model_calls:
        agent = agent_of(trajectory, span)
        for call in span.attributes.get("tool_calls") or []:
            name = str(call.get("name") or "")
            if not name or name.startswith(HANDOFF_TOOL_PREFIX):
                continue
            calls.append(ToolCall(name=name, arguments=_parsed(call.get("arguments")), agent=agent))
    return calls


def _parsed(arguments: Any) -> Any:
    if not isinstance(arguments, str):
        return arguments
    try:
        return json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        return arguments


def model_calls_per_agent(trajectory: Trajectory) -> Counter[str]:
    """Model calls counted per agent; calls outside any agent count under ``"<none>"``."""
    return Counter(agent_of(trajectory, span) or "<none>" for span in trajectory.model_calls)


def wall_time_s(trajectory: Trajectory) -> float | None:
    """From the first span's start to the last span's end, or ``None`` with no timed spans."""
    ends = [s.end_s for s in trajectory.spans if s.end_s is not None]
    if not trajectory.spans or not ends:
        return None
    return max(ends) - min(s.start_s for s in trajectory.spans)
