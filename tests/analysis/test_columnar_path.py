"""The columnar read path (msgspec -> Arrow -> the Parquet sidecar) says exactly what the row model says.

The reference is the harness's own row model: every line validated by pydantic
(:func:`harness.core.results.read_rows`), turned into the same columns record by record. Summaries,
statuses and gate verdicts computed from it must equal the ones the columnar path gives, cold
(building the sidecar), warm (reading it) and without any cache; per-task values must equal a
plain-Python computation straight from the rows.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from synthetic_runs import VariantSpec

from harness.analysis.run_data import ANALYSIS_COLUMNS, RunData, load_run_data
from harness.analysis.summary import analyse
from harness.core.columns import ROW_SCHEMA, ColumnBuilder, row_record
from harness.core.gate_spec import Gate
from harness.core.results import ErrorInfo, ResultRow, ResultWriter, RunFolder, ScoreRecord, read_rows
from harness.core.sidecar import SIDECAR_VERSION, read_columns, sidecar_path
from harness.gate import evaluate_gates

GATES = [Gate.metric("accuracy", ">=", 0.6), Gate.metric("p95_latency_s", "<=", 1.5),
         Gate.no_regression("accuracy", tolerance=0.02), Gate.no_regression("helpfulness", tolerance=0.0)]


def _with_gates(run: Path) -> Path:
    folder = RunFolder(run)
    folder.write_manifest(folder.manifest().model_copy(update={"gates": [g.model_dump(mode="json") for g in GATES]}))
    return run


def _append(run: Path, *rows: ResultRow | str) -> None:
    writer = ResultWriter(run / "results.jsonl")
    for row in rows:
        if isinstance(row, str):
            writer.write_lines([row])
        else:
            writer.write(row)
    writer.close()


def _odd_rows(run_id: str) -> list[ResultRow]:
    """Rows the synthetic runs never make: a string output, unscored values, no scores, unicode."""
    base = {"run_id": run_id, "suite": "triage", "epoch": 1}
    return [
        ResultRow(**base, variant="triage@v1", task_id="odd-1", output="plain text · ünïcode",
                  scores=[ScoreRecord(grader="g", name="accuracy", passed=True),
                          ScoreRecord(grader="h", name="helpfulness", value=None, passed=None)]),
        ResultRow(**base, variant="triage@v2", task_id="odd-1", output={"nested": [1, {"a": None}]},
                  scores=[ScoreRecord(grader="g", name="accuracy", value=0.25, passed=False,
                                      params={"k": [1, 2]}, reason="“quoted”")]),
        ResultRow(**base, variant="triage@v2", task_id="odd-2"),  # no scores, no error
        ResultRow(**base, variant="triage@v1", task_id="odd-2",
                  error=ErrorInfo(kind="model", type="APIError", message="first line\nsecond line")),
    ]


@pytest.fixture
def runs(make_run_folder: Callable[..., Path]) -> dict[str, Path]:
    variants = [VariantSpec("triage@v1", 0.8, latency_s=1.0),
                VariantSpec("triage@v2", 0.7, latency_s=1.1, task_error_rate=0.05, grader_error_rate=0.05)]
    out = {
        "epochs": make_run_folder(variants, n_tasks=40, epochs=3, seed=1, run_id="r-epochs"),
        "partial": make_run_folder(variants, n_tasks=30, seed=2, run_id="r-partial", declared_tasks=50),
        "damaged": make_run_folder(variants, n_tasks=30, seed=3, run_id="r-damaged"),
        "odd": make_run_folder(variants, n_tasks=20, seed=4, run_id="r-odd"),
        "interrupted": make_run_folder(variants, n_tasks=25, seed=5, run_id="r-interrupted", status="interrupted"),
    }
    _append(out["damaged"], '{"format_version": 1, "not": "a row"}', '{"format_version": 1, "run_id": "r-da')
    _append(out["odd"], *_odd_rows("r-odd"))
    return {name: _with_gates(run) for name, run in out.items()}


def _reference(run: Path) -> RunData:
    """The run read through the row model (pydantic), line by line: the JSONL path."""
    damage: list[Any] = []
    builder = ColumnBuilder()
    for number, row in enumerate(read_rows(run / "results.jsonl", damage=damage), start=1):
        builder.add(number, 0, 0, row_record(row))
    table = pa.Table.from_batches([builder.batch()], schema=ROW_SCHEMA)
    names = list(dict.fromkeys(n.split(".", 1)[0] for n in ANALYSIS_COLUMNS))
    folder = RunFolder(run)
    return RunData(path=run, manifest=folder.manifest(), table=table.select(names), label=folder.manifest().run_id,
                   damage=damage)


def _verdicts(data: RunData) -> dict[str, Any]:
    gates = evaluate_gates(data, allow_partial=True)
    summary = analyse(data).summary.model_dump(mode="json")
    return {"summary": summary, "gates": gates.model_dump(mode="json")}


@pytest.mark.parametrize("name", ["epochs", "partial", "damaged", "odd", "interrupted"])
def test_columnar_summaries_verdicts_and_gates_equal_the_row_models(runs: dict[str, Path], name: str) -> None:
    run = runs[name]
    expected = _verdicts(_reference(run))
    cold = load_run_data(run)
    warm = load_run_data(run)
    uncached = load_run_data(run, cache=False)
    assert (cold.cache, warm.cache, uncached.cache) == ("built", "hit", "off")
    for data in (cold, warm, uncached):
        assert _verdicts(data) == expected
    if name == "damaged":
        assert [d.line for d in warm.damage] == [61, 62] and warm.damage[-1].torn_tail


def _plain_task_values(run: Path, variant: str, metric: str) -> dict[str, float]:
    """Errors score 0 (intent to treat), epochs averaged: computed from the rows with no frame at all."""
    per_task: dict[str, list[float]] = defaultdict(list)
    for row in read_rows(run / "results.jsonl", damage=[]):
        if row.variant != variant:
            continue
        score = next((s for s in row.scores if s.name == metric), None)
        if row.error is not None:
            per_task[row.task_id].append(0.0)
        elif score is not None:
            value = score.value if score.value is not None else (None if score.passed is None else float(score.passed))
            if score.error is not None:
                value = 0.0
            if value is not None:
                per_task[row.task_id].append(value)
    return {task: sum(v) / len(v) for task, v in per_task.items()}


@pytest.mark.parametrize("metric", ["accuracy", "helpfulness"])
def test_per_task_values_are_the_plain_means_over_epochs(runs: dict[str, Path], metric: str) -> None:
    for name in ("epochs", "odd"):
        data = load_run_data(runs[name])
        for variant in data.variants:
            assert data.task_values(variant, metric) == pytest.approx(_plain_task_values(runs[name], variant, metric))


def _summary(run: Path) -> dict[str, Any]:
    return analyse(load_run_data(run)).summary.model_dump(mode="json")


def _rewrite(run: Path, edit: Callable[[list[dict[str, Any]]], None]) -> None:
    """Rewrite results.jsonl atomically, as a resume's repair does."""
    path = run / "results.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    edit(rows)
    temp = path.with_suffix(".tmp")
    temp.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows), encoding="utf-8")
    os.replace(temp, path)


