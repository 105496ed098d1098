"""write_report: every file, where it belongs, consistent with load_run, at any size."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from synthetic_runs import VariantSpec

from harness.analysis.summary import RunSummary
from harness.core.results import load_run
from harness.gate import ExitCode, Gate, evaluate_gates
from harness.report.writer import write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_writes_every_file_into_the_run_report_folder(ab_run: Path) -> None:
    paths = write_report(ab_run)
    assert paths.root == ab_run / "report"
    for path in (paths.markdown, paths.html, paths.summary_json, paths.results_csv, paths.results_parquet):
        assert path.is_file() and path.parent == paths.root
    assert paths.plots and all(p.parent == paths.root / "plots" for p in paths.plots.values())
    assert all(p.read_bytes().startswith(PNG_MAGIC) for p in paths.plots.values())


def test_out_dir_is_respected(ab_run: Path, tmp_path: Path) -> None:
    paths = write_report(ab_run, out_dir=tmp_path / "elsewhere", plots=False)
    assert paths.markdown == tmp_path / "elsewhere" / "report.md"
    assert paths.plots == {}
    assert not (ab_run / "report").exists()


def test_summary_json_is_the_run_summary_plus_gates(ab_run: Path) -> None:
    paths = write_report(ab_run, gates=evaluate_gates(ab_run, [Gate.metric("accuracy", ">=", 0.8)]), plots=False)
    document = json.loads(paths.summary_json.read_text())
    assert document["gates"]["exit_code"] == int(ExitCode.GATE_FAILED)
    del document["gates"]
    summary = RunSummary.model_validate(document)
    assert summary.run.run_id == ab_run.name
    assert paths.gates is not None and paths.gates.exit_code == ExitCode.GATE_FAILED


def test_csv_and_parquet_hold_the_load_run_frame(ab_run: Path) -> None:
    paths = write_report(ab_run, plots=False)
    expected = load_run(ab_run)
    from_csv = pd.read_csv(paths.results_csv)
    from_parquet = pd.read_parquet(paths.results_parquet)
    for frame in (from_csv, from_parquet):
        assert list(frame.columns) == list(expected.columns)
        assert len(frame) == len(expected)
        assert frame["value"].sum() == pytest.approx(pd.to_numeric(expected["value"]).sum())
    assert from_parquet["passed"].dropna().isin([True, False]).all()
    assert json.loads(from_parquet["tags"].iloc[0]) == expected["tags"].iloc[0]


def test_markdown_and_html_include_gate_results_when_given(ab_run: Path) -> None:
    paths = write_report(ab_run, gates=evaluate_gates(ab_run, [Gate.metric("p95_latency_s", "<=", 30)]), plots=False)
    assert "## Gates — ✅ exit code 0: all gates pass" in paths.markdown.read_text()
    assert 'id="gates"' in paths.html.read_text()


def test_vs_another_run_is_reported(make_run_folder: Callable[..., Path]) -> None:
    before = make_run_folder([VariantSpec("triage@v2", 0.9)], n_tasks=30, seed=2)
    after = make_run_folder([VariantSpec("triage@v2", 0.9)], n_tasks=30, seed=2)
    paths = write_report(after, vs=before, plots=False)
    assert f"Compared with run `{before.name}`" in paths.markdown.read_text()


def test_a_4000_row_run_with_errors_reports_every_row_and_every_plot(
        make_run_folder: Callable[..., Path]) -> None:
    run = make_run_folder([VariantSpec("triage@v1", 0.8), VariantSpec("triage@v2", 0.7, task_error_rate=0.02,
                                                                       grader_error_rate=0.02)], n_tasks=2000)
    paths = write_report(run)
    assert len(paths.plots) == 5
    assert len(pd.read_parquet(paths.results_parquet)) == len(load_run(run))
    # How long this takes is measured by bench/report_scale.py, not asserted here.
