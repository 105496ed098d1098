"""Intervals: Wilson against published values, the bootstrap's reproducibility and edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.analysis import stats


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        # Newcombe (1998), "Two-sided confidence intervals for the single proportion: comparison of
        # seven methods", Stat Med 17:857-872, Table II, method 3 (score interval, no continuity correction).
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_interval_matches_newcombe_1998(successes: int, n: int, low: float, high: float) -> None:
    interval = stats.wilson_interval(successes, n)
    assert interval.low == pytest.approx(low, abs=5e-5)
    assert interval.high == pytest.approx(high, abs=5e-5)
    assert interval.estimate == pytest.approx(successes / n)
    assert interval.n == n and interval.method == "wilson"


def test_wilson_interval_never_collapses_at_the_edges() -> None:
    """All-pass on 10 tasks is not certainty: the interval must reach well below 1."""
    interval = stats.wilson_interval(10, 10)
    assert interval.high == 1.0
    assert 0.6 < interval.low < 0.75


def test_wilson_interval_with_no_data_is_unknown() -> None:
    interval = stats.wilson_interval(0, 0)
    assert math.isnan(interval.estimate)
    assert (interval.low, interval.high) == (0.0, 1.0)


def test_wilson_interval_rejects_impossible_counts() -> None:
    with pytest.raises(ValueError):
        stats.wilson_interval(5, 3)


def test_bootstrap_is_reproducible_with_a_fixed_seed() -> None:
    values = np.random.default_rng(1).normal(0.6, 0.2, size=80)
    first = stats.bootstrap_mean_ci(values, seed=7)
    second = stats.bootstrap_mean_ci(values, seed=7)
    assert (first.low, first.high) == (second.low, second.high)
    assert first.low < values.mean() < first.high


def test_bootstrap_interval_is_close_to_the_normal_theory_interval() -> None:
    values = np.random.default_rng(2).normal(0.5, 0.1, size=400)
    interval = stats.bootstrap_mean_ci(values)
    half_width = 1.96 * values.std(ddof=1) / math.sqrt(values.size)
    assert interval.high - interval.low == pytest.approx(2 * half_width, rel=0.15)


def test_bootstrap_covers_the_true_mean_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(3)
    covered = sum(
        stats.bootstrap_mean_ci(rng.beta(2, 3, size=60), seed=s, n_resamples=1000).contains(0.4) for s in range(200)
    )
    assert 0.90 <= covered / 200 <= 0.99


def test_bootstrap_of_a_constant_sample_is_the_point_not_nan() -> None:
    interval = stats.bootstrap_mean_ci([0.7, 0.7, 0.7])
    assert interval.low == interval.estimate == interval.high == pytest.approx(0.7)


def test_bootstrap_ignores_missing_values_and_reports_n() -> None:
    interval = stats.bootstrap_mean_ci([0.2, float("nan"), 0.4, 0.9])
    assert interval.n == 3
    assert interval.estimate == pytest.approx(0.5)


def test_mean_interval_uses_wilson_for_pass_fail_and_bootstrap_otherwise() -> None:
    assert stats.mean_interval([1, 0, 1, 1]).method == "wilson"
    assert stats.mean_interval([1, 0.5, 1, 1]).method.startswith("bootstrap")


def test_quantile_interval_brackets_the_sample_percentile() -> None:
    values = np.random.default_rng(4).exponential(2.0, size=500)
    interval = stats.quantile_ci(values, 95)
    assert interval.estimate == pytest.approx(np.percentile(values, 95))
    assert interval.low < interval.estimate < interval.high


def test_epochs_are_averaged_per_task_so_n_counts_tasks() -> None:
    per_task = stats.aggregate_epochs({"t1": [1, 0, 1], "t2": [0, 0, 0], "t3": [1, 1, 1]})
    assert per_task == pytest.approx({"t1": 2 / 3, "t2": 0.0, "t3": 1.0})
    assert stats.bootstrap_mean_ci(list(per_task.values())).n == 3


def test_describe_reports_mean_median_and_p95() -> None:
    d = stats.describe(range(1, 101))
    assert (d.n, d.mean, d.p50, d.total) == (100, 50.5, 50.5, 5050)
    assert d.p95 == pytest.approx(95.05)


def test_intervals_survive_a_json_round_trip_with_nan() -> None:
    interval = stats.wilson_interval(0, 0)
    again = stats.Interval.model_validate_json(interval.model_dump_json())
    assert math.isnan(again.estimate) and again.high == 1.0