def _fail_first(rows: list[dict[str, Any]]) -> None:
    for score in rows[0]["scores"]:
        score.update(value=0.0, passed=False)


def test_a_stale_sidecar_is_never_used(runs: dict[str, Path]) -> None:
    run = runs["epochs"]
    load_run_data(run)
    # rows appended: only they are decoded, and they count
    _append(run, *_odd_rows("r-epochs")[:2])
    grown = load_run_data(run)
    assert grown.cache == "grown" and grown.row_count == 242
    assert _verdicts(grown) == _verdicts(_reference(run))
    # rewritten (a resume's repair): rebuilt, never read
    _rewrite(run, _fail_first)
    rewritten = load_run_data(run)
    assert rewritten.cache == "built"
    assert _verdicts(rewritten) == _verdicts(_reference(run))
    # the same length, changed in place inside a fingerprinted window, mtime restored
    path = run / "results.jsonl"
    stat = path.stat()
    text = path.read_bytes()
    spot = text.index(b'"latency_s":') + len(b'"latency_s":')
    digit = b"7" if text[spot:spot + 1] != b"7" else b"8"
    path.write_bytes(text[:spot] + digit + text[spot + 1:])
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    edited = load_run_data(run)
    assert edited.cache == "built"
    assert edited.attempts["latency_s"].iloc[0] == json.loads(path.read_text().splitlines()[0])["latency_s"]


