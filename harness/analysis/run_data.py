"""A run folder read once into the tables reports and gates are computed from.

``results.jsonl`` is parsed a single time into :class:`RunData`: the rows themselves (the HTML
drill-down needs trajectories), the per-grader frame :func:`harness.core.results.load_run` returns,
and a per-attempt frame (one row per task, variant, epoch) with the status every view shares:

* ``error``: the task raised, or a grader raised and none that ran said fail;
* ``fail``: at least one grader that ran said fail;
* ``pass``: every grader ran and passed.

Errors count as failures (intent to treat). Verdicts rest on every attempt that was run: an
attempt whose task raised scores 0 and fails on every metric, and a grader that raised scores 0
and fails on its own metric and makes the attempt not passed. A variant that crashes on the tasks
it would fail therefore loses them, instead of shedding them from the comparison. The
``completed`` view (``view="completed"``) is the secondary one: only what finished without error,
as a labelled second opinion, never what a gate or a verdict reads.

Per-task values average a task's epochs first, so statistics count tasks, not attempts.

The rows are read as columns (:mod:`harness.core.columns`, through the sidecar of
:mod:`harness.core.sidecar`): the fields analysis needs, never the trajectories, and every
aggregate is a vectorised group-by. Whole rows are read again only for the few a page shows
(:meth:`RunData.rows_at`); :attr:`RunData.rows` (every row, parsed in full) is left to callers
that really want them all, and no surface uses it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, Field

from harness.analysis import stats
from harness.analysis.attempt import attempt_arrays, row_status
from harness.analysis.export import EXPORT_SCHEMA, export_table, table_frame
from harness.analysis.per_task import Groups, PerTask, TaskValues, group_key, group_means
from harness.core.columns import score_arrays
from harness.core.gate_spec import ALIASES, PASS_RATE, SUCCESS_RATE, TASK_RATES, View
from harness.core.results import (
    DamagedLine,
    ErrorInfo,
    ResultRow,
    RunFolder,
    RunManifest,
    ScoreRecord,
    read_rows,
)
from harness.core.sidecar import read_columns

__all__ = [
    "ALIASES",
    "PASS_RATE",
    "SUCCESS_RATE",
    "ERRORS_COUNTED",
    "View",
    "TASK_RATES",
    "RunData",
    "JudgeCalibration",
    "load_run_data",
    "error_rows",
    "export_table",
    "EXPORT_SCHEMA",
    "row_status",
    "judge_calibrations",
]

log = logging.getLogger(__name__)

#: The one sentence every surface says about errors.
ERRORS_COUNTED = ("Errors count as failures: a task error scores 0 and fails every metric of that attempt, a "
                  "grader error scores 0 and fails that grader's metric and pass_rate; \"completed only\" "
                  "figures leave errored attempts out and are shown for reference, never used for verdicts.")
ATTEMPT_COLUMNS = [
    "variant", "task_id", "epoch", "status", "passed", "completed_passed", "error_kind", "grader_errors", "n_scores",
    "latency_s", "cost_usd", "unpriced_calls", "tokens", "model_calls",
]
#: The columns analysis reads from the sidecar (Parquet reads nested score fields one by one).
ANALYSIS_COLUMNS = [
    "offset", "length", "variant", "task_id", "epoch", "error_kind", "error_type", "error", "model_calls",
    "input_tokens", "output_tokens", "cost_usd", "unpriced_calls", "latency_s",
    *(f"scores.{name}" for name in ("name", "value", "passed", "error_kind", "error_type", "error")),
]

#: Columns only :attr:`RunData.attempts` reads: dropped from :attr:`RunData.table` once it has.
_FRAME_ONLY = ["model_calls", "input_tokens", "output_tokens", "cost_usd", "unpriced_calls", "latency_s"]


class JudgeCalibration(BaseModel):
    """How far an LLM judge agrees with human labels, as a calibration step recorded it.

    Read from ``run.json`` ``totals["judge_calibration"]`` (one mapping or a list of them), e.g.
    ``{"grader": "helpfulness", "labels": ["fail", "pass"], "confusion": [[40, 5], [3, 52]]}``
    where ``confusion[i][j]`` counts items humans labelled ``labels[i]`` and the judge
    ``labels[j]``. Missing ``kappa``/``agreement``/``n`` are computed from the confusion matrix.
    :func:`harness.engine.calibration.save_calibration` writes this form; other keys are ignored.
    """

    grader: str | None = None
    judge: str | None = None
    kappa: float | None = None
    #: The 95% interval of ``kappa``, computed from ``confusion`` when there is one
    #: (:func:`harness.core.agreement.cohen_kappa`: never a point).
    kappa_low: float | None = None
    kappa_high: float | None = None
    agreement: float | None = None
    n: int | None = None
    labels: list[str] = Field(default_factory=list)
    confusion: list[list[int]] | None = None
    self_consistency: float | None = None
    #: why kappa is NaN (undefined), in plain words
    kappa_note: str | None = None

    def completed(self) -> JudgeCalibration:
        """Kappa (with its 95% interval), agreement and n filled in from the confusion matrix."""
        if self.confusion is None:
            return self
        measured = stats.cohen_kappa(self.confusion)
        if measured.n == 0:
            return self
        # the one kappa (harness.core.agreement) from the matrix, whatever an older run recorded beside it
        return self.model_copy(update={
            "kappa": measured.kappa, "kappa_low": measured.low, "kappa_high": measured.high,
            "kappa_note": measured.reason,
            "agreement": self.agreement if self.agreement is not None else measured.agreement,
            "n": self.n if self.n is not None else measured.n,
            "labels": self.labels or [str(i) for i in range(len(self.confusion))],
        })


def judge_calibrations(manifest: RunManifest) -> list[JudgeCalibration]:
    """The hook for judge calibration numbers: whatever ``totals["judge_calibration"]`` holds."""
    raw = manifest.totals.get("judge_calibration")
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else [raw]
    return [JudgeCalibration.model_validate(item).completed() for item in items if isinstance(item, dict)]


@dataclass
class RunData:
    """One run folder, read once as columns, with the per-task views everything else reads."""

    path: Path
    manifest: RunManifest
    #: one row per attempt: :data:`ANALYSIS_COLUMNS` of :data:`harness.core.columns.ROW_SCHEMA` (less the
    #: usage and latency columns once :attr:`attempts` holds them)
    table: pa.Table
    label: str = ""
    #: ``results.jsonl`` lines that could not be read (torn or invalid): the run is damaged
    damage: list[DamagedLine] = field(default_factory=list)
    #: how the columnar sidecar served the read (hit, grown, built, off)
    cache: str = "off"
    _task_cache: dict[tuple[str, str, str, str], TaskValues] = field(default_factory=dict, repr=False)
    #: view -> (variant, metric) -> its per-task means, as arrays (:meth:`per_task` frames them on demand)
    _views: dict[View, dict[tuple[str, str], PerTask]] = field(default_factory=dict, repr=False)

    @property
    def row_count(self) -> int:
        """Rows read from ``results.jsonl`` (damaged lines not counted)."""
        return int(self.table.num_rows)

    @cached_property
    def rows(self) -> list[ResultRow]:
        """Every row parsed in full, trajectories included: memory grows with the run, and no surface
        uses it (they read columns, and :meth:`rows_at` for the rows a page shows)."""
        return list(read_rows(self.path / "results.jsonl", damage=[])) if self.row_count else []

    def rows_at(self, indices: Sequence[int]) -> list[ResultRow]:
        """The rows at these positions (attempt order), each read from its own bytes of ``results.jsonl``."""
        if "rows" in self.__dict__:  # already parsed in full: the same objects
            return [self.rows[i] for i in indices]
        offsets = self.table.column("offset").to_numpy()
        lengths = self.table.column("length").to_numpy()
        out = []
        with (self.path / "results.jsonl").open("rb") as handle:
            for i in indices:
                handle.seek(int(offsets[i]))
                out.append(ResultRow.model_validate_json(handle.read(int(lengths[i]))))
        return out

    def forget_derived(self) -> None:
        """Drop the per-task views and per-score arrays computed so far; any later call computes them again.

        For a caller that has what it needs from them (the report, once its summary is made): at 1M rows
        they hold 290 MB that the report's CSV/Parquet export and HTML would otherwise stack on
        (bench/analysis_scale.py)."""
        self._task_cache.clear()
        self._views.clear()
        for name in ("_score_codes", "_metric_codes", "_flat"):
            self.__dict__.pop(name, None)

    @cached_property
    def scores(self) -> pd.DataFrame:
        """One row per (task, variant, epoch, grader): exactly ``load_run``'s frame (reads every text column)."""
        full = read_columns(self.path, cache=self.cache != "off").table
        return table_frame(full)

    @cached_property
    def _flat(self) -> tuple[np.ndarray, pa.StructArray]:
        scores = self.table.column("scores")
        if scores.num_chunks > 1:  # the table keeps the one copy the flat scores point into: a chunked
            # column beside its combined copy held 68 MB more at 1M rows (pa.total_allocated_bytes)
            self.table = self.table.set_column(self.table.schema.get_field_index("scores"), "scores",
                                               pa.chunked_array([scores.combine_chunks()]))
        return score_arrays(self.table)

    @cached_property
    def attempts(self) -> pd.DataFrame:
        """One row per (task, variant, epoch) with its pass/fail/error status."""
        flat = self._flat  # first: it may replace the table's scores column
        t = self.table
        derived = attempt_arrays(t, flat)
        numbers = {name: t.column(name).to_numpy() for name in
                   ("epoch", "latency_s", "cost_usd", "unpriced_calls", "model_calls")}
        (variants, variant_names), (tasks, task_names) = self._dictionaries
        frame = pd.DataFrame({
            "variant": variant_names[variants], "task_id": task_names[tasks],
            "epoch": numbers["epoch"], "status": derived["status"], "passed": derived["passed"],
            "completed_passed": derived["completed_passed"], "error_kind": _strings(t.column("error_kind")),
            "grader_errors": derived["grader_errors"], "n_scores": derived["n_scores"],
            "latency_s": numbers["latency_s"], "cost_usd": numbers["cost_usd"],
            "unpriced_calls": numbers["unpriced_calls"],
            "tokens": t.column("input_tokens").to_numpy() + t.column("output_tokens").to_numpy(),
            "model_calls": numbers["model_calls"]}, columns=ATTEMPT_COLUMNS,
            # the arrays above are made for this frame alone: pandas' default copy of a dict's arrays
            # doubled them while it ran (130 MB at 1M rows, tracemalloc)
            copy=False)
        # the frame holds these now; the table keeps what error rows and page reads use (48 MB at 1M rows)
        self.table = t.drop_columns(_FRAME_ONLY)
        return frame

    @cached_property
    def _codes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per attempt: variant code, task code (both in order of first appearance), and the task ids."""
        (variants, variant_names), (tasks, task_names) = self._dictionaries
        return variants, tasks, variant_names, task_names

    @cached_property
    def _dictionaries(self) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """(codes, names) of the variant and task id columns, from Arrow's dictionary encoding."""
        return _dictionary(self.table.column("variant")), _dictionary(self.table.column("task_id"))

    @cached_property
    def _score_codes(self) -> dict[str, np.ndarray]:
        """Per score: its attempt, metric code (:attr:`score_names` order), value and passed as floats,
        whether the grader raised, and whether it errored (the grader or the attempt's task)."""
        parents, flat = self._flat
        names, _ = self._metric_codes
        passed = pc.cast(flat.field("passed"), pa.float64()).to_numpy(zero_copy_only=False)
        value = pc.cast(flat.field("value"), pa.float64()).to_numpy(zero_copy_only=False)
        grader_error = pc.is_valid(flat.field("error")).to_numpy(zero_copy_only=False).astype(bool)
        task_error = self.attempts["error_kind"].notna().to_numpy()[parents]
        return {"parent": parents, "metric": names, "value": np.where(np.isnan(value), passed, value),
                "passed": passed, "grader_error": grader_error, "errored": grader_error | task_error}

    @cached_property
    def _metric_codes(self) -> tuple[np.ndarray, np.ndarray]:
        """(code, names) of each score's grader name: codes in :attr:`score_names` order."""
        return _dictionary(self._flat[1].field("name"))

    @cached_property
    def _task_rank(self) -> np.ndarray:
        """Each task code's place in sorted task id order (one string sort per run)."""
        task_names = self._codes[3]
        rank = np.empty(len(task_names), np.int64)
        rank[np.argsort(task_names, kind="stable")] = np.arange(len(task_names))
        return rank

    def _parts(self, groups: Groups, metric_names: Sequence[str]) -> dict[tuple[str, str], PerTask]:
        """(variant, metric) -> its per-task means, in the order ``groupby(sort=False)`` laid them out."""
        _, _, variant_names, task_names = self._codes
        # int32 task codes, and no column of ones for a one-epoch run: a report keeps both views' 12 parts
        # (2 variants x 3 metrics) of a 1M-row run, 270 MB as frames with their task codes beside them
        code_type = np.int32 if len(task_names) < 2**31 else np.int64
        out = {}
        for variant, metric in groups.pairs():
            at = groups.part(variant, metric)
            attempts = groups.attempts[at]
            out[(str(variant_names[variant]), metric_names[metric])] = PerTask(
                task=groups.task[at].astype(code_type), value=groups.value[at], passed=groups.passed[at],
                attempts=None if bool((attempts == 1).all()) else attempts)
        return out

    @cached_property
    def _epoch(self) -> np.ndarray | None:
        """Each attempt's epoch, or None when every attempt has the same one (nothing to count)."""
        epochs = self.attempts["epoch"].to_numpy()
        return epochs if len(epochs) and epochs.min() != epochs.max() else None

    def _attempt_key(self, metrics: int) -> np.ndarray:
        """Per attempt, ``variant * metrics * tasks + task``: the part of a group key the attempt decides."""
        variants, tasks, _, task_names = self._codes
        key = variants * (metrics * max(len(task_names), 1))
        key += tasks
        return key

    def _score_groups(self, itt: bool) -> Groups:
        """Per (variant, metric, task) means over scores: every attempt, errors scoring 0 (``itt``), or
        only what finished without error."""
        s = self._score_codes
        parent, metric, errored = s["parent"], s["metric"], s["errored"]
        sizes = (max(len(self.score_names), 1), max(len(self._codes[3]), 1))
        base, epochs = self._attempt_key(sizes[0]), self._epoch
        if not itt:
            # the masked values are made after the hash factorisation, and the kept scores' attempts are
            # dropped before it: 48 MB off the peak of a 1M-row report, set here (bench/analysis_scale.py)
            keep = ~errored
            at = parent[keep]
            key, epoch = group_key(base, at, metric[keep], sizes[1]), None if epochs is None else epochs[at]
            del at
            return group_means(key, epoch, s["value"], s["passed"], sizes, keep=keep)
        crashed_mask = self.attempts["error_kind"].notna().to_numpy()
        crashed = np.flatnonzero(crashed_mask)
        names = len(self.score_names)
        rows, fill_metric = np.zeros(0, np.int64), np.zeros(0, np.int64)
        if len(crashed) and names:  # a crashed attempt fails every metric it has no score on
            # which metrics each crashed attempt scored, as a crashed x metric table (np.isin of packed
            # keys sorted every score: 100 MB of temporaries at 1M rows, tracemalloc)
            scored = np.zeros((len(crashed), names), bool)
            hit = crashed_mask[parent]
            scored[(np.cumsum(crashed_mask) - 1)[parent[hit]], metric[hit]] = True
            rows, fill_metric = np.nonzero(~scored)  # crashed attempt order, then metric order
        key = np.concatenate([group_key(base, parent, metric, sizes[1]),
                              group_key(base, crashed[rows], fill_metric, sizes[1])])
        scored_values = len(parent)
        value, passed = np.zeros(len(key)), np.zeros(len(key))  # an error, and every filled-in metric, scores 0
        np.copyto(value[:scored_values], s["value"], where=~errored)
        np.copyto(passed[:scored_values], s["passed"], where=~errored)
        epoch = None if epochs is None else np.concatenate([epochs[parent], epochs[crashed[rows]]])
        return group_means(key, epoch, value, passed, sizes)

    def _grouped(self, view: View) -> dict[tuple[str, str], PerTask]:
        """(variant, metric) -> per-task ``value``, ``passed`` and ``attempts``, for one view, computed the
        first time that view is asked for (a gate reads only the intent-to-treat one)."""
        if view in self._views:
            return self._views[view]
        out = self._parts(self._score_groups(view == "itt"), self.score_names)
        column = "passed" if view == "itt" else "completed_passed"
        passed = self.attempts[column].to_numpy(dtype=float)
        at = np.flatnonzero(~np.isnan(passed))
        epochs = self._epoch
        groups = group_means(self._attempt_key(1)[at], None if epochs is None else epochs[at], passed[at], passed[at],
                             (1, max(len(self._codes[3]), 1)))
        out.update(self._parts(groups, [PASS_RATE]))
        self._views[view] = out
        return out

    @cached_property
    def variants(self) -> list[str]:
        """Variants in manifest order, then any only the rows name (a shard, a resumed run)."""
        names = [v.name for v in self.manifest.variants]
        for name in pd.unique(self.attempts["variant"]):
            if name not in names:
                names.append(str(name))
        return names

    @cached_property
    def score_names(self) -> list[str]:
        """Every grader metric: the ones the rows scored, then declared ones no row scored."""
        names = [str(n) for n in self._metric_codes[1]]
        for grader in self.manifest.graders:
            name = grader.get("name")
            if isinstance(name, str) and name and name not in names:
                names.append(name)
        return names

    @property
    def metrics(self) -> list[str]:
        """Every score name, then the task-level rate (pass rate)."""
        return [*self.score_names, *TASK_RATES]

    @property
    def epochs(self) -> int:
        observed = int(self.attempts["epoch"].max()) if len(self.attempts) else 1
        return max(self.manifest.epochs, observed)

    @property
    def baseline_variant(self) -> str | None:
        if self.manifest.baseline_variant in self.variants:
            return self.manifest.baseline_variant
        return self.variants[0] if self.variants else None

    @property
    def comparison_pairs(self) -> list[tuple[str, str]]:
        """See :meth:`RunManifest.comparison_pairs`; over every variant with results too."""
        return self.manifest.comparison_pairs(self.variants)

    def per_task(self, variant: str, metric: str, view: View = "itt") -> pd.DataFrame:
        """Per-task ``value`` (mean score), ``passed`` (pass fraction) and ``attempts`` for a metric, indexed by
        task id (in order of first appearance)."""
        part = self._grouped(view).get((variant, ALIASES.get(metric, metric)))
        if part is None:
            return pd.DataFrame(columns=["value", "passed", "attempts"], dtype=float)
        return pd.DataFrame({name: part.column(name) for name in ("value", "passed", "attempts")},
                            # object dtype: the index points at the run's one copy of each task id (a str
                            # dtype index copied 500k ids per frame: 585 MB for a 1M-row run)
                            index=pd.Index(self._codes[3][part.task], name="task_id", dtype=object))

    def task_values(self, variant: str, metric: str, column: str = "value", view: View = "itt") -> TaskValues:
        """Per-task ``column`` of :meth:`per_task`, tasks without one left out, in task id order."""
        key = (view, variant, ALIASES.get(metric, metric), column)
        if key not in self._task_cache:
            part = self._grouped(view).get(key[1:3])
            codes = part.task if part is not None else np.zeros(0, np.int64)
            numbers = part.column(column).astype(float) if part is not None else np.zeros(0)
            known = ~np.isnan(numbers)
            self._task_cache[key] = TaskValues.from_codes(self._codes[3], self._task_rank, codes[known],
                                                          numbers[known], every=self._sorted_task_names)
        return self._task_cache[key]

    def task_passes(self, variant: str, metric: str = PASS_RATE) -> TaskValues:
        """Whether each task passes ``metric`` at the run's ``pass_threshold`` (a pass rate over its epochs)."""
        rates = self.task_values(variant, metric, "passed")
        return TaskValues(rates.ids, rates.numbers >= self.manifest.pass_threshold - 1e-12)

    @cached_property
    def _sorted_task_names(self) -> np.ndarray:
        """Every task id the rows name, sorted: the one ``ids`` array of each :class:`TaskValues` that has
        every task (a copy each held 4 MB per 500k tasks, 12 of them in a report)."""
        names, order = self._codes[3], np.empty(len(self._task_rank), np.int64)
        order[self._task_rank] = np.arange(len(order))
        out: np.ndarray = names[order]
        return out

    @cached_property
    def task_ids(self) -> list[str]:
        """Every task id the rows name, sorted."""
        return [str(t) for t in self._sorted_task_names]

    def _variant_rows(self, variant: str) -> np.ndarray:
        variants, _, variant_names, _ = self._codes
        code = np.flatnonzero(variant_names == variant)
        return np.flatnonzero(variants == code[0]) if code.size else np.zeros(0, np.int64)

    def attempts_run(self, variant: str) -> int:
        """How many distinct (task, epoch) attempts ``variant`` has rows for (counted on integer codes: a
        ``drop_duplicates`` over the task id strings was the peak of ``harness gate`` at 1M rows)."""
        at = self._variant_rows(variant)
        epochs = self.attempts["epoch"].to_numpy()[at]
        if not len(at):
            return 0
        low, width = int(epochs.min()), int(epochs.max() - epochs.min()) + 1
        return len(pd.unique(self._codes[1][at] * width + (epochs - low)))

    def task_errors(self, variant: str) -> tuple[int, int]:
        """(attempts of ``variant`` whose task raised, attempts of ``variant``), without copying its rows."""
        at = self._variant_rows(variant)
        return int(self.attempts["error_kind"].notna().to_numpy()[at].sum()), len(at)

    def errored_tasks(self, variant: str) -> set[str]:
        """The task ids of ``variant`` with an attempt whose task raised (counted as a failure)."""
        at = self._variant_rows(variant)
        errored = self.attempts["error_kind"].notna().to_numpy()[at]
        return {str(t) for t in self._codes[3][pd.unique(self._codes[1][at][errored])]}

    def tasks_with_epochs(self, variant: str, epochs: int) -> set[str]:
        """The task ids ``variant`` has a row for at an epoch from 1 to ``epochs``."""
        at = self._variant_rows(variant)
        epoch = self.attempts["epoch"].to_numpy()[at]
        codes = pd.unique(self._codes[1][at][(epoch >= 1) & (epoch <= epochs)])
        return {str(t) for t in self._codes[3][codes]}

    def variant_attempts(self, variant: str) -> pd.DataFrame:
        return self.attempts[self.attempts["variant"] == variant]

    def grader_errors(self, variant: str, metric: str | None = None) -> int:
        variants, _, variant_names, _ = self._codes
        s = self._score_codes
        codes = np.flatnonzero(variant_names == variant)
        if not codes.size:
            return 0
        mask = s["grader_error"] & (variants[s["parent"]] == codes[0])
        if metric is not None and metric not in TASK_RATES:
            mask &= s["metric"] == (self.score_names.index(metric) if metric in self.score_names else -1)
        return int(mask.sum())

    def calibrations(self) -> list[JudgeCalibration]:
        return judge_calibrations(self.manifest)


