"""Trajectory graders: *how* an orchestration reached its answer, read from ``attempt.trajectory``.

Which agents control passed through (:func:`handoff_path`, :func:`final_agent`), which route a
code-driven router chose (:func:`route`), how many evaluator–optimizer rounds ran
(:func:`rounds`), how many parallel branches ran (:func:`branch_count`). Tool, budget and
end-state graders live in :mod:`~harness.graders.tools`, :mod:`~harness.graders.budget` and
:mod:`~harness.graders.state`, and are re-exported here.

Every grader takes its expectation literally or ``from_expected="key"``, and explains a failure
in words: ``expected handoff path Triage Agent → Refunds Agent, got Triage Agent → Orders Agent``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from harness.core.grading import Attempt, GraderConfigError, Score, ScoreFn, grader
from harness.core.trace import Trajectory
from harness.graders.budget import max_cost_usd, max_latency_s, max_model_calls, max_tokens, max_turns
from harness.graders.expected import MISSING, reference_source
from harness.graders.state import end_state
from harness.graders.tools import tool_called, tool_not_called, tool_order

__all__ = [
    "handoff_path", "final_agent", "route", "rounds", "branch_count", "Bounds",
    "tool_called", "tool_not_called", "tool_order",
    "max_turns", "max_model_calls", "max_tokens", "max_cost_usd", "max_latency_s", "end_state",
]

ARROW = " → "


def _path_text(path: Sequence[str]) -> str:
    return ARROW.join(path) if path else "(no agents)"


def _names(value: Any, grader_name: str, attempt: Attempt) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError(f"{grader_name}: task '{attempt.task.id}': expected a list of agent names, got {value!r}")


def _is_subsequence(wanted: Sequence[str], actual: Sequence[str]) -> bool:
    remaining = iter(actual)
    return all(any(step == item for item in remaining) for step in wanted)


PathMode = Literal["exact", "in_order", "set"]


@grader
def handoff_path(expected: Sequence[str] | None = None, *, from_expected: str | None = None,
                 default: Any = MISSING, mode: PathMode = "exact") -> ScoreFn:
    """The agents control passed through: first agent, then each handoff target.

    ``exact``: the path is exactly ``expected``; ``in_order``: ``expected`` appears in order,
    other agents may come between; ``set``: the same agents were visited, in any order.
    """
    if mode not in ("exact", "in_order", "set"):
        raise GraderConfigError(f"handoff_path: mode must be 'exact', 'in_order' or 'set', got {mode!r}")
    if isinstance(expected, str):
        raise GraderConfigError("handoff_path: expected is a list of agent names; for one agent use final_agent")
    reference = reference_source("handoff_path", expected, from_expected, default)

    def score(attempt: Attempt) -> Score:
        wanted = _names(reference(attempt), "handoff_path", attempt)
        actual = attempt.trajectory.handoff_path
        ok = _path_matches(wanted, actual, mode)
        qualifier = {"exact": "", "in_order": " (in order)", "set": " (as a set)"}[mode]
        reason = (f"handoff path {_path_text(actual)}" if ok else
                  f"expected handoff path{qualifier} {_path_text(wanted)}, got {_path_text(actual)}")
        if not actual and not ok:
            reason += "; the trajectory has no agent spans (not an Agents SDK flow, or no trace)"
        return Score.of(ok, reason, path=actual)

    return score


def _path_matches(wanted: list[str], actual: list[str], mode: PathMode) -> bool:
    if mode == "exact":
        return wanted == actual
    if mode == "in_order":
        return _is_subsequence(wanted, actual)
    return set(wanted) == set(actual)


@grader
def final_agent(expected: str | Sequence[str] | None = None, *, from_expected: str | None = None,
                default: Any = MISSING) -> ScoreFn:
    """The agent that ran last (one name, or a list of acceptable ones)."""
    reference = reference_source("final_agent", expected, from_expected, default)

    def score(attempt: Attempt) -> Score:
        wanted = _names(reference(attempt), "final_agent", attempt)
        actual = attempt.trajectory.final_agent
        ok = actual in wanted
        shown = " or ".join(wanted)
        reason = f"final agent {actual}" if ok else f"expected final agent {shown}, got {actual or '(no agents)'}"
        return Score.of(ok, reason, final_agent=actual)

    return score


@grader
def route(expected: str | Sequence[str] | None = None, *, from_expected: str | None = None,
          default: Any = MISSING, attribute: str = "category", span: str = "route") -> ScoreFn:
    """The route a code-driven router chose: the ``attribute`` of the last custom span named ``span``.

    Flows record it with ``trace.event("route", category="refunds")`` or
    ``with span("route", category=...)``. ``expected`` is one route or a list of acceptable ones.
    """
    reference = reference_source("route", expected, from_expected, default)

    def score(attempt: Attempt) -> Score:
        wanted = _routes(reference(attempt), attempt)
        spans = attempt.trajectory.custom(span)
        if not spans:
            return Score.of(False, f"no '{span}' span in the trajectory (the flow recorded no routing decision)")
        recorded = spans[-1].attributes
        if attribute not in recorded:
            return Score.of(False, f"the '{span}' span has no '{attribute}' attribute (has: {sorted(recorded)})")
        actual = recorded[attribute]
        ok = actual in wanted
        shown = " or ".join(map(str, wanted))
        reason = f"routed to {actual}" if ok else f"expected route {shown}, got {actual}"
        return Score.of(ok, reason, route=actual, decisions=len(spans))

    return score


def _routes(value: Any, attempt: Attempt) -> list[Any]:
    if isinstance(value, list | tuple):
        return list(value)
    if value is None:
        raise ValueError(f"route: task '{attempt.task.id}': the expected route is empty (None)")
    return [value]


@dataclass(frozen=True)
class Bounds:
    """A count's allowed range: ``exact``, or ``min`` and/or ``max`` (inclusive)."""

    min: int | None = None
    max: int | None = None
    exact: int | None = None

    @classmethod
    def build(cls, grader_name: str, min: int | None, max: int | None, exact: int | None) -> Bounds | None:
        """Checked bounds, or ``None`` when none are given (they must then come from the task)."""
        if exact is not None and (min is not None or max is not None):
            raise GraderConfigError(f"{grader_name}: give exact=, or min=/max=, not both")
        for label, value in (("min", min), ("max", max), ("exact", exact)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise GraderConfigError(f"{grader_name}: {label} must be a non-negative integer, got {value!r}")
        if min is not None and max is not None and min > max:
            raise GraderConfigError(f"{grader_name}: min={min} is greater than max={max}")
        if min is None and max is None and exact is None:
            return None
        return cls(min=min, max=max, exact=exact)

    @classmethod
    def from_value(cls, value: Any, grader_name: str, attempt: Attempt) -> Bounds:
        """Bounds from a task: an integer (exact) or ``{"min": …, "max": …, "exact": …}``."""
        try:
            if isinstance(value, int) and not isinstance(value, bool):
                return cls.build(grader_name, None, None, value) or cls()
            if isinstance(value, dict) and set(value) <= {"min", "max", "exact"}:
                built = cls.build(grader_name, value.get("min"), value.get("max"), value.get("exact"))
                if built is not None:
                    return built
        except GraderConfigError as exc:
            raise ValueError(f"task '{attempt.task.id}': {exc}") from None
        raise ValueError(f"{grader_name}: task '{attempt.task.id}': expected an integer or a dict with "
                         f"min/max/exact, got {value!r}")

    def holds(self, count: int) -> bool:
        if self.exact is not None:
            return count == self.exact
        return (self.min is None or count >= self.min) and (self.max is None or count <= self.max)

    def describe(self) -> str:
        if self.exact is not None:
            return f"exactly {self.exact}"
        if self.min is not None and self.max is not None:
            return f"between {self.min} and {self.max}"
        return f"at least {self.min}" if self.min is not None else f"at most {self.max}"


def _bounded_count(grader_name: str, what: str, min: int | None, max: int | None, exact: int | None,
                   from_expected: str | None, default: Any, count: Any) -> ScoreFn:
    """A grader checking ``count(trajectory) -> (n, detail)`` against bounds given or read from the task."""
    bounds = Bounds.build(grader_name, min, max, exact)
    if bounds is None and from_expected is None:
        raise GraderConfigError(f"{grader_name}: give min=, max= or exact=, or from_expected='key'")
    if bounds is not None and from_expected is not None:
        raise GraderConfigError(f"{grader_name}: give bounds or from_expected=, not both")

    def score(attempt: Attempt) -> Score:
        limits = bounds
        if limits is None:
            assert from_expected is not None
            limits = Bounds.from_value(reference_source(grader_name, None, from_expected, default)(attempt),
                                       grader_name, attempt)
        n, detail = count(attempt.trajectory)
        ok = limits.holds(n)
        reason = f"{n} {what}{detail}" + ("" if ok else f"; expected {limits.describe()}")
        return Score.of(ok, reason, count=n)

    return score


@grader
def rounds(*, min: int | None = None, max: int | None = None, exact: int | None = None,
           from_expected: str | None = None, default: Any = MISSING, span: str = "round") -> ScoreFn:
    """How many evaluator–optimizer rounds ran: custom spans named ``span`` (``"round"``).

    ``from_expected`` reads an integer (exact) or ``{"min": 1, "max": 3}`` from the task.
    """

    def count(trajectory: Trajectory) -> tuple[int, str]:
        return len(trajectory.custom(span)), ""

    return _bounded_count("rounds", f"'{span}' span(s)", min, max, exact, from_expected, default, count)


BranchSource = Literal["auto", "spans", "model"]


@grader
def branch_count(*, min: int | None = None, max: int | None = None, exact: int | None = None,
                 from_expected: str | None = None, default: Any = MISSING, source: BranchSource = "auto",
                 span: str = "branch", name: str | None = None) -> ScoreFn:
    """How many parallel branches ran.

    ``spans``: custom spans named ``span`` (``"branch"``), one per branch. ``model``: distinct
    branch paths (other than the root ``0``) of model calls — concurrent strands are numbered
    (``0/1``, ``0/2``), labelled ones named (``ctx.branch("draft")``: ``0/draft``, ``0/draft#2``);
    ``name`` counts only branches with that label. ``auto``: ``spans`` when the trajectory has
    any, else ``model``.
    """
    if source not in ("auto", "spans", "model"):
        raise GraderConfigError(f"branch_count: source must be 'auto', 'spans' or 'model', got {source!r}")

    def count(trajectory: Trajectory) -> tuple[int, str]:
        marked = trajectory.custom(span)
        if source == "spans" or (source == "auto" and marked):
            return len(marked), f" (custom '{span}' spans)"
        paths = sorted(_model_branches(trajectory, name))
        return len(paths), f" (model-call branches{': ' + ', '.join(paths[:6]) if paths else ''})"

    return _bounded_count("branch_count", "branch(es)", min, max, exact, from_expected, default, count)


def _model_branches(trajectory: Trajectory, name: str | None) -> set[str]:
    paths = {s.branch for s in trajectory.model_calls if s.branch != "0"}
    if name is None:
        return paths
    return {p for p in paths if p.rsplit("/", 1)[-1].partition("#")[0] == name}
