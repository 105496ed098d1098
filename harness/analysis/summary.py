"""The numbers of a report, as one pydantic model (:class:`RunSummary`) that ``summary.json`` holds.

:func:`analyse` reads a run folder (and, with ``vs``, a second run or a second variant of the
same run) and computes:

* a leaderboard per variant and metric: mean and pass rate with 95% intervals, ``n`` tasks,
  attempts excluded for task errors, grader errors;
* paired comparisons of each candidate against the baseline (``vs``, else the manifest's
  ``baseline_variant``, else the first variant) on every metric, with Holm's correction over
  the whole family of comparisons, so a report with many candidates does not cry wolf;
* cost, tokens and latency per task (mean, p50, p95);
* tasks that flipped between pass and fail against the baseline;
* pass@k, pass^k and per-task stability when a run has several epochs;
* judge calibration numbers when the run recorded them.

Markdown, HTML, plots and gates all read from here, so they never disagree.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from harness.analysis import stats
from harness.analysis.errors import ErrorDigest, error_digest
from harness.analysis.run_data import SUCCESS_RATE, TASK_RATES, JudgeCalibration, RunData, load_run_data
from harness.analysis.stats import Distribution, Interval, PairedComparison

__all__ = [
    "SCHEMA_VERSION",
    "ReportError",
    "RunInfo",
    "MetricRow",
    "VariantStats",
    "ComparisonRow",
    "Flip",
    "PassAtK",
    "StabilityRow",
    "RunSummary",
    "Arm",
    "Analysis",
    "analyse",
    "build_summary",
]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
#: Lists in the summary (flipped tasks, flaky tasks) stop here; the counts stay exact.
MAX_LISTED = 200


class ReportError(ValueError):
    """A report that cannot be built as asked (an unknown ``vs`` variant, an unreadable run)."""


class RunInfo(BaseModel):
    run_id: str
    suite: str
    status: str
    created_at: str
    finished_at: str | None = None
    git_commit: str | None = None
    epochs: int
    pass_threshold: float
    variants: list[str]
    baseline_variant: str | None = None
    dataset: dict[str, Any] = Field(default_factory=dict)
    path: str


class MetricRow(BaseModel):
    """One variant on one metric: per-task means (epochs averaged first) with intervals."""

    variant: str
    metric: str
    mean: Interval
    pass_rate: Interval
    n_tasks: int
    attempts: int
    task_errors: int = Field(description="attempts of this variant excluded because the task errored")
    grader_errors: int = Field(description="scores of this metric that errored (excluded)")


class VariantStats(BaseModel):
    variant: str
    attempts: int
    tasks: int
    task_errors: int
    error_rate: float
    errors_by_kind: dict[str, int]
    grader_errors: int
    #: Costs of the priced calls only: with ``unpriced_calls`` above 0 the variant's cost is unknown.
    cost_usd: Distribution
    unpriced_calls: int = Field(0, description="model calls whose cost is unknown (no price for the model, "
                                               "or no usage in the reply)")
    tokens: Distribution
    latency_s: Distribution
    model_calls: Distribution


class ComparisonRow(BaseModel):
    """Candidate vs baseline on one metric; ``result.label`` is decided on the Holm-adjusted p."""

    metric: str
    baseline: str
    candidate: str
    result: PairedComparison


class Flip(BaseModel):
    task_id: str
    baseline: str
    candidate: str
    direction: Literal["pass→fail", "fail→pass"]


class PassAtK(BaseModel):
    variant: str
    k: int
    pass_at_k: float
    pass_hat_k: float
    n_tasks: int


class StabilityRow(BaseModel):
    variant: str
    stable_pass: int
    stable_fail: int
    flaky: int
    flaky_tasks: list[str]


class RunSummary(BaseModel):
    """Everything a report says, in one JSON-serialisable model."""

    schema_version: int = SCHEMA_VERSION
    run: RunInfo
    vs: RunInfo | None = None
    vs_kind: Literal["run", "variant"] | None = None
    baseline: str | None = None
    metrics: list[str]
    alpha: float
    effect: float = Field(description="the difference tasks_needed is computed for")
    leaderboard: list[MetricRow]
    variants: list[VariantStats]
    comparisons: list[ComparisonRow]
    correction: str
    flips: list[Flip]
    flips_total: int
    pass_at_k: list[PassAtK]
    stability: list[StabilityRow]
    judge_calibration: list[JudgeCalibration]
    notes: list[str]
    totals: dict[str, Any] = Field(default_factory=dict)
    #: The run's errors per task, with how to rerun them (the CLI prints the same digest).
    errors: ErrorDigest = Field(default_factory=ErrorDigest)

    def metric_row(self, variant: str, metric: str) -> MetricRow | None:
        return next((r for r in self.leaderboard if r.variant == variant and r.metric == metric), None)

    def variant_stats(self, variant: str) -> VariantStats | None:
        return next((v for v in self.variants if v.variant == variant), None)


@dataclass(frozen=True)
class Arm:
    """One variant of one run: a side of a comparison."""

    data: RunData
    variant: str
    label: str


@dataclass
class Analysis:
    """The summary plus what it was computed from (plots and HTML need the per-task data)."""

    data: RunData
    summary: RunSummary
    pairs: list[tuple[Arm, Arm]]
    vs_data: RunData | None = None


def run_info(data: RunData) -> RunInfo:
    m = data.manifest
    return RunInfo(run_id=m.run_id, suite=m.suite, status=m.status, created_at=m.created_at,
                   finished_at=m.finished_at, git_commit=m.git_commit, epochs=data.epochs,
                   pass_threshold=m.pass_threshold, variants=data.variants,
                   baseline_variant=m.baseline_variant, dataset=m.dataset, path=str(data.path))


def _as_data(run: str | Path | RunData) -> RunData:
    return run if isinstance(run, RunData) else load_run_data(run)


def _is_run_folder(value: object) -> bool:
    return isinstance(value, RunData) or (isinstance(value, str | Path) and (Path(value) / "run.json").is_file())


def resolve_pairs(data: RunData, vs: str | Path | RunData | None) -> tuple[list[tuple[Arm, Arm]], RunData | None]:
    """Which (baseline, candidate) arms to compare, from ``vs`` or the manifest's baseline."""
    if vs is not None and _is_run_folder(vs):
        other = _as_data(vs)
        pairs = []
        for variant in data.variants:
            if variant in other.variants:
                base = variant
            elif len(other.variants) == 1:
                base = other.variants[0]
            else:
                log.warning("variant %s has no counterpart in %s; not compared", variant, other.manifest.run_id)
                continue
            pairs.append((Arm(other, base, f"{other.manifest.run_id}:{base}"), Arm(data, variant, variant)))
        return pairs, other
    if vs is not None:
        if str(vs) not in data.variants:
            raise ReportError(
                f"--vs {vs}: neither a run folder nor a variant of run {data.manifest.run_id} "
                f"(variants: {', '.join(data.variants)})")
        baseline = str(vs)
    else:
        baseline = data.baseline_variant
    if baseline is None:
        return [], None
    base_arm = Arm(data, baseline, baseline)
    return [(base_arm, Arm(data, v, v)) for v in data.variants if v != baseline], None


