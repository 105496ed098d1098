"""A run folder read once into the tables reports and gates are computed from.

``results.jsonl`` is parsed a single time into :class:`RunData`: the rows themselves (the HTML
drill-down needs trajectories), the per-grader frame :func:`harness.core.results.load_run` returns,
and a per-attempt frame (one row per task, variant, epoch) with the status every view shares:

* ``error``: the task raised (or every grader on it raised), so nothing was measured;
* ``fail``: at least one grader that ran said fail;
* ``pass``: otherwise.

Per-task values average a task's epochs first, so statistics count tasks, not attempts.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from harness.analysis.attempt import row_status
from harness.core.gate_spec import PASS_RATE, SUCCESS_RATE, TASK_RATES
from harness.core.results import (
    ROW_COLUMNS,
    ResultRow,
    RunFolder,
    RunManifest,
    flatten_row,  # the same flattening load_run uses
)

__all__ = [
    "PASS_RATE",
    "SUCCESS_RATE",
    "TASK_RATES",
    "RunData",
    "JudgeCalibration",
    "load_run_data",
    "row_status",
    "judge_calibrations",
]

log = logging.getLogger(__name__)

ATTEMPT_COLUMNS = [
    "variant", "task_id", "epoch", "status", "passed", "error_kind", "grader_errors", "n_scores",
    "latency_s", "cost_usd", "unpriced_calls", "tokens", "model_calls", "tags",
]


def _attempt_record(row: ResultRow) -> dict[str, Any]:
    status = row_status(row)
    return {
        "variant": row.variant,
        "task_id": row.task_id,
        "epoch": row.epoch,
        "status": status,
        "passed": None if status == "error" else status == "pass",
        "error_kind": row.error.kind if row.error else None,
        "grader_errors": row.grader_errors,
        "n_scores": len(row.scores),
        "latency_s": row.latency_s,
        "cost_usd": row.usage.cost_usd,
        "unpriced_calls": row.usage.unpriced_calls,
        "tokens": row.usage.total_tokens,
        "model_calls": row.usage.model_calls,
        "tags": row.tags,
    }


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
    #: The 95% interval of ``kappa`` (bootstrap over the labelled items), when the calibration made one.
    kappa_low: float | None = None
    kappa_high: float | None = None
    agreement: float | None = None
    n: int | None = None
    labels: list[str] = Field(default_factory=list)
    confusion: list[list[int]] | None = None
    self_consistency: float | None = None

    def completed(self) -> JudgeCalibration:
        if self.confusion is None:
            return self
        matrix = np.asarray(self.confusion, dtype=float)
        total = float(matrix.sum())
        if total == 0:
            return self
        observed = float(np.trace(matrix)) / total
        expected = float((matrix.sum(axis=0) * matrix.sum(axis=1)).sum()) / total**2
        kappa = (observed - expected) / (1 - expected) if expected < 1 else 1.0
        return self.model_copy(update={
            "kappa": self.kappa if self.kappa is not None else kappa,
            "agreement": self.agreement if self.agreement is not None else observed,
            "n": self.n if self.n is not None else int(total),
            "labels": self.labels or [str(i) for i in range(matrix.shape[0])],
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
    """One run folder, parsed once, with the per-task views everything else reads."""

    path: Path
    manifest: RunManifest
    rows: list[ResultRow]
    label: str = ""
    _task_cache: dict[tuple[str, str, str], dict[str, float]] = field(default_factory=dict, repr=False)

    @cached_property
    def scores(self) -> pd.DataFrame:
        """One row per (task, variant, epoch, grader): exactly ``load_run``'s frame."""
        records = [flat for row in self.rows for flat in flatten_row(row)]
        return pd.DataFrame.from_records(records, columns=ROW_COLUMNS)

    @cached_property
    def attempts(self) -> pd.DataFrame:
        """One row per (task, variant, epoch) with its pass/fail/error status."""
        return pd.DataFrame.from_records([_attempt_record(r) for r in self.rows], columns=ATTEMPT_COLUMNS)

    @cached_property
    def variants(self) -> list[str]:
        """Variants in manifest order, then any only the rows name (a shard, a resumed run)."""
        names = [v.name for v in self.manifest.variants]
        for row in self.rows:
            if row.variant not in names:
                names.append(row.variant)
        return names

    @cached_property
    def score_names(self) -> list[str]:
        names: list[str] = []
        for row in self.rows:
            for score in row.scores:
                if score.name not in names:
                    names.append(score.name)
        return names

    @property
    def metrics(self) -> list[str]:
        """Every score name, then the task-level rates (pass rate, success rate)."""
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

    @cached_property
    def _valid_scores(self) -> pd.DataFrame:
        frame = self.scores
        valid = frame[frame["error_kind"].isna() & frame["grader_error"].isna() & frame["grader_name"].notna()]
        valid = valid.assign(
            value=pd.to_numeric(valid["value"], errors="coerce"),
            passed=valid["passed"].map({True: 1.0, False: 0.0}).astype(float),
        )
        valid["value"] = valid["value"].fillna(valid["passed"])
        return valid

    @cached_property
    def _grouped(self) -> dict[tuple[str, str], pd.DataFrame]:
        """(variant, metric) -> per-task frame with ``value``, ``passed`` and ``attempts`` columns."""
        out: dict[tuple[str, str], pd.DataFrame] = {}
        valid = self._valid_scores
        if len(valid):
            grouped = valid.groupby(["variant", "grader_name", "task_id"], sort=False).agg(
                value=("value", "mean"), passed=("passed", "mean"), attempts=("epoch", "nunique"))
            for (variant, metric), part in grouped.groupby(level=[0, 1], sort=False):
                out[(str(variant), str(metric))] = part.droplevel([0, 1])
        attempts = self.attempts.assign(passed=(self.attempts["status"] == "pass").astype(float))
        out.update(_rates(attempts[attempts["status"] != "error"], PASS_RATE))
        out.update(_rates(attempts, SUCCESS_RATE))  # errors stay in, as failures
        return out

    def per_task(self, variant: str, metric: str) -> pd.DataFrame:
        """Per-task ``value`` (mean score), ``passed`` (pass fraction) and ``attempts`` for a metric."""
        empty = pd.DataFrame(columns=["value", "passed", "attempts"], dtype=float)
        return self._grouped.get((variant, metric), empty)

    def task_values(self, variant: str, metric: str, column: str = "value") -> dict[str, float]:
        key = (variant, metric, column)
        if key not in self._task_cache:
            frame = self.per_task(variant, metric)
            self._task_cache[key] = {str(k): float(v) for k, v in frame[column].items() if not pd.isna(v)}
        return self._task_cache[key]

    def task_passes(self, variant: str) -> dict[str, bool]:
        """Whether each task passes at the run's ``pass_threshold`` (a pass rate over its epochs)."""
        threshold = self.manifest.pass_threshold
        return {t: rate >= threshold - 1e-12 for t, rate in self.task_values(variant, PASS_RATE, "passed").items()}

    def variant_attempts(self, variant: str) -> pd.DataFrame:
        return self.attempts[self.attempts["variant"] == variant]

    def grader_errors(self, variant: str, metric: str | None = None) -> int:
        frame = self.scores
        mask = (frame["variant"] == variant) & frame["grader_error"].notna()
        if metric is not None and metric not in TASK_RATES:
            mask &= frame["grader_name"] == metric
        return int(mask.sum())

    def calibrations(self) -> list[JudgeCalibration]:
        return judge_calibrations(self.manifest)


