"""Statistics for eval results: intervals, paired comparisons, power, pass@k, multiple testing.

Everything here works on *tasks*, not rows. With several epochs a task's epochs are averaged
first (:func:`aggregate_epochs`), so ``n`` is the number of tasks: epochs of one task are not
independent draws from the task distribution, and counting them as such would shrink every
interval by a factor of about sqrt(epochs) for no reason.

Procedures and why each was chosen:

* pass rates on binary outcomes: the Wilson score interval (:func:`wilson_interval`), which
  keeps its coverage near 95% at small ``n`` and at rates near 0 or 1, where the textbook
  normal interval collapses to a point;
* means of anything else: a seeded bootstrap (:func:`bootstrap_mean_ci`), BCa while the
  jackknife it needs stays cheap, percentile beyond that;
* two variants on the same tasks (:func:`paired_compare`): when every per-task value is 0 or 1,
  McNemar's exact test with an interval that inverts the same test (:func:`paired_binary_interval`:
  0 lies outside it exactly when the test rejects, and it never collapses to a point when every
  task agrees); otherwise the paired t-test with its own t interval, or a paired bootstrap
  interval once there are :data:`BOOTSTRAP_MIN_N` tasks and it agrees with the test;
* several tests of one question: Holm's step-down correction (:func:`holm_adjust`) over the tests
  that can reach significance at all (Tarone 1990, :func:`adjust_family`);
* how many tasks a comparison needs: Connor (1987) for paired proportions from an *upper*
  confidence bound of the discordance, checked (and raised) until McNemar's exact test reaches
  the power asked for (:func:`mcnemar_exact_power`); the noncentral t distribution for paired
  means, from an upper bound of the spread (:func:`tasks_needed_paired_proportions`,
  :func:`tasks_needed_paired_means`);
* judge agreement: Cohen's kappa (:func:`cohen_kappa`, from :mod:`harness.core.agreement`, the
  harness's one kappa) with an interval that is never a point; NaN, not 1, when chance agreement
  is 1 and kappa is undefined;
* repeated attempts: the unbiased pass@k of Chen et al. (2021) and pass^k = C(c,k)/C(n,k)
  (Yao et al. 2024, tau-bench): the chance that all of k attempts pass.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, BeforeValidator, computed_field
from scipy import special

from harness.analysis.per_task import TaskValues
from harness.analysis.power import (
    mcnemar_exact_power,
    tasks_needed_paired_means,
    tasks_needed_paired_proportions,
)
from harness.core.agreement import Kappa, cohen_kappa, wilson_bounds

__all__ = [
    "Num",
    "Interval",
    "Distribution",
    "PairedComparison",
    "Label",
    "Stability",
    "wilson_interval",
    "bootstrap_ci",
    "bootstrap_mean_ci",
    "quantile_ci",
    "mean_interval",
    "describe",
    "aggregate_epochs",
    "mcnemar_exact",
    "mcnemar_min_p",
    "Alternative",
    "mcnemar_exact_power",
    "clopper_pearson",
    "paired_binary_interval",
    "paired_t_interval",
    "paired_compare",
    "label_for",
    "Kappa",
    "cohen_kappa",
    "tasks_needed_paired_proportions",
    "tasks_needed_paired_means",
    "pass_at_k",
    "pass_hat_k",
    "stability",
]

log = logging.getLogger(__name__)

Label = Literal["better", "worse", "no detectable difference"]
#: Which way a test looks: ``less`` (the candidate is lower) and ``greater`` are one-sided.
Alternative = Literal["two-sided", "less", "greater"]
Stability = Literal["stable pass", "stable fail", "flaky"]

#: Above this many values the BCa jackknife (an n x n array) costs more than it is worth.
BCA_MAX_N = 1000
DEFAULT_RESAMPLES = 2000
LARGE_N_RESAMPLES = 1000
DEFAULT_SEED = 20240917
#: Above this many values a mean's interval is the t interval, and a quantile's the distribution-free
#: order-statistic one, instead of a bootstrap: resampling n values 1,000 times holds 16n KB at once
#: (800 MB for the 50,000 tasks of a 100,000-row run, 55 s of a report on a busy machine, measured
#: with bench/analysis_scale.py), and at this n the bootstrap's percentiles match the t interval.
LARGE_N = 10_000
#: Below this many tasks a continuous paired difference gets the t interval, not the bootstrap:
#: the bootstrap's percentiles are too narrow at small n (coverage under 90% at 10-20 tasks).
BOOTSTRAP_MIN_N = 30
#: One-sided level of the upper bounds "tasks needed" plans from (discordance, spread).
PLANNING_CONFIDENCE = 0.95

#: A float that JSON carries as ``null`` when NaN (pydantic's default) and reads back as NaN.
Num = Annotated[float, BeforeValidator(lambda v: math.nan if v is None else v)]


class Interval(BaseModel):
    """A point estimate with its confidence interval and the ``n`` it rests on."""

    estimate: Num
    low: Num
    high: Num
    n: int
    confidence: Num = 0.95
    method: str

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def __str__(self) -> str:
        return f"{self.estimate:.3g} [{self.low:.3g}, {self.high:.3g}]"


class Distribution(BaseModel):
    """Mean and percentiles of a per-task quantity (cost, tokens, latency)."""

    n: int
    mean: Num
    p50: Num
    p95: Num
    total: Num


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> Interval:
    """Wilson score interval for ``successes`` out of ``n`` (no continuity correction).

    Matches Newcombe (1998), Stat Med 17:857, method 3: 81/263 -> (0.2553, 0.3662).
    With ``n == 0`` nothing is known: the estimate is NaN and the interval is [0, 1].
    """
    if n < 0 or not 0 <= successes <= max(n, 0):
        raise ValueError(f"need 0 <= successes <= n, got {successes}/{n}")
    if n == 0:
        return Interval(estimate=math.nan, low=0.0, high=1.0, n=0, confidence=confidence, method="wilson")
    low, high = wilson_bounds(successes, n, confidence)
    return Interval(estimate=successes / n, low=low, high=high, n=int(n), confidence=confidence, method="wilson")


def _clean(values: Iterable[float]) -> np.ndarray:
    array = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=float)
    kept: np.ndarray = array[~np.isnan(array)]  # numpy's stubs type a boolean-mask index as Any
    return kept


def bootstrap_ci(values: Iterable[float], statistic: Callable[..., Any] = np.mean, *, confidence: float = 0.95,
                 seed: int = DEFAULT_SEED, n_resamples: int = DEFAULT_RESAMPLES,
                 method: Literal["BCa", "percentile"] | None = None) -> Interval:
    """Bootstrap interval for ``statistic`` (vectorised, takes ``axis``); seeded so reports repeat.

    A constant sample (or a single value) has no spread to resample, so its interval is the
    point itself rather than the NaN scipy would give. ``method`` defaults to BCa up to
    :data:`BCA_MAX_N` values (its jackknife is an n x n array) and percentile beyond.
    """
    data = _clean(values)
    n = int(data.size)
    if n == 0:
        return Interval(estimate=math.nan, low=math.nan, high=math.nan, n=0, confidence=confidence,
                        method="bootstrap")
    estimate = float(statistic(data, axis=0))
    if n == 1 or float(np.ptp(data)) == 0.0:
        return Interval(estimate=estimate, low=estimate, high=estimate, n=n, confidence=confidence,
                        method="bootstrap")
    method = method or ("BCa" if n <= BCA_MAX_N else "percentile")
    if n > BCA_MAX_N:
        # with this many values the bootstrap distribution is smooth; fewer resamples keep reports fast
        n_resamples = min(n_resamples, LARGE_N_RESAMPLES)
    from scipy import stats as sps  # on first use: see _binomial_tail

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=sps.DegenerateDataWarning)
        warnings.simplefilter("ignore", category=RuntimeWarning)
        result = sps.bootstrap((data,), statistic, n_resamples=n_resamples, confidence_level=confidence,
                               method=method, vectorized=True, rng=np.random.default_rng(seed))
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    if math.isnan(low) or math.isnan(high):
        log.debug("BCa interval undefined for this sample; using the percentile interval")
        method = "percentile"
        low, high = (float(x) for x in np.percentile(
            result.bootstrap_distribution, [50 * (1 - confidence), 50 * (1 + confidence)]))
    return Interval(estimate=estimate, low=low, high=high, n=n, confidence=confidence,
                    method=f"bootstrap ({method})")


def bootstrap_mean_ci(values: Iterable[float], confidence: float = 0.95, seed: int = DEFAULT_SEED,
                      n_resamples: int = DEFAULT_RESAMPLES) -> Interval:
    """Bootstrap interval for a mean (see :func:`bootstrap_ci`); the t interval above :data:`LARGE_N` values."""
    data = _clean(values)
    if data.size > LARGE_N and float(np.ptp(data)) > 0.0:
        return paired_t_interval(data, confidence).model_copy(update={"method": f"t (n > {LARGE_N:,})"})
    return bootstrap_ci(data, np.mean, confidence=confidence, seed=seed, n_resamples=n_resamples)


def quantile_ci(values: Iterable[float], q: float, confidence: float = 0.95, seed: int = DEFAULT_SEED) -> Interval:
    """Percentile-bootstrap interval for the ``q``-th percentile (p95 latency and the like); above
    :data:`LARGE_N` values the distribution-free interval between two order statistics (binomial ranks)."""
    data = _clean(values)
    if data.size > LARGE_N:
        from scipy import stats as sps  # on first use: see _binomial_tail

        n, ordered = int(data.size), np.sort(data)
        tail = (1 - confidence) / 2
        low = max(int(sps.binom.ppf(tail, n, q / 100)) - 1, 0)
        high = min(int(sps.binom.ppf(1 - tail, n, q / 100)), n - 1)
        return Interval(estimate=float(np.percentile(ordered, q)), low=float(ordered[low]), high=float(ordered[high]),
                        n=n, confidence=confidence, method=f"order statistics (n > {LARGE_N:,})")

    def statistic(x: np.ndarray, axis: int = -1) -> np.ndarray:
        percentiles: np.ndarray = np.percentile(x, q, axis=axis)  # an array along ``axis``; stubs say Any
        return percentiles

    return bootstrap_ci(data, statistic, confidence=confidence, seed=seed, method="percentile")


def mean_interval(values: Iterable[float], confidence: float = 0.95, seed: int = DEFAULT_SEED) -> Interval:
    """The right interval for a mean of per-task values: Wilson when they are all 0/1, else bootstrap."""
    data = _clean(values)
    if data.size and np.all((data == 0.0) | (data == 1.0)):
        return wilson_interval(int(data.sum()), int(data.size), confidence)
    return bootstrap_mean_ci(data, confidence=confidence, seed=seed)


def describe(values: Iterable[float]) -> Distribution:
    """Mean, median and 95th percentile: the p95 is what a user waiting on the agent feels."""
    data = _clean(values)
    if data.size == 0:
        return Distribution(n=0, mean=math.nan, p50=math.nan, p95=math.nan, total=0.0)
    p50, p95 = np.percentile(data, [50, 95])
    return Distribution(n=int(data.size), mean=float(data.mean()), p50=float(p50), p95=float(p95),
                        total=float(data.sum()))


def aggregate_epochs(values: Mapping[str, Sequence[float]]) -> dict[str, float]:
    """Average each task's epochs so the task, not the attempt, is the unit of analysis."""
    out: dict[str, float] = {}
    for task, per_epoch in values.items():
        data = _clean(per_epoch)
        if data.size:
            out[task] = float(data.mean())
    return out