def load_run_data(path: str | Path, label: str | None = None, *, cache: bool = True) -> RunData:
    """Read a run folder once: the manifest, and the columns of every row analysis needs.

    Lines of ``results.jsonl`` that cannot be read (torn by a kill, hand-edited) do not stop the
    read: they are kept in ``RunData.damage``, and the run's status says *damaged* with their line.
    ``cache=False`` reads ``results.jsonl`` alone, neither reading nor writing the columnar sidecar.
    """
    folder = RunFolder.open(path)
    manifest = folder.manifest()
    read = read_columns(folder.path, ANALYSIS_COLUMNS, cache=cache)
    log.debug("read %d rows from %s (%d damaged lines, sidecar %s)", read.table.num_rows, folder.path,
              len(read.damage), read.cache)
    return RunData(path=folder.path, manifest=manifest, table=read.table, label=label or manifest.run_id,
                   damage=read.damage, cache=read.cache)


def _dictionary(array: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(codes, names) of a string column: names in order of first appearance (as ``pd.factorize``
    numbers them), codes int64 with -1 for null."""
    whole = array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
    encoded = pc.dictionary_encode(whole)
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, np.asarray(encoded.dictionary.to_pylist(), dtype=object)


def _strings(array: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A string column as a numpy object array (None for null) whose equal strings are one object:
    ``to_numpy`` made a new str per row, 60 MB a column at 1M rows (peak RSS of ``harness gate``,
    bench/analysis_scale.py)."""
    codes, names = _dictionary(array)
    with_null = np.empty(len(names) + 1, dtype=object)
    with_null[:-1] = names
    out: np.ndarray = with_null[codes]  # code -1: the None in the last place
    return out


def error_rows(data: RunData) -> list[ResultRow]:
    """The rows with a task or grader error, holding just what :func:`~harness.analysis.errors.error_digest`
    reads (no output, no trajectory), in file order."""
    t = data.table
    parents, flat = data._flat
    attempts = data.attempts
    with_error = np.flatnonzero(attempts["error_kind"].notna().to_numpy() | (attempts["grader_errors"] > 0).to_numpy())
    chosen = np.flatnonzero(np.isin(parents, with_error))
    scores = flat.take(pa.array(chosen, pa.int64())).to_pylist()
    starts = np.searchsorted(parents[chosen], with_error)
    ends = np.searchsorted(parents[chosen], with_error, side="right")
    columns = {name: t.column(name).take(pa.array(with_error, pa.int64())).to_pylist()
               for name in ("variant", "task_id", "epoch", "error_kind", "error_type", "error")}
    out = []
    for k, i in enumerate(with_error):
        kind = columns["error_kind"][k]
        error = None if kind is None else ErrorInfo(
            kind=kind, type=columns["error_type"][k] or "", message=columns["error"][k] or "")
        graded = [ScoreRecord(name=s["name"], grader=s["name"], error=None if s["error"] is None else ErrorInfo(
            kind=s["error_kind"] or "grader", type=s["error_type"] or "", message=s["error"]))
            for s in scores[starts[k]:ends[k]]]
        # the constructor, not model_construct: that one inspects every default factory's signature per call
        out.append(ResultRow(run_id=data.manifest.run_id, suite=data.manifest.suite, variant=columns["variant"][k],
                             task_id=columns["task_id"][k], epoch=columns["epoch"][k], error=error, scores=graded))
    return out
