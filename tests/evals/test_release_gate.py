"""The no-regression gate on real recordings: a degraded release candidate fails it, an unchanged one passes."""

from __future__ import annotations

import asyncio
from pathlib import Path

from harness.engine.loader import find_suite
from harness.engine.runner import RunOptions, run_suite
from harness.engine.runtime import RuntimeConfig
from harness.gate import ExitCode, Gate, evaluate_gates

ROOT = Path(__file__).resolve().parents[2]
SUITE_FILE = ROOT / "evals" / "release" / "test_router_release.py"


def _replay(tmp_path: Path):
    suite = find_suite(SUITE_FILE)
    config = RuntimeConfig(base_url="http://127.0.0.1:9/v1", cassette_dir=ROOT / "cassettes")
    return asyncio.run(run_suite(suite, RunOptions(record_mode="none", runtime=config, runs_dir=tmp_path)))


def test_the_degraded_candidate_fails_the_gate_and_the_unchanged_one_passes(tmp_path: Path):
    result = _replay(tmp_path)
    assert result.errors == 0 or all(r.error.kind != "cassette_miss" for r in result.folder.rows() if r.error)

    degraded = evaluate_gates(result.path, gates=[
        Gate.no_regression("internal_data", baseline_variant="router@v1", variant="router@v1-rc2")])
    assert degraded.exit_code == ExitCode.GATE_FAILED, degraded.messages()
    (failure,) = degraded.failures
    assert failure.comparison.label == "worse"
    assert "internal_data" in failure.message and failure.drivers, "names the metric and the tasks behind it"

    unchanged = evaluate_gates(result.path, gates=[
        Gate.no_regression("internal_data", baseline_variant="router@v1", variant="router@v1-rc1"),
        Gate.no_regression("routing", baseline_variant="router@v1", variant="router@v1-rc1")])
    assert unchanged.exit_code == ExitCode.OK, unchanged.messages()


def test_the_cli_gate_exits_1_on_the_degraded_run(tmp_path: Path):
    from typer.testing import CliRunner

    from harness.cli import app

    result = _replay(tmp_path)
    outcome = CliRunner().invoke(app, ["gate", str(result.path)])
    assert outcome.exit_code == 1, outcome.output
    assert "router@v1-rc2" in outcome.output
