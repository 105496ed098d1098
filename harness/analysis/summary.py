"""The numbers of a report, as one pydantic model (:class:`RunSummary`) that ``summary.json`` holds.

:func:`analyse` reads a run folder (and, with ``vs``, a second run or a second variant of the
same run) and computes:

* the run's status word (complete, partial, damaged, running, failed) and what is missing;
* a leaderboard per variant and metric: mean and pass rate with 95% intervals over every task,
  errors counted as failures, beside the labelled *completed-only* figures;
* paired comparisons of each candidate against the baseline (``vs``, else the suite's declared
  pairs, else every variant against ``baseline_variant``) on every metric, each decided in its
  family by :mod:`harness.analysis.comparison`: the candidate's no-regression gates are one
  one-sided family, the pair's other metrics another, so the report, ``harness gate``,
  ``harness compare`` and the viewer show one verdict per question;
* cost, tokens and latency per task (mean, p50, p95);
* tasks that flipped between pass and fail against the baseline, per metric;
* pass@k, pass^k and per-task stability when a run has several epochs (errored epochs fail);
* judge calibration numbers (kappa with its 95% interval) when the run recorded them.

Markdown, HTML, plots and gates all read from here, so they never disagree.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from harness.analysis import reliability, stats
from harness.analysis.comparison import (
    Arm,
    BaselineRuns,
    ComparisonRow,
    ReleaseCheck,
    all_release_checks,
    check_baseline,
    compare_arms,
    gated_metrics,
)
from harness.analysis.errors import ErrorDigest, error_digest
from harness.analysis.run_data import (
    ERRORS_COUNTED,
    PASS_RATE,
    TASK_RATES,
    JudgeCalibration,
    RunData,
    error_rows,
    load_run_data,
)
from harness.analysis.stats import Distribution, Interval
from harness.analysis.status import RunStatus, run_status
from harness.core.gate_spec import NoRegressionGate, parse_gates

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

#: 2: intent-to-treat figures, run status, families, per-metric flips, kappa intervals.
SCHEMA_VERSION = 2
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
    """One variant on one metric: per-task means (epochs averaged first) with intervals.

    ``mean`` and ``pass_rate`` count errors as failures; ``completed_mean`` is the secondary
    view over attempts that finished without error, for reference only.
    """

    variant: str
    metric: str
    mean: Interval
    pass_rate: Interval
    n_tasks: int
    attempts: int
    task_errors: int = Field(description="attempts of this variant whose task errored (counted as failures)")
    grader_errors: int = Field(description="scores of this metric that errored (counted as failures)")
    completed_mean: Interval | None = None
    completed_tasks: int = 0


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


class Flip(BaseModel):
    task_id: str
    baseline: str
    candidate: str
    direction: Literal["pass→fail", "fail→pass"]
    metric: str = PASS_RATE


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
    #: metric -> number of tasks that flipped on it (every candidate)
    flips_by_metric: dict[str, int] = Field(default_factory=dict)
    pass_at_k: list[PassAtK]
    stability: list[StabilityRow]
    #: How each variant's conversations went (conversation tasks only; empty otherwise).
    conversations: list[reliability.ConversationStats] = Field(default_factory=list)
    judge_calibration: list[JudgeCalibration]
    notes: list[str]
    totals: dict[str, Any] = Field(default_factory=dict)
    #: The run's errors per task, with how to rerun them (the CLI prints the same digest).
    errors: ErrorDigest = Field(default_factory=ErrorDigest)
    run_status: RunStatus | None = None
    vs_status: RunStatus | None = None
    errors_counted: str = ERRORS_COUNTED
    #: tasks the ``vs`` run has and this run lacks: this run is partial against its baseline
    partial_against_baseline: list[str] = Field(default_factory=list)

    @property
    def shipping_variant(self) -> str | None:
        """The variant reports mark "(baseline)": the one every comparison is against, else the suite's."""
        return self.baseline or self.run.baseline_variant

    @property
    def compared_pairs(self) -> list[tuple[str, str]]:
        """The (baseline, candidate) pairs compared, in order, each once."""
        return list(dict.fromkeys((c.baseline, c.candidate) for c in self.comparisons))

    def metric_row(self, variant: str, metric: str) -> MetricRow | None:
        return next((r for r in self.leaderboard if r.variant == variant and r.metric == metric), None)

    def variant_stats(self, variant: str) -> VariantStats | None:
        return next((v for v in self.variants if v.variant == variant), None)


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


