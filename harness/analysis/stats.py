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
* two variants on the same tasks (:func:`paired_compare`): the difference of means with a paired
  bootstrap interval; the p-value comes from McNemar's exact test when every per-task value is
  0 or 1, else from the paired t-test on per-task means;
* many candidates against one baseline: Holm's step-down correction (:func:`holm_adjust`);
* how many tasks a comparison needs: Connor (1987) for paired proportions, the noncentral t
  distribution for paired means (:func:`tasks_needed_paired_proportions`,
  :func:`tasks_needed_paired_means`);
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
from pydantic import BaseModel, BeforeValidator
from scipy import stats as sps

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
    "paired_compare",
    "label_for",
    "holm_adjust",
    "with_holm",
    "tasks_needed_paired_proportions",
    "tasks_needed_paired_means",
    "pass_at_k",
    "pass_hat_k",
    "stability",
]

log = logging.getLogger(__name__)

Label = Literal["better", "worse", "no detectable difference"]
Stability = Literal["stable pass", "stable fail", "flaky"]

#: Above this many values the BCa jackknife (an n x n array) costs more than it is worth.
BCA_MAX_N = 1000
DEFAULT_RESAMPLES = 2000
LARGE_N_RESAMPLES = 1000
DEFAULT_SEED = 20240917

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
    ci = sps.binomtest(int(successes), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return Interval(estimate=successes / n, low=float(ci.low), high=float(ci.high), n=int(n),
                    confidence=confidence, method="wilson")


def _clean(values: Iterable[float]) -> np.ndarray:
    array = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=float)
    return array[~np.isnan(array)]


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
    """Bootstrap interval for a mean (see :func:`bootstrap_ci`)."""
    return bootstrap_ci(values, np.mean, confidence=confidence, seed=seed, n_resamples=n_resamples)


