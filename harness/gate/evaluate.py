"""Quality gates: thresholds and no-regression checks a run must meet, with CI exit codes.

A suite declares its gates; they are pydantic models, serialised into ``run.json`` ``gates``::

    gates = [
        Gate.metric("accuracy", ">=", 0.8, variant="triage@v2"),
        Gate.metric("p95_latency_s", "<=", 8),
        Gate.metric("cost_per_task_usd", "<=", 0.002),
        Gate.metric("grader_errors", "==", 0),
        Gate.metric("judge_kappa", ">=", 0.6),
        Gate.no_regression("accuracy", baseline="reports/baseline", tolerance=0.02),
    ]

Metrics: any score name (mean score per task, epochs averaged first), ``pass_rate``,
``error_rate``, ``grader_errors``, ``p50_latency_s``, ``p95_latency_s``, ``cost_per_task_usd``,
``tokens_per_task`` and ``judge_kappa`` (from the run's judge calibration). A gate without a
``variant`` applies to every variant.

Errors count as failures (intent to treat, :mod:`harness.analysis.run_data`): a task that raised
scores 0 on every metric of that attempt, a grader that raised scores 0 on its metric, so a
candidate cannot pass a gate by crashing on the tasks it would fail. A no-regression gate asks
one question, "is the candidate worse?": a one-sided paired test (McNemar exact for pass/fail
per task, paired t otherwise; see :mod:`harness.analysis.stats`), decided *after Holm's
correction over that candidate's no-regression gates against that baseline* (one release
question per candidate, never pooled with other candidates; tests that cannot reach
significance are left out by Tarone's rule), *and* the estimated drop must exceed ``tolerance``.
The verdict is the analysis layer's (:mod:`harness.analysis.comparison`): reports, ``harness
compare`` and the viewer show the same row. A gate that could never fail on the tasks it has
(a pass/fail gate on 4 tasks at alpha 0.05) is a configuration error (exit 2).

A gate on ``judge_kappa`` holds the lower bound of kappa's 95% interval, not the estimate: at 30
labelled items a judge whose true kappa is 0.4 would otherwise pass ``>= 0.6`` one time in eight.

Only a complete run is gated as a whole: a partial one (fewer tasks, variants or epochs than the
suite declares), a damaged one (an unreadable ``results.jsonl`` line), one still running or one
that failed exits 3 and says what is missing (:func:`harness.analysis.status.run_status`);
``allow_partial=True`` (``--allow-partial``) gates a partial run and says it is partial.

:func:`evaluate_gates` returns a :class:`GateReport` whose ``exit_code`` is an :class:`ExitCode`.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from harness.analysis import reliability, stats
from harness.analysis.comparison import (
    BaselineRuns,
    ComparisonRow,
    ReleaseCheck,
    per_task_column,
    release_checks,
    release_rows,
    worse_direction,
)
from harness.analysis.per_task import TaskValues
from harness.analysis.run_data import RunData, load_run_data
from harness.analysis.stats import Interval
from harness.analysis.status import RunStatus, named_ids, run_status
from harness.analysis.verdict import ExitCode, GateReport, GateResult
from harness.core.gate_spec import (
    ALIASES,
    BUILTIN,
    KAPPA_METRIC,
    OPS,
    RUN_LEVEL,
    TASK_RATES,
    Gate,
    GateConfigError,
    GateSpec,
    MetricGate,
    NoRegressionGate,
    PassK,
    View,
    parse_gates,
    parse_pass_k,
    require_kappa,
)
from harness.core.results import RunFolderError

if TYPE_CHECKING:
    from harness.engine.suite import Suite

__all__ = [
    "ExitCode",
    "Gate",
    "MetricGate",
    "NoRegressionGate",
    "GateSpec",
    "GateResult",
    "GateReport",
    "GateConfigError",
    "evaluate_gates",
    "promote_baseline",
    "parse_gates",
    "check_suite_gates",
    "require_kappa",
    "KAPPA_METRIC",
    "DEFAULT_MAX_ERROR_RATE",
]

log = logging.getLogger(__name__)

#: Task errors above this share of a variant's attempts make the run incomplete (exit 3).
DEFAULT_MAX_ERROR_RATE = 0.05
#: How many driving tasks a message names; the result keeps up to ``MAX_DRIVERS``.
SHOWN_DRIVERS = 10
MAX_DRIVERS = 100


def check_suite_gates(suite: Suite) -> None:
    """:func:`harness.engine.loader.check_gates`, imported when called: the loader imports the engine
    (the openai client among it: 1.3 s and 80 MB of a ``harness gate`` that never runs a task,
    python -X importtime, bench/analysis_scale.py)."""
    from harness.engine.loader import check_gates

    check_gates(suite)


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.4g}"


def _fmt_ci(ci: Interval | None) -> str:
    if ci is None or math.isnan(ci.low):
        return "no CI"
    return f"{ci.confidence:.0%} CI [{_fmt(ci.low)}, {_fmt(ci.high)}], n={ci.n}"


def _drivers_text(drivers: list[str], total: int, reason: str) -> str:
    if not total:
        return ""
    shown = ", ".join(drivers[:SHOWN_DRIVERS])
    more = f" (+{total - SHOWN_DRIVERS} more)" if total > SHOWN_DRIVERS else ""
    return f"; driven by {total} {reason}: {shown}{more}"


def _errored_text(errored: list[str], drivers: int) -> str:
    if not errored:
        return ""
    if len(errored) == drivers:
        return "; each by a task error, counted as a failure (not a score the task earned)"
    more = f" (+{len(errored) - SHOWN_DRIVERS} more)" if len(errored) > SHOWN_DRIVERS else ""
    return (f"; {len(errored)} of them by a task error, counted as a failure (not a score the task earned): "
            f"{', '.join(errored[:SHOWN_DRIVERS])}{more}")


class _Measured(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    value: float
    ci: Interval | None = None
    n: int | None = None
    per_task: TaskValues | None = None
    drivers_reason: str = "tasks"
    flagged: list[str] | None = None
    #: Why there is no value, said in the gate's message (e.g. a cost whose prices are unknown).
    note: str = ""
    #: Tasks whose score is a failure because an attempt raised (errors count as failures): the
    #: message says so, or a task error reads as, say, a leak.
    errored: set[str] = set()


def _measure(data: RunData, variant: str, metric: str, view: View = "itt") -> _Measured:
    """The gate's number for one variant (raises GateConfigError for an unknown metric)."""
    metric = ALIASES.get(metric, metric)
    if view == "completed" and metric not in data.score_names and metric not in TASK_RATES:
        raise GateConfigError(f"view='completed' applies to per-task score metrics and pass_rate, not {metric}")
    if metric in data.score_names or metric in TASK_RATES:
        values = data.task_values(variant, metric, view=view)
        # the tasks in the per-task frame's order (the order the interval has always been computed in)
        array = data.per_task(variant, metric, view)["value"].dropna().to_numpy(dtype=float)
        return _Measured(value=float(array.mean()) if array.size else math.nan, ci=stats.mean_interval(array),
                         n=int(array.size), per_task=values, drivers_reason=f"tasks whose per-task {metric} breaks the threshold",
                         errored=data.errored_tasks(variant) if view == "itt" else set())
    attempts = data.variant_attempts(variant)  # a copy of the variant's rows: not made for a score metric
    if metric == "error_rate":
        errored = attempts[attempts["error_kind"].notna()]
        ci = stats.wilson_interval(len(errored), len(attempts))
        return _Measured(value=ci.estimate, ci=ci, n=len(attempts), drivers_reason="tasks with task errors",
                         flagged=sorted(set(errored["task_id"].astype(str))))
    if metric == "grader_errors":
        flagged = attempts[attempts["grader_errors"] > 0]
        return _Measured(value=float(attempts["grader_errors"].sum()), n=len(attempts),
                         drivers_reason="tasks with grader errors", flagged=sorted(set(flagged["task_id"].astype(str))))
    if metric in ("p50_latency_s", "p95_latency_s"):
        q = 50 if metric.startswith("p50") else 95
        latencies = attempts["latency_s"].to_numpy(dtype=float)
        ci = stats.quantile_ci(latencies, q)
        return _Measured(value=ci.estimate, ci=ci, n=ci.n, per_task=per_task_column(data, variant, "latency_s"),
                         drivers_reason="slowest tasks (mean latency, s)")
    unpriced = int(attempts["unpriced_calls"].sum()) if metric == "cost_per_task_usd" else 0
    if unpriced:  # a cost that is partly unknown is not a low cost: the gate fails and says why
        return _Measured(value=math.nan, n=0, note=(
            f"price unknown: {unpriced} model call(s) have no known price or usage; set prices with "
            "harness.engine.pricing.set_prices or HARNESS_PRICES"))
    if metric in ("cost_per_task_usd", "tokens_per_task"):
        column = "cost_usd" if metric == "cost_per_task_usd" else "tokens"
        ci = stats.bootstrap_mean_ci(attempts[column].to_numpy(dtype=float))
        return _Measured(value=ci.estimate, ci=ci, n=ci.n, per_task=per_task_column(data, variant, column),
                         drivers_reason=f"most expensive tasks ({column})")
    if metric in RUN_LEVEL:
        return _kappa_lower_bound(data)
    if (pass_k := parse_pass_k(metric)) is not None:
        return _reliability(data, variant, *pass_k)
    known = sorted({*data.score_names, *BUILTIN})
    raise GateConfigError(f"unknown metric '{metric}' (known for this run: {', '.join(known)})")