def resolve_pairs(data: RunData, vs: str | Path | RunData | None, *, allow_dataset_change: bool = False,
                  ) -> tuple[list[tuple[Arm, Arm]], RunData | None]:
    """Which (baseline, candidate) arms to compare, from ``vs`` or the manifest's baseline.

    A ``vs`` run is checked against this one first (:func:`harness.analysis.comparison.check_baseline`).
    """
    if vs is not None and _is_run_folder(vs):
        other = _as_data(vs)
        only = check_baseline(other, data, allow_dataset_change=allow_dataset_change).only
        pairs = []
        for variant in data.variants:
            if variant in other.variants:
                base = variant
            elif len(other.variants) == 1:
                base = other.variants[0]
            else:
                log.warning("variant %s has no counterpart in %s; not compared", variant, other.manifest.run_id)
                continue
            pairs.append((Arm(other, base, f"{other.manifest.run_id}:{base}", only), Arm(data, variant, variant, only)))
        return pairs, other
    if vs is not None:
        if str(vs) not in data.variants:
            raise ReportError(
                f"--vs {vs}: neither a run folder nor a variant of run {data.manifest.run_id} "
                f"(variants: {', '.join(data.variants)})")
        base_arm = Arm(data, str(vs), str(vs))
        return [(base_arm, Arm(data, v, v)) for v in data.variants if v != vs], None
    return [(Arm(data, base, base), Arm(data, candidate, candidate))
            for base, candidate in data.comparison_pairs
            if base in data.variants and candidate in data.variants], None


def _pairs_not_made(data: RunData) -> list[str]:
    """A note for each declared comparison the run cannot make (a variant it did not run)."""
    return [f"comparison {candidate} vs {base} not made: run {data.manifest.run_id} has no results for "
            f"{', '.join(v for v in (base, candidate) if v not in data.variants)}"
            for base, candidate in data.comparison_pairs
            if base not in data.variants or candidate not in data.variants]


def _leaderboard(data: RunData) -> list[MetricRow]:
    rows = []
    for variant in data.variants:
        task_errors = data.task_errors(variant)[0]
        for metric in data.metrics:
            frame = data.per_task(variant, metric)
            done = data.per_task(variant, metric, "completed")
            rows.append(MetricRow(
                variant=variant, metric=metric,
                mean=stats.mean_interval(frame["value"].to_numpy(dtype=float)),
                pass_rate=stats.mean_interval(frame["passed"].to_numpy(dtype=float)),
                n_tasks=len(frame), attempts=int(frame["attempts"].sum()) if len(frame) else 0,
                task_errors=task_errors, grader_errors=data.grader_errors(variant, metric),
                completed_mean=stats.mean_interval(done["value"].to_numpy(dtype=float)), completed_tasks=len(done)))
    return rows


def _variant_stats(data: RunData) -> list[VariantStats]:
    out = []
    for variant in data.variants:
        frame = data.variant_attempts(variant)
        errors = frame[frame["error_kind"].notna()]
        task_errors = len(errors)
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


def _release_checks(data: RunData, vs_data: RunData | None, baseline: str | Path | None,
                    allow_dataset_change: bool) -> list[ReleaseCheck]:
    """The no-regression checks the run's declared gates make, as ``harness gate`` makes them."""
    try:
        specs = [g for g in parse_gates(data.manifest.gates) if isinstance(g, NoRegressionGate)]
    except ValueError:
        return []  # harness gate reports an invalid declaration; a report has no release question then
    override: str | Path | RunData | None = vs_data if vs_data is not None else baseline
    # a gate against a baseline run answers nothing among this run's own pairs: not read for them
    return all_release_checks(data, specs, override, BaselineRuns(), allow_dataset_change=allow_dataset_change,
                              skip=lambda g: override is None and g.baseline is not None
                              and g.baseline_variant is None)


