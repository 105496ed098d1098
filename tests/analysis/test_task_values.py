"""Per-task values as aligned arrays: the statistics read them exactly as they read the dicts they replaced."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.analysis.per_task import TaskValues, group_means
from harness.analysis.stats import paired_compare


def _sides(n: int, binary: bool, seed: int) -> tuple[dict[str, float], dict[str, float]]:
    """Two sides that overlap on most tasks, each with tasks the other lacks and a few NaN values."""
    rng = np.random.default_rng(seed)
    ids = [f"task-{i:05d}" for i in rng.permutation(n + 10)]
    draw = (lambda: float(rng.integers(0, 2))) if binary else (lambda: float(rng.random()))
    base = {t: draw() for t in ids[:n]}
    cand = {t: draw() for t in ids[10:]}
    base[ids[11]], cand[ids[12]] = math.nan, math.nan
    return base, cand


@pytest.mark.parametrize(("n", "binary"), [(20, True), (20, False), (400, True), (400, False), (12_000, False)])
@pytest.mark.parametrize("alternative", ["two-sided", "less"])
def test_paired_compare_of_arrays_is_the_dict_verdict(n: int, binary: bool, alternative: str) -> None:
    base, cand = _sides(n, binary, seed=n)
    from_dicts = paired_compare(base, cand, alternative=alternative)  # type: ignore[arg-type]
    from_arrays = paired_compare(TaskValues.from_mapping(base), TaskValues.from_mapping(cand),
                                 alternative=alternative)  # type: ignore[arg-type]
    assert from_arrays.model_dump() == from_dicts.model_dump()  # every float bit for bit, the bootstrap's too
    assert from_arrays.n == n - 12  # shared tasks less the two NaN ones


def test_reads_as_the_mapping_it_replaced() -> None:
    values = TaskValues.from_mapping({"b": 0.5, "a": 1.0, "c": math.nan})
    assert list(values) == ["a", "b", "c"] and len(values) == 3
    assert values["b"] == 0.5 and math.isnan(values["c"])
    with pytest.raises(KeyError):
        values["zz"]
    assert values.get("zz") is None and "a" in values and "zz" not in values
    known = TaskValues.from_mapping({"b": 0.5, "a": 1.0})
    assert known == {"a": 1.0, "b": 0.5} and known != {"a": 1.0}
    assert known == TaskValues.from_mapping(dict(known.items())) and known != TaskValues.from_mapping({"a": 1.0})


def test_pairing_joins_on_task_ids_not_positions() -> None:
    before = TaskValues.from_mapping({"t1": 1.0, "t2": 0.0, "t3": 1.0})
    after = TaskValues.from_mapping({"t0": 0.0, "t2": 1.0, "t3": math.nan, "t4": 1.0})
    ids, mine, theirs = before.paired(after)
    assert ids.tolist() == ["t2"] and mine.tolist() == [0.0] and theirs.tolist() == [1.0]
    ids, _, theirs = before.paired(after, drop_nan=False)
    assert ids.tolist() == ["t2", "t3"] and math.isnan(theirs[1])
    assert before.only({"t3", "t9"}) == {"t3": 1.0}


def test_from_codes_sorts_by_task_id_whatever_order_the_groups_came_in() -> None:
    names = np.array(["t3", "t1", "t2"], dtype=object)  # codes in order of first appearance
    rank = np.array([2, 0, 1])  # each code's place in sorted id order
    values = TaskValues.from_codes(names, rank, np.array([0, 2, 1]), np.array([0.3, 0.2, 0.1]))
    assert dict(values.items()) == {"t1": 0.1, "t2": 0.2, "t3": 0.3} and list(values) == ["t1", "t2", "t3"]


def test_values_of_every_task_share_one_sorted_id_array() -> None:
    names = np.array(["b", "c", "a"], dtype=object)
    rank = np.array([1, 2, 0])
    every = np.array(["a", "b", "c"], dtype=object)
    whole = TaskValues.from_codes(names, rank, np.array([2, 0, 1]), np.array([0.1, 0.2, 0.3]), every=every)
    assert whole.ids is every and list(whole.items()) == [("a", 0.1), ("b", 0.2), ("c", 0.3)]
    some = TaskValues.from_codes(names, rank, np.array([1, 2]), np.array([0.3, 0.1]), every=every)
    assert some.ids is not every and list(some.items()) == [("a", 0.1), ("c", 0.3)]


def test_group_means_masks_values_as_the_caller_would() -> None:
    key = np.array([3, 1, 3, 2, 1, 3])
    value, passed = np.array([0.5, 1.0, np.nan, 0.0, 0.25, 1.0]), np.array([1.0, 1.0, 0.0, 0.0, 0.0, 1.0])
    keep = np.array([True, False, True, True, True, False])
    masked = group_means(key[keep], None, value[keep], passed[keep], (1, 4))
    kept = group_means(key[keep], None, value, passed, (1, 4), keep=keep)
    for name in ("task", "value", "passed", "attempts"):
        np.testing.assert_array_equal(getattr(kept, name), getattr(masked, name))