def _reliability(data: RunData, variant: str, kind: PassK, k: int) -> _Measured:
    """pass^k / pass@k over the tasks with at least k epochs; fewer epochs than k is no value, said so."""
    values = reliability.pass_k_per_task(reliability.task_passes(data, variant), kind, k)
    if not values:
        return _Measured(value=math.nan, n=0, note=f"pass{kind}{k} needs at least {k} epochs of a task, and this "
                                                   f"run has {data.epochs}: run it with --epochs {k} or more")
    array = np.fromiter(values.values(), dtype=float)
    return _Measured(value=float(array.mean()), ci=stats.mean_interval(array), n=int(array.size),
                     per_task=TaskValues.from_mapping(values),
                     drivers_reason=f"tasks whose pass{kind}{k} breaks the threshold")


def _kappa_lower_bound(data: RunData) -> _Measured:
    """The lowest judge's lower 95% bound of kappa: a gate on a point estimate passes lucky judges.

    A calibration with no interval (no confusion matrix, no recorded bounds) or an undefined kappa
    gives NaN, which fails the gate with the reason, never a pass on a point estimate.
    """
    calibrations = data.calibrations()
    if not calibrations:
        raise GateConfigError("judge_kappa: the run recorded no judge calibration (run.json totals.judge_calibration)")

    def bound(c: Any) -> float:
        undefined = c.kappa is None or math.isnan(c.kappa) or c.kappa_low is None
        return math.nan if undefined else float(c.kappa_low)

    worst = min(calibrations, key=lambda c: (not math.isnan(bound(c)), bound(c)))
    value, estimate = bound(worst), math.nan if worst.kappa is None else float(worst.kappa)
    ci = Interval(estimate=estimate, low=value, high=math.nan if worst.kappa_high is None else worst.kappa_high,
                  n=worst.n or 0, method="95% interval of Cohen's kappa")
    unknown = [c.grader or "judge" for c in calibrations if math.isnan(bound(c))]
    why = worst.kappa_note or "no interval recorded and no confusion matrix to compute one; calibrate again"
    reason = f"judges whose kappa has no lower bound ({why})" if unknown else "judges (lower 95% bound of kappa)"
    return _Measured(value=value, ci=ci, n=worst.n, drivers_reason=reason, flagged=unknown or [worst.grader or "judge"])


