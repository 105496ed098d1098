"""Gates: specs, each exit code, and no-regression checks that fail a degraded variant only."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest
from synthetic_runs import VariantSpec, make_scenario_run

from harness.analysis import stats
from harness.analysis.run_data import load_run_data
from harness.analysis.summary import build_summary
from harness.core.results import RunFolder
from harness.engine.suite import Suite, Variant
from harness.gate import (
    ExitCode,
    Gate,
    GateConfigError,
    GateReport,
    MetricGate,
    NoRegressionGate,
    check_suite_gates,
    evaluate_gates,
    promote_baseline,
)


def test_exit_codes_are_stable_numbers() -> None:
    assert [int(c) for c in ExitCode] == [0, 1, 2, 3]
    assert ExitCode(3) is ExitCode.RUN_INCOMPLETE


def test_gate_specs_round_trip_through_run_json(two_variant_run: Path) -> None:
    gates = [Gate.metric("accuracy", ">=", 0.8, variant="triage@v2"),
             Gate.no_regression("accuracy", baseline="reports/baseline", tolerance=0.02)]
    folder = RunFolder.open(two_variant_run)
    manifest = folder.manifest()
    manifest.gates = [g.model_dump(mode="json") for g in gates]
    folder.write_manifest(manifest)
    stored = json.loads(folder.manifest_path.read_text())["gates"]
    assert stored[0] == {"kind": "metric", "metric": "accuracy", "op": ">=", "threshold": 0.8,
                         "variant": "triage@v2", "name": None, "view": "itt"}
    assert [Gate.parse(g) for g in stored] == gates
    assert isinstance(Gate.parse(stored[1]), NoRegressionGate)


def test_a_bad_operator_is_rejected_where_the_gate_is_declared() -> None:
    with pytest.raises(GateConfigError, match=r"Gate.metric\('accuracy', '=>', …\): the operator must be one of >="):
        Gate.metric("accuracy", "=>", 0.8)  # type: ignore[arg-type]
    with pytest.raises(GateConfigError):
        Gate.no_regression("accuracy", baseline="reports/baseline", baseline_variant="v1")


def test_all_gates_pass_exits_0(two_variant_run: Path) -> None:
    report = evaluate_gates(two_variant_run, [
        Gate.metric("accuracy", ">=", 0.75, variant="triage@v1"),
        Gate.metric("p95_latency_s", "<=", 20),
        Gate.metric("cost_per_task_usd", "<=", 0.01),
        Gate.metric("tokens_per_task", "<=", 1000),
        Gate.metric("judge_kappa", ">=", 0.6),
        Gate.metric("grader_errors", "==", 0, variant="triage@v1"),
        Gate.metric("error_rate", "<=", 0.01),
    ])
    assert report.exit_code == ExitCode.OK, report.messages()
    assert report.passed and report.messages() == []
    assert len(report.results) == 2 + 4 * 2 + 1  # per variant when none is named; judge_kappa once per run


def test_a_failed_threshold_exits_1_and_says_why(two_variant_run: Path) -> None:
    report = evaluate_gates(two_variant_run, [Gate.metric("accuracy", ">=", 0.8, variant="triage@v2")])
    assert report.exit_code == ExitCode.GATE_FAILED
    (result,) = report.results
    assert result.status == "fail" and result.value is not None and result.value < 0.8
    assert result.ci is not None and result.ci.low < result.value < result.ci.high
    assert result.drivers and result.drivers_total == len(result.drivers)
    message = result.message
    for part in ("accuracy", f"{result.value:.4g}", "95% CI", ">= 0.8", result.drivers[0]):
        assert part in message
    assert report.messages() == [message]


def test_drivers_are_the_tasks_that_break_the_gate(two_variant_run: Path) -> None:
    report = evaluate_gates(two_variant_run, [Gate.metric("p95_latency_s", "<=", 3.0, variant="triage@v2"),
                                              Gate.metric("grader_errors", "==", 0, variant="triage@v2")])
    latency, grader_errors = report.results
    assert latency.status == "fail" and latency.drivers
    assert latency.drivers_reason.startswith("slowest tasks")
    assert grader_errors.status == "fail" and grader_errors.value == grader_errors.drivers_total > 0


def test_judge_kappa_gate_reads_the_calibration_once_per_run(two_variant_run: Path) -> None:
    report = evaluate_gates(two_variant_run, [Gate.metric("judge_kappa", ">=", 0.9)])
    assert report.exit_code == ExitCode.GATE_FAILED
    (result,) = report.results
    # the lower bound of the one kappa's interval (harness.core.agreement): 0.696
    assert result.variant is None and result.value == pytest.approx(0.6958, abs=1e-3)
    assert result.ci is not None and result.ci.estimate == pytest.approx(0.838, abs=1e-3)


def test_judge_kappa_takes_the_worst_judge_in_the_calibration_module_format(new_run: Callable[..., Path]) -> None:
    """The list form harness.engine.calibration.save_calibration keeps in run.json totals."""
    entries = [{"grader": "helpfulness", "judge": "gpt", "kappa": 0.81, "agreement": 0.9, "n": 50,
                "labels": ["fail", "pass"], "confusion": [[20, 3], [2, 25]], "samples": 3, "self_consistency": 0.95,
                "errors": 0},
               {"grader": "tone", "kappa": 0.55, "agreement": 0.8, "n": 40, "labels": ["fail", "pass"],
                "confusion": [[10, 4], [4, 22]]}]
    run = new_run([VariantSpec("v", 0.9)], n_tasks=5, totals={"judge_calibration": entries})
    (result,) = evaluate_gates(run, [Gate.metric("judge_kappa", ">=", 0.6)]).results
    # tone: kappa 0.56 on 40 items, lower 95% bound 0.24 (the hull of Fleiss-Cohen-Everitt and the
    # Wilson interval of the agreement: the first alone, 0.29, covers 0.89 of the time at this size)
    assert result.status == "fail" and result.value == pytest.approx(0.2361, abs=1e-3)
    assert result.drivers == ["tone"]


@pytest.mark.parametrize(
    ("gate", "needle"),
    [
        (Gate.metric("acuracy", ">=", 0.8), "unknown metric 'acuracy'"),
        (Gate.metric("accuracy", ">=", 0.8, variant="triage@v9"), "unknown variant 'triage@v9'"),
        (Gate.no_regression("accuracy", baseline="does/not/exist"), "baseline does/not/exist not found"),
        (Gate.no_regression("accuracy", baseline_variant="triage@v9"), "unknown baseline variant 'triage@v9'"),
        (Gate.no_regression("p95_latency_s", baseline_variant="triage@v1"), "only per-task metrics"),
    ],
)
def test_configuration_errors_exit_2(two_variant_run: Path, gate: MetricGate | NoRegressionGate, needle: str) -> None:
    report = evaluate_gates(two_variant_run, [gate])
    assert report.exit_code == ExitCode.CONFIG_ERROR
    assert any(needle in p for p in report.problems), report.problems
    assert report.results[0].status == "error"


def test_judge_kappa_without_calibration_is_a_configuration_error(new_run: Callable[..., Path]) -> None:
    run = new_run([VariantSpec("v", 0.9)], n_tasks=10)
    assert evaluate_gates(run, [Gate.metric("judge_kappa", ">=", 0.6)]).exit_code == ExitCode.CONFIG_ERROR


def test_an_invalid_gate_in_run_json_is_a_configuration_error(two_variant_run: Path) -> None:
    report = evaluate_gates(two_variant_run, [{"kind": "metric", "metric": "accuracy", "op": "~", "threshold": 1}])
    assert report.exit_code == ExitCode.CONFIG_ERROR


def test_a_missing_run_folder_is_a_configuration_error(tmp_path: Path) -> None:
    assert evaluate_gates(tmp_path / "nope", []).exit_code == ExitCode.CONFIG_ERROR


def test_an_interrupted_run_exits_3_even_if_gates_pass(new_run: Callable[..., Path]) -> None:
    run = new_run([VariantSpec("v", 0.9)], n_tasks=20, status="interrupted")
    report = evaluate_gates(run, [Gate.metric("p95_latency_s", "<=", 60)])
    assert report.exit_code == ExitCode.RUN_INCOMPLETE
    assert report.results[0].status == "pass"
    assert any("interrupted" in p for p in report.problems)


def test_task_errors_above_the_allowed_rate_exit_3(new_run: Callable[..., Path]) -> None:
    errors = frozenset(f"task-{i:04d}" for i in range(3))
    run = new_run([VariantSpec("v", 0.9, error_tasks=errors)], n_tasks=20)  # 15% task errors
    assert evaluate_gates(run, [], max_error_rate=0.05).exit_code == ExitCode.RUN_INCOMPLETE
    assert evaluate_gates(run, [], max_error_rate=0.2).exit_code == ExitCode.OK
    report = evaluate_gates(run, [], max_error_rate=0.05)
    assert report.error_rates == {"v": pytest.approx(0.15)}
    assert any("15.0%" in p for p in report.problems)


def test_a_variant_that_crashes_more_regresses_in_pass_rate_and_in_its_alias_success_rate(
        new_run: Callable[..., Path]) -> None:
    crashing = frozenset(f"task-{i:04d}" for i in range(0, 60, 2))
    run = new_run([VariantSpec("v1", 0.9), VariantSpec("v2", 0.9, error_tasks=crashing)], n_tasks=60,
                  baseline_variant="v1")
    report = evaluate_gates(run, [Gate.no_regression("pass_rate", baseline_variant="v1"),
                                  Gate.no_regression("success_rate", baseline_variant="v1")], max_error_rate=1.0)
    verdicts = {r.metric: r.status for r in report.results if r.variant == "v2"}
    assert verdicts == {"pass_rate": "fail", "success_rate": "fail"}
    assert report.exit_code == ExitCode.GATE_FAILED


def test_configuration_errors_take_precedence_over_an_incomplete_run(new_run: Callable[..., Path]) -> None:
    run = new_run([VariantSpec("v", 0.9)], n_tasks=10, status="failed")
    assert evaluate_gates(run, [Gate.metric("nope", ">", 0)]).exit_code == ExitCode.CONFIG_ERROR


def test_gates_declared_in_run_json_are_used_by_default(two_variant_run: Path) -> None:
    folder = RunFolder.open(two_variant_run)
    manifest = folder.manifest()
    manifest.gates = [Gate.metric("accuracy", ">=", 0.8, variant="triage@v2").model_dump(mode="json")]
    folder.write_manifest(manifest)
    assert evaluate_gates(two_variant_run).exit_code == ExitCode.GATE_FAILED


def test_no_regression_against_a_variant_of_the_same_run(new_run: Callable[..., Path]) -> None:
    run = new_run([VariantSpec("triage@v1", 0.85), VariantSpec("triage@v2", 0.55), VariantSpec("triage@v3", 0.85)],
                  n_tasks=80, baseline_variant="triage@v1")
    report = evaluate_gates(run, [Gate.no_regression("accuracy", baseline_variant="triage@v1", tolerance=0.02)])
    by_variant = {r.variant: r for r in report.results}
    assert set(by_variant) == {"triage@v2", "triage@v3"}
    assert by_variant["triage@v2"].status == "fail"
    assert by_variant["triage@v3"].status == "pass"
    assert report.exit_code == ExitCode.GATE_FAILED


def test_no_regression_defaults_to_the_manifest_baseline_variant(two_variant_run: Path) -> None:
    (result,) = evaluate_gates(two_variant_run, [Gate.no_regression("accuracy")]).results
    assert result.baseline == "triage@v1" and result.status == "fail"


@pytest.fixture
def baseline_dir(new_run: Callable[..., Path], tmp_path: Path) -> Path:
    shipped = new_run([VariantSpec("triage@v2", 0.85)], n_tasks=100, seed=9)
    return promote_baseline(shipped, tmp_path / "reports" / "baseline")


def test_promote_baseline_copies_the_manifest_and_results(new_run: Callable[..., Path], tmp_path: Path) -> None:
    run = new_run([VariantSpec("v", 0.8)], n_tasks=5)
    dest = promote_baseline(run, tmp_path / "reports" / "baseline")
    assert sorted(p.name for p in dest.iterdir()) == ["results.jsonl", "run.json"]
    for name in ("run.json", "results.jsonl"):
        assert (dest / name).read_bytes() == (run / name).read_bytes()


def test_promote_baseline_refuses_an_incomplete_run(new_run: Callable[..., Path], tmp_path: Path) -> None:
    run = new_run([VariantSpec("v", 0.8)], n_tasks=5, status="interrupted")
    with pytest.raises(GateConfigError, match="interrupted"):
        promote_baseline(run, tmp_path / "baseline")
    assert promote_baseline(run, tmp_path / "baseline", allow_incomplete=True).is_dir()


def test_a_degraded_variant_fails_no_regression_against_the_baseline(new_run: Callable[..., Path],
                                                                     baseline_dir: Path) -> None:
    degraded = new_run([VariantSpec("triage@v2", 0.55)], n_tasks=100, seed=9)
    report = evaluate_gates(degraded, [Gate.no_regression("accuracy", baseline=str(baseline_dir), tolerance=0.02)])
    assert report.exit_code == ExitCode.GATE_FAILED
    (result,) = report.results
    assert result.comparison is not None and result.comparison.label == "worse"
    assert result.baseline is not None and result.baseline.endswith(":triage@v2")
    assert result.drivers_total == result.comparison.baseline_only  # the tasks that flipped pass -> fail
    for part in ("accuracy", "baseline", "Δ", "90% CI", "mcnemar-exact", "tolerance 0.02", result.drivers[0]):
        assert part in result.message


def test_an_unchanged_variant_passes_no_regression(new_run: Callable[..., Path], baseline_dir: Path) -> None:
    unchanged = new_run([VariantSpec("triage@v2", 0.85)], n_tasks=100, seed=9)
    report = evaluate_gates(unchanged, [Gate.no_regression("accuracy", baseline=str(baseline_dir))])
    assert report.exit_code == ExitCode.OK, report.messages()


def test_noise_alone_does_not_fail_no_regression(new_run: Callable[..., Path], baseline_dir: Path) -> None:
    """Same quality, different luck (another seed): the paired test finds no difference."""
    rerun = new_run([VariantSpec("triage@v2", 0.85)], n_tasks=100, seed=10)
    (result,) = evaluate_gates(rerun, [Gate.no_regression("accuracy", baseline=str(baseline_dir))]).results
    assert result.comparison is not None and result.comparison.diff != 0
    assert result.status == "pass"


def test_the_baseline_argument_overrides_the_gates_baseline(new_run: Callable[..., Path], baseline_dir: Path) -> None:
    degraded = new_run([VariantSpec("triage@v2", 0.55)], n_tasks=100, seed=9)
    gate = Gate.no_regression("accuracy", baseline="somewhere/else")
    assert evaluate_gates(degraded, [gate], baseline=baseline_dir).exit_code == ExitCode.GATE_FAILED


def test_a_real_drop_within_the_tolerance_passes(new_run: Callable[..., Path]) -> None:
    run = load_run_data(new_run([VariantSpec("v1", 0.85), VariantSpec("v2", 0.82)], n_tasks=600,
                                baseline_variant="v1"))
    strict = evaluate_gates(run, [Gate.no_regression("accuracy", tolerance=0.0)]).results[0]
    lenient = evaluate_gates(run, [Gate.no_regression("accuracy", tolerance=0.05)]).results[0]
    assert strict.comparison is not None and strict.comparison.label == "worse"
    assert -0.05 < strict.comparison.diff < 0
    assert strict.status == "fail" and lenient.status == "pass"


def test_no_regression_on_cost_fails_when_cost_rises(new_run: Callable[..., Path]) -> None:
    run = new_run([VariantSpec("v1", 0.8, cost_usd=0.001), VariantSpec("v2", 0.8, cost_usd=0.002)], n_tasks=40)
    (result,) = evaluate_gates(run, [Gate.no_regression("cost_per_task_usd", baseline_variant="v1")]).results
    assert result.status == "fail" and result.comparison is not None and result.comparison.diff > 0
    (cheaper,) = evaluate_gates(run, [Gate.no_regression("cost_per_task_usd", baseline_variant="v2")]).results
    assert cheaper.status == "pass"


def test_gate_report_is_json_serialisable(two_variant_run: Path) -> None:
    report = evaluate_gates(two_variant_run, [Gate.metric("accuracy", ">=", 0.8), Gate.no_regression("accuracy")])
    again = GateReport.model_validate_json(report.model_dump_json())
    assert again.exit_code == report.exit_code and len(again.results) == len(report.results)


# -- gates checked when the suite loads -----------------------------------------------------------

def _suite(*gates: object, calibration: dict[str, str] | None = None) -> Suite:
    from harness.graders import contains

    return Suite(name="s", dataset="d.jsonl", variants=[Variant("triage@v1", flow=str), Variant("triage@v2", flow=str)],
                 graders=[contains(from_expected="answer").named("accuracy")], gates=list(gates),
                 calibration=calibration or {})


@pytest.mark.parametrize(("gate", "needle"), [
    (Gate.metric("acuracy", ">=", 0.8), "acuracy >= 0.8: unknown metric 'acuracy' (the suite's: accuracy, "),
    (Gate.no_regression("p95_latency_s"), "'p95_latency_s' has no per-task value to compare task by task"),
    (Gate.metric("judge_kappa", ">=", 0.6), "the suite declares no calibration sets"),
    (Gate.metric("accuracy", ">=", 0.8, variant="triage@v9"), "variant 'triage@v9' is not one of the suite's variants"),
    (Gate.no_regression("accuracy", baseline_variant="v0"), "baseline_variant 'v0' is not one of the suite's"),
    ({"kind": "metric", "metric": "accuracy", "op": "~", "threshold": 1}, "gate 1: not a gate"),
])
def test_a_gate_that_could_never_be_evaluated_is_refused_when_the_suite_loads(gate: object, needle: str) -> None:
    with pytest.raises(GateConfigError) as info:
        check_suite_gates(_suite(gate))
    assert needle in str(info.value)
    assert str(info.value).startswith("suite 's' declares gates that cannot be evaluated:")


def test_every_bad_gate_is_listed_once_and_good_gates_pass() -> None:
    check_suite_gates(_suite(Gate.metric("accuracy", ">=", 0.8), Gate.no_regression("accuracy"),
                             Gate.metric("p95_latency_s", "<=", 5), Gate.metric("pass_rate", ">=", 0.5)))
    with pytest.raises(GateConfigError) as info:
        check_suite_gates(_suite(Gate.metric("nope", ">=", 1), Gate.metric("nada", ">=", 1)))
    assert str(info.value).count("unknown metric") == 2


def test_run_suite_refuses_bad_gates_before_a_run_folder_exists(make_suite, run, tmp_path: Path) -> None:
    suite = make_suite(n=2, gates=[Gate.metric("no_such_metric", ">=", 1)])
    with pytest.raises(GateConfigError, match="unknown metric 'no_such_metric'"):
        run(suite)
    assert not (tmp_path / "runs").exists()


def test_a_per_task_score_that_errored_everywhere_fails_its_no_regression_gate(new_run: Callable[..., Path]) -> None:
    folder = new_run([VariantSpec("triage@v1", accuracy=0.9), VariantSpec("triage@v2", grader_error_rate=1.0)],
                     n_tasks=20, baseline_variant="triage@v1")
    report = evaluate_gates(folder, [Gate.no_regression("helpfulness")])  # the judge errored on every task
    (result,) = report.results
    assert result.status == "fail", result.message
    # every errored score counts as a failure (0), so the comparison runs on all 20 tasks and finds the drop
    assert result.comparison is not None and result.comparison.n == 20 and result.comparison.candidate_mean == 0
    assert "→ worse" in result.message and "only per-task" not in result.message


def test_a_missing_baseline_says_how_to_make_one(two_variant_run: Path) -> None:
    report = evaluate_gates(two_variant_run, [Gate.no_regression("accuracy", baseline="reports/baseline")])
    assert any("create it from a good run with: harness baseline update <run> --dest reports/baseline" in p
               for p in report.problems), report.problems


def test_a_configuration_error_is_said_once(two_variant_run: Path) -> None:
    report = evaluate_gates(two_variant_run, [Gate.metric("acuracy", ">=", 0.8, variant="triage@v1")])
    assert len(report.messages()) == 1, report.messages()


def test_judge_kappa_and_judge_kappa_low_both_hold_the_whole_interval(new_run: Callable[..., Path]) -> None:
    """A point kappa of 0.62 would pass ``>= 0.6``; the low end of its recorded interval does not."""
    entry = {"grader": "quality", "kappa": 0.62, "kappa_low": 0.31, "kappa_high": 0.86, "n": 34,
             "labels": ["fail", "pass"], "confusion": [[12, 4], [2, 16]]}
    run = new_run([VariantSpec("v", 0.9)], n_tasks=5, totals={"judge_calibration": [entry]})
    point, low = evaluate_gates(run, [Gate.metric("judge_kappa", ">=", 0.6),
                                      Gate.metric("judge_kappa_low", ">=", 0.6)]).results
    assert point.status == "fail" and low.status == "fail"
    # computed from the confusion matrix by the one kappa, whatever bounds an older calibration stored
    expected = stats.cohen_kappa([[12, 4], [2, 16]])
    assert low.value == pytest.approx(expected.low) and low.ci is not None and low.ci.high == pytest.approx(expected.high)
    assert "lower 95% bound" in point.message and "κ = 0.6434" in point.message  # from the matrix, not the stored 0.62


def test_without_a_recorded_interval_kappa_gets_one_from_its_confusion_matrix(new_run: Callable[..., Path]) -> None:
    entry = {"grader": "quality", "kappa": 0.62, "n": 34, "labels": ["fail", "pass"], "confusion": [[12, 4], [2, 16]]}
    run = new_run([VariantSpec("v", 0.9)], n_tasks=5, totals={"judge_calibration": [entry]})
    (result,) = evaluate_gates(run, [Gate.metric("judge_kappa_low", ">=", 0.4)]).results
    expected = stats.cohen_kappa([[12, 4], [2, 16]])
    assert result.value == pytest.approx(expected.low) and result.status == "fail"  # 0.35: Fleiss-Cohen-Everitt


def test_a_kappa_without_any_interval_fails_its_gate_rather_than_pass_on_a_point(new_run: Callable[..., Path]) -> None:
    run = new_run([VariantSpec("v", 0.9)], n_tasks=5, totals={"judge_calibration": [{"grader": "q", "kappa": 0.9}]})
    (result,) = evaluate_gates(run, [Gate.metric("judge_kappa", ">=", 0.6)]).results
    assert result.status == "fail" and "calibrate again" in result.message


def test_an_undefined_kappa_is_nan_with_a_plain_reason_and_fails_its_gate(new_run: Callable[..., Path]) -> None:
    """Both raters used one label: agreement is 100%, but kappa is undefined, not 1."""
    entry = {"grader": "quality", "labels": ["fail", "pass"], "confusion": [[0, 0], [0, 30]]}
    run = new_run([VariantSpec("v", 0.9)], n_tasks=5, totals={"judge_calibration": [entry]})
    (calibration,) = build_summary(run).judge_calibration
    assert calibration.kappa is None or math.isnan(calibration.kappa)
    assert calibration.kappa_note is not None and "single label" in calibration.kappa_note
    (result,) = evaluate_gates(run, [Gate.metric("judge_kappa", ">=", 0.6)]).results
    assert result.status == "fail" and "single label" in result.message


# -- a suite that declares its comparisons -------------------------------------------------------
@pytest.fixture
def declared_pairs_run(new_run: Callable[..., Path]) -> Path:
    """Two flows, two prompt versions each; the suite asks "v2 or v1?" of each flow and "chain or loop?"."""
    return new_run([VariantSpec("loop@v1", 0.85), VariantSpec("loop@v2", 0.85),
                    VariantSpec("chain@v1", 0.85), VariantSpec("chain@v2", 0.45)],
                   n_tasks=80, baseline_variant="loop@v1",
                   comparisons=[("loop@v1", "loop@v2"), ("chain@v1", "chain@v2"), ("loop@v1", "chain@v1")])


def test_no_regression_checks_each_declared_comparison(declared_pairs_run: Path) -> None:
    report = evaluate_gates(declared_pairs_run, [Gate.no_regression("accuracy", tolerance=0.02)])
    checked = {(r.baseline, r.variant): r.status for r in report.results}
    # chain@v2 is held to chain@v1 (its own earlier prompt), not to loop@v1
    assert checked == {("loop@v1", "loop@v2"): "pass", ("chain@v1", "chain@v2"): "fail",
                       ("loop@v1", "chain@v1"): "pass"}
    assert report.exit_code == ExitCode.GATE_FAILED


def test_a_gate_on_one_candidate_takes_its_declared_baseline(declared_pairs_run: Path) -> None:
    (result,) = evaluate_gates(declared_pairs_run, [Gate.no_regression("accuracy", variant="chain@v2")]).results
    assert result.baseline == "chain@v1" and result.status == "fail"
    report = evaluate_gates(declared_pairs_run, [Gate.no_regression("accuracy", variant="loop@v1")])
    assert report.exit_code == ExitCode.CONFIG_ERROR
    assert "compares no pair with candidate 'loop@v1'" in report.messages()[0]


def test_a_run_of_the_baseline_alone_is_partial_not_a_gate_error(new_run: Callable[..., Path]) -> None:
    """Recording one variant at a time (``--variant``) leaves nothing to compare yet: the run is
    partial (exit 3), and the no-regression gate has no candidate to judge, rather than an error."""
    run = new_run([VariantSpec("triage@v1", 0.85)], n_tasks=20, baseline_variant="triage@v1", declared_tasks=20)
    folder = RunFolder.open(run)
    manifest = folder.manifest()
    manifest.declared["variants"] = ["triage@v1", "triage@v2"]
    folder.write_manifest(manifest)
    report = evaluate_gates(run, [Gate.no_regression("accuracy")])
    assert report.results == [] and report.exit_code == ExitCode.RUN_INCOMPLETE


def test_a_no_regression_gate_with_nothing_to_compare_is_a_configuration_error(new_run: Callable[..., Path]) -> None:
    """A one-variant suite whose gate has no baseline run could never fail: refuse it."""
    run = new_run([VariantSpec("triage@v1", 0.85)], n_tasks=20, baseline_variant="triage@v1")
    report = evaluate_gates(run, [Gate.no_regression("accuracy")])
    assert report.exit_code == ExitCode.CONFIG_ERROR
    assert "nothing to compare: run" in report.messages()[0]


def test_a_candidate_run_without_its_declared_baseline_cannot_be_judged(new_run: Callable[..., Path]) -> None:
    run = new_run([VariantSpec("chain@v2", 0.85)], n_tasks=20, baseline_variant="chain@v1",
                  comparisons=[("chain@v1", "chain@v2")])
    report = evaluate_gates(run, [Gate.no_regression("accuracy")])
    assert report.exit_code == ExitCode.CONFIG_ERROR
    assert "unknown baseline variant 'chain@v1'" in report.messages()[0]


def test_a_no_regression_gate_on_too_few_tasks_to_fail_is_refused_when_the_suite_loads(make_suite) -> None:
    """At 4 tasks even 4/4 -> 0/4 gives one-sided p = 0.0625: such a gate passes whatever happens."""
    with pytest.raises(GateConfigError, match="dataset has 4 tasks: this gate can never fail .* at least 5 tasks"):
        check_suite_gates(make_suite(n=4, gates=[Gate.no_regression("pass_rate")]))
    check_suite_gates(make_suite(n=5, gates=[Gate.no_regression("pass_rate")]))
    check_suite_gates(make_suite(n=4, gates=[Gate.no_regression("cost_per_task_usd")]))  # a paired t-test can fail


def test_a_score_gate_says_which_failing_tasks_only_errored(tmp_path: Path) -> None:
    """An errored task scores as a failure on every grader: the message says so, or a timeout reads
    as, say, a leak."""
    folder = make_scenario_run(tmp_path, {"v1": {"no_leak": [1.0] * 8 + [0.0, 0.0]}}, errors={"v1": [9]},
                               gates=[Gate.metric("no_leak", "==", 1.0)])
    (result,) = evaluate_gates(folder).results
    assert result.status == "fail" and result.drivers == ["task-0008", "task-0009"]
    assert "1 of them by a task error, counted as a failure" in result.message
    assert result.message.endswith(": task-0009"), result.message
    only_errors = make_scenario_run(tmp_path / "b", {"v1": {"no_leak": [1.0] * 9 + [0.0]}}, errors={"v1": [9]},
                                    gates=[Gate.metric("no_leak", "==", 1.0)])
    assert "each by a task error" in evaluate_gates(only_errors).results[0].message
