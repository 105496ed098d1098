"""Tool-call graders: was a tool called (with the right arguments), never called, called in order.

Tool calls come from the trajectory (see :func:`harness.graders.spans.tool_calls`): executed SDK
tool spans, or the calls models requested in a plain ``openai`` flow. Arguments are matched with
:mod:`harness.graders.matching` — literals, :class:`~harness.graders.matching.Regex`, classes,
predicates — as a subset of the actual arguments (nested) or exactly.

A task can carry its expected calls: ``expected = {"tools": [{"name": "lookup_order",
"arguments": {"order_id": "A1"}}]}`` with ``tool_called(from_expected="tools")``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from harness.core.grading import Attempt, GraderConfigError, Score, ScoreFn, grader
from harness.core.trace import ToolCall
from harness.graders.expected import MISSING, reference_source
from harness.graders.matching import MatchMode, match_value
from harness.graders.spans import ToolSource, tool_calls

__all__ = ["tool_called", "tool_not_called", "tool_order", "ToolSpec", "OrderMode"]

OrderMode = Literal["strict", "unordered", "subset", "superset", "in_order"]


@dataclass(frozen=True)
class ToolSpec:
    """One expected (or forbidden) call: a tool name, optionally arguments, an agent, a count."""

    name: str
    arguments: Any = None
    agent: str | None = None
    times: int | None = None

    @classmethod
    def parse(cls, value: Any, where: str) -> ToolSpec:
        """From a name, or a dict ``{"name", "arguments"?, "agent"?, "times"?}``."""
        if isinstance(value, ToolSpec):
            return value
        if isinstance(value, str) and value:
            return cls(name=value)
        if isinstance(value, Mapping) and isinstance(value.get("name"), str) and value["name"]:
            unknown = set(value) - {"name", "arguments", "agent", "times"}
            if unknown:
                raise ValueError(f"{where}: unknown keys {sorted(unknown)} in tool spec {dict(value)!r}")
            return cls(name=value["name"], arguments=value.get("arguments"), agent=value.get("agent"),
                       times=value.get("times"))
        raise ValueError(f"{where}: a tool spec is a name or a dict with a 'name', got {value!r}")

    def describe(self) -> str:
        return self.name + (f" (by {self.agent})" if self.agent else "")


def _specs(value: Any, where: str, agent: str | None = None) -> list[ToolSpec]:
    """Specs from one spec or a list; ``agent`` applies to those that name none."""
    items = value if isinstance(value, list | tuple) else [value]
    specs = [ToolSpec.parse(item, where) for item in items]
    return [replace(s, agent=agent) if agent is not None and s.agent is None else s for s in specs]


def _arguments_mismatches(spec: ToolSpec, call: ToolCall, match: MatchMode) -> list[str]:
    if spec.arguments is None:
        return []
    return match_value(spec.arguments, call.arguments, match, "arguments")


def _candidates(spec: ToolSpec, calls: list[ToolCall]) -> list[ToolCall]:
    return [c for c in calls if c.name == spec.name and (spec.agent is None or c.agent == spec.agent)]


def _check_match_mode(grader_name: str, match: str) -> None:
    if match not in ("subset", "exact"):
        raise GraderConfigError(f"{grader_name}: match must be 'subset' or 'exact', got {match!r}")


def _literal_specs(grader_name: str, name: Any, arguments: Any, agent: str | None,
                   times: int | None = None) -> list[ToolSpec] | None:
    """The specs a literal ``name`` gives, checked at construction so a malformed one fails before any run."""
    if name is None:
        if arguments is not None or times is not None:
            raise GraderConfigError(f"{grader_name}: arguments=/times= need a tool name")
        return None
    if isinstance(name, str):
        return [ToolSpec(name=name, arguments=arguments, agent=agent, times=times)]
    if arguments is not None or times is not None:
        raise GraderConfigError(f"{grader_name}: with a list of tools, put arguments/times in each "
                                "{'name': ..., 'arguments': ...} spec")
    try:
        specs = _specs(name, grader_name, agent)
    except ValueError as exc:
        raise GraderConfigError(str(exc)) from None
    if not specs:
        raise GraderConfigError(f"{grader_name}: the list of tools is empty")
    return specs


@grader
def tool_called(name: str | Sequence[str | Mapping[str, Any]] | None = None, *, arguments: Any = None,
                match: MatchMode = "subset", agent: str | None = None, times: int | None = None,
                from_expected: str | None = None, default: Any = MISSING,
                source: ToolSource = "auto") -> ScoreFn:
    """Each required tool was called — with matching ``arguments`` when given.

    ``name`` is one tool, or a list of names / ``{"name", "arguments"}`` specs (all required);
    ``agent`` requires the call to come from that agent; ``times`` requires exactly that many
    matching calls. The value is the fraction of required calls found.
    """
    _check_match_mode("tool_called", match)
    if times is not None and times < 1:
        raise GraderConfigError("tool_called: times must be >= 1 (use tool_not_called for 0)")
    literal = _literal_specs("tool_called", name, arguments, agent, times)
    reference = reference_source("tool_called", literal, from_expected, default, literal_name="name")

    def score(attempt: Attempt) -> Score:
        specs = _specs(reference(attempt), f"tool_called: task '{attempt.task.id}'", agent)
        if not specs:
            return Score.of(True, "no tool calls required")
        calls = tool_calls(attempt.trajectory, source)
        problems = [p for spec in specs if (p := _required_problem(spec, calls, match))]
        value = (len(specs) - len(problems)) / len(specs)
        reason = "; ".join(problems) if problems else "called " + ", ".join(s.describe() for s in specs)
        return Score(value=value, passed=not problems, reason=reason,
                     metadata={"called": [c.name for c in calls]})

    return score


def _required_problem(spec: ToolSpec, calls: list[ToolCall], match: MatchMode) -> str | None:
    """Why ``spec`` is not satisfied by ``calls``, or ``None`` when it is."""
    candidates = _candidates(spec, calls)
    if not candidates:
        called = ", ".join(dict.fromkeys(c.name for c in calls)) or "none"
        return f"{spec.describe()} was not called (tools called: {called})"
    results = [_arguments_mismatches(spec, c, match) for c in candidates]
    matching = sum(1 for r in results if not r)
    if matching == 0:
        closest = min(results, key=len)
        return (f"{spec.describe()} was called {len(candidates)} time(s) but never with matching arguments: "
                + "; ".join(closest[:4]))
    if spec.times is not None and matching != spec.times:
        return f"{spec.describe()} was called with matching arguments {matching} time(s), expected {spec.times}"
    return None


@grader
def tool_not_called(name: str | Sequence[str | Mapping[str, Any]] | None = None, *, arguments: Any = None,
                    match: MatchMode = "subset", agent: str | None = None, from_expected: str | None = None,
                    default: Any = MISSING, source: ToolSource = "auto") -> ScoreFn:
    """No forbidden tool was called; with ``arguments``, only calls with matching arguments count."""
    _check_match_mode("tool_not_called", match)
    literal = _literal_specs("tool_not_called", name, arguments, agent)
    reference = reference_source("tool_not_called", literal, from_expected, default, literal_name="name")

    def score(attempt: Attempt) -> Score:
        specs = _specs(reference(attempt), f"tool_not_called: task '{attempt.task.id}'", agent)
        if not specs:
            return Score.of(True, "nothing forbidden")
        calls = tool_calls(attempt.trajectory, source)
        violations = []
        for spec in specs:
            hits = [c for c in _candidates(spec, calls) if not _arguments_mismatches(spec, c, match)]
            if hits:
                qualifier = " with the forbidden arguments" if spec.arguments is not None else ""
                violations.append(f"{spec.describe()} was called{qualifier} {len(hits)} time(s)")
        reason = "; ".join(violations) if violations else "none of " + ", ".join(s.name for s in specs) + " was called"
        return Score.of(not violations, reason)

    return score


def _order_names(value: Any, attempt: Attempt) -> list[str]:
    """Names from a list of names or of ``{"name", …}`` specs (so ``from_expected="tools"`` works)."""
    return [spec.name for spec in _specs(value, f"tool_order: task '{attempt.task.id}'")]


@grader
def tool_order(expected: Sequence[str | Mapping[str, Any]] | None = None, *, mode: OrderMode = "strict",
               agent: str | None = None, from_expected: str | None = None, default: Any = MISSING,
               source: ToolSource = "auto") -> ScoreFn:
    """The sequence of tool names called, compared with ``expected``.

    ``strict``: exactly this sequence. ``in_order``: ``expected`` appears in this order, other
    calls may come between. ``unordered``: the same calls (with repeats), any order.
    ``subset``: every call made is among ``expected`` (no unexpected tool). ``superset``:
    every expected call was made (others allowed). The last three ignore order.
    """
    if mode not in ("strict", "unordered", "subset", "superset", "in_order"):
        raise GraderConfigError(f"tool_order: unknown mode {mode!r}")
    if isinstance(expected, str):
        raise GraderConfigError("tool_order: expected is a list of tool names; for one tool use tool_called")
    reference = reference_source("tool_order", expected, from_expected, default)

    def score(attempt: Attempt) -> Score:
        wanted = _order_names(reference(attempt), attempt)
        actual = [c.name for c in tool_calls(attempt.trajectory, source) if agent is None or c.agent == agent]
        ok = _order_matches(wanted, actual, mode)
        reason = (f"tool calls {_shown_calls(actual)}" if ok else
                  f"expected tool calls ({mode}) {_shown_calls(wanted)}, got {_shown_calls(actual)}")
        return Score.of(ok, reason, calls=actual)

    return score


def _shown_calls(names: list[str]) -> str:
    """Tool names in call order, for a reason line (``(none)`` rather than nothing)."""
    return " → ".join(names) if names else "(none)"


def _order_matches(wanted: list[str], actual: list[str], mode: OrderMode) -> bool:
    if mode == "strict":
        return wanted == actual
    if mode == "in_order":
        remaining = iter(actual)
        return all(any(step == item for item in remaining) for step in wanted)
    have, want = Counter(actual), Counter(wanted)
    if mode == "unordered":
        return have == want
    if mode == "subset":
        return not (have - want)
    return not (want - have)