def _violators(measured: _Measured, op: str, threshold: float) -> list[str]:
    """Tasks whose own value breaks the gate, worst first (or the tasks the metric flags)."""
    if measured.flagged is not None:
        return measured.flagged
    if measured.per_task is None:
        return []
    ids, numbers = measured.per_task.ids, measured.per_task.numbers.astype(float)
    check: Any = OPS[op]  # the operator module's functions compare arrays element by element
    bad = np.logical_not(check(numbers, threshold))
    ids, numbers = ids[bad], numbers[bad]
    order = np.argsort(numbers, kind="stable")  # ids are sorted: ties stay in id order
    if op in ("<=", "<"):  # worst first: the highest values, ties in reverse id order
        order = order[::-1]
    return [str(t) for t in ids[order]]


def _evaluate_metric(gate: MetricGate, data: RunData, variant: str | None) -> GateResult:
    measured = _measure(data, variant or "", gate.metric, gate.view)
    ok = not math.isnan(measured.value) and OPS[gate.op](measured.value, gate.threshold)
    drivers = [] if ok else _violators(measured, gate.op, gate.threshold)
    where = "" if gate.variant or variant is None else f" [{variant}]"
    head = f"{'PASS' if ok else 'FAIL'} {gate.describe()}{where}"
    what = gate.metric
    if gate.metric in RUN_LEVEL and measured.ci is not None:
        what = f"lower 95% bound of judge kappa (κ = {_fmt(measured.ci.estimate)})"
    message = (f"{head}: {what} = {_fmt(measured.value)} ({_fmt_ci(measured.ci)}), "
               f"threshold {gate.op} {gate.threshold:g}" + (f"; {measured.note}" if measured.note else "")
               + _drivers_text(drivers, len(drivers), measured.drivers_reason)
               + _errored_text([t for t in drivers if t in measured.errored], len(drivers)))
    return GateResult(gate=gate.describe(), kind="metric", metric=gate.metric, variant=variant,
                      status="pass" if ok else "fail", value=measured.value, ci=measured.ci, n=measured.n,
                      op=gate.op, threshold=gate.threshold, drivers=drivers[:MAX_DRIVERS],
                      drivers_total=len(drivers), drivers_reason=measured.drivers_reason, message=message)


