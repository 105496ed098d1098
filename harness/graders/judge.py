"""LLM judges: a model grades an output against a rubric, a reference answer, or another output.

* :func:`rubric_judge` — does the output meet a rubric? On a numeric ``scale`` (default 1–5) or
  with ``labels`` (listed best first).
* :func:`reference_judge` — is the output consistent with the task's reference answer / facts?
* :func:`~harness.graders.pairwise.pairwise_judge` and
  :func:`~harness.graders.pairwise.pairwise_compare` — which of two outputs is better, asked in
  both orders so position bias shows up as inconsistency instead of a win.
* :func:`~harness.graders.ensemble.ensemble` — several judges, or ``samples=n`` of one, voted.

The verdict is structured output with ``reasoning`` *first* (the model reasons before it
commits), validated with pydantic. Each judge records its prompt's name, version and sha256 in
its params, and runs its calls in cassette units of its own (see
:mod:`harness.graders.judge_engine`). A judge that cannot produce a valid verdict raises
:class:`JudgeError`: a grader error, never a silent 0.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from harness.core.grading import Attempt, GraderConfigError, Score, ScoreFn, grader
from harness.core.prompts import PromptVersion
from harness.graders.ensemble import ensemble
from harness.graders.expected import MISSING, resolve_expected
from harness.graders.judge_engine import JudgeError, JudgeReply, JudgeSettings, UnitKey, ask_judge, slugify
from harness.graders.judge_prompt import JudgePrompt, render_value
from harness.graders.pairwise import (
    PairwiseBatch,
    PairwiseResult,
    pairwise_batch,
    pairwise_compare,
    pairwise_judge,
)

__all__ = [
    "rubric_judge", "reference_judge", "pairwise_judge", "pairwise_compare", "pairwise_batch", "ensemble",
    "PairwiseResult", "PairwiseBatch", "JudgeError", "LLMJudge", "VerdictScale",
]

PromptSpec = str | Path | PromptVersion | None


@dataclass(frozen=True)
class VerdictScale:
    """How a verdict is asked for and read: an integer ``scale`` or a list of ``labels`` (best first)."""

    scale: tuple[int, int] | None
    labels: tuple[str, ...] | None
    passing: frozenset[Any]

    @classmethod
    def build(cls, scale: Sequence[int] | None, labels: Sequence[str] | None, pass_at: Any,
              default_scale: tuple[int, int] | None, judge: str) -> VerdictScale:
        if scale is not None and labels is not None:
            raise GraderConfigError(f"{judge}: give scale= or labels=, not both")
        if labels is not None:
            return cls._labelled(tuple(labels), pass_at, judge)
        lo, hi = cls._bounds(scale if scale is not None else default_scale, judge)
        threshold = lo + math.ceil(0.75 * (hi - lo)) if pass_at is None else pass_at
        if isinstance(threshold, bool) or not isinstance(threshold, int) or not lo <= threshold <= hi:
            raise GraderConfigError(f"{judge}: pass_at must be an integer in [{lo}, {hi}], got {pass_at!r}")
        return cls(scale=(lo, hi), labels=None, passing=frozenset(range(threshold, hi + 1)))

    @staticmethod
    def _bounds(scale: Any, judge: str) -> tuple[int, int]:
        if (not isinstance(scale, list | tuple) or len(scale) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in scale) or scale[0] >= scale[1]):
            raise GraderConfigError(f"{judge}: scale must be two integers (low, high) with low < high, got {scale!r}")
        return int(scale[0]), int(scale[1])

    @classmethod
    def _labelled(cls, labels: tuple[str, ...], pass_at: Any, judge: str) -> VerdictScale:
        if len(labels) < 2 or len(set(labels)) != len(labels) or not all(isinstance(x, str) and x for x in labels):
            raise GraderConfigError(f"{judge}: labels must be at least two distinct non-empty strings, got {labels!r}")
        if pass_at is None or isinstance(pass_at, str):
            chosen = [labels[0] if pass_at is None else pass_at]
        elif isinstance(pass_at, list | tuple | set | frozenset):
            chosen = list(pass_at)
        else:
            raise GraderConfigError(f"{judge}: with labels, pass_at names the passing label(s), got {pass_at!r}")
        unknown = [p for p in chosen if p not in labels]
        if unknown or not chosen:
            raise GraderConfigError(f"{judge}: pass_at {pass_at!r} must name labels among {list(labels)}")
        return cls(scale=None, labels=labels, passing=frozenset(chosen))

    def verdict_model(self) -> type[BaseModel]:
        """The pydantic verdict: ``reasoning`` first, then ``score`` or ``label``."""
        config = ConfigDict(extra="forbid")
        reasoning = (str, Field(description="Step-by-step reasoning that leads to the verdict."))
        if self.scale is not None:
            lo, hi = self.scale
            return create_model("ScoreVerdict", __config__=config, reasoning=reasoning,
                                score=(int, Field(ge=lo, le=hi, description=f"Integer from {lo} (worst) to {hi} (best).")))
        label_type: Any = Literal[self.labels]
        return create_model("LabelVerdict", __config__=config, reasoning=reasoning,
                            label=(label_type, Field(description="Exactly one of the allowed labels.")))

    def instructions(self) -> str:
        """What the ``{{scale}}`` placeholder says."""
        if self.scale is not None:
            lo, hi = self.scale
            return (f"Reply with JSON: `reasoning` (your reasoning, first), then `score`: an integer from "
                    f"{lo} (worst) to {hi} (best).")
        return ("Reply with JSON: `reasoning` (your reasoning, first), then `label`: exactly one of "
                + ", ".join(f"`{label}`" for label in self.labels or ()) + ".")

    def score(self, verdict: BaseModel) -> tuple[float, bool, Any]:
        """(value in [0, 1], passed, raw score or label) for a validated verdict."""
        if self.scale is not None:
            lo, hi = self.scale
            raw = int(_verdict_field(verdict, "score"))
            return (raw - lo) / (hi - lo), raw in self.passing, raw
        labels = self.labels or ()
        label = str(_verdict_field(verdict, "label"))
        value = 1.0 - labels.index(label) / (len(labels) - 1)
        return value, label in self.passing, label

    def describe(self) -> dict[str, Any]:
        if self.scale is not None:
            return {"scale": list(self.scale), "pass_at": min(self.passing)}
        return {"labels": list(self.labels or ()), "pass_at": sorted(self.passing)}


def _verdict_field(verdict: BaseModel, name: str) -> Any:
    """A field of a verdict from :meth:`VerdictScale.verdict_model`.

    That model is built at run time (``create_model``), so mypy knows the verdict only as a
    BaseModel; pydantic has already validated the field (an int in the scale, or one of the labels).
    """
    return getattr(verdict, name)


class LLMJudge:
    """The scoring function of a judge grader, with the extra entry point ensembles and calibration use.

    ``await judge(attempt)`` gives one verdict as a :class:`Score`; ``await judge.sample(attempt, n)``
    gives ``n`` verdicts from ``n`` calls in one cassette unit (so samples replay too).
    """

    def __init__(self, kind: str, slug: str, prompt: JudgePrompt, scale: VerdictScale, settings: JudgeSettings,
                 values: Callable[[Attempt], dict[str, str]]) -> None:
        self.kind = kind
        self.slug = slug
        self.prompt = prompt
        self.scale = scale
        self.settings = settings
        self._values = values
        self._verdict = scale.verdict_model()
        self.grader_params = prompt.record()

    async def __call__(self, attempt: Attempt) -> Score:
        return (await self.sample(attempt, 1))[0]

    async def sample(self, attempt: Attempt, n: int) -> list[Score]:
        """``n`` independent verdicts on one attempt (differing only if the judge's temperature allows)."""
        if n < 1:
            raise ValueError(f"judge {self.slug}: samples must be >= 1, got {n}")
        messages = self.prompt.render(self._values(attempt))
        key = UnitKey(attempt.suite, attempt.variant, attempt.task.id, attempt.epoch)
        replies = await ask_judge(slug=self.slug, key=key, messages=[messages] * n, verdict=self._verdict,
                                  settings=self.settings)
        return [self._score(reply) for reply in replies]

    def _score(self, reply: JudgeReply[BaseModel]) -> Score:
        value, passed, raw = self.scale.score(reply.verdict)
        reasoning = str(getattr(reply.verdict, "reasoning", ""))
        field = "score" if self.scale.scale is not None else "label"
        metadata = {field: raw, "judge": self.slug, "model": reply.model, "prompt": self.prompt.label,
                    "tries": reply.tries}
        return Score(value=value, passed=passed, reason=reasoning, metadata=metadata)


def _judge_slug(name: str | None, kind: str, identity: Mapping[str, Any]) -> str:
    """``name`` as given, else ``<kind>-<8 hex of the judge's settings>``: stable, and distinct per judge."""
    if name is not None:
        return slugify(name)
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"{kind}-{digest}"


def _task_text(attempt: Attempt) -> str:
    return render_value(attempt.task.input)


@grader
def rubric_judge(rubric: str, *, scale: Sequence[int] | None = None, labels: Sequence[str] | None = None,
                 pass_at: int | str | Sequence[str] | None = None, prompt: PromptSpec = None,
                 model: str | None = None, temperature: float | None = None, retries: int = 2,
                 name: str | None = None) -> ScoreFn:
    """An LLM grades the output against ``rubric``.

    ``scale=(1, 5)`` (the default) asks for an integer score; the value is the score mapped to
    [0, 1] and ``pass_at`` (default: three quarters up the scale, 4 of 1–5) decides ``passed``.
    ``labels=["pass", "fail"]`` asks for a label instead: list them best first; ``pass_at`` names
    the passing label(s), the first by default. ``prompt`` picks a built-in version (``"v1"``) or
    a file; ``{{rubric}}``, ``{{scale}}``, ``{{input}}``, ``{{output}}`` and ``{{expected}}`` are filled.
    """
    if not isinstance(rubric, str) or not rubric.strip():
        raise GraderConfigError("rubric_judge: the rubric must be non-empty text")
    verdicts = VerdictScale.build(scale, labels, pass_at, (1, 5), "rubric_judge")
    template = JudgePrompt.load(prompt, "rubric")
    template.check(provided={"rubric", "scale", "input", "output", "expected"}, required={"output"})
    settings = JudgeSettings(model=model, temperature=temperature, retries=retries)
    identity = {"rubric": rubric, **verdicts.describe(), "prompt": template.sha256, "model": model}
    instructions = verdicts.instructions()

    def values(attempt: Attempt) -> dict[str, str]:
        return {"rubric": rubric.strip(), "scale": instructions, "input": _task_text(attempt),
                "output": render_value(attempt.output), "expected": render_value(attempt.task.expected)}

    return LLMJudge("rubric", _judge_slug(name, "rubric", identity), template, verdicts, settings, values)


DEFAULT_REFERENCE_CRITERIA = (
    "Is the response correct according to the reference answer? It must not contradict the reference, "
    "and it must state the facts the reference requires. Different wording and extra correct detail are fine."
)


@grader
def reference_judge(*, reference: Any = None, from_expected: str | None = None, default: Any = MISSING,
                    criteria: str = DEFAULT_REFERENCE_CRITERIA, scale: Sequence[int] | None = None,
                    labels: Sequence[str] | None = None, pass_at: int | str | Sequence[str] | None = None,
                    prompt: PromptSpec = None, model: str | None = None, temperature: float | None = None,
                    retries: int = 2, name: str | None = None) -> ScoreFn:
    """An LLM checks the output against a reference answer or facts.

    The reference is ``reference=`` (literal), ``from_expected="answer"`` (a key of the task's
    expected), or — with neither — the task's whole ``expected``. Default labels are
    ``correct`` / ``partially_correct`` / ``incorrect``; only ``correct`` passes unless ``pass_at``
    says otherwise. ``scale=`` asks for a score instead.
    """
    if reference is not None and from_expected is not None:
        raise GraderConfigError("reference_judge: give reference=... or from_expected=..., not both")
    if scale is None and labels is None:
        labels = ("correct", "partially_correct", "incorrect")
    verdicts = VerdictScale.build(scale, labels, pass_at, None, "reference_judge")
    template = JudgePrompt.load(prompt, "reference")
    template.check(provided={"criteria", "scale", "input", "output", "reference"}, required={"output", "reference"})
    settings = JudgeSettings(model=model, temperature=temperature, retries=retries)
    identity = {"criteria": criteria, "reference": reference, "from_expected": from_expected,
                **verdicts.describe(), "prompt": template.sha256, "model": model}
    instructions = verdicts.instructions()

    def values(attempt: Attempt) -> dict[str, str]:
        answer = _reference_of(attempt, reference, from_expected, default)
        return {"criteria": criteria.strip(), "scale": instructions, "input": _task_text(attempt),
                "output": render_value(attempt.output), "reference": render_value(answer)}

    return LLMJudge("reference", _judge_slug(name, "reference", identity), template, verdicts, settings, values)


def _reference_of(attempt: Attempt, reference: Any, from_expected: str | None, default: Any) -> Any:
    if reference is not None:
        return reference
    answer = resolve_expected(attempt, from_expected or "", default)
    if answer is None:
        raise ValueError(f"reference_judge: task '{attempt.task.id}' has no expected answer to compare with; "
                         "give the task an expected value, or the judge reference=...")
    return answer

