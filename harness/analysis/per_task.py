"""Per-task means of a run's attempts or scores, grouped on integer codes.

A 1,000,000-row run has 2,000,000 scores; grouping them in pandas by (variant, metric, task id)
strings held 1.8 GB and took half a minute (``bench/analysis_scale.py``). Here every key is an
integer code (variants, metrics and task ids factorised once), one hash factorisation finds the
groups, and ``np.bincount`` sums them: a few arrays of eight bytes a score.

Groups come out in order of first appearance, as ``groupby(sort=False)`` gives them, so every
interval computed from them (a seeded bootstrap resamples in order) is the one pandas gave.
Means skip NaN (an unscored value) as pandas' ``mean`` does; ``attempts`` counts distinct epochs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["Groups", "group_key", "group_means", "PerTask", "TaskValues"]


class TaskValues(Mapping[str, float]):
    """One number per task as two aligned arrays: ``ids`` (task ids, sorted, each once) and ``numbers``.

    What a comparison, a gate's drivers and the flips read. The statistics pair two of them by
    their arrays (:meth:`paired`); as a mapping (task id -> number) it reads like the dict it
    replaced, for the few look-ups a caller makes. A dict of 500,000 task ids held about 50 MB and
    a report kept one per (variant, metric, column): 480 MB of ``harness report``'s peak RSS at
    1M rows (bench/analysis_scale.py); these arrays hold 8 bytes a task and point at the run's one
    copy of each id.
    """

    __slots__ = ("ids", "numbers")

    def __init__(self, ids: np.ndarray, numbers: np.ndarray) -> None:
        self.ids = np.asarray(ids, dtype=object)
        self.numbers = np.asarray(numbers)

    @classmethod
    def from_mapping(cls, values: Mapping[str, float]) -> TaskValues:
        if isinstance(values, TaskValues):
            return values
        ids = sorted(values)
        return cls(np.array(ids, dtype=object), np.array([values[t] for t in ids]))

    @classmethod
    def from_codes(cls, names: np.ndarray, rank: np.ndarray, codes: np.ndarray, numbers: np.ndarray, *,
                   every: np.ndarray | None = None) -> TaskValues:
        """Tasks given as distinct codes into ``names``; ``rank``: each code's place in sorted id order (an
        integer sort, not a string one). ``every``: ``names`` sorted, shared as ``ids`` when the codes name
        every task (no copy per instance; :meth:`paired` then matches two of them by identity)."""
        order = np.argsort(rank[codes], kind="stable")
        if every is not None and len(codes) == len(names):
            return cls(every, numbers[order])
        return cls(names[codes[order]], numbers[order])

    def __getitem__(self, task: str) -> float:
        at = int(np.searchsorted(self.ids, task))
        if at == len(self.ids) or self.ids[at] != task:
            raise KeyError(task)
        return self.numbers[at].item()  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids.tolist())

    def __len__(self) -> int:
        return len(self.ids)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TaskValues):
            return bool(np.array_equal(self.ids, other.ids) and np.array_equal(self.numbers, other.numbers))
        return Mapping.__eq__(self, other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"TaskValues({len(self)} tasks)"

    def only(self, tasks: Iterable[str]) -> TaskValues:
        """The tasks in ``tasks`` alone."""
        keep = pd.Index(self.ids).isin(list(tasks))
        return TaskValues(self.ids[keep], self.numbers[keep])

    def paired(self, other: TaskValues, *, drop_nan: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(task ids both have, in sorted order, this side's numbers, the other's); ``drop_nan``: leave out
        a task without a number on either side."""
        if self.ids is other.ids or np.array_equal(self.ids, other.ids):
            ids, mine, theirs = self.ids, self.numbers, other.numbers
        else:
            where = pd.Index(other.ids).get_indexer(self.ids)  # a hash join: ids are str objects
            both = where >= 0
            ids, mine, theirs = self.ids[both], self.numbers[both], other.numbers[where[both]]
        if drop_nan:
            known = ~(np.isnan(mine.astype(float)) | np.isnan(theirs.astype(float)))
            if not known.all():
                ids, mine, theirs = ids[known], mine[known], theirs[known]
        return ids, mine, theirs