def _leaderboard(data: RunData) -> list[MetricRow]:
    rows = []
    for variant in data.variants:
        task_errors = int((data.variant_attempts(variant)["status"] == "error").sum())
        for metric in data.metrics:
            frame = data.per_task(variant, metric)
            rows.append(MetricRow(
                variant=variant, metric=metric,
                mean=stats.mean_interval(frame["value"].to_numpy(dtype=float)),
                pass_rate=stats.mean_interval(frame["passed"].to_numpy(dtype=float)),
                n_tasks=len(frame), attempts=int(frame["attempts"].sum()) if len(frame) else 0,
                task_errors=task_errors, grader_errors=data.grader_errors(variant, metric)))
    return rows


def _variant_stats(data: RunData) -> list[VariantStats]:
    out = []
    for variant in data.variants:
        frame = data.variant_attempts(variant)
        errors = frame[frame["status"] == "error"]
        task_errors = int(frame["error_kind"].notna().sum())
        out.append(VariantStats(
            variant=variant, attempts=len(frame), tasks=int(frame["task_id"].nunique()),
            task_errors=task_errors, error_rate=task_errors / len(frame) if len(frame) else 0.0,
            errors_by_kind=dict(Counter(str(k) for k in errors["error_kind"].dropna())),
            grader_errors=int(frame["grader_errors"].sum()),
            cost_usd=stats.describe(frame["cost_usd"].to_numpy(dtype=float)),
            unpriced_calls=int(frame["unpriced_calls"].sum()),
            tokens=stats.describe(frame["tokens"].to_numpy(dtype=float)),
            latency_s=stats.describe(frame["latency_s"].to_numpy(dtype=float)),
            model_calls=stats.describe(frame["model_calls"].to_numpy(dtype=float))))
    return out


def _comparisons(pairs: list[tuple[Arm, Arm]], alpha: float, effect: float) -> list[ComparisonRow]:
    raw: list[ComparisonRow] = []
    for base, cand in pairs:
        for metric in cand.data.metrics:
            if metric not in TASK_RATES and metric not in base.data.score_names:
                continue
            if metric == SUCCESS_RATE and not (_has_task_errors(base) or _has_task_errors(cand)):
                continue  # without task errors it equals pass_rate: one more test would only cost power
            result = stats.paired_compare(base.data.task_values(base.variant, metric),
                                          cand.data.task_values(cand.variant, metric), alpha=alpha, effect=effect)
            raw.append(ComparisonRow(metric=metric, baseline=base.label, candidate=cand.label, result=result))
    adjusted = stats.with_holm([r.result for r in raw])
    return [r.model_copy(update={"result": a}) for r, a in zip(raw, adjusted, strict=True)]