def _rates(attempts: pd.DataFrame, metric: str) -> dict[tuple[str, str], pd.DataFrame]:
    """(variant, metric) -> per-task pass fraction over the given attempts."""
    if not len(attempts):
        return {}
    rates = attempts.groupby(["variant", "task_id"], sort=False).agg(
        passed=("passed", "mean"), attempts=("epoch", "nunique"))
    rates["value"] = rates["passed"]
    return {(str(variant), metric): part.droplevel(0)[["value", "passed", "attempts"]]
            for variant, part in rates.groupby(level=0, sort=False)}


def load_run_data(path: str | Path, label: str | None = None) -> RunData:
    """Read a run folder once (manifest and every row)."""
    folder = RunFolder.open(path)
    manifest = folder.manifest()
    rows = list(folder.rows())
    log.debug("read %d rows from %s", len(rows), folder.path)
    return RunData(path=folder.path, manifest=manifest, rows=rows, label=label or manifest.run_id)


_ENCODER = json.JSONEncoder(default=str)


def export_frame(frame: pd.DataFrame, json_columns: Sequence[str] = ("tags", "output", "grader_params")) -> pd.DataFrame:
    """The per-grader frame with nested columns as JSON text, so CSV and Parquet both take it."""
    out = frame.copy()
    encode = _ENCODER.encode
    for column in json_columns:
        if column in out:
            out[column] = [None if v is None else v if isinstance(v, str) else encode(v) for v in out[column]]
    if "passed" in out:
        out["passed"] = out["passed"].astype("boolean")
    if "value" in out:
        out["value"] = pd.to_numeric(out["value"], errors="coerce")
    return out