def _check_variant(data: RunData, variant: str, what: str = "variant") -> None:
    if variant not in data.variants:
        raise GateConfigError(f"unknown {what} '{variant}' (run {data.manifest.run_id} has: "
                              f"{', '.join(data.variants)})")


def _cannot_fail(check: ReleaseCheck, row: ComparisonRow) -> str | None:
    """Why a no-regression gate could never fail on the tasks it compares (a configuration error), or None."""
    if row.result.test != "mcnemar-exact":
        return None  # a paired t-test on 3 or more tasks can reach any p; no task shared fails by itself
    why = check.gate.cannot_fail(row.result.n)
    return None if why is None else f"{check.gate.describe()} [{check.cand.label} vs {check.base.label}] {why}"


def _decide_regression(check: ReleaseCheck, row: ComparisonRow) -> GateResult:
    """PASS/FAIL of one no-regression gate on its family's verdict (the analysis layer's row)."""
    gate, result = check.gate, row.result
    before, after = check.base.values(check.metric), check.cand.values(check.metric)
    variant, base_label = check.cand.label, check.base.label
    common, was, now = before.paired(after, drop_nan=False)
    if not len(common):  # nothing to compare is never a pass
        why = (f"no task of {variant if not after else 'the baseline'} has a value for '{gate.metric}'"
               if not (after and before) else "the two sides share no task with a value")
        message = f"FAIL {gate.describe()} [{variant} vs {base_label}]: nothing to compare: {why}"
        return GateResult(gate=gate.describe(), kind="no_regression", metric=gate.metric, variant=variant,
                          status="fail", baseline=base_label, tolerance=gate.tolerance, message=message)
    lower_better = worse_direction(gate.metric) == "greater"
    harm = result.diff if lower_better else -result.diff
    worse_label = "better" if lower_better else "worse"
    regressed = result.label == worse_label and harm > gate.tolerance
    change = (now.astype(float) - was.astype(float)) * (-1 if lower_better else 1)
    worse = change < 0
    hurt = [str(t) for t in common[worse][np.argsort(change[worse], kind="stable")]]  # most hurt first, then by id
    reason = "tasks that got worse (flipped pass→fail where pass/fail; errors count as failures)"
    drivers = hurt if regressed else []
    verdict = "worse" if result.label == worse_label else "not worse (no detectable regression)"
    adjusted = ("not adjusted: " + result.excluded if result.excluded
                else f"Holm p={_fmt(result.p_adjusted)} in {result.family}")
    p_text = f"{result.test} one-sided p={_fmt(result.p_value)}, {adjusted}"
    message = (f"{'FAIL' if regressed else 'PASS'} {gate.describe()} [{variant} vs {base_label}, "
               f"tolerance {gate.tolerance:g}]: "
               f"{gate.metric} {_fmt(result.candidate_mean)} vs baseline {_fmt(result.baseline_mean)}, "
               f"Δ {result.diff:+.4g} ({_fmt_ci(result.ci)}), {p_text} → {verdict}"
               + _drivers_text(drivers, len(drivers), reason))
    return GateResult(gate=gate.describe(), kind="no_regression", metric=gate.metric, variant=variant,
                      status="fail" if regressed else "pass", value=result.candidate_mean, ci=result.ci,
                      n=result.n, baseline=base_label, baseline_value=result.baseline_mean, comparison=result,
                      tolerance=gate.tolerance, drivers=drivers[:MAX_DRIVERS], drivers_total=len(drivers),
                      drivers_reason=reason, message=message)