def mcnemar_exact(baseline_only: int, candidate_only: int, alternative: Alternative = "two-sided") -> float:
    """Exact McNemar p-value from the discordant pairs.

    ``baseline_only``: tasks the baseline passed and the candidate failed; ``candidate_only``:
    the reverse. Under no difference each discordant task is a fair coin (binomial, p = 1/2).
    ``alternative``: ``less`` asks only "is the candidate worse?" (a no-regression gate).
    """
    discordant = int(baseline_only + candidate_only)
    if discordant == 0:
        return 1.0
    k = int(candidate_only)
    if alternative == "less":
        return _binomial_tail(k, discordant)
    if alternative == "greater":
        return _binomial_tail(discordant - k, discordant)
    # two-sided: the fair coin is symmetric, so the outcomes as unlikely as k are the two tails
    # beyond min(k, d - k), each as likely as the other (binomtest's rule, which sums them)
    return 1.0 if 2 * k == discordant else min(1.0, 2.0 * _binomial_tail(min(k, discordant - k), discordant))


def _binomial_tail(k: int, n: int) -> float:
    """P(X <= k) for X ~ Binomial(n, 1/2).

    From scipy.special rather than ``scipy.stats.binomtest``: importing scipy.stats costs 0.8-1.0 s
    (it parses the docstrings of hundreds of functions), most of a fresh ``harness gate``'s own
    time, and a gate on pass rates needs only this tail and the beta quantile below (``python -X
    importtime -c 'import harness.gate'``: 2.3 s under load with scipy.stats, see docs/performance.md).
    tests/analysis/test_stats_scipy.py holds both to scipy.stats's values over a grid.
    """
    return float(special.bdtr(k, n, 0.5))