def quantile_ci(values: Iterable[float], q: float, confidence: float = 0.95, seed: int = DEFAULT_SEED) -> Interval:
    """Percentile-bootstrap interval for the ``q``-th percentile (p95 latency and the like)."""

    def statistic(x: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.percentile(x, q, axis=axis)

    return bootstrap_ci(values, statistic, confidence=confidence, seed=seed, method="percentile")


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


def mcnemar_exact(baseline_only: int, candidate_only: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pairs.

    ``baseline_only``: tasks the baseline passed and the candidate failed; ``candidate_only``:
    the reverse. Under no difference each discordant task is a fair coin (binomial, p = 1/2).
    """
    discordant = baseline_only + candidate_only
    if discordant == 0:
        return 1.0
    return float(sps.binomtest(int(candidate_only), int(discordant), 0.5).pvalue)


def label_for(diff: float, p_value: float, alpha: float = 0.05) -> Label:
    """``better``/``worse`` only when the test rejects "no difference" at ``alpha``."""
    if not math.isnan(p_value) and p_value < alpha and diff != 0:
        return "better" if diff > 0 else "worse"
    return "no detectable difference"


class PairedComparison(BaseModel):
    """Candidate minus baseline on the tasks both have a value for."""

    n: int
    baseline_mean: Num
    candidate_mean: Num
    diff: Num
    ci: Interval
    test: Literal["mcnemar-exact", "paired-t", "none"]
    p_value: Num
    p_adjusted: float | None = None
    alpha: Num = 0.05
    label: Label
    #: binary only: tasks passed by the baseline alone / by the candidate alone
    baseline_only: int | None = None
    candidate_only: int | None = None
    effect: Num
    tasks_needed: int | None
    power_method: str

    @property
    def p_for_label(self) -> float:
        return self.p_value if self.p_adjusted is None else self.p_adjusted


def _paired_arrays(baseline: Mapping[str, float], candidate: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray]:
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


def paired_compare(baseline: Mapping[str, float], candidate: Mapping[str, float], *, alpha: float = 0.05,
                   confidence: float = 0.95, effect: float = 0.05, power: float = 0.8,
                   seed: int = DEFAULT_SEED, n_resamples: int = DEFAULT_RESAMPLES) -> PairedComparison:
    """Compare two variants task by task (keys are task ids, values per-task means).

    Only tasks present in both count: a task one variant errored on says nothing about the
    difference. ``effect`` is the difference a reader cares about; ``tasks_needed`` is how many
    tasks a comparison needs to detect it with ``power`` at ``alpha``, given the spread seen here.
    """
    a, b = _paired_arrays(baseline, candidate)
    n = int(a.size)
    if n == 0:
        empty = Interval(estimate=math.nan, low=math.nan, high=math.nan, n=0, method="none")
        return PairedComparison(n=0, baseline_mean=math.nan, candidate_mean=math.nan, diff=math.nan,
                                ci=empty, test="none", p_value=math.nan, alpha=alpha,
                                label="no detectable difference", effect=effect, tasks_needed=None,
                                power_method="none")
    d = b - a
    diff = float(d.mean())
    ci = bootstrap_mean_ci(d, confidence=confidence, seed=seed, n_resamples=n_resamples)
    ci = ci.model_copy(update={"method": f"paired {ci.method}"})
    common: dict[str, Any] = {"n": n, "baseline_mean": float(a.mean()), "candidate_mean": float(b.mean()),
                              "diff": diff, "ci": ci, "alpha": alpha, "effect": effect}
    if _is_binary(a, b):
        baseline_only = int(np.sum((a == 1) & (b == 0)))
        candidate_only = int(np.sum((a == 0) & (b == 1)))
        p = mcnemar_exact(baseline_only, candidate_only)
        discordance = max((baseline_only + candidate_only) / n, abs(effect))
        needed = tasks_needed_paired_proportions(effect, discordance, alpha=alpha, power=power)
        return PairedComparison(**common, test="mcnemar-exact", p_value=p, label=label_for(diff, p, alpha),
                                baseline_only=baseline_only, candidate_only=candidate_only,
                                tasks_needed=needed,
                                power_method=f"Connor (1987) paired proportions, discordance {discordance:.3f}")
    sd = float(d.std(ddof=1)) if n > 1 else math.nan
    if n < 2 or sd == 0.0:
        p = 1.0 if diff == 0.0 or n < 2 else 0.0
    else:
        p = float(sps.ttest_rel(b, a).pvalue)
    needed = tasks_needed_paired_means(effect, sd, alpha=alpha, power=power) if sd and not math.isnan(sd) else None
    return PairedComparison(**common, test="paired-t", p_value=p, label=label_for(diff, p, alpha),
                            tasks_needed=needed,
                            power_method=f"paired t (noncentral t), sd of differences {sd:.3f}")


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm (1979) step-down adjusted p-values, in the input order.

    Controls the family-wise error rate for any dependence between tests, and is uniformly more
    powerful than Bonferroni. NaN p-values (comparisons that could not run) stay NaN and do not
    count towards the family size.
    """
    indexed = [(p, i) for i, p in enumerate(p_values) if not math.isnan(p)]
    m = len(indexed)
    adjusted = [math.nan] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(indexed)):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def with_holm(comparisons: Sequence[PairedComparison]) -> list[PairedComparison]:
    """The comparisons with Holm-adjusted p-values and labels decided on the adjusted value."""
    adjusted = holm_adjust([c.p_value for c in comparisons])
    return [
        c.model_copy(update={"p_adjusted": p, "label": label_for(c.diff, p, c.alpha)})
        for c, p in zip(comparisons, adjusted, strict=True)
    ]


def _z(q: float) -> float:
    return float(sps.norm.ppf(q))


def tasks_needed_paired_proportions(effect: float, discordance: float, alpha: float = 0.05,
                                    power: float = 0.8) -> int:
    """Tasks needed for McNemar's test to detect a pass-rate difference ``effect``.

    Connor (1987), Biometrics 43:207: n = (z_{a/2} sqrt(psi) + z_b sqrt(psi - delta^2))^2 / delta^2,
    where psi is the proportion of discordant tasks (one variant passes, the other fails) and
    delta the difference in pass rates. psi >= |delta| always holds.
    """
    delta = abs(effect)
    if delta <= 0 or delta > 1:
        raise ValueError(f"effect must lie in (0, 1], got {effect}")
    if not delta <= discordance <= 1:
        raise ValueError(f"discordance must lie in [|effect|, 1], got {discordance} for effect {effect}")
    numerator = _z(1 - alpha / 2) * math.sqrt(discordance) + _z(power) * math.sqrt(discordance - delta**2)
    return math.ceil(numerator**2 / delta**2)


def _paired_t_power(n: int, standardized: float, alpha: float) -> float:
    df = n - 1
    t_crit = sps.t.ppf(1 - alpha / 2, df)
    nc = standardized * math.sqrt(n)
    return float(sps.nct.sf(t_crit, df, nc) + sps.nct.cdf(-t_crit, df, nc))


def tasks_needed_paired_means(effect: float, sd_diff: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Tasks needed for the two-sided paired t-test to detect a mean difference ``effect``.

    Exact power from the noncentral t distribution (as G*Power computes it): dz = effect / sd_diff;
    dz = 0.5 at alpha 0.05 and power 0.8 needs 34 tasks.
    """
    if sd_diff <= 0 or math.isnan(sd_diff):
        raise ValueError(f"sd of differences must be positive, got {sd_diff}")
    dz = abs(effect) / sd_diff
    if dz == 0:
        raise ValueError("effect must be non-zero")
    guess = max(2, math.floor(((_z(1 - alpha / 2) + _z(power)) / dz) ** 2))
    n = guess
    while n > 2 and _paired_t_power(n - 1, dz, alpha) >= power:
        n -= 1
    while _paired_t_power(n, dz, alpha) < power:
        n += 1
    return n


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