def _incomplete(data: RunData, status: RunStatus, max_error_rate: float, allow_partial: bool,
                baselines: Sequence[RunData]) -> tuple[list[str], dict[str, float]]:
    """Why the run cannot be gated as a whole (exit 3): its status, its baselines', its error rate."""
    problems: list[str] = []
    rates: dict[str, float] = {}
    if not status.complete and not (allow_partial and status.word == "partial"):
        hint = " (gate what ran with --allow-partial)" if status.word == "partial" else ""
        problems.append(f"run {data.manifest.run_id} is {status.line()}{hint}")
    for base in baselines:
        base_status = run_status(base)
        if not base_status.complete and not (allow_partial and base_status.word == "partial"):
            problems.append(f"baseline run {base.manifest.run_id} is {base_status.line()}")
    for variant in data.variants:
        errors, attempts = data.task_errors(variant)
        if not attempts:
            problems.append(f"variant {variant} has no results")
            rates[variant] = 1.0
            continue
        rate = errors / attempts
        rates[variant] = rate
        if rate > max_error_rate:
            problems.append(f"variant {variant}: task error rate {rate:.1%} exceeds the allowed {max_error_rate:.1%} "
                            f"({errors} of {attempts} attempts)")
    return [*problems, *_unmeasured(data)], rates


def _against_baselines(checks: Sequence[ReleaseCheck]) -> list[str]:
    """A candidate run that lacks tasks its baseline run has is partial against it: named, exit 3."""
    out = {}
    for check in checks:
        missing = list(check.baseline_check.missing)
        if missing:
            out[check.base.data.manifest.run_id] = (
                f"run {check.cand.data.manifest.run_id} is partial against baseline run "
                f"{check.base.data.manifest.run_id}: {len(missing)} of its tasks are missing ({named_ids(missing)}); "
                "--allow-dataset-change compares the tasks both have")
    return list(out.values())


def _unmeasured(data: RunData) -> list[str]:
    """Attempts that measured nothing about the flow: a run missing recordings, or one where every unit errored.

    A cassette miss is a recording that does not exist, not a failure of the candidate: it makes
    the run incomplete (exit 3, with the command that records it), never a *worse* verdict.
    """
    attempts = data.attempts
    kinds = attempts["error_kind"] if len(attempts) else None
    if kinds is None:
        return []
    problems = []
    misses = int((kinds == "cassette_miss").sum())
    if misses:
        m = data.manifest
        where = f"{m.suite_file or '<suite file>'} --suite {m.suite}"
        problems.append(f"{misses} unit(s) have no recording: `harness run {where} --record-mode once` records them "
                        "(against a model: OPENAI_API_KEY or OPENAI_BASE_URL)")
    if bool(kinds.notna().all()):
        problems.append(f"every one of the run's {len(attempts)} units errored: nothing was measured")
    return problems


