"""The rows of a run as the report's ``results.csv`` and ``results.parquet`` hold them: one row per
(attempt, grader), nested values as JSON text, and ``load_run``'s per-grader frame of the same."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from harness.core.columns import score_arrays
from harness.core.results import ROW_COLUMNS

__all__ = ["EXPORT_SCHEMA", "export_table", "table_frame"]


def table_frame(table: pa.Table) -> pd.DataFrame:
    """The columns of :data:`~harness.core.columns.ROW_SCHEMA` as ``load_run``'s per-grader frame."""
    frame: pd.DataFrame = export_table(table).to_pandas()
    for column in ("tags", "output", "grader_params"):
        frame[column] = [None if v is None else _maybe_json(v, column) for v in frame[column]]
    frame["passed"] = frame["passed"].astype(object).where(frame["passed"].notna(), None)
    frame["value"] = frame["value"].astype(object).where(frame["value"].notna(), None)
    return frame.loc[:, ROW_COLUMNS]


def _maybe_json(text: str, column: str) -> Any:
    if column == "output":
        try:
            return json.loads(text)
        except ValueError:
            return text
    return json.loads(text)


EXPORT_SCHEMA = pa.schema([
    *((name, pa.string()) for name in ("run_id", "suite", "variant", "task_id")), ("epoch", pa.int64()),
    *((name, pa.string()) for name in ("tags", "output", "error_kind", "error", "grader", "grader_name",
                                       "grader_params")),
    ("value", pa.float64()), ("passed", pa.bool_()), ("reason", pa.string()), ("grader_error", pa.string()),
    ("model_calls", pa.int64()), ("input_tokens", pa.int64()), ("output_tokens", pa.int64()),
    ("cost_usd", pa.float64()), ("latency_s", pa.float64()),
])


def export_table(table: pa.Table) -> pa.Table:
    """One row per (attempt, grader) with nested values as JSON text: what ``results.csv``/``.parquet`` hold."""
    lengths = pc.fill_null(pc.list_value_length(table.column("scores")), 0).to_numpy()
    _, flat = score_arrays(table)
    repeat = np.maximum(lengths, 1)
    rows = np.repeat(np.arange(table.num_rows), repeat)
    first = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if len(lengths) else np.zeros(0, np.int64)
    within = np.arange(len(rows)) - np.repeat(np.concatenate([[0], np.cumsum(repeat)[:-1]])
                                              if len(repeat) else np.zeros(0, np.int64), repeat)
    positions = np.repeat(first, repeat) + within
    has = np.repeat(lengths > 0, repeat)
    take = pa.array(np.where(has, positions, 0), pa.int64(), mask=~has)
    picked = flat.take(take) if len(flat) else pa.nulls(len(rows), flat.type)
    base = table.take(pa.array(rows, pa.int64()))
    encode = _ENCODER.encode
    tag_text: dict[tuple[str, ...], str] = {}
    tags = [tag_text.setdefault(tuple(t), encode(list(t))) if t is not None else None
            for t in base.column("tags").to_pylist()]
    columns = {
        "run_id": base.column("run_id"), "suite": base.column("suite"), "variant": base.column("variant"),
        "task_id": base.column("task_id"), "epoch": base.column("epoch"), "tags": pa.array(tags, pa.string()),
        "output": base.column("output"), "error_kind": base.column("error_kind"), "error": base.column("error"),
        "grader": picked.field("grader"), "grader_name": picked.field("name"), "grader_params": picked.field("params"),
        "value": picked.field("value"), "passed": picked.field("passed"), "reason": picked.field("reason"),
        "grader_error": picked.field("error"), "model_calls": base.column("model_calls"),
        "input_tokens": base.column("input_tokens"), "output_tokens": base.column("output_tokens"),
        "cost_usd": base.column("cost_usd"), "latency_s": base.column("latency_s"),
    }
    return pa.table(columns)


_ENCODER = json.JSONEncoder(default=str)
