"""Composite graders: several graders read as one verdict.

``all_of``, ``any_of``, ``weighted_mean`` and ``threshold`` run their children on the same
attempt. Their ids name the children (``all_of(graders=[contains(...), json_valid()])``) and each
child's score goes in ``metadata["children"]``, so a composite verdict can always be taken apart
in a report. A child that raises makes the composite a grader error (:class:`ChildGraderError`
naming the child): a composite cannot say "pass" about something it could not measure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from harness.core.grading import Attempt, BaseGrader, GraderConfigError, Score, ScoreFn, grader

__all__ = ["all_of", "any_of", "weighted_mean", "threshold", "ChildGraderError"]


class ChildGraderError(RuntimeError):
    """A composite's child grader raised; the message names the child and its error."""


def _check_children(grader_name: str, graders: Any) -> list[BaseGrader]:
    if isinstance(graders, BaseGrader):
        raise GraderConfigError(f"{grader_name}: pass a list of graders, e.g. {grader_name}([a, b])")
    children = list(graders)
    if not children:
        raise GraderConfigError(f"{grader_name}: needs at least one grader")
    for child in children:
        if not callable(child):
            raise GraderConfigError(f"{grader_name}: {child!r} is not a grader")
    return children


def _child_id(child: Any) -> str:
    return str(getattr(child, "id", None) or getattr(child, "__name__", None) or repr(child))


async def run_child(child: Any, attempt: Attempt) -> Score:
    """One child's score; its exception becomes a :class:`ChildGraderError` naming it."""
    try:
        result = await child(attempt)
    except Exception as exc:
        raise ChildGraderError(f"child grader {_child_id(child)} failed: {type(exc).__name__}: {exc}") from exc
    return result if isinstance(result, Score) else Score.model_validate(result)


async def _scores(children: Sequence[Any], attempt: Attempt) -> list[Score]:
    return [await run_child(child, attempt) for child in children]


def _children_metadata(children: Sequence[Any], scores: Sequence[Score]) -> list[dict[str, Any]]:
    return [
        {"grader": _child_id(child), "value": s.value, "passed": s.passed, "reason": s.reason}
        for child, s in zip(children, scores, strict=True)
    ]


def _failing(children: Sequence[Any], scores: Sequence[Score]) -> list[str]:
    return [f"{_child_id(c)}: {s.reason or 'failed'}" for c, s in zip(children, scores, strict=True) if not s.passed]


@grader
def all_of(graders: Sequence[BaseGrader]) -> ScoreFn:
    """Passes when every child passes; the value is the lowest child value."""
    children = _check_children("all_of", graders)

    async def score(attempt: Attempt) -> Score:
        scores = await _scores(children, attempt)
        failing = _failing(children, scores)
        reason = f"all {len(children)} passed" if not failing else "failed: " + " | ".join(failing)
        return Score(value=min(s.value for s in scores), passed=not failing, reason=reason,
                     metadata={"children": _children_metadata(children, scores)})

    return score


@grader
def any_of(graders: Sequence[BaseGrader]) -> ScoreFn:
    """Passes when at least one child passes; the value is the highest child value."""
    children = _check_children("any_of", graders)

    async def score(attempt: Attempt) -> Score:
        scores = await _scores(children, attempt)
        passing = [_child_id(c) for c, s in zip(children, scores, strict=True) if s.passed]
        failing = " | ".join(_failing(children, scores))
        reason = f"passed: {', '.join(passing)}" if passing else f"none passed: {failing}"
        return Score(value=max(s.value for s in scores), passed=bool(passing), reason=reason,
                     metadata={"children": _children_metadata(children, scores)})

    return score


@grader
def weighted_mean(graders: Sequence[BaseGrader], weights: Sequence[float] | None = None, *,
                  pass_at: float = 0.5) -> ScoreFn:
    """The weighted mean of the children's values (equal weights by default); passes at ``pass_at``."""
    children = _check_children("weighted_mean", graders)
    resolved = _check_weights(list(weights) if weights is not None else [1.0] * len(children), len(children))
    if not 0.0 <= pass_at <= 1.0:
        raise GraderConfigError(f"weighted_mean: pass_at must lie in [0, 1], got {pass_at}")
    total = sum(resolved)

    async def score(attempt: Attempt) -> Score:
        scores = await _scores(children, attempt)
        value = sum(w * s.value for w, s in zip(resolved, scores, strict=True)) / total
        value = min(1.0, max(0.0, value))
        parts = ", ".join(f"{s.value:.2f}×{w:g}" for w, s in zip(resolved, scores, strict=True))
        reason = f"weighted mean {value:.3f} ({parts}); pass at {pass_at:g}"
        return Score(value=value, passed=value >= pass_at - 1e-12, reason=reason,
                     metadata={"children": _children_metadata(children, scores), "weights": resolved})

    return score


def _check_weights(weights: list[float], count: int) -> list[float]:
    if len(weights) != count:
        raise GraderConfigError(f"weighted_mean: {count} graders but {len(weights)} weights")
    for weight in weights:
        number = isinstance(weight, int | float) and not isinstance(weight, bool)
        if not number or not math.isfinite(weight) or weight < 0:
            raise GraderConfigError(f"weighted_mean: weights must be finite numbers >= 0, got {weight!r}")
    if sum(weights) <= 0:
        raise GraderConfigError("weighted_mean: the weights sum to 0")
    return [float(w) for w in weights]


@grader
def threshold(grader: BaseGrader, min_value: float) -> ScoreFn:
    """The child's value, passing only when it reaches ``min_value`` (e.g. ``fields`` at 0.8)."""
    if not callable(grader):
        raise GraderConfigError(f"threshold: {grader!r} is not a grader")
    if isinstance(min_value, bool) or not isinstance(min_value, int | float) or not 0.0 <= min_value <= 1.0:
        raise GraderConfigError(f"threshold: min_value must lie in [0, 1], got {min_value!r}")

    async def score(attempt: Attempt) -> Score:
        child = await run_child(grader, attempt)
        ok = child.value >= min_value - 1e-12
        verb = "reaches" if ok else "is below"
        reason = f"{child.value:.3f} {verb} {min_value:g}" + (f" ({child.reason})" if child.reason else "")
        return Score(value=child.value, passed=ok, reason=reason,
                     metadata={"children": _children_metadata([grader], [child])})

    return score
