"""How many tasks a comparison needs, and the exact power of McNemar's test at a given size.

Split from :mod:`harness.analysis.stats` (which re-exports everything here): planning a
comparison is a concept of its own.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import special

from harness.core.agreement import normal_quantile

__all__ = ["mcnemar_exact_power", "tasks_needed_paired_proportions", "tasks_needed_paired_means"]


@functools.lru_cache(maxsize=8)
def _mcnemar_critical(alpha: float, size: int) -> np.ndarray:
    """For d = 0..size discordant tasks, the largest k with P(X <= k | d, 1/2) <= alpha/2 (-1: none).

    Cached per alpha and grown by doubling: planning calls the power function tens of times, and
    the binomial quantiles are most of its cost (measured: 40x faster power evaluations).
    """
    d = np.arange(0, size + 1)
    tail = alpha / 2
    # bdtrik, the continuous inverse of the binomial cdf, lands on k or one off; each side is then
    # checked against the exact cdf. scipy.special and not scipy.stats.binom: see stats._binomial_tail
    k = np.clip(np.floor(np.nan_to_num(special.bdtrik(tail, d, 0.5), nan=0.0)), -1, d)
    k = np.where((k + 1 <= d) & (special.bdtr(np.maximum(k + 1, 0), d, 0.5) <= tail), k + 1, k)
    critical: np.ndarray = np.where((k >= 0) & (special.bdtr(np.maximum(k, 0), d, 0.5) > tail), k - 1, k)
    return critical


def mcnemar_exact_power(n: int, discordance: float, effect: float, alpha: float = 0.05) -> float:
    """Exact power of the two-sided exact McNemar test on ``n`` tasks.

    Sums over the number of discordant tasks (binomial in ``n`` with ``discordance``) the chance
    that the split of those tasks lands in the test's rejection region at ``alpha``.
    """
    delta = abs(effect)
    if n <= 0 or discordance <= 0:
        return 0.0
    size = 1 << max(6, (n + 1).bit_length())
    d = np.arange(0, n + 1)
    k_low = _mcnemar_critical(float(alpha), size)[: n + 1]
    share = min(1.0, max(0.0, 0.5 * (1 + delta / discordance)))
    # scipy.special's binomial tails: the distribution objects' argument checks cost 5x the maths
    safe = np.maximum(k_low, 0)
    reject = np.where(k_low >= 0, special.bdtr(safe, d, share) + special.bdtrc(d - safe - 1, d, share), 0.0)
    weights = np.exp(special.gammaln(n + 1) - special.gammaln(d + 1) - special.gammaln(n - d + 1)
                     + special.xlogy(d, discordance) + special.xlog1py(n - d, -discordance))
    return float(np.sum(weights * reject))


@functools.lru_cache(maxsize=4096)
def tasks_needed_paired_proportions(effect: float, discordance: float, alpha: float = 0.05,
                                    power: float = 0.8) -> int:
    """Tasks needed for McNemar's exact test to detect a pass-rate difference ``effect``.

    Starts from Connor (1987), Biometrics 43:207: n = (z_{a/2} sqrt(psi) + z_b sqrt(psi - delta^2))^2
    / delta^2, where psi is the proportion of discordant tasks and delta the difference in pass
    rates (psi >= |delta| always holds). Connor's normal approximation over-promises for the exact
    test (0.76-0.79 instead of 0.80), so n is then raised until :func:`mcnemar_exact_power`
    reaches ``power``. Give an upper bound of psi, not the observed share: planning from a lucky
    low discordance under-sizes the next run.
    """
    delta = abs(effect)
    if delta <= 0 or delta > 1:
        raise ValueError(f"effect must lie in (0, 1], got {effect}")
    if not delta <= discordance <= 1:
        raise ValueError(f"discordance must lie in [|effect|, 1], got {discordance} for effect {effect}")
    numerator = normal_quantile(1 - alpha / 2) * math.sqrt(discordance) + normal_quantile(power) * math.sqrt(discordance - delta**2)
    n = max(1, math.ceil(numerator**2 / delta**2))
    limit = 50 * n + 1000
    while mcnemar_exact_power(n, discordance, delta, alpha) < power and n < limit:
        n += 1
    return n


def _paired_t_power(n: int, standardized: float, alpha: float) -> float:
    from scipy import stats as sps  # on first use: see harness.analysis.stats._binomial_tail

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
    guess = max(2, math.floor(((normal_quantile(1 - alpha / 2) + normal_quantile(power)) / dz) ** 2))
    n = guess
    while n > 2 and _paired_t_power(n - 1, dz, alpha) >= power:
        n -= 1
    while _paired_t_power(n, dz, alpha) < power:
        n += 1
    return n
