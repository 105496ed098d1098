"""Pairwise judging: which of two outputs for the same task is better — asked in both orders.

LLM judges favour a position (often the first). So by default the judge sees the pair twice, as
(A=a, B=b) and as (A=b, B=a), in one cassette unit. A win counts only when both orders agree;
any disagreement is a *tie flagged inconsistent*, so position bias shows up as an inconsistency
rate (see :func:`pairwise_batch`) instead of as a spurious win.

Three entry points: :func:`pairwise_compare` (one task, two outputs), :func:`pairwise_batch`
(many, with the inconsistency rate), and :func:`pairwise_judge`, a grader comparing an attempt's
output with a baseline output (from the task, or a function of the attempt).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.core.dataset import Task
from harness.core.grading import Attempt, GraderConfigError, Score, ScoreFn, grader
from harness.core.prompts import PromptVersion
from harness.graders.expected import MISSING, reference_source
from harness.graders.judge_engine import JudgeReply, JudgeSettings, UnitKey, ask_judge, slugify
from harness.graders.judge_prompt import JudgePrompt, render_value

__all__ = ["pairwise_compare", "pairwise_batch", "pairwise_judge", "PairwiseResult", "PairwiseBatch",
           "PairwiseOrder", "PairwiseVerdict", "DEFAULT_PAIRWISE_CRITERIA"]

Winner = Literal["a", "b", "tie"]

DEFAULT_PAIRWISE_CRITERIA = (
    "Which response better accomplishes the task for the user: correct, complete, and helpful, "
    "without unsupported claims? Prefer neither for length or style alone."
)


class PairwiseVerdict(BaseModel):
    """What the judge returns: ``reasoning`` first, then the winning slot."""

    model_config = ConfigDict(extra="forbid")

    reasoning: str = Field(description="Point-by-point comparison that leads to the verdict.")
    winner: Literal["A", "B", "tie"] = Field(description='"A", "B", or "tie" when neither is clearly better.')


class PairwiseOrder(BaseModel):
    """One presentation of the pair: ``ab`` shows output a as A; ``ba`` shows output b as A."""

    order: Literal["ab", "ba"]
    slot: Literal["A", "B", "tie"]
    winner: Winner
    reasoning: str


class PairwiseResult(BaseModel):
    """The verdict on one pair: ``winner`` counts only if every order agreed (``consistent``)."""

    task_id: str
    winner: Winner
    consistent: bool
    orders: list[PairwiseOrder]
    reason: str
    judge: str
    prompt: str


class PairwiseBatch(BaseModel):
    """Many pairs: wins, ties and how often the two orders disagreed."""

    results: list[PairwiseResult]
    n: int
    wins_a: int
    wins_b: int
    ties: int
    inconsistent: int
    inconsistency_rate: float
    win_rate_a: float
    win_rate_b: float


@dataclass(frozen=True)
class PairwiseJudge:
    """A configured pairwise judge: criteria, prompt, settings and its cassette slug."""

    criteria: str
    both_orders: bool
    prompt: JudgePrompt
    settings: JudgeSettings
    slug: str

    @classmethod
    def build(cls, criteria: str, both_orders: bool, prompt: str | Path | PromptVersion | None,
              model: str | None, temperature: float | None, retries: int, name: str | None) -> PairwiseJudge:
        if not isinstance(criteria, str) or not criteria.strip():
            raise GraderConfigError("pairwise judge: criteria must be non-empty text")
        template = JudgePrompt.load(prompt, "pairwise")
        template.check(provided={"criteria", "input", "output_a", "output_b"}, required={"output_a", "output_b"})
        settings = JudgeSettings(model=model, temperature=temperature, retries=retries)
        identity = {"criteria": criteria, "both_orders": both_orders, "prompt": template.sha256, "model": model}
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:8]
        slug = slugify(name) if name is not None else f"pairwise-{digest}"
        return cls(criteria.strip(), both_orders, template, settings, slug)

    def _messages(self, task: Task, first: Any, second: Any) -> list[dict[str, str]]:
        return self.prompt.render({"criteria": self.criteria, "input": render_value(task.input),
                                   "output_a": render_value(first), "output_b": render_value(second)})

    async def compare(self, task: Task, output_a: Any, output_b: Any, key: UnitKey) -> PairwiseResult:
        """Ask in order ``ab`` (and ``ba``), all in one judge unit, and combine."""
        orders: list[Literal["ab", "ba"]] = ["ab", "ba"] if self.both_orders else ["ab"]
        shown = {"ab": (output_a, output_b), "ba": (output_b, output_a)}
        messages = [self._messages(task, *shown[o]) for o in orders]
        replies = await ask_judge(slug=self.slug, key=key, messages=messages, verdict=PairwiseVerdict,
                                  settings=self.settings)
        return self._combine(task.id, [_order(o, r) for o, r in zip(orders, replies, strict=True)])

    def _combine(self, task_id: str, orders: list[PairwiseOrder]) -> PairwiseResult:
        picks = {o.winner for o in orders}
        consistent = len(picks) == 1
        winner: Winner = orders[0].winner if consistent else "tie"
        if not consistent:
            detail = ", ".join(f"{o.order}: {o.winner}" for o in orders)
            reason = f"inconsistent across orders ({detail}); counted as a tie"
        else:
            reason = {"a": "a wins", "b": "b wins", "tie": "tie"}[winner] + (
                " in both orders" if len(orders) > 1 else " (one order only)")
            reason += f": {orders[0].reasoning}"
        return PairwiseResult(task_id=task_id, winner=winner, consistent=consistent, orders=orders, reason=reason,
                              judge=self.slug, prompt=self.prompt.label)


#: Which output a slot names, per order: in ``ba`` output b was shown as A.
_WINNER_OF_SLOT: dict[Literal["ab", "ba"], dict[Literal["A", "B", "tie"], Winner]] = {
    "ab": {"A": "a", "B": "b", "tie": "tie"},
    "ba": {"A": "b", "B": "a", "tie": "tie"},
}


def _order(order: Literal["ab", "ba"], reply: JudgeReply[PairwiseVerdict]) -> PairwiseOrder:
    verdict = reply.verdict
    return PairwiseOrder(order=order, slot=verdict.winner, winner=_WINNER_OF_SLOT[order][verdict.winner],
                         reasoning=verdict.reasoning)


async def pairwise_compare(task: Task, output_a: Any, output_b: Any, *,
                           criteria: str = DEFAULT_PAIRWISE_CRITERIA, both_orders: bool = True,
                           prompt: str | Path | PromptVersion | None = None, model: str | None = None,
                           temperature: float | None = None, retries: int = 2, name: str | None = None,
                           suite: str = "pairwise", variant: str = "pairwise", epoch: int = 1) -> PairwiseResult:
    """Which of two outputs for ``task`` is better. Needs an open runtime (its judge client and cassettes).

    The calls are recorded under ``cassettes/<suite>/_judges/<slug>/<variant>/<task>.json``; name
    ``variant`` after the pair (``"v2_vs_v1"``) so different comparisons keep separate recordings.
    """
    judge = PairwiseJudge.build(criteria, both_orders, prompt, model, temperature, retries, name)
    return await judge.compare(task, output_a, output_b, UnitKey(suite, variant, task.id, epoch))


async def pairwise_batch(items: Iterable[tuple[Task, Any, Any]], *, concurrency: int = 4,
                         criteria: str = DEFAULT_PAIRWISE_CRITERIA, both_orders: bool = True,
                         prompt: str | Path | PromptVersion | None = None, model: str | None = None,
                         temperature: float | None = None, retries: int = 2, name: str | None = None,
                         suite: str = "pairwise", variant: str = "pairwise", epoch: int = 1) -> PairwiseBatch:
    """:func:`pairwise_compare` over many ``(task, output_a, output_b)``, with win and inconsistency rates.

    Task ids must be unique (each pair is its own cassette unit). A pair whose judge fails raises
    :class:`~harness.graders.judge_engine.JudgeError` after the others finish.
    """
    pairs = list(items)
    ids = [task.id for task, _, _ in pairs]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError("pairwise_batch: task ids must be unique (each pair is one cassette unit); "
                         f"repeated: {duplicates}")
    if concurrency < 1:
        raise ValueError(f"pairwise_batch: concurrency must be >= 1, got {concurrency}")
    judge = PairwiseJudge.build(criteria, both_orders, prompt, model, temperature, retries, name)
    gate = asyncio.Semaphore(concurrency)

    async def one(task: Task, a: Any, b: Any) -> PairwiseResult:
        async with gate:
            return await judge.compare(task, a, b, UnitKey(suite, variant, task.id, epoch))

    outcomes = await asyncio.gather(*(one(*pair) for pair in pairs), return_exceptions=True)
    failed = [o for o in outcomes if isinstance(o, BaseException)]
    if failed:
        raise failed[0]
    return summarize([o for o in outcomes if isinstance(o, PairwiseResult)])


def summarize(results: list[PairwiseResult]) -> PairwiseBatch:
    """Counts and rates over pairwise results (rates are 0 for an empty list)."""
    n = len(results)

    def count(predicate: Callable[[PairwiseResult], bool]) -> int:
        return sum(1 for r in results if predicate(r))

    def rate(k: int) -> float:
        return k / n if n else 0.0

    wins_a, wins_b = count(lambda r: r.winner == "a"), count(lambda r: r.winner == "b")
    inconsistent = count(lambda r: not r.consistent)
    return PairwiseBatch(results=results, n=n, wins_a=wins_a, wins_b=wins_b, ties=n - wins_a - wins_b,
                         inconsistent=inconsistent, inconsistency_rate=rate(inconsistent),
                         win_rate_a=rate(wins_a), win_rate_b=rate(wins_b))


@grader
def pairwise_judge(baseline: Any = None, *, from_expected: str | None = None, default: Any = MISSING,
                   criteria: str = DEFAULT_PAIRWISE_CRITERIA, both_orders: bool = True, pass_on_tie: bool = True,
                   prompt: str | Path | PromptVersion | None = None, model: str | None = None,
                   temperature: float | None = None, retries: int = 2, name: str | None = None) -> ScoreFn:
    """The attempt's output (a) against a baseline output (b) for the same task.

    The baseline is a function of the attempt (e.g. a lookup into a baseline run's outputs), a
    literal, or ``from_expected="reference_answer"``. Value: 1 for a win, 0.5 for a tie (including
    an inconsistent one), 0 for a loss; a tie passes unless ``pass_on_tie=False``.
    """
    if callable(baseline) and from_expected is not None:
        raise GraderConfigError("pairwise_judge: give a baseline function or from_expected=..., not both")
    judge = PairwiseJudge.build(criteria, both_orders, prompt, model, temperature, retries, name)
    source: Callable[[Attempt], Any] = baseline if callable(baseline) else reference_source(
        "pairwise_judge", baseline, from_expected, default, literal_name="baseline")

    async def score(attempt: Attempt) -> Score:
        key = UnitKey(attempt.suite, attempt.variant, attempt.task.id, attempt.epoch)
        result = await judge.compare(attempt.task, attempt.output, source(attempt), key)
        value = {"a": 1.0, "tie": 0.5, "b": 0.0}[result.winner]
        passed = result.winner == "a" or (result.winner == "tie" and pass_on_tie)
        return Score(value=value, passed=passed, reason=result.reason,
                     metadata={"winner": result.winner, "consistent": result.consistent, "judge": judge.slug,
                               "prompt": judge.prompt.label,
                               "orders": [o.model_dump() for o in result.orders]})

    score.grader_params = judge.prompt.record()  # type: ignore[attr-defined]
    return score