@dataclass(frozen=True)
class PerTask:
    """One (variant, metric)'s per-task means, as aligned arrays: task codes (into the run's task ids),
    mean ``value``, ``passed`` fraction, and distinct epochs (``attempts``; None: one each)."""

    task: np.ndarray
    value: np.ndarray
    passed: np.ndarray
    attempts: np.ndarray | None

    def column(self, name: str) -> np.ndarray:
        if name == "attempts":
            return self.attempts if self.attempts is not None else np.ones(len(self.task), np.int64)
        out: np.ndarray = getattr(self, name)
        return out


@dataclass(frozen=True)
class Groups:
    """One entry per (variant, metric, task) group, in order of first appearance (codes, not names)."""

    variant: np.ndarray
    metric: np.ndarray
    task: np.ndarray
    value: np.ndarray
    passed: np.ndarray
    attempts: np.ndarray

    def pairs(self) -> list[tuple[int, int]]:
        """The (variant, metric) codes present, in order of first appearance."""
        combined = self.variant.astype(np.int64) * (int(self.metric.max()) + 1 if len(self.metric) else 1) + self.metric
        _, first = pd.factorize(combined)
        width = int(self.metric.max()) + 1 if len(self.metric) else 1
        return [(int(c) // width, int(c) % width) for c in np.asarray(first, np.int64)]

    def part(self, variant: int, metric: int) -> np.ndarray:
        """Positions of one (variant, metric)'s tasks, in order."""
        return np.flatnonzero((self.variant == variant) & (self.metric == metric))


def _mean(inverse: np.ndarray, values: np.ndarray, groups: int) -> np.ndarray:
    known = ~np.isnan(values)
    if known.all():  # no masked copies of the 2M-long inputs (the same sums, in the same order)
        sums, counts = np.bincount(inverse, weights=values, minlength=groups), np.bincount(inverse, minlength=groups)
    else:
        sums = np.bincount(inverse[known], weights=values[known], minlength=groups)
        counts = np.bincount(inverse[known], minlength=groups)
    out = np.full(groups, np.nan)
    np.divide(sums, counts, out=out, where=counts > 0)
    return out


def _distinct_epochs(inverse: np.ndarray, epoch: np.ndarray | None, groups: int) -> np.ndarray:
    """How many distinct epochs each group has (``epoch`` None: the run has one, so 1 each)."""
    if epoch is None:
        return np.ones(groups, np.int64)
    epoch_codes, epochs = pd.factorize(epoch)
    width = len(epochs)
    if width <= 1:
        return np.ones(groups, np.int64)
    pair = inverse.astype(np.int64)
    pair *= width
    pair += epoch_codes
    return np.bincount(pd.unique(pair) // width, minlength=groups).astype(np.int64)


def group_key(base: np.ndarray, at: np.ndarray, metric: np.ndarray, tasks: int) -> np.ndarray:
    """The packed (variant, metric, task) key of each value: ``base`` per attempt is
    ``variant * metrics * tasks + task``, ``at`` each value's attempt, ``metric`` its metric code."""
    key: np.ndarray = base[at]
    key += metric * tasks
    return key


def group_means(key: np.ndarray, epoch: np.ndarray | None, value: np.ndarray, passed: np.ndarray,
                sizes: tuple[int, int], keep: np.ndarray | None = None) -> Groups:
    """Mean ``value`` and ``passed`` and distinct epochs per (variant, metric, task), packed in ``key``
    (:func:`group_key`); ``sizes``: how many metric and task codes there are; ``epoch`` None: one epoch.
    ``keep``: the values ``key`` has one entry for, out of longer ``value`` and ``passed`` (masked here,
    once the groups are found).

    The caller packs the key from per-attempt codes and each temporary here is dropped once used:
    the 2M scores of a 1M-row run held 350 MB of gathered and masked copies (tracemalloc), the
    largest share of ``harness gate``'s peak RSS."""
    metrics, tasks = sizes
    # pandas' hash factorize numbers groups in order of first appearance, in one pass
    # (np.unique with return_inverse took 11 s on the 2M scores of a 1M-row run)
    inverse, unique = pd.factorize(key)
    groups = len(unique)
    unique = np.asarray(unique, np.int64)

    def mean(values: np.ndarray) -> np.ndarray:
        return _mean(inverse, np.asarray(values if keep is None else values[keep], float), groups)

    return Groups(variant=unique // (metrics * tasks), metric=(unique // tasks) % metrics, task=unique % tasks,
                  value=mean(value), passed=mean(passed), attempts=_distinct_epochs(inverse, epoch, groups))
