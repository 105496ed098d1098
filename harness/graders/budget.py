"""Budget graders: an attempt stayed within turns, model calls, tokens, cost and time.

All read the trajectory, so they judge the behaviour of the orchestration, not the machine it
ran on (except latency, which is wall-clock by nature). A limit is given literally or read from
the task (``max_tokens(from_expected="budget.tokens")``). The measured amount is in the score's
metadata (``measured``), so reports can plot it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from harness.core.grading import Attempt, GraderConfigError, Score, ScoreFn, grader
from harness.core.trace import Trajectory
from harness.graders.expected import MISSING, reference_source
from harness.graders.spans import model_calls_per_agent, wall_time_s

__all__ = ["max_turns", "max_model_calls", "max_tokens", "max_cost_usd", "max_latency_s"]


def _check_limit(grader_name: str, limit: Any) -> None:
    if limit is None:
        return
    if isinstance(limit, bool) or not isinstance(limit, int | float) or limit < 0:
        raise GraderConfigError(f"{grader_name}: the limit must be a number >= 0, got {limit!r}")


def _limit_of(value: Any, grader_name: str, attempt: Attempt) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{grader_name}: task '{attempt.task.id}': the limit must be a number >= 0, got {value!r}")
    return float(value)


def _budget(grader_name: str, limit: float | None, from_expected: str | None, default: Any,
            measure: Callable[[Trajectory], tuple[float, str]], unit: str) -> ScoreFn:
    """A grader passing when ``measure(trajectory)`` is at most the limit."""
    _check_limit(grader_name, limit)
    reference = reference_source(grader_name, limit, from_expected, default, literal_name="limit")

    def score(attempt: Attempt) -> Score:
        allowed = _limit_of(reference(attempt), grader_name, attempt)
        measured, detail = measure(attempt.trajectory)
        ok = measured <= allowed
        verb = "within" if ok else "over"
        reason = f"{_fmt(measured)} {unit}{detail}, {verb} the limit of {_fmt(allowed)}"
        return Score.of(ok, reason, measured=measured, limit=allowed)

    return score


def _fmt(number: float) -> str:
    return f"{number:.0f}" if float(number).is_integer() else f"{number:.4g}"


@grader
def max_turns(limit: int | None = None, *, agent: str | None = None, per_agent: bool = False,
              from_expected: str | None = None, default: Any = MISSING) -> ScoreFn:
    """At most ``limit`` turns (model calls): in total, by one ``agent``, or by every agent (``per_agent``)."""
    if agent is not None and per_agent:
        raise GraderConfigError("max_turns: give agent= or per_agent=True, not both")

    def measure(trajectory: Trajectory) -> tuple[float, str]:
        counts = model_calls_per_agent(trajectory)
        if agent is not None:
            return float(counts.get(agent, 0)), f" by {agent}"
        if per_agent:
            if not counts:
                return 0.0, " (no model calls)"
            busiest, most = counts.most_common(1)[0]
            return float(most), f" by {busiest}, the busiest agent"
        return float(sum(counts.values())), " in total"

    return _budget("max_turns", limit, from_expected, default, measure, "turn(s)")


@grader
def max_model_calls(limit: int | None = None, *, from_expected: str | None = None,
                    default: Any = MISSING) -> ScoreFn:
    """At most ``limit`` model calls in the whole trajectory (judges' calls are not counted)."""
    return _budget("max_model_calls", limit, from_expected, default,
                   lambda t: (float(len(t.model_calls)), ""), "model call(s)")


TokenKind = Literal["total", "input", "output"]


@grader
def max_tokens(limit: int | None = None, *, kind: TokenKind = "total", from_expected: str | None = None,
               default: Any = MISSING) -> ScoreFn:
    """At most ``limit`` tokens (``total``, ``input`` or ``output``) over every model call."""
    if kind not in ("total", "input", "output"):
        raise GraderConfigError(f"max_tokens: kind must be 'total', 'input' or 'output', got {kind!r}")

    def measure(trajectory: Trajectory) -> tuple[float, str]:
        _require_known_usage("max_tokens", trajectory)
        counts = {"input": trajectory.input_tokens, "output": trajectory.output_tokens}
        counts["total"] = counts["input"] + counts["output"]
        return float(counts[kind]), ""

    return _budget("max_tokens", limit, from_expected, default, measure, f"{kind} token(s)")


@grader
def max_cost_usd(limit: float | None = None, *, from_expected: str | None = None,
                 default: Any = MISSING) -> ScoreFn:
    """At most ``limit`` US dollars of model calls (priced by :mod:`harness.engine.pricing`)."""
    def measure(trajectory: Trajectory) -> tuple[float, str]:
        _require_known_usage("max_cost_usd", trajectory)
        if trajectory.unpriced_calls:
            raise ValueError(f"max_cost_usd: {trajectory.unpriced_calls} model call(s) have no known price, so the "
                             "cost is unknown (set prices with harness.engine.pricing.set_prices or HARNESS_PRICES)")
        return trajectory.cost_usd, ""

    return _budget("max_cost_usd", limit, from_expected, default, measure, "USD")


def _require_known_usage(grader_name: str, trajectory: Trajectory) -> None:
    """A call whose usage the reply did not state cannot be counted as 0: a grader error, not a pass."""
    unknown = trajectory.usage_unknown_calls
    if unknown:
        why = unknown[0].attributes.get("capture_error") or "the reply has no usage"
        raise ValueError(f"{grader_name}: token usage unknown for {len(unknown)} model call(s) ({why})")


LatencySource = Literal["wall", "model"]


@grader
def max_latency_s(limit: float | None = None, *, source: LatencySource = "wall",
                  from_expected: str | None = None, default: Any = MISSING) -> ScoreFn:
    """At most ``limit`` seconds: ``wall`` time from the first span's start to the last span's end,
    or ``model``: the sum of model-call latencies (time spent waiting on models).

    A trajectory with no spans has no time to measure: that is a grader error, not a pass.
    """
    if source not in ("wall", "model"):
        raise GraderConfigError(f"max_latency_s: source must be 'wall' or 'model', got {source!r}")

    def measure(trajectory: Trajectory) -> tuple[float, str]:
        if source == "model":
            if not trajectory.model_calls:
                raise ValueError("max_latency_s: the trajectory has no model calls to time")
            return sum(_latency(s) for s in trajectory.model_calls), " waiting on models"
        wall = wall_time_s(trajectory)
        if wall is None:
            raise ValueError("max_latency_s: the trajectory has no timed spans (was it traced?)")
        return wall, " wall time"

    return _budget("max_latency_s", limit, from_expected, default, measure, "s")


def _latency(span: Any) -> float:
    recorded = span.attributes.get("latency_s")
    if isinstance(recorded, int | float):
        return float(recorded)
    return span.duration_s or 0.0