def evaluate_gates(run_folder: str | Path | RunData, gates: Sequence[Any] | None = None,
                   baseline: str | Path | None = None,
                   max_error_rate: float | None = None, *, allow_partial: bool = False,
                   allow_dataset_change: bool = False) -> GateReport:
    """Check ``gates`` (default: the ones in ``run.json``) against a run.

    ``baseline`` overrides the baseline run folder of no-regression gates (``--baseline``).
    Exit code precedence: configuration error (2), then run incomplete (3), then a failed gate (1).
    Gates are still evaluated on an incomplete run, so the report shows what can be known.
    ``allow_partial``: a *partial* run (not a damaged, running or failed one) is gated on what
    ran; the report's ``verdict`` then says it was partial. A baseline *run* is checked against
    this one (:func:`harness.analysis.comparison.check_baseline`): tasks changed under the same id
    are a configuration error, baseline tasks this run lacks make it incomplete (exit 3), unless
    ``allow_dataset_change`` compares the unchanged tasks only, and says so in ``problems``.
    """
    try:
        data = run_folder if isinstance(run_folder, RunData) else load_run_data(run_folder)
    except (RunFolderError, OSError) as exc:
        return GateReport(run_id=str(run_folder), status="unreadable", exit_code=ExitCode.CONFIG_ERROR, results=[],
                          problems=[f"cannot read run folder {run_folder}: {exc}"],
                          max_error_rate=DEFAULT_MAX_ERROR_RATE if max_error_rate is None else max_error_rate)
    if max_error_rate is None:
        # The suite's own allowance (recorded in run.json), else the library default.
        declared = data.manifest.max_error_rate
        max_error_rate = DEFAULT_MAX_ERROR_RATE if declared is None else declared
    config: list[str] = []
    try:
        specs = parse_gates(data.manifest.gates if gates is None else gates)
    except ValidationError as exc:
        specs = []
        config.append(f"invalid gate declaration: {exc}")
    results: list[GateResult | ReleaseCheck] = []
    runs = BaselineRuns()
    for spec in specs:
        try:
            if spec.variant is not None:
                _check_variant(data, spec.variant)
            if isinstance(spec, MetricGate):
                run_level = spec.metric in RUN_LEVEL
                for variant in [spec.variant] if spec.variant or run_level else data.variants:
                    results.append(_evaluate_metric(spec, data, variant))
            else:
                results.extend(release_checks(spec, data, baseline, runs, allow_dataset_change=allow_dataset_change))
        except GateConfigError as exc:
            config.append(f"ERROR {spec.describe()}: {exc}")
            results.append(GateResult(gate=spec.describe(), kind=spec.kind, metric=spec.metric,
                                      variant=spec.variant, status="error", message=f"ERROR {spec.describe()}: {exc}"))
    status = run_status(data)
    # on a partial run (a selection), a gate too small to fail on what ran is said, not a configuration
    # error: the suite's own size was checked when it loaded
    unjudged: list[str] = []
    decided = _decide_releases(results, config if status.complete else unjudged)
    incomplete, rates = _incomplete(data, status, max_error_rate, allow_partial, runs.loaded())
    incomplete += _against_baselines([r for r in results if isinstance(r, ReleaseCheck)])
    notes = list(dict.fromkeys(r.baseline_check.note for r in results
                               if isinstance(r, ReleaseCheck) and r.baseline_check.note))
    if config:
        code = ExitCode.CONFIG_ERROR
    elif incomplete:
        code = ExitCode.RUN_INCOMPLETE
    elif any(r.status == "fail" for r in decided):
        code = ExitCode.GATE_FAILED
    else:
        code = ExitCode.OK
    problems = [*config, *(f"INCOMPLETE {p}" for p in incomplete), *notes,
                *(f"NOT JUDGED on this partial run: {line.removeprefix('ERROR ')}" for line in unjudged)]
    partial_allowed = allow_partial and status.word == "partial"
    if partial_allowed:
        problems.append(f"PARTIAL run gated on what ran (--allow-partial): {status.line()}")
    for line in problems:
        log.info("%s", line)
    return GateReport(run_id=data.manifest.run_id, status=status.word, exit_code=code, results=decided,
                      problems=problems, max_error_rate=max_error_rate, error_rates=rates, run_status=status,
                      allowed_partial=partial_allowed)


def _decide_releases(results: Sequence[GateResult | ReleaseCheck], too_small: list[str]) -> list[GateResult]:
    """Decide every no-regression gate on the analysis layer's release verdicts (one family per pair).

    A gate that cannot fail on the tasks compared is an error, reported into ``too_small``.
    """
    rows = release_rows([r for r in results if isinstance(r, ReleaseCheck)])
    decided = []
    for r in results:
        if not isinstance(r, ReleaseCheck):
            decided.append(r)
            continue
        row = rows[(r.base.label, r.cand.label, r.metric)]
        why = _cannot_fail(r, row)
        if why is not None:
            too_small.append(f"ERROR {why}")
            decided.append(GateResult(gate=r.gate.describe(), kind="no_regression", metric=r.gate.metric,
                                      variant=r.cand.label, status="error", baseline=r.base.label,
                                      tolerance=r.gate.tolerance, comparison=row.result, message=f"ERROR {why}"))
        else:
            decided.append(_decide_regression(r, row))
    return decided


def promote_baseline(run_folder: str | Path, dest: str | Path = Path("reports/baseline"), *,
                     allow_incomplete: bool = False) -> Path:
    """``harness baseline update``: make this run the baseline no-regression gates compare with.

    Copies ``run.json`` and ``results.jsonl`` (nothing else: reports are rebuilt from them).
    Each file lands atomically, so a gate reading the baseline never sees a half-written one.
    """
    source = Path(run_folder)
    data = load_run_data(source)
    status = run_status(data)
    if not status.complete and not allow_incomplete:
        raise GateConfigError(f"run {data.manifest.run_id} is {status.line()}; only a complete run "
                              "can become the baseline (allow_incomplete=True to force)")
    target = Path(dest)
    target.mkdir(parents=True, exist_ok=True)
    for name in ("results.jsonl", "run.json"):
        handle, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=target)
        os.close(handle)
        shutil.copyfile(source / name, tmp)
        os.replace(tmp, target / name)
    log.info("baseline %s <- run %s", target, data.manifest.run_id)
    return target