def _comparisons(pairs: list[tuple[Arm, Arm]], alpha: float, effect: float,
                 checks: Sequence[ReleaseCheck]) -> list[ComparisonRow]:
    gated = gated_metrics(checks)
    rows = []
    for base, cand in pairs:
        metrics = [m for m in cand.data.metrics if m in TASK_RATES or m in base.data.score_names]
        rows += compare_arms(base, cand, metrics, gated.get((base.label, cand.label), {}), alpha=alpha, effect=effect)
    return rows


def _flipped(base: Arm, cand: Arm, metrics: list[str] | None) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Per metric: the tasks whose pass/fail differs between the arms (in task id order), and each one's
    baseline pass. Paired as arrays: a Flip object per flipped task held 150,000 of them per metric at
    1M rows (``harness report``'s peak RSS, bench/analysis_scale.py) where a report lists 50."""
    names = metrics or [m for m in cand.data.metrics if m in TASK_RATES or m in base.data.score_names]
    out = []
    for metric in names:
        ids, before, after = base.data.task_passes(base.variant, metric).paired(
            cand.data.task_passes(cand.variant, metric))
        changed = before != after
        out.append((metric, ids[changed], before[changed]))
    return out


def _flips(base: Arm, cand: Arm, metric: str, ids: np.ndarray, before: np.ndarray) -> list[Flip]:
    return [Flip(task_id=str(t), baseline=base.label, candidate=cand.label, metric=metric,
                 direction="pass→fail" if was else "fail→pass") for t, was in zip(ids, before, strict=True)]


def flips_between(base: Arm, cand: Arm, metrics: list[str] | None = None) -> list[Flip]:
    """Tasks whose pass/fail (at each run's pass threshold) differs between the two arms, per metric."""
    return [f for metric, ids, before in _flipped(base, cand, metrics) for f in _flips(base, cand, metric, ids, before)]


def _flip_summary(pairs: list[tuple[Arm, Arm]]) -> tuple[list[Flip], int, dict[str, int]]:
    """The first :data:`MAX_LISTED` flips of every pair, how many there are, and how many per metric."""
    listed: list[Flip] = []
    by_metric: Counter[str] = Counter()
    for base, cand in pairs:
        for metric, ids, before in _flipped(base, cand, None):
            room = MAX_LISTED - len(listed)
            listed += _flips(base, cand, metric, ids[:room], before[:room]) if room > 0 else []
            if len(ids):
                by_metric[metric] += len(ids)
    return listed, sum(by_metric.values()), dict(by_metric)


def _ks(epochs: int) -> list[int]:
    candidates = [1, 2, 3, 5, 10, 20, 50, 100]
    return sorted({k for k in candidates if k <= epochs} | {epochs})


def _repeats(data: RunData) -> tuple[list[PassAtK], list[StabilityRow]]:
    """pass@k / pass^k and stability per variant, errored epochs counted as failed attempts."""
    if data.epochs <= 1:
        return [], []
    pak: list[PassAtK] = []
    stab: list[StabilityRow] = []
    for variant in data.variants:
        per_task = reliability.task_passes(data, variant)
        for k in _ks(data.epochs):
            at = list(reliability.pass_k_per_task(per_task, "@", k).values())
            hat = list(reliability.pass_k_per_task(per_task, "^", k).values())
            if not at:
                continue
            pak.append(PassAtK(variant=variant, k=k, pass_at_k=sum(at) / len(at),
                               pass_hat_k=sum(hat) / len(hat), n_tasks=len(at)))
        labels = {task: stats.stability(ps) for task, ps in per_task.items() if ps}
        counts = Counter(labels.values())
        stab.append(StabilityRow(variant=variant, stable_pass=counts["stable pass"],
                                 stable_fail=counts["stable fail"], flaky=counts["flaky"],
                                 flaky_tasks=[t for t, lab in labels.items() if lab == "flaky"][:MAX_LISTED]))
    return pak, stab


def _correction(comparisons: list[ComparisonRow], alpha: float) -> str:
    families = list(dict.fromkeys(c.result.family for c in comparisons if c.result.family))
    if not families:
        return f"no comparisons; alpha = {alpha}"
    return (f"Holm's correction within each family (family-wise alpha = {alpha}): "
            + "; ".join(families)
            + ". Tests that cannot reach significance (no discordant task) are left out of their family "
              "(Tarone's rule), and pass_rate when it repeats a single grader")


def analyse(run: str | Path | RunData, vs: str | Path | RunData | None = None, *, alpha: float = 0.05,
            effect: float = 0.05, candidates: Sequence[str] | None = None,
            baseline: str | Path | None = None, allow_dataset_change: bool = False) -> Analysis:
    """Compute a run's summary. ``vs``: another run folder, or a variant name of this run.

    ``candidates``: compare only these variants (``harness compare A B``: just B). ``baseline``:
    the baseline run ``harness gate --baseline`` would use. Comparisons the run's no-regression
    gates make are decided in the gates' release family (:mod:`harness.analysis.comparison`), so
    every surface shows the verdict ``harness gate`` acts on. A ``vs`` run whose tasks changed is
    refused (:class:`GateConfigError`) unless ``allow_dataset_change``; baseline tasks this run
    lacks are listed in ``partial_against_baseline``.
    """
    data = _as_data(run)
    pairs, vs_data = resolve_pairs(data, vs, allow_dataset_change=allow_dataset_change)
    against = (check_baseline(vs_data, data, allow_dataset_change=allow_dataset_change)
               if vs_data is not None else None)
    if candidates is not None:
        pairs = [(b, c) for b, c in pairs if c.variant in candidates]
    comparisons = _comparisons(pairs, alpha, effect, _release_checks(data, vs_data, baseline, allow_dataset_change))
    flips, flips_total, flips_by_metric = _flip_summary(pairs)
    pak, stab = _repeats(data)
    baselines = {base.label for base, _ in pairs}
    # One baseline for every comparison: reports title them "vs <baseline>"; several (a suite's
    # declared comparisons): None, and each comparison row names its own.
    baseline = baselines.pop() if len(baselines) == 1 else (None if pairs else data.baseline_variant)
    if vs_data is not None:
        baseline = f"run {vs_data.manifest.run_id}"
    summary = RunSummary(
        run=run_info(data), vs=run_info(vs_data) if vs_data else None,
        vs_kind=None if vs is None else ("run" if vs_data is not None else "variant"),
        baseline=baseline, metrics=data.metrics, alpha=alpha, effect=effect,
        leaderboard=_leaderboard(data), variants=_variant_stats(data), comparisons=comparisons,
        correction=_correction(comparisons, alpha),
        flips=flips, flips_total=flips_total, flips_by_metric=flips_by_metric,
        pass_at_k=pak, stability=stab, conversations=reliability.conversation_stats(data),
        judge_calibration=data.calibrations(),
        notes=[*data.manifest.notes, *(_pairs_not_made(data) if vs is None else []),
               *([against.note] if against is not None and against.note else [])],
        partial_against_baseline=list(against.missing) if against is not None else [],
        errors=error_digest(error_rows(data), suite=data.manifest.suite, suite_file=data.manifest.suite_file,
                            run_id=data.manifest.run_id),
        totals={k: v for k, v in data.manifest.totals.items() if k != "judge_calibration"},
        run_status=run_status(data), vs_status=run_status(vs_data) if vs_data is not None else None)
    return Analysis(data=data, summary=summary, pairs=pairs, vs_data=vs_data)


def build_summary(run: str | Path | RunData, vs: str | Path | RunData | None = None, **options: Any) -> RunSummary:
    """The :class:`RunSummary` of a run folder (see :func:`analyse`)."""
    return analyse(run, vs, **options).summary
