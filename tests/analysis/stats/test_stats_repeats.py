"""pass@k, pass^k and per-task stability across epochs."""

from __future__ import annotations

import math
from itertools import combinations

import pytest

from harness.analysis import stats


def _pass_at_k_by_enumeration(n: int, c: int, k: int) -> float:
    """The definition: over every k-subset of the n attempts, the share containing a pass."""
    attempts = [True] * c + [False] * (n - c)
    subsets = list(combinations(range(n), k))
    return sum(any(attempts[i] for i in s) for s in subsets) / len(subsets)


@pytest.mark.parametrize(("n", "c", "k"), [(10, 3, 1), (10, 3, 5), (5, 0, 2), (5, 5, 3), (7, 2, 6), (6, 1, 1)])
def test_pass_at_k_is_the_unbiased_estimator_of_chen_et_al(n: int, c: int, k: int) -> None:
    assert stats.pass_at_k(n, c, k) == pytest.approx(_pass_at_k_by_enumeration(n, c, k))
    assert stats.pass_at_k(n, c, k) == pytest.approx(1 - math.comb(n - c, k) / math.comb(n, k))


def test_pass_at_k_worked_values() -> None:
    assert stats.pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert stats.pass_at_k(10, 3, 5) == pytest.approx(1 - 21 / 252)  # 0.9167
    assert stats.pass_at_k(200, 1, 100) == pytest.approx(0.5)  # the product form stays finite at large n


def test_pass_hat_k_is_the_chance_all_k_pass() -> None:
    assert stats.pass_hat_k(10, 3, 2) == pytest.approx(3 / 45)
    assert stats.pass_hat_k(4, 4, 4) == 1.0
    assert stats.pass_hat_k(4, 2, 3) == 0.0
    assert stats.pass_hat_k(5, 3, 1) == stats.pass_at_k(5, 3, 1) == pytest.approx(0.6)


def test_pass_at_k_rejects_k_larger_than_the_attempts() -> None:
    with pytest.raises(ValueError):
        stats.pass_at_k(3, 1, 4)
    with pytest.raises(ValueError):
        stats.pass_hat_k(3, 4, 1)


@pytest.mark.parametrize(
    ("passes", "label"),
    [([True, True, True], "stable pass"), ([False, False], "stable fail"), ([True, False, True], "flaky"),
     ([True], "stable pass")],
)
def test_stability_labels(passes: list[bool], label: str) -> None:
    assert stats.stability(passes) == label


def test_stability_needs_an_epoch() -> None:
    with pytest.raises(ValueError):
        stats.stability([])