def mcnemar_min_p(discordant: int, alternative: Alternative = "two-sided") -> float:
    """The smallest p-value McNemar's exact test can give with ``discordant`` discordant tasks.

    ``2 * 0.5**d`` two-sided, ``0.5**d`` one-sided (every discordant task on one side), 1 with
    none: Tarone's rule leaves a test whose smallest possible p exceeds its share of alpha out
    of the family (:func:`adjust_family`).
    """
    sides = 2.0 if alternative == "two-sided" else 1.0
    return 1.0 if discordant <= 0 else min(1.0, sides * 0.5**discordant)


def clopper_pearson(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper-Pearson) interval for a binomial proportion; [0, 1] when ``n == 0``."""
    if n <= 0:
        return 0.0, 1.0
    tail = (1 - confidence) / 2
    # the beta quantiles directly: what binomtest().proportion_ci(method="exact") returns, 50x faster;
    # betaincinv is scipy.stats.beta.ppf's own function, without importing scipy.stats (_binomial_tail)
    low = 0.0 if successes <= 0 else float(special.betaincinv(successes, n - successes + 1, tail))
    high = 1.0 if successes >= n else float(special.betaincinv(successes + 1, n - successes, 1 - tail))
    return low, high


def paired_binary_interval(baseline_only: int, candidate_only: int, n: int, confidence: float = 0.95) -> Interval:
    """Interval for the difference in pass rates of two variants on the same ``n`` tasks.

    The difference is ``psi * (2 * pi - 1)``: ``psi`` the share of discordant tasks, ``pi`` the
    share of those the candidate won. ``pi`` gets the exact Clopper-Pearson interval at
    ``confidence``, which excludes 1/2 exactly when McNemar's exact test rejects at
    ``1 - confidence`` (both invert the same binomial test; the null is symmetric), so the interval
    excludes 0 exactly when the test says better/worse. ``psi`` gets its own Clopper-Pearson
    interval at the same level, which keeps the interval honest when few or no tasks disagree:
    with every one of 16 tasks agreeing it is about ±0.21, not the point 0.
    Simulated coverage (``bench/verdicts.py``) is at least 0.95 at 16-100 tasks.
    """
    if n <= 0:
        return Interval(estimate=math.nan, low=math.nan, high=math.nan, n=0, confidence=confidence, method="none")
    discordant = baseline_only + candidate_only
    estimate = (candidate_only - baseline_only) / n
    psi_low, psi_high = clopper_pearson(discordant, n, confidence)
    pi_low, pi_high = clopper_pearson(candidate_only, discordant, confidence)
    lows = (psi_low * (2 * pi_low - 1), psi_high * (2 * pi_low - 1))
    highs = (psi_low * (2 * pi_high - 1), psi_high * (2 * pi_high - 1))
    return Interval(estimate=estimate, low=float(min(lows)), high=float(max(highs)), n=n, confidence=confidence,
                    method="exact conditional (Clopper-Pearson for the discordant split and the discordance)")


def paired_t_interval(differences: np.ndarray, confidence: float = 0.95) -> Interval:
    """The t interval for a mean paired difference: the one the paired t-test inverts."""
    n = int(differences.size)
    mean = float(differences.mean()) if n else math.nan
    if n < 2:
        return Interval(estimate=mean, low=-math.inf if n else math.nan, high=math.inf if n else math.nan, n=n,
                        confidence=confidence, method="paired t")
    from scipy import stats as sps  # on first use: see _binomial_tail

    half = float(sps.t.ppf(0.5 + confidence / 2, n - 1) * differences.std(ddof=1) / math.sqrt(n))
    return Interval(estimate=mean, low=mean - half, high=mean + half, n=n, confidence=confidence, method="paired t")


def label_for(diff: float, p_value: float, alpha: float = 0.05) -> Label:
    """``better``/``worse`` only when the test rejects "no difference" at ``alpha``."""
    if not math.isnan(p_value) and p_value < alpha and diff != 0:
        return "better" if diff > 0 else "worse"
    return "no detectable difference"


class PairedComparison(BaseModel):
    """Candidate minus baseline over the tasks both were run on (errors count as failures)."""

    n: int
    baseline_mean: Num
    candidate_mean: Num
    diff: Num
    ci: Interval
    test: Literal["mcnemar-exact", "paired-t", "sign-flip-exact", "none"]
    #: ``two-sided`` (is there a difference?) or one-sided: ``less``/``greater`` ask only whether
    #: the candidate is lower/higher (a no-regression gate asks "worse?"). A one-sided test's
    #: ``ci`` is the two-sided interval at ``1 - 2 * alpha``: its harmful bound is the one-sided bound.
    alternative: Alternative = "two-sided"
    p_value: Num
    #: p adjusted within its family; None for a test left out of the family (see ``excluded``)
    p_adjusted: float | None = None
    alpha: Num = 0.05
    label: Label
    #: binary only: tasks passed by the baseline alone / by the candidate alone
    baseline_only: int | None = None
    candidate_only: int | None = None
    #: the smallest p-value this test could give with these tasks (Tarone's rule)
    min_p: Num = 0.0
    #: the family this test's p was adjusted in, e.g. "triage@v2 vs triage@v1: 3 metrics"
    family: str | None = None
    #: why the test is not in its family (it cannot reach significance, or repeats another test)
    excluded: str | None = None
    #: one-sided tests only: the two-sided p, adjusted in the same family, on which an
    #: *improvement* is labelled (a "worse?" test cannot confirm one); None for two-sided tests
    p_two_sided_adjusted: float | None = None
    effect: Num
    tasks_needed: int | None
    power_method: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def p_for_label(self) -> float | None:
        """The p ``label`` was decided on: the family-adjusted p, or for a one-sided test's
        improvement the two-sided adjusted p (``p_two_sided_adjusted``); None when left out."""
        improved = (self.alternative == "less" and self.label == "better") or (
            self.alternative == "greater" and self.label == "worse")
        return self.p_two_sided_adjusted if improved else self.p_adjusted


def _paired_arrays(baseline: Mapping[str, float], candidate: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """The values of the tasks both sides have a number for, in task id order."""
    if isinstance(baseline, TaskValues) and isinstance(candidate, TaskValues):
        _, a, b = baseline.paired(candidate)
        return a.astype(float), b.astype(float)
    tasks = sorted(
        t for t in set(baseline) & set(candidate)
        if not (_isnan(baseline[t]) or _isnan(candidate[t]))
    )
    a = np.array([float(baseline[t]) for t in tasks], dtype=float)
    b = np.array([float(candidate[t]) for t in tasks], dtype=float)
    return a, b


def _isnan(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _is_binary(*arrays: np.ndarray) -> bool:
    return all(bool(np.all((x == 0.0) | (x == 1.0))) for x in arrays)


def _constant_interval(shift: float, n: int, confidence: float) -> Interval:
    """Every task moved by the same ``shift`` (0 included): no spread to scale a t interval by.

    Unseen tasks could still move differently. Bound the share of tasks that could (Clopper-Pearson
    with none seen, as for pass/fail), each by as much as a score in [0, 1] allows: never a point.
    """
    share = clopper_pearson(0, n, confidence)[1]
    low, high = max(-1.0, shift - share * (1 + shift)), min(1.0, shift + share * (1 - shift))
    return Interval(estimate=shift, low=low, high=high, n=n, confidence=confidence,
                    method="every task moved alike: Clopper-Pearson bound on the share that could move otherwise")


def _sign_flip_p(d: np.ndarray, alternative: Alternative) -> float:
    """Exact sign-flip p of identical paired differences (the t-test is undefined without spread)."""
    n, shift = int(d.size), float(d.mean())
    if shift == 0.0 or n == 0:
        return 1.0
    one_side = 0.5**n
    if alternative == "two-sided":
        return min(1.0, 2 * one_side)
    return one_side if (shift < 0) == (alternative == "less") else 1.0


def _continuous_interval(d: np.ndarray, p: float, alpha: float, confidence: float, seed: int,
                         n_resamples: int) -> Interval:
    """The t interval, or the bootstrap's once there are enough tasks and it agrees with the t-test."""
    if d.size and float(np.ptp(d)) == 0.0:
        return _constant_interval(float(d[0]), int(d.size), confidence)
    t_interval = paired_t_interval(d, confidence)
    if d.size < BOOTSTRAP_MIN_N:
        return t_interval
    boot = bootstrap_mean_ci(d, confidence=confidence, seed=seed, n_resamples=n_resamples)
    if (boot.low > 0 or boot.high < 0) != (p < alpha):
        log.debug("bootstrap interval disagrees with the paired t-test; using the t interval")
        return t_interval
    return boot.model_copy(update={"method": f"paired {boot.method}"})