def _has_task_errors(arm: Arm) -> bool:
    return bool((arm.data.variant_attempts(arm.variant)["status"] == "error").any())


def flips_between(base: Arm, cand: Arm) -> list[Flip]:
    """Tasks whose pass/fail (at each run's pass threshold) differs between the two arms."""
    before = base.data.task_passes(base.variant)
    after = cand.data.task_passes(cand.variant)
    flips = []
    for task in sorted(set(before) & set(after)):
        if before[task] != after[task]:
            flips.append(Flip(task_id=task, baseline=base.label, candidate=cand.label,
                              direction="pass→fail" if before[task] else "fail→pass"))
    return flips


def _ks(epochs: int) -> list[int]:
    candidates = [1, 2, 3, 5, 10, 20, 50, 100]
    return sorted({k for k in candidates if k <= epochs} | {epochs})


def _repeats(data: RunData) -> tuple[list[PassAtK], list[StabilityRow]]:
    """pass@k / pass^k and stability per variant; only meaningful with more than one epoch."""
    if data.epochs <= 1:
        return [], []
    pak: list[PassAtK] = []
    stab: list[StabilityRow] = []
    done = data.attempts[data.attempts["status"] != "error"]
    for variant in data.variants:
        frame = done[done["variant"] == variant]
        per_task = frame.groupby("task_id", sort=True)["passed"].agg(list)
        for k in _ks(data.epochs):
            eligible = [[bool(p) for p in ps] for ps in per_task if len(ps) >= k]
            if not eligible:
                continue
            at = [stats.pass_at_k(len(ps), sum(ps), k) for ps in eligible]
            hat = [stats.pass_hat_k(len(ps), sum(ps), k) for ps in eligible]
            pak.append(PassAtK(variant=variant, k=k, pass_at_k=sum(at) / len(at),
                               pass_hat_k=sum(hat) / len(hat), n_tasks=len(eligible)))
        labels = {str(task): stats.stability([bool(p) for p in ps]) for task, ps in per_task.items() if ps}
        counts = Counter(labels.values())
        stab.append(StabilityRow(variant=variant, stable_pass=counts["stable pass"],
                                 stable_fail=counts["stable fail"], flaky=counts["flaky"],
                                 flaky_tasks=[t for t, lab in labels.items() if lab == "flaky"][:MAX_LISTED]))
    return pak, stab


def analyse(run: str | Path | RunData, vs: str | Path | RunData | None = None, *, alpha: float = 0.05,
            effect: float = 0.05) -> Analysis:
    """Compute a run's summary. ``vs``: another run folder, or a variant name of this run."""
    data = _as_data(run)
    pairs, vs_data = resolve_pairs(data, vs)
    comparisons = _comparisons(pairs, alpha, effect)
    flips = [f for base, cand in pairs for f in flips_between(base, cand)]
    pak, stab = _repeats(data)
    baseline = pairs[0][0].label if pairs else data.baseline_variant
    if vs_data is not None:
        baseline = f"run {vs_data.manifest.run_id}"
    summary = RunSummary(
        run=run_info(data), vs=run_info(vs_data) if vs_data else None,
        vs_kind=None if vs is None else ("run" if vs_data is not None else "variant"),
        baseline=baseline, metrics=data.metrics, alpha=alpha, effect=effect,
        leaderboard=_leaderboard(data), variants=_variant_stats(data), comparisons=comparisons,
        correction=(f"Holm-Bonferroni over {sum(1 for c in comparisons if c.result.n)} comparisons "
                    f"vs the baseline, family-wise alpha = {alpha}"),
        flips=flips[:MAX_LISTED], flips_total=len(flips), pass_at_k=pak, stability=stab,
        judge_calibration=data.calibrations(), notes=list(data.manifest.notes),
        errors=error_digest(data.rows, suite=data.manifest.suite, suite_file=data.manifest.suite_file,
                            run_id=data.manifest.run_id),
        totals={k: v for k, v in data.manifest.totals.items() if k != "judge_calibration"})
    return Analysis(data=data, summary=summary, pairs=pairs, vs_data=vs_data)


def build_summary(run: str | Path | RunData, vs: str | Path | RunData | None = None, **options: Any) -> RunSummary:
    """The :class:`RunSummary` of a run folder (see :func:`analyse`)."""
    return analyse(run, vs, **options).summary