def test_a_sidecar_of_another_layout_is_rebuilt(runs: dict[str, Path]) -> None:
    run = runs["partial"]
    load_run_data(run)
    target = sidecar_path(run)
    meta = json.loads(pq.read_metadata(target).metadata[b"harness.sidecar"])
    meta["version"] = SIDECAR_VERSION + 1
    pq.write_table(pq.read_table(target).replace_schema_metadata({b"harness.sidecar": json.dumps(meta).encode()}),
                   target)
    assert load_run_data(run).cache == "built"


def test_a_torn_last_line_is_never_cached(runs: dict[str, Path]) -> None:
    run = runs["partial"]
    path = run / "results.jsonl"
    whole = ResultRow(run_id="r-partial", suite="triage", variant="triage@v1", task_id="late").model_dump_json()
    with path.open("a", encoding="utf-8") as handle:
        handle.write(whole[:40])
    torn = load_run_data(run)
    assert torn.damage and torn.damage[-1].torn_tail and torn.row_count == 60
    with path.open("a", encoding="utf-8") as handle:
        handle.write(whole[40:] + "\n")
    finished = load_run_data(run)
    assert finished.cache == "grown" and not finished.damage and finished.row_count == 61


def test_a_whole_last_row_without_its_newline_is_read_but_not_cached(runs: dict[str, Path]) -> None:
    run = runs["epochs"]
    load_run_data(run)
    with (run / "results.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(_odd_rows("r-epochs")[0].model_dump_json())
    data = load_run_data(run)
    assert data.cache == "hit" and data.row_count == 241 and not data.damage
    assert _verdicts(data) == _verdicts(_reference(run))


def test_a_folder_that_cannot_be_written_is_read_without_a_sidecar(runs: dict[str, Path]) -> None:
    run = runs["odd"]
    (run / ".derived").write_text("a file where the cache folder would go", encoding="utf-8")
    data = load_run_data(run)
    assert data.cache == "off" and data.row_count == 44
    assert _verdicts(data) == _verdicts(_reference(run))
    shutil.rmtree(run / ".derived", ignore_errors=True)


def test_reading_only_some_columns_leaves_the_rest_on_disk(runs: dict[str, Path]) -> None:
    run = runs["odd"]
    read = read_columns(run, ["variant", "scores.name"])
    assert read.table.column_names == ["variant", "scores"]
    assert pa.types.is_struct(read.table.schema.field("scores").type.value_type)
    assert [f.name for f in read.table.schema.field("scores").type.value_type] == ["name"]


@pytest.mark.parametrize("name", ["epochs", "odd"])
def test_forgetting_the_derived_views_changes_no_answer(runs: dict[str, Path], name: str) -> None:
    """The report drops the per-task views and score arrays once its summary is made; asked again, a
    run gives the same frames, per-task values and summary."""
    data = load_run_data(runs[name])
    before = analyse(data).summary.model_dump(mode="json")
    frames = {(v, m, view): data.per_task(v, m, view) for v in data.variants for m in data.metrics
              for view in ("itt", "completed")}
    values = {(v, m): data.task_values(v, m) for v in data.variants for m in data.metrics}
    data.forget_derived()
    assert not data._views and not data._task_cache and "_score_codes" not in data.__dict__
    for (variant, metric, view), frame in frames.items():
        pd.testing.assert_frame_equal(data.per_task(variant, metric, view), frame)
    assert {(v, m): data.task_values(v, m) for v in data.variants for m in data.metrics} == values
    assert analyse(data).summary.model_dump(mode="json") == before