def paired_compare(baseline: Mapping[str, float], candidate: Mapping[str, float], *, alpha: float = 0.05,
                   confidence: float | None = None, effect: float = 0.05, power: float = 0.8,
                   seed: int = DEFAULT_SEED, n_resamples: int = DEFAULT_RESAMPLES,
                   alternative: Alternative = "two-sided") -> PairedComparison:
    """Compare two variants task by task (keys are task ids, values per-task means).

    Tasks present in both count. Callers decide what a task error is worth before calling: the
    analysis layer scores an errored attempt as a failure (intent to treat), so a variant that
    crashes cannot shed the tasks it would have failed. ``effect`` is the difference a reader
    cares about; ``tasks_needed`` is how many tasks a comparison needs to detect it with ``power``
    at ``alpha``, planned from upper confidence bounds of what was seen here. The interval's
    ``confidence`` defaults to ``1 - alpha`` (``1 - 2 * alpha`` one-sided): the level at which
    it agrees with the test. ``alternative``: ``less`` asks only "is the candidate lower?".
    When every task moved by the same amount the t-test is undefined; the exact sign-flip test
    replaces it (2 tasks moved alike: p = 0.5 two-sided, never 0).
    """
    sides = 1 if alternative == "two-sided" else 2
    confidence = 1 - sides * alpha if confidence is None else confidence
    a, b = _paired_arrays(baseline, candidate)
    n = int(a.size)
    if n == 0:
        empty = Interval(estimate=math.nan, low=math.nan, high=math.nan, n=0, method="none")
        return PairedComparison(n=0, baseline_mean=math.nan, candidate_mean=math.nan, diff=math.nan,
                                ci=empty, test="none", p_value=math.nan, alpha=alpha, min_p=1.0,
                                label="no detectable difference", effect=effect, tasks_needed=None,
                                power_method="none")
    d = b - a
    diff = float(d.mean())
    common: dict[str, Any] = {"n": n, "baseline_mean": float(a.mean()), "candidate_mean": float(b.mean()),
                              "diff": diff, "alpha": alpha, "effect": effect, "alternative": alternative}
    if _is_binary(a, b):
        baseline_only = int(np.sum((a == 1) & (b == 0)))
        candidate_only = int(np.sum((a == 0) & (b == 1)))
        discordant = baseline_only + candidate_only
        p = mcnemar_exact(baseline_only, candidate_only, alternative)
        ci = paired_binary_interval(baseline_only, candidate_only, n, confidence)
        upper = _upper_bound_proportion(discordant, n)
        needed: int | None = tasks_needed_paired_proportions(effect, max(upper, abs(effect)), alpha=alpha,
                                                             power=power)
        return PairedComparison(**common, ci=ci, test="mcnemar-exact", p_value=p, label=label_for(diff, p, alpha),
                                baseline_only=baseline_only, candidate_only=candidate_only,
                                min_p=mcnemar_min_p(discordant, alternative), tasks_needed=needed,
                                power_method=(f"Connor (1987) at the {PLANNING_CONFIDENCE:.0%} upper bound of the "
                                              f"discordance ({discordant}/{n} seen → {max(upper, abs(effect)):.3f}), "
                                              "raised until McNemar's exact test has the power"))
    from scipy import stats as sps  # on first use: see _binomial_tail

    sd = float(d.std(ddof=1)) if n > 1 else math.nan
    constant = float(np.ptp(d)) == 0.0
    if constant:
        p = _sign_flip_p(d, alternative)
    elif n < 2:
        p = 1.0
    else:
        p = float(sps.ttest_rel(b, a, alternative=alternative).pvalue)
    ci = _continuous_interval(d, p, alpha, confidence, seed, n_resamples)
    sd_upper = sd * math.sqrt((n - 1) / float(sps.chi2.ppf(1 - PLANNING_CONFIDENCE, n - 1))) if n > 1 else math.nan
    needed = (tasks_needed_paired_means(effect, sd_upper, alpha=alpha, power=power)
              if sd_upper and not math.isnan(sd_upper) else None)
    return PairedComparison(**common, ci=ci, test="sign-flip-exact" if constant else "paired-t", p_value=p,
                            label=label_for(diff, p, alpha),
                            min_p=min(1.0, 2.0 / sides * 0.5**n) if constant else (0.0 if n > 2 else 1.0),
                            tasks_needed=needed,
                            power_method=(f"paired t (noncentral t) at the {PLANNING_CONFIDENCE:.0%} upper bound "
                                          f"of the sd of differences ({sd:.3f} seen → {sd_upper:.3f})"))


def _upper_bound_proportion(successes: int, n: int) -> float:
    """One-sided upper confidence bound (Clopper-Pearson) at :data:`PLANNING_CONFIDENCE`."""
    return clopper_pearson(successes, n, 2 * PLANNING_CONFIDENCE - 1)[1]


def _check_nck(n: int, c: int, k: int) -> None:
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got c={c}, n={n}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got k={k}, n={n}")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021): 1 - C(n-c, k) / C(n, k).

    The chance that at least one of k attempts drawn without replacement from the n made passes.
    Computed as the product form from the paper, which does not overflow.
    """
    _check_nck(n, c, k)
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def pass_hat_k(n: int, c: int, k: int) -> float:
    """pass^k = C(c, k) / C(n, k): the chance that all of k attempts pass (consistency, not luck)."""
    _check_nck(n, c, k)
    if c < k:
        return 0.0
    return math.comb(c, k) / math.comb(n, k)


def stability(passes: Sequence[bool]) -> Stability:
    """Per task across epochs: passed every time, failed every time, or neither."""
    if not passes:
        raise ValueError("stability needs at least one epoch")
    if all(passes):
        return "stable pass"
    if not any(passes):
        return "stable fail"
    return "flaky"
