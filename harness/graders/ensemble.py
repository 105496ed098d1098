"""Judge ensembles: several judges — or several samples of one — voting on one attempt.

A single LLM verdict is noisy. ``ensemble([j1, j2, j3])`` asks different judges (other prompts,
other models); ``ensemble(judge, samples=5)`` asks one judge five times in one cassette unit
(useful only with a temperature above 0). ``method="majority"`` passes when more than half the
votes pass (value: the passing fraction); ``method="mean"`` averages the values and passes at
``pass_at``. Either way ``metadata["agreement"]`` is the share of votes on the winning side and
``metadata["votes"]`` holds every vote, so a split decision is visible in reports.

A member that raises makes the ensemble a grader error naming that member: an ensemble that
quietly drops members would be a different ensemble on every run.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any, Literal

from harness.core.grading import (
    Attempt,
    BaseGrader,
    GraderConfigError,
    Score,
    ScoreFn,
    grader,
    sample_scores,
    sampler_of,
)
from harness.graders.judge_engine import JudgeError

__all__ = ["ensemble"]

Method = Literal["majority", "mean"]


def _members(judges: Any) -> list[Any]:
    members = [judges] if isinstance(judges, BaseGrader) or not isinstance(judges, Sequence) else list(judges)
    if not members:
        raise GraderConfigError("ensemble: needs at least one judge")
    for member in members:
        if not callable(member):
            raise GraderConfigError(f"ensemble: {member!r} is not a grader")
    slugs = [s for s in (_slug(m) for m in members) if s is not None]
    repeated = sorted({s for s in slugs if slugs.count(s) > 1})
    if repeated:
        raise GraderConfigError(f"ensemble: judge(s) {repeated} appear twice and would share one cassette unit; "
                                "use samples=n for repeated votes of one judge, or give each judge its own name=")
    return members


def _slug(member: Any) -> str | None:
    return getattr(getattr(member, "fn", member), "slug", None)


def _member_id(member: Any) -> str:
    return str(getattr(member, "id", None) or getattr(member, "__name__", None) or repr(member))


@grader
def ensemble(judges: BaseGrader | Sequence[BaseGrader], *, method: Method = "majority", samples: int = 1,
             pass_at: float = 0.5) -> ScoreFn:
    """Votes of several judges, or ``samples`` votes of each, combined by ``majority`` or ``mean``."""
    members = _members(judges)
    if method not in ("majority", "mean"):
        raise GraderConfigError(f"ensemble: method must be 'majority' or 'mean', got {method!r}")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise GraderConfigError(f"ensemble: samples must be an integer >= 1, got {samples!r}")
    if samples > 1 and any(sampler_of(m) is None for m in members):
        raise GraderConfigError("ensemble: samples > 1 needs LLM judges; a code grader gives the same vote every time")
    if len(members) * samples < 2:
        raise GraderConfigError("ensemble: one judge with one sample is not an ensemble; add judges or samples=")
    if not 0.0 <= pass_at <= 1.0:
        raise GraderConfigError(f"ensemble: pass_at must lie in [0, 1], got {pass_at}")

    async def score(attempt: Attempt) -> Score:
        votes: list[tuple[str, int, Score]] = []
        for member in members:
            try:
                scores = await sample_scores(member, attempt, samples)
            except Exception as exc:
                raise JudgeError(f"ensemble member {_member_id(member)} failed: {type(exc).__name__}: {exc}") from exc
            votes.extend((_member_id(member), index, s) for index, s in enumerate(scores, start=1))
        return _combine([v[2] for v in votes], votes, method, pass_at)

    return score


def _combine(scores: list[Score], votes: list[tuple[str, int, Score]], method: Method, pass_at: float) -> Score:
    n = len(scores)
    passing = sum(1 for s in scores if s.passed)
    if method == "majority":
        value, passed = passing / n, passing * 2 > n
    else:
        value = statistics.fmean(s.value for s in scores)
        passed = value >= pass_at - 1e-12
    agreeing = passing if passed else n - passing
    metadata = {
        "method": method,
        "agreement": agreeing / n,
        "unanimous": passing in (0, n),
        "pass_votes": passing,
        "votes": [{"judge": judge, "sample": i, "value": s.value, "passed": s.passed, "reason": s.reason}
                  for judge, i, s in votes],
    }
    if method == "mean":
        metadata["value_stdev"] = statistics.pstdev(s.value for s in scores)
    reason = f"{passing}/{n} votes pass ({method}: {value:.3f})"
    return Score(value=min(1.0, max(0.0, value)), passed=passed, reason=reason, metadata=metadata)
